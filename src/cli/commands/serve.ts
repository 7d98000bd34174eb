import { parseArgs, type ParseArgsConfig } from "node:util";
import { createGraphqlApp, createServer, type GraphqlApp, type GraphqlServer } from "../../graphql/app";
import { ConfigError } from "../../internal/errors";
import { createLogger } from "../../internal/logger";
import { openStore } from "../../store/db";

export const summary = "serve the GraphQL API over an index database that another process writes (read-only)";

const HELP = `usage: gpumesh serve --db FILE [--port N] [--host ADDRESS]
Serves GraphQL at /graphql (GraphiQL in a browser), /health, /ready and /metrics over the database that
\`gpumesh index\` writes, opened read-only: any number of servers can read beside one indexer.
  --db FILE          index database (env GPUMESH_DB)
  --port N           TCP port (env GPUMESH_PORT, default 4000; 0 picks a free port)
  --host ADDRESS     interface to listen on (default 127.0.0.1; 0.0.0.0 opens it to the network)
  -h, --help         this help`;

export const DEFAULT_PORT = 4000;
export const DEFAULT_HOST = "127.0.0.1";

export const SERVER_OPTIONS = {
  db: { type: "string" },
  port: { type: "string" },
  host: { type: "string" },
  help: { type: "boolean", short: "h" },
} as const satisfies NonNullable<ParseArgsConfig["options"]>;

/** A bad command line: the message names the flag, and the command exits 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** node:util parseArgs in strict mode, with its errors reworded to name the flag. */
export function parseCommandLine<O extends NonNullable<ParseArgsConfig["options"]>>(argv: string[], options: O) {
  try {
    return parseArgs({ args: argv, options, strict: true, allowPositionals: false });
  } catch (error) {
    const { code, message } = error as Error & { code?: string };
    const flag = /'([^' ]+)/.exec(message)?.[1] ?? "";
    if (code === "ERR_PARSE_ARGS_UNKNOWN_OPTION") throw new UsageError(`unknown option ${flag}`);
    if (code === "ERR_PARSE_ARGS_INVALID_OPTION_VALUE") throw new UsageError(`option ${flag} needs a value`);
    if (code === "ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL") throw new UsageError(`unexpected argument ${flag || message}`);
    throw new UsageError(message);
  }
}

export interface ServerOptions {
  dbFile: string;
  port: number;
  host: string;
}

/** --db, --port and --host, falling back to GPUMESH_DB and GPUMESH_PORT. */
export function resolveServerOptions(
  values: { db?: string; port?: string; host?: string },
  env: NodeJS.ProcessEnv = process.env,
): ServerOptions {
  const dbFile = values.db || env.GPUMESH_DB;
  if (!dbFile) throw new UsageError("--db is required (or set GPUMESH_DB)");
  const portText = values.port ?? env.GPUMESH_PORT ?? String(DEFAULT_PORT);
  const port = /^\d+$/.test(portText) ? Number(portText) : NaN;
  if (!(port >= 0 && port <= 65535)) throw new UsageError(`--port must be a TCP port (0 to 65535), got "${portText}"`);
  const host = values.host ?? DEFAULT_HOST;
  if (host === "") throw new UsageError("--host needs an address");
  return { dbFile, port, host };
}

/** Resolves with the signal's name on SIGINT or SIGTERM. */
export function untilShutdownSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const onSignal = (signal: NodeJS.Signals) => {
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
      resolve(signal);
    };
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
  });
}

/** Binds the API; a port in use or an unknown host is a configuration error, not a crash. */
export async function listen(app: GraphqlApp, options: { host: string; port: number }): Promise<GraphqlServer> {
  try {
    return await createServer({ app, host: options.host, port: options.port });
  } catch (error) {
    throw new ConfigError(`cannot listen on ${options.host}:${options.port}: ${(error as Error).message}`, error);
  }
}

export function usageFailure(command: string, message: string, help: string): number {
  process.stderr.write(`gpumesh ${command}: ${message}\n${help.split("\n")[0]}\n`);
  return 2;
}

export async function run(argv: string[]): Promise<number> {
  let options: ServerOptions;
  try {
    const { values } = parseCommandLine(argv, SERVER_OPTIONS);
    if (values.help) {
      process.stdout.write(HELP + "\n");
      return 0;
    }
    options = resolveServerOptions(values);
  } catch (error) {
    if (error instanceof UsageError) return usageFailure("serve", error.message, HELP);
    throw error;
  }

  const logger = createLogger({ name: "gpumesh-serve" });
  const store = openStore({ file: options.dbFile, readonly: true });
  try {
    if (store.schemaVersion === 0) {
      throw new ConfigError(`database ${options.dbFile} has no GPU Mesh schema: start \`gpumesh index\` on it first`);
    }
    const app = createGraphqlApp({ db: store.db, logger });
    const server = await listen(app, options);
    logger.info({ msg: "serving", url: `${server.url}/graphql`, db: options.dbFile });
    process.stdout.write(`GraphQL API at ${server.url}/graphql\n`);
    const signal = await untilShutdownSignal();
    logger.info({ msg: "shutting down", signal });
    await server.close();
    return 0;
  } finally {
    store.close();
  }
}

import type { GraphqlApp, GraphqlServer } from "../../graphql/app";
import { ConfigError } from "../../internal/errors";
import { SERVER_OPTIONS, resolveServerOptions } from "../lib/args";
import { parseOrHelp, type Command } from "../lib/command";
import { untilShutdownSignal } from "../lib/processes";

const HELP = `usage: gpumesh serve --db FILE [--port N] [--host ADDRESS]
Serves GraphQL at /graphql (GraphiQL in a browser), /health, /ready and /metrics over the database that
\`gpumesh index\` writes, opened read-only: any number of servers can read beside one indexer.
  --db FILE          index database (env GPUMESH_DB)
  --port N           TCP port (env GPUMESH_PORT, default 4000; 0 picks a free port)
  --host ADDRESS     interface to listen on (default 127.0.0.1; 0.0.0.0 opens it to the network)
  -h, --help         this help`;

/** Binds the API; a port in use or an unknown host is a configuration error, not a crash. */
export async function listen(app: GraphqlApp, options: { host: string; port: number }): Promise<GraphqlServer> {
  const { createServer } = await import("../../graphql/app");
  try {
    return await createServer({ app, host: options.host, port: options.port });
  } catch (error) {
    throw new ConfigError(`cannot listen on ${options.host}:${options.port}: ${(error as Error).message}`, error);
  }
}

export const command: Command = {
  help: HELP,
  async run(argv) {
    const parsed = parseOrHelp(argv, SERVER_OPTIONS, HELP);
    if (!parsed) return 0;
    const options = resolveServerOptions(parsed.values);
    const [{ createGraphqlApp }, { createLogger }, { openStore }] = await Promise.all([
      import("../../graphql/app"),
      import("../../internal/logger"),
      import("../../store/db"),
    ]);
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
  },
};

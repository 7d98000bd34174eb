import type { GraphqlApp, GraphqlServer } from "../../graphql/app";
import { ConfigError } from "../../internal/errors";
import { SERVER_OPTIONS, resolveServeWebOptions, resolveServerOptions } from "../lib/args";
import { parseOrHelp, type Command } from "../lib/command";
import { untilShutdownSignal } from "../lib/processes";

const HELP = `usage: gpumesh serve --db FILE [--deployment FILE] [--rpc URL] [--port N] [--host ADDRESS]
Serves GraphQL at /graphql (GraphiQL in a browser), /health, /ready, /metrics and the web app at / over the database
that \`gpumesh index\` writes, opened read-only: any number of servers can read beside one indexer.
  --db FILE          index database (env GPUMESH_DB)
  --deployment FILE  the deployment the indexer follows, for the token units of the web app and of the API's
                     sentences (Quote.message), and the app's consoles (env GPUMESH_DEPLOYMENT; without it
                     amounts are in base units and the app has no consoles)
  --rpc URL          the chain's JSON-RPC endpoint, offered to browser wallets that lack the chain (a loopback
                     URL only; env GPUMESH_RPC_URL); the server itself never calls it
  --port N           TCP port (env GPUMESH_PORT, default 4000; 0 picks a free port)
  --host ADDRESS     interface to listen on (default 127.0.0.1; 0.0.0.0 opens it to the network)
  -h, --help         this help`;

const SERVE_OPTIONS = {
  ...SERVER_OPTIONS,
  deployment: { type: "string" },
  rpc: { type: "string" },
} as const;

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
    const parsed = parseOrHelp(argv, SERVE_OPTIONS, HELP);
    if (!parsed) return 0;
    const options = resolveServerOptions(parsed.values);
    // Optional here, unlike for the commands that talk to the chain: without a deployment the API still serves the index.
    const web = resolveServeWebOptions(parsed.values);
    const [{ createGraphqlApp }, { createLogger }, { openStore }, { loadDeployment }, { checkDeployment }] = await Promise.all([
      import("../../graphql/app"),
      import("../../internal/logger"),
      import("../../store/db"),
      import("../../chain/deployment"),
      import("../../store/identity"),
    ]);
    const deployment = web.deploymentFile ? loadDeployment(web.deploymentFile) : undefined;
    const logger = createLogger({ name: "gpumesh-serve" });
    const store = openStore({ file: options.dbFile, readonly: true });
    try {
      if (store.schemaVersion === 0) {
        throw new ConfigError(`database ${options.dbFile} has no GPU Mesh schema: start \`gpumesh index\` on it first`);
      }
      // The app would otherwise offer consoles that sign against contracts this index does not follow.
      if (deployment) checkDeployment(store, deployment);
      const app = createGraphqlApp({
        db: store.db,
        logger,
        chainId: deployment?.chainId,
        paymentToken: deployment?.tokens.payment,
        web: { deployment, rpcUrls: web.rpcUrls },
      });
      const server = await listen(app, options);
      logger.info({ msg: "serving", url: `${server.url}/graphql`, db: options.dbFile, chainId: deployment?.chainId ?? null });
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

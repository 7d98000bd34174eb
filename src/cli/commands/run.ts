import { redactUrl } from "../../internal/errors";
import {
  DEFAULT_DEPLOYMENT_FILE,
  DEFAULT_RPC_URL,
  SERVER_OPTIONS,
  SYNC_OPTIONS,
  HISTORY_BLOCKS_HELP,
  resolveDeploymentFile,
  resolveHistoryBlocks,
  resolveLogLevel,
  resolveRpcUrls,
  resolveServerOptions,
  resolveSyncTuning,
} from "../lib/args";
import { parseOrHelp, type Command } from "../lib/command";
import { untilShutdownSignal } from "../lib/processes";

const HELP = `usage: gpumesh run --db FILE [--rpc URL[,URL2]] [--deployment FILE] [--port N] [--host ADDRESS] [options]
Indexes the deployment's events into the database (resuming from its checkpoint) and serves GraphQL at /graphql,
/health, /ready and /metrics from the same process. Stops cleanly on SIGINT or SIGTERM.
  --db FILE                 index database, created when missing (env GPUMESH_DB)
  --rpc URL[,URL2]          JSON-RPC endpoints, tried in order on failure (repeatable; env GPUMESH_RPC_URL;
                            default ${DEFAULT_RPC_URL})
  --deployment FILE         deployment file (env GPUMESH_DEPLOYMENT, default ${DEFAULT_DEPLOYMENT_FILE})
  --port N                  TCP port (env GPUMESH_PORT, default 4000; 0 picks a free port)
  --host ADDRESS            interface to listen on (default 127.0.0.1; 0.0.0.0 opens it to the network)
  --confirmations N         blocks to stay behind the head (default per chain)
  --finality-depth N        deepest reorg handled, in blocks (default per chain)
  --poll-interval-ms N      how often to poll the head (default per chain)
  --max-block-range N       largest eth_getLogs range (default 10000; shrinks when the node refuses)
${HISTORY_BLOCKS_HELP}
  --log-level LEVEL         trace, debug, info, warn, error (default info)
  -h, --help                this help`;

const RUN_OPTIONS = { ...SERVER_OPTIONS, ...SYNC_OPTIONS } as const;

async function run(argv: string[]): Promise<number> {
  const parsed = parseOrHelp(argv, RUN_OPTIONS, HELP);
  if (!parsed) return 0;
  const { values } = parsed;
  const options = {
    server: resolveServerOptions(values),
    rpcUrls: resolveRpcUrls(values, DEFAULT_RPC_URL),
    deploymentFile: resolveDeploymentFile(values, DEFAULT_DEPLOYMENT_FILE),
    logLevel: resolveLogLevel(values),
    historyBlocks: resolveHistoryBlocks(values),
    ...resolveSyncTuning(values),
  };

  const [{ loadDeployment }, { createLogger }, { startIndexAndServe }] = await Promise.all([
    import("../../chain/deployment"),
    import("../../internal/logger"),
    import("../../service"),
  ]);
  const logger = createLogger({ name: "gpumesh-run", level: options.logLevel });
  const deployment = loadDeployment(options.deploymentFile);
  const service = await startIndexAndServe({
    rpcUrls: options.rpcUrls,
    deployment,
    dbFile: options.server.dbFile,
    host: options.server.host,
    port: options.server.port,
    logger,
    confirmations: options.confirmations,
    finalityDepth: options.finalityDepth,
    pollIntervalMs: options.pollIntervalMs,
    maxBlockRange: options.maxBlockRange,
    historyBlocks: options.historyBlocks,
  });
  const { server } = service;
  logger.info({
    msg: "serving",
    url: `${server.url}/graphql`,
    db: options.server.dbFile,
    chainId: deployment.chainId,
    rpc: options.rpcUrls.map(redactUrl),
  });
  process.stdout.write(`GraphQL API at ${server.url}/graphql\n`);
  try {
    const outcome = await Promise.race([
      untilShutdownSignal().then((signal) => ({ signal })),
      service.indexing.then(() => ({ signal: null })),
    ]);
    logger.info({ msg: "shutting down", signal: outcome.signal });
  } finally {
    await service.stop();
  }
  return 0;
}

export const command: Command = { help: HELP, run };

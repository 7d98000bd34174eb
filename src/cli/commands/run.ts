import { Registry } from "prom-client";
import { loadDeployment } from "../../chain/deployment";
import { createGraphqlApp, type IndexerStatus as ApiIndexerStatus } from "../../graphql/app";
import { createLogger } from "../../internal/logger";
import { openStore } from "../../store/db";
import { createIndexer } from "../../sync/indexer";
import { createIndexerStatus, registerIndexerMetrics } from "../../sync/status";
import {
  SERVER_OPTIONS,
  UsageError,
  listen,
  parseCommandLine,
  resolveServerOptions,
  untilShutdownSignal,
  usageFailure,
} from "./serve";

export const summary = "index the chain and serve the GraphQL API in one process";

const DEFAULT_RPC_URL = "http://127.0.0.1:8545";
const DEFAULT_DEPLOYMENT_FILE = "deployments/31337.json";

const HELP = `usage: gpumesh run --db FILE [--rpc URL]... [--deployment FILE] [--port N] [--host ADDRESS] [sync options]
Indexes the deployment's events into the database (resuming from its checkpoint) and serves GraphQL at /graphql,
/health, /ready and /metrics from the same process.
  --db FILE                 index database, created when missing (env GPUMESH_DB)
  --rpc URL                 JSON-RPC endpoint; repeat for fallbacks (env GPUMESH_RPC_URL, comma-separated;
                            default ${DEFAULT_RPC_URL})
  --deployment FILE         deployment file (env GPUMESH_DEPLOYMENT, default ${DEFAULT_DEPLOYMENT_FILE})
  --port N                  TCP port (env GPUMESH_PORT, default 4000; 0 picks a free port)
  --host ADDRESS            interface to listen on (default 127.0.0.1)
  --confirmations N         blocks to stay behind the head (default per chain)
  --finality-depth N        deepest reorg handled, in blocks (default per chain)
  --poll-interval-ms N      how often to poll for new blocks (default per chain)
  -h, --help                this help`;

const RUN_OPTIONS = {
  ...SERVER_OPTIONS,
  rpc: { type: "string", multiple: true },
  deployment: { type: "string" },
  confirmations: { type: "string" },
  "finality-depth": { type: "string" },
  "poll-interval-ms": { type: "string" },
} as const;

function optionalInteger(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value)) throw new UsageError(`${flag} must be a non-negative integer, got "${value}"`);
  return Number(value);
}

export async function run(argv: string[]): Promise<number> {
  let parsed;
  try {
    const { values } = parseCommandLine(argv, RUN_OPTIONS);
    if (values.help) {
      process.stdout.write(HELP + "\n");
      return 0;
    }
    const server = resolveServerOptions(values);
    const rpcUrls = values.rpc?.length
      ? values.rpc
      : (process.env.GPUMESH_RPC_URL || DEFAULT_RPC_URL).split(",").map((url) => url.trim()).filter(Boolean);
    parsed = {
      server,
      rpcUrls,
      deploymentFile: values.deployment || process.env.GPUMESH_DEPLOYMENT || DEFAULT_DEPLOYMENT_FILE,
      confirmations: optionalInteger(values.confirmations, "--confirmations"),
      finalityDepth: optionalInteger(values["finality-depth"], "--finality-depth"),
      pollIntervalMs: optionalInteger(values["poll-interval-ms"], "--poll-interval-ms"),
    };
  } catch (error) {
    if (error instanceof UsageError) return usageFailure("run", error.message, HELP);
    throw error;
  }

  const logger = createLogger({ name: "gpumesh-run" });
  const deployment = loadDeployment(parsed.deploymentFile);
  const store = openStore({ file: parsed.server.dbFile });
  // The API reads through its own read-only connection: it never sees a batch half-written, and notices each
  // committed batch (PRAGMA data_version) to refresh its cached roll-ups.
  const reader = openStore({ file: parsed.server.dbFile, readonly: true });
  try {
    const status = createIndexerStatus(deployment.chainId);
    const indexer = createIndexer({
      rpcUrls: parsed.rpcUrls,
      deployment,
      store,
      logger,
      status,
      confirmations: parsed.confirmations,
      finalityDepth: parsed.finalityDepth,
      pollIntervalMs: parsed.pollIntervalMs,
    });
    const indexerMetrics = new Registry();
    registerIndexerMetrics(indexerMetrics, status);
    const apiStatus = (): ApiIndexerStatus => {
      const snapshot = status.snapshot();
      return {
        headBlock: snapshot.headBlock,
        confirmations: indexer.options.confirmations,
        rpcRequests: snapshot.rpcRequests,
        rpcErrors: snapshot.rpcErrors,
        rpcLatencySeconds:
          snapshot.rpcLatencyMeanMs === null
            ? undefined
            : { count: snapshot.rpcRequests, sum: (snapshot.rpcLatencyMeanMs * snapshot.rpcRequests) / 1000 },
      };
    };
    const app = createGraphqlApp({
      db: reader.db,
      logger,
      status: apiStatus,
      chainId: deployment.chainId,
      registries: [indexerMetrics],
    });
    const server = await listen(app, parsed.server);
    logger.info({ msg: "serving", url: `${server.url}/graphql`, db: parsed.server.dbFile, chainId: deployment.chainId });
    process.stdout.write(`GraphQL API at ${server.url}/graphql\n`);

    const indexing = indexer.start();
    try {
      const outcome = await Promise.race([
        untilShutdownSignal().then((signal) => ({ signal })),
        indexing.then(() => ({ signal: null })),
      ]);
      logger.info({ msg: "shutting down", signal: outcome.signal });
    } finally {
      await indexer.stop();
      await server.close();
    }
    return 0;
  } finally {
    reader.close();
    store.close();
  }
}

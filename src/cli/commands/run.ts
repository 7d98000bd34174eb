import { loadDeployment } from "../../chain/deployment";
import { redactUrl } from "../../internal/errors";
import { createLogger } from "../../internal/logger";
import { startIndexAndServe } from "../../service";
import {
  SERVER_OPTIONS,
  UsageError,
  parseCommandLine,
  resolveServerOptions,
  untilShutdownSignal,
  usageFailure,
} from "./serve";

export const summary = "index the chain and serve the GraphQL API in one process";

const DEFAULT_RPC_URL = "http://127.0.0.1:8545";
const DEFAULT_DEPLOYMENT_FILE = "deployments/31337.json";

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
  --log-level LEVEL         trace, debug, info, warn, error (default info)
  -h, --help                this help`;

const RUN_OPTIONS = {
  ...SERVER_OPTIONS,
  rpc: { type: "string", multiple: true },
  deployment: { type: "string" },
  confirmations: { type: "string" },
  "finality-depth": { type: "string" },
  "poll-interval-ms": { type: "string" },
  "max-block-range": { type: "string" },
  "log-level": { type: "string" },
} as const;

const LOG_LEVELS = new Set(["trace", "debug", "info", "warn", "error", "fatal", "silent"]);

function optionalInteger(value: string | undefined, flag: string, min = 0): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value) || Number(value) < min) throw new UsageError(`${flag} must be an integer >= ${min}, got "${value}"`);
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
    const rpcUrls = (values.rpc?.length ? values.rpc : [process.env.GPUMESH_RPC_URL || DEFAULT_RPC_URL])
      .flatMap((list) => list.split(","))
      .map((url) => url.trim())
      .filter(Boolean);
    if (rpcUrls.length === 0) throw new UsageError("--rpc needs a URL");
    const logLevel = values["log-level"];
    if (logLevel !== undefined && !LOG_LEVELS.has(logLevel)) {
      throw new UsageError(`--log-level must be one of ${[...LOG_LEVELS].join(", ")}, got "${logLevel}"`);
    }
    parsed = {
      server,
      rpcUrls,
      deploymentFile: values.deployment || process.env.GPUMESH_DEPLOYMENT || DEFAULT_DEPLOYMENT_FILE,
      confirmations: optionalInteger(values.confirmations, "--confirmations"),
      finalityDepth: optionalInteger(values["finality-depth"], "--finality-depth", 1),
      pollIntervalMs: optionalInteger(values["poll-interval-ms"], "--poll-interval-ms", 1),
      maxBlockRange: optionalInteger(values["max-block-range"], "--max-block-range", 1),
      logLevel,
    };
  } catch (error) {
    if (error instanceof UsageError) return usageFailure("run", error.message, HELP);
    throw error;
  }

  const logger = createLogger({ name: "gpumesh-run", level: parsed.logLevel });
  const deployment = loadDeployment(parsed.deploymentFile);
  const service = await startIndexAndServe({
    rpcUrls: parsed.rpcUrls,
    deployment,
    dbFile: parsed.server.dbFile,
    host: parsed.server.host,
    port: parsed.server.port,
    logger,
    confirmations: parsed.confirmations,
    finalityDepth: parsed.finalityDepth,
    pollIntervalMs: parsed.pollIntervalMs,
    maxBlockRange: parsed.maxBlockRange,
  });
  const { server } = service;
  logger.info({
    msg: "serving",
    url: `${server.url}/graphql`,
    db: parsed.server.dbFile,
    chainId: deployment.chainId,
    rpc: parsed.rpcUrls.map(redactUrl),
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

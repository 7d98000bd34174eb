import { redactUrl } from "../../internal/errors";
import type { IndexerStatusSnapshot } from "../../sync/status";
import {
  HISTORY_BLOCKS_HELP,
  SYNC_OPTIONS,
  resolveDbFile,
  resolveDeploymentFile,
  resolveHistoryBlocks,
  resolveLogLevel,
  resolveRpcUrls,
  resolveSyncTuning,
} from "../lib/args";
import { parseOrHelp, type Command } from "../lib/command";

const HELP = `usage: gpumesh index --rpc URL[,URL2] --deployment FILE --db FILE [options]
Backfills the deployment's events from its start block, then follows the chain head; resumes from the database's
checkpoint after any stop, rolls back reorganisations, retries RPC failures.
  --rpc URL[,URL2]          JSON-RPC endpoints, tried in order on failure (repeatable; env GPUMESH_RPC_URL)
  --deployment FILE         deployment file written by the deploy script (env GPUMESH_DEPLOYMENT)
  --db FILE                 SQLite database, created when missing (env GPUMESH_DB)
  --confirmations N         blocks to stay behind the head (default per chain: 0 local, 2 Ethereum)
  --finality-depth N        deepest reorg handled, in blocks (default per chain: 12 local, 64 Ethereum, 300 rollups)
  --poll-interval-ms N      how often to poll the head (default per chain)
  --max-block-range N       largest eth_getLogs range (default 10000; shrinks when the node refuses)
${HISTORY_BLOCKS_HELP}
  --exit-at-head            stop once caught up with the head instead of following it
  --log-level LEVEL         trace, debug, info, warn, error (default info)
  -h, --help                this help
Stops cleanly after the current batch on SIGINT or SIGTERM. Progress goes to stderr: a bar on a terminal, JSON logs
otherwise.`;

const OPTIONS = { ...SYNC_OPTIONS, "exit-at-head": { type: "boolean" } } as const;

function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return "?";
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
}

/** A one-line progress bar on a terminal: blocks, blocks/s over the last seconds, and the time left. */
function createProgressBar(stream: NodeJS.WriteStream, startBlock: number) {
  const samples: Array<{ atMs: number; block: number }> = [];
  let lastDrawMs = 0;
  let drawn = false;
  return {
    update(status: IndexerStatusSnapshot, force = false) {
      const now = Date.now();
      if (status.indexedBlock === null || status.headBlock === null) return;
      samples.push({ atMs: now, block: status.indexedBlock });
      while (samples.length > 2 && now - samples[0].atMs > 10_000) samples.shift();
      if (!force && now - lastDrawMs < 100) return;
      lastDrawMs = now;
      const first = samples[0];
      const elapsedSeconds = (now - first.atMs) / 1000;
      const blocksPerSecond = elapsedSeconds > 0 ? (status.indexedBlock - first.block) / elapsedSeconds : 0;
      const total = Math.max(1, status.headBlock - startBlock + 1);
      const done = Math.min(total, Math.max(0, status.indexedBlock - startBlock + 1));
      const fraction = done / total;
      const left = status.headBlock - status.indexedBlock;
      const eta = left <= 0 ? "synced" : blocksPerSecond > 0 ? `ETA ${formatDuration(left / blocksPerSecond)}` : "ETA ?";
      const text =
        ` ${(fraction * 100).toFixed(1)}% ${status.indexedBlock}/${status.headBlock} ${Math.round(blocksPerSecond)} blocks/s ` +
        `${status.eventsIngested} events ${eta}` +
        (status.reorgs ? ` ${status.reorgs} reorgs` : "");
      const columns = stream.columns || 80;
      const width = Math.max(10, Math.min(30, columns - 75));
      const filled = Math.round(fraction * width);
      stream.write(`\r[${"#".repeat(filled)}${".".repeat(width - filled)}]${text}`.slice(0, columns) + "\x1b[K");
      drawn = true;
    },
    finish() {
      if (drawn) stream.write("\n");
    },
  };
}

async function run(argv: string[]): Promise<number> {
  const parsed = parseOrHelp(argv, OPTIONS, HELP);
  if (!parsed) return 0;
  const { values } = parsed;
  const options = {
    rpcUrls: resolveRpcUrls(values, undefined),
    deploymentFile: resolveDeploymentFile(values, undefined),
    dbFile: resolveDbFile(values),
    logLevel: resolveLogLevel(values, "info")!,
    exitAtHead: values["exit-at-head"] ?? false,
    historyBlocks: resolveHistoryBlocks(values),
    ...resolveSyncTuning(values),
  };

  const [{ loadDeployment }, { createLogger }, { openStore }, { createIndexer }, { retainHistory }] = await Promise.all([
    import("../../chain/deployment"),
    import("../../internal/logger"),
    import("../../store/db"),
    import("../../sync/indexer"),
    import("../../sync/retention"),
  ]);
  const interactive = Boolean(process.stderr.isTTY);
  // On a terminal the bar shows progress; logs keep to warnings so they do not tear it.
  const logger = createLogger({ name: "gpumesh-index", level: interactive && options.logLevel === "info" ? "warn" : options.logLevel });
  const deployment = loadDeployment(options.deploymentFile);
  const store = openStore({ file: options.dbFile });
  try {
    const indexer = createIndexer({
      rpcUrls: options.rpcUrls,
      deployment,
      store,
      logger,
      confirmations: options.confirmations,
      finalityDepth: options.finalityDepth,
      pollIntervalMs: options.pollIntervalMs,
      maxBlockRange: options.maxBlockRange,
    });
    // After the indexer took the writer lock: only the database's one writer prunes.
    const retained =
      options.historyBlocks === undefined ? null : retainHistory({ status: indexer.status, store, logger, historyBlocks: options.historyBlocks });
    logger.info({
      msg: "indexing",
      chainId: deployment.chainId,
      rpc: options.rpcUrls.map(redactUrl),
      db: options.dbFile,
      fromBlock: indexer.status.snapshot().indexedBlock ?? deployment.startBlock,
      historyBlocks: options.historyBlocks ?? null,
      ...indexer.options,
    });
    const bar = interactive ? createProgressBar(process.stderr, deployment.startBlock) : null;
    let lastLoggedMs = 0;
    indexer.status.on("progress", (status) => {
      if (bar) return bar.update(status);
      const now = Date.now();
      if (status.indexedBlock === null || now - lastLoggedMs < 5000) return;
      lastLoggedMs = now;
      logger.info({
        msg: "progress",
        indexedBlock: status.indexedBlock,
        headBlock: status.headBlock,
        eventsIngested: status.eventsIngested,
        blocksPerSecond: status.blocksPerSecond && Math.round(status.blocksPerSecond),
        eventsPerSecond: status.eventsPerSecond && Math.round(status.eventsPerSecond),
        reorgs: status.reorgs,
      });
    });

    let signalCount = 0;
    const onSignal = (signal: NodeJS.Signals) => {
      signalCount += 1;
      // A second signal means "now": the last committed batch is the checkpoint, so nothing is lost.
      if (signalCount > 1) process.exit(130);
      logger.warn({ msg: "stopping after the current batch", signal });
      void indexer.stop();
    };
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
    try {
      await indexer.start({ exitWhenCaughtUp: options.exitAtHead });
      // Caught up and leaving: the database is left pruned exactly to checkpoint - N (a signal leaves the rest to
      // the next run).
      if (options.exitAtHead && signalCount === 0) retained?.finish();
    } finally {
      retained?.stop();
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
      bar?.update(indexer.status.snapshot(), true);
      bar?.finish();
    }
    const final = indexer.status.snapshot();
    logger.info({ msg: "stopped", indexedBlock: final.indexedBlock, eventsIngested: final.eventsIngested, reorgs: final.reorgs });
    return 0;
  } finally {
    store.close();
  }
}

export const command: Command = { help: HELP, run };

import { createBloomFilter } from "../chain/bloom";
import { createChainClient, RpcError, type BlockHeader, type ChainClient } from "../chain/client";
import type { Deployment } from "../chain/deployment";
import { createEventDecoder, type IndexedEvent, type RpcLog } from "../chain/events";
import { ConfigError, GpuMeshError } from "../internal/errors";
import { silentLogger, type Logger } from "../internal/logger";
import type { Store } from "../store/db";
import { checkDeployment, checkOrRecordChain } from "../store/identity";
import { acquireWriterLock } from "../store/writer-lock";
import { createStoreWriter, type BlockToApply, type StoreWriter } from "../store/writer";
import { resolveSyncOptions, type SyncOptions, type SyncOptionsInput } from "./options";
import { createHeapBudget } from "./memory";
import { createIndexerStatus, type IndexerStatus } from "./status";

export interface IndexerOptions extends SyncOptionsInput {
  rpcUrls: string[];
  deployment: Deployment;
  store: Store;
  logger?: Logger;
  /** Shared with the GraphQL app for _meta, /ready and /metrics; created when absent. */
  status?: IndexerStatus;
  requestTimeoutMs?: number;
  maxRetries?: number;
  retryBaseDelayMs?: number;
}

export interface SyncResult {
  /** Checkpoint after the pass (null when nothing was ever indexed). */
  indexedBlock: number | null;
  headBlock: number;
  batches: number;
  events: number;
  /** Blocks rolled back by a reorg during the pass. */
  reorgDepth: number;
  /** The pass reached head - confirmations. */
  caughtUp: boolean;
  /** The node reported a head below the checkpoint (a lagging node): nothing was done. */
  nodeBehind: boolean;
}

export interface Indexer {
  readonly status: IndexerStatus;
  readonly options: Readonly<SyncOptions>;
  /** One pass: checks for a reorg, then indexes up to the current head - confirmations (or maxBatches batches). */
  syncOnce(options?: { maxBatches?: number }): Promise<SyncResult>;
  /** Follows the chain until stop() (or until caught up, with exitWhenCaughtUp); rejects on a fatal error. */
  start(options?: { exitWhenCaughtUp?: boolean }): Promise<void>;
  /** Stops after the batch in progress; resolves when the loop has exited. */
  stop(): Promise<void>;
}

interface FetchedBatch {
  from: number;
  to: number;
  blocks: BlockToApply[];
  logs: number;
}

/** Raised inside a pass when the node's chain no longer extends the checkpoint. */
class ReorgDetected extends GpuMeshError {
  constructor(message: string) {
    super(message, { code: "REORG_DETECTED", retryable: true });
  }
}

const sleep = (ms: number, signal: { wake?: () => void }) =>
  new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.wake = () => {
      clearTimeout(timer);
      resolve();
    };
  });

/**
 * The ingestion half of the indexer: backfills from the deployment's start block with adaptive eth_getLogs ranges
 * (all three contracts in one call), follows the head, and rolls back reorgs through the store's undo journal.
 */
export function createIndexer(options: IndexerOptions): Indexer {
  const { deployment, store } = options;
  const logger = options.logger ?? silentLogger();
  const sync = resolveSyncOptions(deployment.chainId, options);
  const status = options.status ?? createIndexerStatus(deployment.chainId, sync.confirmations);
  const writer: StoreWriter = createStoreWriter({ store, chainId: deployment.chainId });
  checkDeployment(store, deployment);
  const writerLock = store.file === ":memory:" ? null : acquireWriterLock(store, sync.pollIntervalMs);
  const recordPass = (headBlock: number) =>
    writerLock?.recordPass({ headBlock, confirmations: sync.confirmations, pollIntervalMs: sync.pollIntervalMs });
  const decoder = createEventDecoder(deployment);
  const client: ChainClient = createChainClient({
    rpcUrls: options.rpcUrls,
    requestTimeoutMs: options.requestTimeoutMs,
    maxRetries: options.maxRetries,
    retryBaseDelayMs: options.retryBaseDelayMs,
    logger,
    onRequest: (info) => status.recordRpc(info),
  });

  const heapBudget = createHeapBudget(sync.maxHeapMb);
  let blockRange = sync.initialBlockRange;
  let maxHeadSeen = 0;
  let chainChecked = false;
  let stopRequested = false;
  let running: Promise<void> | null = null;
  const wakeup: { wake?: () => void } = {};
  const speed = { blocksPerSecond: null as number | null, eventsPerSecond: null as number | null };

  const publishCheckpoint = (changes: Parameters<IndexerStatus["update"]>[0] = {}) => {
    const checkpoint = writer.checkpoint();
    status.update({
      indexedBlock: checkpoint?.block_number ?? null,
      indexedBlockHash: checkpoint?.block_hash ?? null,
      indexedBlockTimestamp: checkpoint?.block_timestamp ?? null,
      eventsIngested: checkpoint?.events_ingested ?? 0,
      reorgs: checkpoint?.reorgs ?? 0,
      ...speed,
      ...changes,
    });
  };
  publishCheckpoint({ confirmations: sync.confirmations });

  const checkChain = async () => {
    if (chainChecked) return;
    const chainId = await client.getChainId();
    if (chainId !== deployment.chainId) {
      throw new ConfigError(`RPC node is on chain ${chainId} but the deployment is for chain ${deployment.chainId}`);
    }
    checkOrRecordChain(store, deployment, (await client.getBlockHeader(deployment.startBlock)).hash);
    chainChecked = true;
  };

  /** eth_getLogs over [from, to], halving the range while the node refuses it; returns the range actually fetched. */
  const fetchLogs = async (from: number, to: number): Promise<{ to: number; logs: RpcLog[] }> => {
    let end = to;
    for (let refusals = 0; ; refusals++) {
      try {
        const logs = await client.getLogs({ addresses: decoder.addresses, fromBlock: from, toBlock: end });
        return { to: end, logs };
      } catch (error) {
        if (!(error instanceof RpcError) || (error.kind !== "range" && error.kind !== "timeout")) throw error;
        const span = end - from + 1;
        if (span === 1) {
          if (refusals > 8) throw error;
          await sleep(Math.min(30_000, 250 * 2 ** refusals), {});
          continue;
        }
        end = from + Math.max(1, Math.floor(span / 2)) - 1;
        blockRange = end - from + 1;
        logger.info({ msg: "eth_getLogs range shrunk", kind: error.kind, from, to: end, blockRange });
      }
    }
  };

  /** Aims the next range at targetLogsPerBatch logs: shrinks at once, grows at most fourfold per batch. */
  const adaptRange = (span: number, logs: number) => {
    const target = sync.targetLogsPerBatch;
    if (logs > target) {
      blockRange = Math.max(1, Math.floor((span * target) / logs));
    } else if (span >= blockRange && logs < target / 2) {
      const factor = logs === 0 ? 4 : Math.min(4, (0.8 * target) / logs);
      blockRange = Math.min(sync.maxBlockRange, Math.ceil(span * factor));
    }
  };

  const mayHaveOurLogs = createBloomFilter(decoder.addresses);
  const incomplete = (blockNumber: number, why: string, cause?: unknown) =>
    new GpuMeshError(
      `eth_getLogs left out the logs of block ${blockNumber} (its logsBloom names a GPU Mesh contract; ${why}): a node behind ` +
        `the others answered; fetching the range again`,
      { code: "LOGS_INCOMPLETE", retryable: true, cause },
    );

  /**
   * A node behind the others answers eth_getLogs over blocks it does not have yet with nothing, not an error, and a
   * load balancer may send the headers' request to an up-to-date backend and the logs' to a lagging one. So every
   * fetched header whose bloom names a GPU Mesh contract but got no logs is asked for again by its hash, which only a
   * node that has the block can answer. (Deep in finalized history only the range's last header is fetched and so
   * checked: every node has those blocks.)
   */
  const proveComplete = async (to: number, headers: Map<number, BlockHeader>, events: IndexedEvent[]) => {
    const withLogs = new Set(events.map((event) => event.blockNumber));
    const suspects = [...headers.values()].filter((h) => h.number <= to && !withLogs.has(h.number) && mayHaveOurLogs(h.logsBloom));
    await Promise.all(
      suspects.map(async (header) => {
        let logs: RpcLog[];
        try {
          logs = await client.getBlockLogs({ addresses: decoder.addresses, blockHash: header.hash });
        } catch (error) {
          throw incomplete(header.number, `asked by hash: ${(error as Error).message}`, error);
        }
        if (logs.some((log) => !log.removed)) throw incomplete(header.number, `asked by hash it has ${logs.length}`);
      }),
    );
  };

  /** fetchBatch, fetched again a few times while a lagging node leaves logs out. */
  const fetchCompleteBatch = async (from: number, to: number, finalizedBlock: number): Promise<FetchedBatch> => {
    for (let attempt = 1; ; attempt++) {
      try {
        return await fetchBatch(from, to, finalizedBlock);
      } catch (error) {
        if (!(error instanceof GpuMeshError) || error.code !== "LOGS_INCOMPLETE" || attempt >= 4 || stopRequested) throw error;
        logger.warn({ msg: "batch incomplete, fetching again", error: error.message, attempt });
        await sleep(200 * attempt, {});
      }
    }
  };

  /**
   * Logs and the headers the batch needs: every block above the finalized one (their hashes detect reorgs), blocks
   * whose logs carry no timestamp, and the last block (the new checkpoint).
   */
  const fetchBatch = async (from: number, to: number, finalizedBlock: number): Promise<FetchedBatch> => {
    const generation = client.endpointGeneration;
    const headersFor = (end: number) => {
      const numbers = [end];
      for (let n = Math.max(from, finalizedBlock + 1); n < end; n++) numbers.push(n);
      return numbers;
    };
    const headers = new Map<number, BlockHeader>();
    const fetchHeaders = async (numbers: number[]) => {
      for (const header of await client.getBlockHeaders(numbers.filter((n) => !headers.has(n)))) headers.set(header.number, header);
    };
    // Near the head the headers come first: a node that has block `to` then cannot serve a shorter log list. Deep in
    // finalized history every node has the blocks, and the headers go out with eth_getLogs.
    const early = to > finalizedBlock ? null : fetchHeaders(headersFor(to));
    early?.catch(() => undefined);
    if (!early) await fetchHeaders(headersFor(to));
    const fetched = await fetchLogs(from, to);
    to = fetched.to;
    adaptRange(to - from + 1, fetched.logs.length);
    const events: IndexedEvent[] = [];
    for (const log of fetched.logs) if (!log.removed) events.push(decoder.decode(log));
    events.sort((a, b) => a.blockNumber - b.blockNumber || a.logIndex - b.logIndex);

    await early;
    const missing = new Set(headersFor(to));
    for (const event of events) if (event.blockTimestamp === null) missing.add(event.blockNumber);
    await fetchHeaders([...missing]);
    if (client.endpointGeneration !== generation) {
      throw new GpuMeshError("the RPC endpoint changed during the batch; fetching it again from one node", {
        code: "ENDPOINT_CHANGED",
        retryable: true,
      });
    }
    for (const number of headers.keys()) if (number > to) headers.delete(number);
    await proveComplete(to, headers, events);
    const numbers = [...headers.keys()].sort((a, b) => a - b);

    const blocks = new Map<number, BlockToApply>();
    for (const number of numbers) {
      const header = headers.get(number)!;
      blocks.set(number, { number, hash: header.hash, parentHash: header.parentHash, timestamp: header.timestamp, events: [] });
    }
    for (const event of events) {
      let block = blocks.get(event.blockNumber);
      if (!block) {
        block = { number: event.blockNumber, hash: event.blockHash, parentHash: null, timestamp: event.blockTimestamp!, events: [] };
        blocks.set(event.blockNumber, block);
      } else if (block.hash !== event.blockHash) {
        throw new GpuMeshError(`block ${event.blockNumber} changed between eth_getLogs and eth_getBlockByNumber`, {
          code: "CHAIN_MOVED",
          retryable: true,
        });
      }
      block.events.push(event);
    }
    const ordered = [...blocks.values()].sort((a, b) => a.number - b.number);
    for (let i = 1; i < ordered.length; i++) {
      const [previous, block] = [ordered[i - 1], ordered[i]];
      if (block.number === previous.number + 1 && block.parentHash !== null && block.parentHash !== previous.hash) {
        throw new GpuMeshError(`block ${block.number} does not extend block ${previous.number}: the chain moved during the batch`, {
          code: "CHAIN_MOVED",
          retryable: true,
        });
      }
    }
    return { from, to, blocks: ordered, logs: fetched.logs.length };
  };

  /**
   * The first block in [fromBlock, beforeBlock) whose timestamp reaches `timestamp`, or null when none does: for the
   * writer, which applies the block at which the clock changed something in a stretch the batch skipped. A search
   * over headers, eight per round trip.
   */
  const findFirstBlockAt = async (timestamp: number, fromBlock: number, beforeBlock: number): Promise<BlockHeader | null> => {
    let low = fromBlock;
    let high = beforeBlock;
    let found: BlockHeader | null = null;
    // The answer is in [low, high], high meaning `found` (or beforeBlock while nothing was found).
    while (low < high) {
      const step = Math.ceil((high - low) / 8);
      const probes: number[] = [];
      for (let n = low; n < high; n += step) probes.push(n);
      const headers = await client.getBlockHeaders(probes);
      const index = headers.findIndex((header) => header.timestamp >= timestamp);
      if (index === -1) {
        low = probes[probes.length - 1] + 1;
      } else {
        high = probes[index];
        found = headers[index];
        if (index > 0) low = probes[index - 1] + 1;
      }
    }
    return found;
  };

  /** Walks back from the checkpoint to the newest stored block that is still canonical, and rolls back to it. */
  const rollBackReorg = async (head: number): Promise<number> => {
    const checkpoint = writer.checkpoint()!;
    const lowest = writer.lowestStoredBlock();
    let ancestor: number | null = null;
    for (let n = checkpoint.block_number; lowest !== undefined && n >= lowest; n--) {
      const stored = writer.storedBlock(n);
      if (!stored) continue;
      const canonical = await client.getBlockHeader(n);
      if (canonical.hash === stored.hash) {
        ancestor = n;
        break;
      }
    }
    // Any stored block can be rolled back to (every block above the lowest one is journaled), however far the head
    // has moved since: a fork found after downtime is as deep as it was when it happened.
    if (ancestor === null) {
      throw new GpuMeshError(
        `reorg deeper than the stored blocks: block ${checkpoint.block_number} is no longer canonical and no stored block ` +
          `down to ${lowest ?? "(none)"} matches the node's chain (the database keeps the last finalityDepth = ${sync.finalityDepth} blocks); ` +
          `re-index into a fresh --db, with a larger --finality-depth if this chain reorgs that deep`,
        { code: "REORG_TOO_DEEP" },
      );
    }
    const depth = checkpoint.block_number - ancestor;
    const undone = writer.rollbackTo(ancestor);
    logger.warn({ msg: "reorg", depth, from: checkpoint.block_number, to: ancestor, head, eventsUndone: undone.events });
    status.recordReorg({ depth, from: checkpoint.block_number, to: ancestor });
    publishCheckpoint();
    return depth;
  };

  const syncOnce: Indexer["syncOnce"] = async ({ maxBatches = Infinity } = {}) => {
    await checkChain();
    const head = await client.getBlockNumber();
    maxHeadSeen = Math.max(maxHeadSeen, head);
    const finalizedBlock = Math.max(0, maxHeadSeen - sync.finalityDepth);
    status.update({ headBlock: head, finalizedBlock });
    recordPass(head);
    const result: SyncResult = {
      indexedBlock: writer.checkpoint()?.block_number ?? null,
      headBlock: head,
      batches: 0,
      events: 0,
      reorgDepth: 0,
      caughtUp: false,
      nodeBehind: false,
    };
    let checkpoint = writer.checkpoint();
    if (checkpoint && head < checkpoint.block_number) {
      // A node behind the others (or restarted) is no reason to undo anything: wait for it.
      logger.debug({ msg: "node behind checkpoint", head, checkpoint: checkpoint.block_number });
      result.nodeBehind = true;
      return result;
    }
    // Every pass, finalized or not: the checkpoint may have been orphaned while the indexer was down or cut off.
    if (checkpoint) {
      const canonical = await client.getBlockHeader(checkpoint.block_number);
      if (canonical.hash !== checkpoint.block_hash) result.reorgDepth += await rollBackReorg(head);
    }

    const target = head - sync.confirmations;
    let pending: Promise<FetchedBatch> | null = null;
    const nextRange = (from: number) => ({ from, to: Math.min(target, from + blockRange - 1) });
    for (;;) {
      checkpoint = writer.checkpoint();
      const from = checkpoint ? checkpoint.block_number + 1 : deployment.startBlock;
      if (from > target || stopRequested || result.batches >= maxBatches) break;
      let batch: FetchedBatch;
      const waitStarted = performance.now();
      try {
        const range = nextRange(from);
        batch = pending ? await pending : await fetchCompleteBatch(range.from, range.to, finalizedBlock);
        pending = null;
        const first = batch.blocks[0];
        if (checkpoint && first.number === checkpoint.block_number + 1 && first.parentHash !== null && first.parentHash !== checkpoint.block_hash) {
          throw new ReorgDetected(`block ${first.number} does not extend the checkpoint ${checkpoint.block_number}`);
        }
      } catch (error) {
        pending = null;
        if (error instanceof ReorgDetected) {
          result.reorgDepth += await rollBackReorg(head);
          continue;
        }
        throw error;
      }
      // Finalized ranges cannot change: fetch the next one while this one is written.
      const next = nextRange(batch.to + 1);
      if (next.from <= next.to && next.to <= finalizedBlock && !stopRequested && result.batches + 1 < maxBatches) {
        pending = fetchCompleteBatch(next.from, next.to, finalizedBlock);
        pending.catch(() => undefined);
        // Let the request leave before the synchronous write blocks the event loop.
        await new Promise((resolve) => setImmediate(resolve));
      }
      const started = performance.now();
      const waitMs = started - waitStarted;
      const { events } = await writer.applyBatch(batch.blocks, { finalizedBlock, findFirstBlockAt });
      const seconds = Math.max(1e-6, (performance.now() - started) / 1000);
      heapBudget.check();
      recordPass(head);
      result.batches += 1;
      result.events += events;
      const blocks = batch.to - batch.from + 1;
      const smooth = (previous: number | null, value: number) => (previous === null ? value : previous * 0.7 + value * 0.3);
      speed.blocksPerSecond = smooth(speed.blocksPerSecond, blocks / seconds);
      speed.eventsPerSecond = smooth(speed.eventsPerSecond, events / seconds);
      publishCheckpoint({ phase: status.snapshot().phase === "realtime" ? "realtime" : "backfill" });
      logger.debug({
        msg: "batch",
        from: batch.from,
        to: batch.to,
        logs: batch.logs,
        events,
        blockRange,
        waitMs: Math.round(waitMs),
        applyMs: Math.round(seconds * 1000),
      });
    }
    if (pending) await (pending as Promise<FetchedBatch>).catch(() => undefined);
    checkpoint = writer.checkpoint();
    result.indexedBlock = checkpoint?.block_number ?? null;
    result.caughtUp = (checkpoint?.block_number ?? deployment.startBlock - 1) >= target;
    return result;
  };

  /**
   * Before stopping at the head, asks for it twice more: one eth_blockNumber may come from a lagging node (or a
   * load balancer's lagging member), and stopping on it would end the run short with success.
   */
  const headConfirmed = async (head: number): Promise<boolean> => {
    for (let check = 0; check < 2; check++) {
      await sleep(Math.min(250, sync.pollIntervalMs), {});
      const again = await client.getBlockNumber();
      if (again > head) {
        logger.info({ msg: "head moved on while confirming it", head, again });
        return false;
      }
    }
    return true;
  };

  const loop = async (exitWhenCaughtUp: boolean) => {
    let lastHead = -1;
    let stalledPolls = 0;
    let failures = 0;
    while (!stopRequested) {
      try {
        const result = await syncOnce();
        failures = 0;
        if (result.caughtUp) publishCheckpoint({ phase: "realtime", lastError: null });
        if (result.caughtUp && exitWhenCaughtUp && (await headConfirmed(result.headBlock))) break;
        if (result.headBlock === lastHead) {
          stalledPolls += 1;
          if (sync.stallPolls !== null && stalledPolls >= sync.stallPolls) {
            client.recreate(`head stuck at ${lastHead} for ${stalledPolls} polls`);
            stalledPolls = 0;
          }
        } else {
          stalledPolls = 0;
          lastHead = result.headBlock;
        }
        if (result.caughtUp || result.nodeBehind) await sleep(sync.pollIntervalMs, wakeup);
      } catch (error) {
        const retryable = error instanceof GpuMeshError && error.retryable;
        const message = (error as Error).message;
        if (!retryable) {
          status.update({ phase: "failed", lastError: message });
          logger.error({ msg: "indexer stopped", error: message, code: (error as GpuMeshError).code });
          throw error;
        }
        failures += 1;
        status.update({ lastError: message });
        const delayMs = Math.min(60_000, sync.pollIntervalMs * 2 ** Math.min(failures, 6));
        logger.warn({ msg: "sync failed, retrying", error: message, code: (error as GpuMeshError).code, delayMs });
        await sleep(delayMs, wakeup);
      }
    }
    status.update({ phase: "stopped" });
  };

  return {
    status,
    options: sync,
    syncOnce,
    start({ exitWhenCaughtUp = false } = {}) {
      if (!running) {
        stopRequested = false;
        running = loop(exitWhenCaughtUp).finally(() => {
          running = null;
        });
      }
      return running;
    },
    async stop() {
      stopRequested = true;
      wakeup.wake?.();
      if (running) await running.catch(() => undefined);
    },
  };
}

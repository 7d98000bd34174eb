import type { Logger } from "../internal/logger";
import type { Store } from "../store/db";
import { createHistoryRetention, type HistoryPruneProgress, type HistoryRetentionOptions } from "../store/retention";
import type { IndexerStatus, IndexerStatusSnapshot } from "./status";

export interface RetainHistoryOptions extends HistoryRetentionOptions {
  /** The indexer's status: its "progress" reports (after each committed batch, and each poll at the head) drive it. */
  status: IndexerStatus;
  /** The indexer's own store: the single writer (src/store/writer-lock.ts) is the only one that prunes. */
  store: Store;
  logger: Logger;
}

export interface RetainedHistory {
  /** Runs the prune under way (or due) to its end: for a run that stops at the head (`gpumesh index --exit-at-head`). */
  finish(): void;
  stop(): void;
}

/**
 * Keeps `historyBlocks` blocks of history (src/store/retention.ts) while an indexer runs: a slice of pruning after
 * each of its progress reports, in a short transaction of its own on the indexer's connection, between the indexer's
 * transactions.
 */
export function retainHistory(options: RetainHistoryOptions): RetainedHistory {
  const { status, store, logger } = options;
  const retention = createHistoryRetention(store, options);
  const pass = { versions: 0, blockTimes: 0, durationMs: 0, slices: 0 };
  const record = (progress: HistoryPruneProgress | null) => {
    if (!progress) return;
    pass.versions += progress.versions;
    pass.blockTimes += progress.blockTimes;
    pass.durationMs += progress.durationMs;
    pass.slices += 1;
    if (!progress.done) return;
    logger.info({ msg: "history pruned", historyBlocks: retention.historyBlocks, boundary: progress.boundary, ...pass, durationMs: Math.round(pass.durationMs) });
    Object.assign(pass, { versions: 0, blockTimes: 0, durationMs: 0, slices: 0 });
  };
  const afterProgress = (snapshot: IndexerStatusSnapshot) => {
    // The writer yields while a batch is written: a report then (none is made today) leaves it to the next one.
    if (snapshot.indexedBlock === null || store.db.inTransaction) return;
    try {
      record(retention.afterBatch(snapshot.indexedBlock));
    } catch (error) {
      // The history is only larger than asked for until a prune succeeds; indexing goes on.
      logger.warn({ msg: "history prune failed, trying again after the next batch", error: (error as Error).message });
    }
  };
  status.on("progress", afterProgress);
  return {
    finish() {
      const indexed = status.snapshot().indexedBlock;
      if (indexed === null) return;
      // The pass under way, then the one the checkpoint makes due, if any.
      for (let progress = retention.finish(indexed); progress; progress = retention.finish(indexed)) record(progress);
    },
    stop: () => status.off("progress", afterProgress),
  };
}

import { ConfigError } from "../internal/errors";
import type { Store } from "./db";
import { historyBounds } from "./history";
import { HISTORY_TABLES } from "./schema";

/**
 * History retention (README "Time travel"), opt-in with `--history-blocks N`: the store keeps the row versions that
 * answers as of any block from checkpoint - N (the boundary) on need, and history_start moves up to the boundary, so
 * that an earlier block gets the "before this database's history" error. A version replaced at or below the boundary
 * (valid_to_block <= boundary) answers only blocks before it and goes, and so do the block times before the last one
 * at or below it (that one stays: it is the clock of the blocks from the boundary to the next applied one). Open
 * versions, the current tables, heartbeats and stake movements (they are the current lists too), the undo journal and
 * the block hashes stay. Only the indexer's process prunes, on its own connection, between its batches.
 *
 * A prune is a pass over the history tables in rowid order: there is no index on valid_to_block (one would cost
 * every version write), so finding the replaced versions means reading every version. The pass goes in slices, about
 * 10 ms of them after each batch (the API may share the thread: src/service.ts), each call one short transaction;
 * history_start moves to the pass's boundary in its first one, before anything older than the boundary goes.
 * Versions written while a pass goes on belong to later blocks (replaced, if ever, above its boundary): whether it
 * reads them or not changes nothing.
 */

export interface HistoryPruneProgress {
  /** The pass's boundary: the first block the history answers, checkpoint - historyBlocks when the pass started. */
  boundary: number;
  /** Row versions deleted by this call, over all history tables. */
  versions: number;
  blockTimes: number;
  durationMs: number;
  /** The pass is over: every version replaced at or below the boundary is gone. */
  done: boolean;
}

export interface HistoryRetention {
  readonly historyBlocks: number;
  /**
   * After a committed batch (outside any transaction): goes on with the pass under way, or starts one once
   * checkpoint - historyBlocks is pruneEveryBlocks or more past where the history starts; about sliceBudgetMs of work.
   * Null when there was nothing to do.
   */
  afterBatch(checkpointBlock: number): HistoryPruneProgress | null;
  /** The same, without a time limit: the pass due (or under way) runs to its end. */
  finish(checkpointBlock: number): HistoryPruneProgress | null;
}

export interface HistoryRetentionOptions {
  historyBlocks: number;
  /** A pass starts once the boundary is this far past the history's start: history spans N to N + this. Default N / 10. */
  pruneEveryBlocks?: number;
  /** Milliseconds of pruning after each batch (default 10, the writer's own slice: src/store/writer.ts). */
  sliceBudgetMs?: number;
}

/** Rowids one DELETE reads: a range of the table's rowid B-tree; at most a few milliseconds when most of them go. */
const SLICE_ROWIDS = 1_000;

interface Pass {
  boundary: number;
  /** The history table the pass is in (past the last: block_times). */
  table: number;
  afterRowid: number;
  started: boolean;
}

export function createHistoryRetention(store: Store, options: HistoryRetentionOptions): HistoryRetention {
  const { db } = store;
  const { historyBlocks } = options;
  if (store.readonly) throw new ConfigError("history retention prunes the database: it needs the indexer's writable one");
  if (!Number.isSafeInteger(historyBlocks) || historyBlocks < 0) throw new ConfigError(`historyBlocks must be a whole number, got ${historyBlocks}`);
  const pruneEveryBlocks = options.pruneEveryBlocks ?? Math.max(1, Math.ceil(historyBlocks / 10));
  const sliceBudgetMs = options.sliceBudgetMs ?? 10;

  const tables = Object.values(HISTORY_TABLES).map((history) => ({
    deleteSlice: db.prepare(`DELETE FROM ${history} WHERE rowid > @after AND rowid <= @upTo AND valid_to_block <= @boundary`),
    lastRowid: db.prepare(`SELECT coalesce(max(rowid), 0) FROM ${history}`).pluck(),
  }));
  // block_times is keyed by number: the lowest ones first, a slice at a time, below the one that stays.
  const keptBlockTime = db.prepare("SELECT coalesce(max(number), 0) FROM block_times WHERE number <= ?").pluck();
  const deleteBlockTimes = db.prepare(
    `DELETE FROM block_times WHERE number IN (SELECT number FROM block_times WHERE number < ? ORDER BY number LIMIT ${SLICE_ROWIDS})`,
  );
  const moveHistoryStart = db.prepare(
    `INSERT INTO history_start (id, block_number, history_blocks) VALUES (1, @boundary, @historyBlocks)
     ON CONFLICT (id) DO UPDATE SET block_number = @boundary, history_blocks = @historyBlocks`,
  );
  const { firstAnswered } = historyBounds(db);

  let pass: Pass | null = null;

  /** Slices of the pass until `budgetMs` is spent or the pass is over, in one transaction. */
  const work = (budgetMs: number): HistoryPruneProgress => {
    const current = pass!;
    const started = performance.now();
    let versions = 0;
    let blockTimes = 0;
    db.transaction(() => {
      if (!current.started) {
        moveHistoryStart.run({ boundary: current.boundary, historyBlocks });
        current.started = true;
      }
      const keep = keptBlockTime.get(current.boundary) as number;
      for (;;) {
        if (current.table < tables.length) {
          const table = tables[current.table]!;
          if (current.afterRowid >= (table.lastRowid.get() as number)) {
            current.table += 1;
            current.afterRowid = 0;
            continue;
          }
          const upTo = current.afterRowid + SLICE_ROWIDS;
          versions += table.deleteSlice.run({ after: current.afterRowid, upTo, boundary: current.boundary }).changes;
          current.afterRowid = upTo;
        } else {
          const deleted = deleteBlockTimes.run(keep).changes;
          blockTimes += deleted;
          if (deleted < SLICE_ROWIDS) {
            current.table += 1;
            return;
          }
        }
        if (performance.now() - started >= budgetMs) return;
      }
    }).immediate();
    const done = current.table > tables.length;
    if (done) pass = null;
    return { boundary: current.boundary, versions, blockTimes, durationMs: performance.now() - started, done };
  };

  const step = (checkpointBlock: number, budgetMs: number): HistoryPruneProgress | null => {
    if (db.inTransaction) throw new Error("history retention runs between the writer's transactions, not inside one");
    const since = firstAnswered();
    // A reorg deeper than the history started it again lower (src/store/tables.ts, createHistoryRestorer): the
    // versions the pass would still delete may now be needed, so it starts over.
    if (pass?.started && since < pass.boundary) pass = null;
    if (!pass) {
      const boundary = checkpointBlock - historyBlocks;
      if (boundary - since < pruneEveryBlocks) return null;
      pass = { boundary, table: 0, afterRowid: 0, started: false };
    }
    return work(budgetMs);
  };

  return {
    historyBlocks,
    afterBatch: (checkpointBlock) => step(checkpointBlock, sliceBudgetMs),
    finish: (checkpointBlock) => step(checkpointBlock, Infinity),
  };
}

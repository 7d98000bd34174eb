import type { IndexedEvent } from "../chain/events";
import { ConfigError, GpuMeshError } from "../internal/errors";
import type { Store } from "./db";
import { createEventHandlers } from "./handlers";
import type { CheckpointRow } from "./rows";
import { createTables, DERIVED_COLUMNS, HISTORY_TABLES } from "./schema";
import { createHistoryRestorer, createRowRestorer, type Journal } from "./tables";

/** One block of a batch: its header and its events in log order. */
export interface BlockToApply {
  number: number;
  hash: string;
  /** Null when the header was not fetched (a finalized block known only from its logs). */
  parentHash: string | null;
  timestamp: number;
  events: IndexedEvent[];
}

export interface ApplyBatchOptions {
  /** Blocks at or below it cannot be re-orged: their writes are not journaled, and older journal rows are pruned. */
  finalizedBlock: number;
  /**
   * The transaction yields to the event loop after this much work, so that the next batch's RPC response keeps
   * streaming in while this one is written (nothing else writes to the database meanwhile).
   */
  yieldEveryMs?: number;
  /**
   * The first block in [fromBlock, beforeBlock) whose timestamp is at or after `timestamp`, or null when none is (then
   * beforeBlock is the first). A batch skips the blocks of finalized history without events; when the clock changes
   * something in such a stretch, the writer asks for the block where it happened and applies it too, so that the
   * change's row versions are dated there whichever blocks a batch fetched. Without it, the change is dated at the
   * next block of the batch.
   */
  findFirstBlockAt?: (timestamp: number, fromBlock: number, beforeBlock: number) => Promise<{ number: number; timestamp: number } | null>;
}

export interface StoredBlock {
  number: number;
  hash: string;
  parentHash: string;
  timestamp: number;
}

export interface StoreWriter {
  readonly chainId: number;
  checkpoint(): CheckpointRow | undefined;
  /**
   * Applies blocks in one transaction: their events, the roll-ups, the undo journal, the block hashes and the
   * checkpoint (the last block) commit together, so a process killed at any moment resumes exactly.
   */
  applyBatch(blocks: BlockToApply[], options: ApplyBatchOptions): Promise<{ events: number }>;
  /** Undoes every block above `blockNumber` (a block whose hash is stored) and counts a reorg. */
  rollbackTo(blockNumber: number): { blocks: number; events: number };
  /** A stored (unfinalized or checkpoint) block. */
  storedBlock(blockNumber: number): StoredBlock | undefined;
  /** Lowest block whose hash is stored: the deepest possible common ancestor in a reorg. */
  lowestStoredBlock(): number | undefined;
}

/** Pages of WAL after which the writer's commit checkpoints (see createStoreWriter). */
export const WAL_AUTOCHECKPOINT_PAGES = 10_000;

/** SQLITE_BUSY (another connection holds the write lock past busy_timeout) is worth a retry; the rest is not. */
function asStoreError(error: unknown): unknown {
  const code = (error as { code?: unknown })?.code;
  if (typeof code === "string" && (code === "SQLITE_BUSY" || code.startsWith("SQLITE_BUSY_") || code === "SQLITE_LOCKED")) {
    return new GpuMeshError(`database busy: ${(error as Error).message}`, { code: "DB_BUSY", retryable: true, cause: error });
  }
  return error;
}

/** Creates the single writer of a store (one per database: it caches rows between batches). */
export function createStoreWriter(options: { store: Store; chainId: number }): StoreWriter {
  const { store, chainId } = options;
  if (store.readonly) throw new ConfigError("the indexer needs a writable database");
  const { db } = store;
  // A commit that finds the WAL over this many pages copies it into the database file and syncs it (a checkpoint).
  // SQLite's default, 1,000 pages (4 MB), is less than one backfill batch writes, so every batch paid for a
  // checkpoint: at 10,000 (40 MB) the pages a run of batches rewrites are copied once, and the WAL stays bounded.
  // Half the commit time of the dense benchmark's backfill (bench:indexer); readers never checkpoint.
  db.pragma(`wal_autocheckpoint = ${WAL_AUTOCHECKPOINT_PAGES}`);
  const journal: Journal = { blockNumber: null, records: [], versionBlock: null };
  const tables = createTables(db, journal);
  const handlers = createEventHandlers(db, tables, journal);
  const restoreRow = createRowRestorer(db, DERIVED_COLUMNS);
  const history = createHistoryRestorer(db, HISTORY_TABLES);

  const selectCheckpoint = db.prepare<[], CheckpointRow>(`SELECT * FROM checkpoint WHERE id = 1`);
  const writeCheckpoint = db.prepare(
    `INSERT INTO checkpoint (id, chain_id, block_number, block_hash, block_timestamp, events_ingested, reorgs)
     VALUES (1, @chainId, @number, @hash, @timestamp, @events, 0)
     ON CONFLICT (id) DO UPDATE SET block_number = @number, block_hash = @hash, block_timestamp = @timestamp,
       events_ingested = events_ingested + @events`,
  );
  const insertUndo = db.prepare(`INSERT INTO undo_log (block_number, table_name, row_key, old_row) VALUES (?, ?, ?, ?)`);
  const insertBlock = db.prepare(
    `INSERT OR REPLACE INTO blocks (number, hash, parent_hash, timestamp, events) VALUES (?, ?, ?, ?, ?)`,
  );
  const insertBlockTime = db.prepare(`INSERT OR REPLACE INTO block_times (number, timestamp) VALUES (?, ?)`);
  const deleteBlockTimesAbove = db.prepare(`DELETE FROM block_times WHERE number > ?`);
  const pruneUndo = db.prepare(`DELETE FROM undo_log WHERE block_number <= ?`);
  const pruneBlocks = db.prepare(`DELETE FROM blocks WHERE number < ?`);
  const selectBlock = db.prepare<[number], { number: number; hash: string; parent_hash: string; timestamp: number }>(
    `SELECT number, hash, parent_hash, timestamp FROM blocks WHERE number = ?`,
  );
  const selectLowestBlock = db.prepare(`SELECT MIN(number) FROM blocks`).pluck();
  const selectUndo = db.prepare<[number], { table_name: string; row_key: string; old_row: string | null }>(
    `SELECT table_name, row_key, old_row FROM undo_log WHERE block_number > ? ORDER BY seq DESC`,
  );
  const sumEventsAbove = db.prepare(`SELECT COUNT(*) AS blocks, COALESCE(SUM(events), 0) AS events FROM blocks WHERE number > ?`);
  const deleteUndoAbove = db.prepare(`DELETE FROM undo_log WHERE block_number > ?`);
  const deleteBlocksAbove = db.prepare(`DELETE FROM blocks WHERE number > ?`);
  const rewindCheckpoint = db.prepare(
    `UPDATE checkpoint SET block_number = ?, block_hash = ?, block_timestamp = ?, events_ingested = events_ingested - ?,
       reorgs = reorgs + 1 WHERE id = 1`,
  );

  const existing = selectCheckpoint.get();
  if (existing && existing.chain_id !== chainId) {
    throw new ConfigError(`database ${store.file} indexes chain ${existing.chain_id}, not chain ${chainId}; use another --db`);
  }

  /** Drops everything in memory that may disagree with the database (after a failed or undone transaction). */
  const forget = () => {
    for (const table of tables.all) table.clear();
    handlers.reset();
    journal.records = [];
    journal.blockNumber = null;
    journal.versionBlock = null;
  };

  const begin = db.prepare("BEGIN IMMEDIATE");
  const commit = db.prepare("COMMIT");
  const rollback = db.prepare("ROLLBACK");
  const nextTick = () => new Promise<void>((resolve) => setImmediate(resolve));
  let busy = false;

  const writeBatch = async (
    blocks: BlockToApply[],
    finalizedBlock: number,
    yieldEveryMs: number,
    findFirstBlockAt: ApplyBatchOptions["findFirstBlockAt"],
  ): Promise<number> => {
    let events = 0;
    let sliceStarted = performance.now();
    const maybeYield = async () => {
      if (performance.now() - sliceStarted >= yieldEveryMs) {
        await nextTick();
        sliceStarted = performance.now();
      }
    };
    const applyBlock = async (block: { number: number; timestamp: number; events: IndexedEvent[] }) => {
      const journaled = block.number > finalizedBlock;
      const context = { number: block.number, timestamp: block.timestamp, journaled };
      journal.blockNumber = journaled ? block.number : null;
      journal.versionBlock = block.number;
      insertBlockTime.run(block.number, block.timestamp);
      handlers.beginBlock(context);
      for (let i = 0; i < block.events.length; i++) {
        handlers.apply(block.events[i], context);
        if ((i & 63) === 63) await maybeYield();
      }
      handlers.endBlock(context);
      events += block.events.length;
      await maybeYield();
    };
    journal.blockNumber = null;
    handlers.beginBatch();
    const checkpoint = selectCheckpoint.get();
    let previous = checkpoint && { number: checkpoint.block_number, timestamp: checkpoint.block_timestamp };
    for (const block of blocks) {
      // Blocks the batch skipped (finalized, without events) in which the clock changed something: each change is
      // applied at the first block that reached it.
      while (findFirstBlockAt && previous && block.number > previous.number + 1) {
        const due = handlers.clockChangeDue(block.timestamp);
        if (due === null) break;
        const found = await findFirstBlockAt(due, previous.number + 1, block.number);
        if (found === null) break;
        await applyBlock({ number: found.number, timestamp: found.timestamp, events: [] });
        previous = found;
      }
      await applyBlock(block);
      previous = block;
    }
    journal.versionBlock = null;
    handlers.endBatch();
    for (const table of tables.all) {
      table.flush();
      await maybeYield();
    }
    for (const record of journal.records) insertUndo.run(record.blockNumber, record.table, record.rowKey, record.oldRow);
    journal.records = [];
    const last = blocks[blocks.length - 1];
    for (const block of blocks) {
      if (block.parentHash !== null && (block.number > finalizedBlock || block === last)) {
        insertBlock.run(block.number, block.hash, block.parentHash, block.timestamp, block.events.length);
      }
    }
    writeCheckpoint.run({ chainId, number: last.number, hash: last.hash, timestamp: last.timestamp, events });
    pruneUndo.run(finalizedBlock);
    pruneBlocks.run(Math.min(finalizedBlock, last.number));
    return events;
  };

  return {
    chainId,
    checkpoint: () => selectCheckpoint.get(),
    async applyBatch(blocks, { finalizedBlock, yieldEveryMs = 10, findFirstBlockAt }) {
      if (blocks.length === 0) return { events: 0 };
      if (busy) throw new GpuMeshError("a batch is already being written", { code: "WRITER_BUSY" });
      const checkpoint = selectCheckpoint.get();
      for (let i = 0; i < blocks.length; i++) {
        const previous = i === 0 ? checkpoint?.block_number : blocks[i - 1].number;
        if (previous !== undefined && blocks[i].number <= previous) {
          throw new GpuMeshError(`batch block ${blocks[i].number} is not after block ${previous}`, { code: "BATCH_ORDER" });
        }
      }
      busy = true;
      try {
        begin.run();
        const events = await writeBatch(blocks, finalizedBlock, yieldEveryMs, findFirstBlockAt);
        commit.run();
        return { events };
      } catch (error) {
        if (db.inTransaction) rollback.run();
        forget();
        throw asStoreError(error);
      } finally {
        busy = false;
      }
    },
    rollbackTo(blockNumber) {
      if (busy) throw new GpuMeshError("a batch is being written", { code: "WRITER_BUSY" });
      try {
        const result = db
          .transaction(() => {
            const checkpoint = selectCheckpoint.get();
            if (!checkpoint || blockNumber >= checkpoint.block_number) return { blocks: 0, events: 0 };
            const base = selectBlock.get(blockNumber);
            if (!base) {
              throw new GpuMeshError(`cannot roll back to block ${blockNumber}: it is below the unfinalized window`, {
                code: "REORG_TOO_DEEP",
              });
            }
            const records = selectUndo.all(blockNumber);
            for (const record of records) restoreRow(record.table_name, record.row_key, record.old_row);
            if (history.restartsAbove(blockNumber)) {
              history.restart(blockNumber);
            } else {
              const keys = new Set<string>();
              for (const record of records) {
                const id = `${record.table_name}\u0000${record.row_key}`;
                if (keys.has(id)) continue;
                keys.add(id);
                history.rollBack(record.table_name, record.row_key, blockNumber);
              }
            }
            const undone = sumEventsAbove.get(blockNumber) as { blocks: number; events: number };
            deleteUndoAbove.run(blockNumber);
            deleteBlocksAbove.run(blockNumber);
            deleteBlockTimesAbove.run(blockNumber);
            insertBlockTime.run(base.number, base.timestamp);
            rewindCheckpoint.run(base.number, base.hash, base.timestamp, undone.events);
            return undone;
          })
          .immediate();
        return result;
      } catch (error) {
        throw asStoreError(error);
      } finally {
        forget();
      }
    },
    storedBlock(blockNumber) {
      const row = selectBlock.get(blockNumber);
      return row && { number: row.number, hash: row.hash, parentHash: row.parent_hash, timestamp: row.timestamp };
    },
    lowestStoredBlock() {
      return (selectLowestBlock.get() as number | null) ?? undefined;
    },
  };
}

import os from "node:os";
import { GpuMeshError } from "../internal/errors";
import type { Db, Store } from "./db";

/** The indexer_writer row: which process writes the database, and when it last passed. */
export interface WriterRow {
  pid: number;
  host: string;
  started_at: number;
  seen_at: number;
  poll_interval_ms: number;
  head_block: number | null;
  confirmations: number;
}

export interface WriterLock {
  /** After every pass: proves the writer alive and records the head it saw. */
  recordPass(pass: { headBlock: number; confirmations: number; pollIntervalMs: number }): void;
  release(): void;
}

/** A writer that has not passed for this long (or three poll intervals, if longer) is taken for gone. */
export const WRITER_STALE_MS = 60_000;

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

export function readWriter(db: Db): WriterRow | undefined {
  return db.prepare<[], WriterRow>("SELECT * FROM indexer_writer WHERE id = 1").get();
}

/** Whether the row's process still writes: alive on this host, or passing recently on another. */
export function writerAlive(row: WriterRow, nowMs = Date.now()): boolean {
  if (row.host === os.hostname()) return processAlive(row.pid);
  return nowMs - row.seen_at <= Math.max(WRITER_STALE_MS, 3 * row.poll_interval_ms);
}

/**
 * Takes the database's single-writer row, inside one immediate transaction: refused while another live process holds
 * it; a dead holder's row (killed, crashed) is taken over. In-memory databases have no other writer.
 */
export function acquireWriterLock(store: Store, pollIntervalMs: number): WriterLock {
  const { db } = store;
  const host = os.hostname();
  const now = Date.now();
  db.transaction(() => {
    const holder = readWriter(db);
    if (holder && holder.pid !== process.pid && writerAlive(holder, now)) {
      throw new GpuMeshError(
        `database ${store.file} is being indexed by process ${holder.pid} on ${holder.host} (since ` +
          `${new Date(holder.started_at).toISOString()}): one indexer per database; stop that one or use another --db`,
        { code: "DB_LOCKED" },
      );
    }
    db.prepare(
      `INSERT OR REPLACE INTO indexer_writer (id, pid, host, started_at, seen_at, poll_interval_ms, head_block, confirmations)
       VALUES (1, ?, ?, ?, ?, ?, NULL, 0)`,
    ).run(process.pid, host, now, now, pollIntervalMs);
  }).immediate();
  const pass = db.prepare(
    "UPDATE indexer_writer SET seen_at = ?, head_block = ?, confirmations = ?, poll_interval_ms = ? WHERE id = 1 AND pid = ?",
  );
  const remove = db.prepare("DELETE FROM indexer_writer WHERE id = 1 AND pid = ?");
  let released = false;
  let lastPassMs = 0;
  const lock: WriterLock = {
    recordPass({ headBlock, confirmations, pollIntervalMs: interval }) {
      const nowMs = Date.now();
      // At most once a second: it is called after every batch of a backfill too.
      if (released || nowMs - lastPassMs < 1000) return;
      lastPassMs = nowMs;
      pass.run(nowMs, headBlock, confirmations, interval, process.pid);
    },
    release() {
      if (released || !db.open) return;
      released = true;
      remove.run(process.pid);
    },
  };
  store.onClose(() => lock.release());
  return lock;
}

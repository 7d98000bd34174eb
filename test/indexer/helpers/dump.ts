import type { Db } from "../../../src/store/db";
import { ENTITY_TABLES } from "../../../src/store/schema";

/**
 * Every table an API reads, rows in key order, for comparing two indexes of the same chain: the entity tables and
 * the checkpoint without its reorg counter (undo_log and blocks are bookkeeping of how the index got there).
 */
export function dumpTables(db: Db): Record<string, unknown[]> {
  const dump: Record<string, unknown[]> = {};
  for (const table of ENTITY_TABLES) {
    const keys = (db.pragma(`table_info(${table})`) as Array<{ name: string; pk: number }>)
      .filter((c) => c.pk > 0)
      .sort((a, b) => a.pk - b.pk)
      .map((c) => c.name);
    dump[table] = db.prepare(`SELECT * FROM ${table} ORDER BY ${keys.join(", ")}`).all();
  }
  dump.checkpoint = db
    .prepare(`SELECT chain_id, block_number, block_hash, block_timestamp, events_ingested FROM checkpoint`)
    .all();
  return dump;
}

/** The undo journal without its sequence numbers, in a canonical order: what a rollback would restore. */
export function dumpUndoJournal(db: Db): unknown[] {
  return db.prepare("SELECT block_number, table_name, row_key, old_row FROM undo_log ORDER BY block_number, table_name, row_key").all();
}

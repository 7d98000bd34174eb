import type { Db } from "./db";

/** A column value as SQLite returns it (amounts are decimal TEXT; INTEGER columns here stay below 2^53). */
export type SqlValue = string | number | null;
export type Row = Record<string, SqlValue>;
export type KeyValue = string | number;

/**
 * One undo record: the row as it was before the first write to it in `blockNumber`, or null when it did not exist.
 * Stored in undo_log; replayed newest first by rollbackTo.
 */
export interface UndoRecord {
  blockNumber: number;
  table: string;
  rowKey: string;
  oldRow: string | null;
}

/**
 * Where writes are journaled: `blockNumber` null means the block is final (no undo needed); otherwise every row gets
 * one undo record per block, taken at the block's first write to it.
 */
export interface Journal {
  blockNumber: number | null;
  records: UndoRecord[];
}

export interface Table<R extends Row> {
  readonly name: string;
  readonly keyColumns: readonly string[];
  /** The current row (cached; treat as read-only, write through update/put). */
  get(key: KeyValue | readonly KeyValue[]): R | undefined;
  /** Inserts or replaces a whole row; columns left out take the schema's defaults. */
  put(row: Partial<R>): R;
  /** Changes some columns of an existing row; throws when it does not exist. */
  update(key: KeyValue | readonly KeyValue[], changes: Partial<R>): R;
  delete(key: KeyValue | readonly KeyValue[]): void;
  /** Writes dirty rows to SQLite (inside the caller's transaction). */
  flush(): void;
  /** Drops cached rows; call after flush or to discard uncommitted changes. */
  clear(): void;
  readonly dirtyCount: number;
}

interface Entry {
  key: readonly KeyValue[];
  row: Row | null;
  inDb: boolean;
  dirty: boolean;
  journaledBlock: number;
}

export interface TableOptions {
  /** Columns computed from the row at write time and never read back (e.g. price_sort, a 63-bit sort key). */
  derived?: Record<string, (row: Row) => SqlValue | bigint>;
  /** Rows kept in memory after a flush before the cache is emptied. */
  maxCachedRows?: number;
  /** Rows are only ever inserted under fresh keys and never read back: put skips the lookup of the old row. */
  appendOnly?: boolean;
}

interface ColumnInfo {
  name: string;
  pk: number;
  dflt_value: string | null;
}

function parseDefault(sql: string | null): SqlValue {
  if (sql === null || sql.toUpperCase() === "NULL") return null;
  if (sql.startsWith("'") && sql.endsWith("'")) return sql.slice(1, -1).replace(/''/g, "'");
  const number = Number(sql);
  return Number.isFinite(number) ? number : sql;
}

function cacheKey(key: readonly KeyValue[]): KeyValue {
  return key.length === 1 ? key[0] : key.join("\u0000");
}

/**
 * A write-back cache over one SQLite table: reads hit memory after the first load, writes stay in memory until flush,
 * and each write above the finalized block first records the row's previous state in the journal. Columns and keys
 * come from the schema itself, so a migration that adds a column needs no change here.
 */
export function createTable<R extends Row>(db: Db, name: string, journal: Journal, options: TableOptions = {}): Table<R> {
  const info = db.pragma(`table_info(${name})`) as ColumnInfo[];
  if (info.length === 0) throw new Error(`table ${name} does not exist`);
  const derived = options.derived ?? {};
  const keyColumns = info.filter((c) => c.pk > 0).sort((a, b) => a.pk - b.pk).map((c) => c.name);
  const storedColumns = info.map((c) => c.name);
  const columns = storedColumns.filter((c) => !(c in derived));
  const defaults: Row = Object.fromEntries(info.filter((c) => !(c.name in derived)).map((c) => [c.name, parseDefault(c.dflt_value)]));
  const keyWhere = keyColumns.map((c) => `${c} = ?`).join(" AND ");
  const selectOne = db.prepare(`SELECT ${columns.join(", ")} FROM ${name} WHERE ${keyWhere}`);
  const upsert = db.prepare(
    `INSERT OR REPLACE INTO ${name} (${storedColumns.join(", ")}) VALUES (${storedColumns.map(() => "?").join(", ")})`,
  );
  const remove = db.prepare(`DELETE FROM ${name} WHERE ${keyWhere}`);
  const maxCachedRows = options.maxCachedRows ?? 20_000;
  const derivedEntries = Object.entries(derived);

  const cache = new Map<KeyValue, Entry>();
  let dirty: Entry[] = [];

  const toKey = (key: KeyValue | readonly KeyValue[]): readonly KeyValue[] =>
    Array.isArray(key) ? (key as readonly KeyValue[]) : [key as KeyValue];

  const load = (key: readonly KeyValue[]): Entry => {
    const id = cacheKey(key);
    let entry = cache.get(id);
    if (!entry) {
      const row = options.appendOnly ? null : ((selectOne.get(...key) as Row | undefined) ?? null);
      entry = { key, row, inDb: row !== null, dirty: false, journaledBlock: -1 };
      cache.set(id, entry);
    }
    return entry;
  };

  const beforeWrite = (entry: Entry) => {
    const block = journal.blockNumber;
    if (block !== null && entry.journaledBlock !== block) {
      journal.records.push({
        blockNumber: block,
        table: name,
        rowKey: JSON.stringify(Object.fromEntries(keyColumns.map((c, i) => [c, entry.key[i]]))),
        oldRow: entry.row === null ? null : JSON.stringify(entry.row),
      });
      entry.journaledBlock = block;
    }
    if (!entry.dirty) {
      entry.dirty = true;
      dirty.push(entry);
    }
  };

  return {
    name,
    keyColumns,
    get dirtyCount() {
      return dirty.length;
    },
    get(key) {
      return (load(toKey(key)).row ?? undefined) as R | undefined;
    },
    put(partial) {
      const row: Row = { ...defaults, ...(partial as Row) };
      const key = keyColumns.map((c) => row[c] as KeyValue);
      if (key.some((v) => v === null || v === undefined)) throw new Error(`${name}: row without its key ${JSON.stringify(partial)}`);
      const entry = load(key);
      beforeWrite(entry);
      entry.row = row;
      return row as R;
    },
    update(key, changes) {
      const entry = load(toKey(key));
      if (entry.row === null) throw new Error(`${name}: no row ${JSON.stringify(key)} to update`);
      beforeWrite(entry);
      Object.assign(entry.row, changes);
      return entry.row as R;
    },
    delete(key) {
      const entry = load(toKey(key));
      if (entry.row === null) return;
      beforeWrite(entry);
      entry.row = null;
    },
    flush() {
      for (const entry of dirty) {
        if (entry.row === null) {
          if (entry.inDb) remove.run(...entry.key);
          entry.inDb = false;
        } else {
          const row = entry.row;
          const values: unknown[] = new Array(storedColumns.length);
          for (let i = 0; i < storedColumns.length; i++) values[i] = row[storedColumns[i]];
          for (const [column, compute] of derivedEntries) values[storedColumns.indexOf(column)] = compute(row);
          upsert.run(values);
          entry.inDb = true;
        }
        entry.dirty = false;
      }
      dirty = [];
      if (cache.size > maxCachedRows) cache.clear();
    },
    clear() {
      cache.clear();
      dirty = [];
    },
  };
}

/** Restores rows from undo records (newest first), as rollbackTo does. */
export function createRowRestorer(db: Db, derivedByTable: Record<string, Record<string, (row: Row) => SqlValue | bigint>>) {
  const statements = new Map<string, { remove: ReturnType<Db["prepare"]>; insert: ReturnType<Db["prepare"]>; columns: string[]; keyColumns: string[] }>();
  const prepare = (table: string) => {
    let entry = statements.get(table);
    if (!entry) {
      const info = db.pragma(`table_info(${table})`) as ColumnInfo[];
      if (info.length === 0) throw new Error(`undo_log names unknown table ${table}`);
      const columns = info.map((c) => c.name);
      const keyColumns = info.filter((c) => c.pk > 0).sort((a, b) => a.pk - b.pk).map((c) => c.name);
      entry = {
        columns,
        keyColumns,
        remove: db.prepare(`DELETE FROM ${table} WHERE ${keyColumns.map((c) => `${c} = ?`).join(" AND ")}`),
        insert: db.prepare(`INSERT INTO ${table} (${columns.join(", ")}) VALUES (${columns.map(() => "?").join(", ")})`),
      };
      statements.set(table, entry);
    }
    return entry;
  };
  return (table: string, rowKey: string, oldRow: string | null) => {
    const statement = prepare(table);
    const key = JSON.parse(rowKey) as Row;
    statement.remove.run(statement.keyColumns.map((c) => key[c]));
    if (oldRow !== null) {
      const row = JSON.parse(oldRow) as Row;
      const derived = derivedByTable[table] ?? {};
      statement.insert.run(statement.columns.map((c) => (c in derived ? derived[c](row) : (row[c] ?? null))));
    }
  };
}

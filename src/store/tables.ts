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
  /** Adds a row under a key that has none (a new job or offer) without looking for an old one first. */
  insert(row: Partial<R>): R;
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
  /** Columns changed since the last flush of a row that is in the database; null when the whole row is rewritten. */
  changed: Set<string> | null;
  journaledBlock: number;
}

/** A column computed from others when a row is written (e.g. offers.price_sort, a 63-bit sort key of the price). */
export interface DerivedColumn {
  sources: readonly string[];
  compute: (row: Row) => SqlValue | bigint;
}

export interface TableOptions {
  /** Columns computed at write time and never read back into memory. */
  derived?: Record<string, DerivedColumn>;
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

/**
 * A write-back cache over one SQLite table: reads hit memory after the first load, writes stay in memory until flush,
 * and each write above the finalized block first records the row's previous state in the journal. Columns and keys
 * come from the schema itself, so a migration that adds a column needs no change here. A flush inserts new rows and
 * updates only the changed columns of existing ones, so SQLite touches only the indexes over those columns.
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
  const placeholders = storedColumns.map(() => "?").join(", ");
  const insert = db.prepare(`INSERT INTO ${name} (${storedColumns.join(", ")}) VALUES (${placeholders})`);
  const replace = db.prepare(`INSERT OR REPLACE INTO ${name} (${storedColumns.join(", ")}) VALUES (${placeholders})`);
  const remove = db.prepare(`DELETE FROM ${name} WHERE ${keyWhere}`);
  const updates = new Map<string, { statement: ReturnType<Db["prepare"]>; columns: string[] }>();
  const maxCachedRows = options.maxCachedRows ?? 20_000;
  const derivedEntries = Object.entries(derived);
  const derivedIndex = derivedEntries.map(([column]) => storedColumns.indexOf(column));
  const single = keyColumns.length === 1;

  const cache = new Map<KeyValue, Entry>();
  let dirty: Entry[] = [];

  const load = (key: KeyValue | readonly KeyValue[]): Entry => {
    const id: KeyValue = single ? (Array.isArray(key) ? key[0] : (key as KeyValue)) : (key as readonly KeyValue[]).join("\u0000");
    let entry = cache.get(id);
    if (!entry) {
      const values = Array.isArray(key) ? (key as readonly KeyValue[]) : [key as KeyValue];
      const row = options.appendOnly ? null : ((selectOne.get(...values) as Row | undefined) ?? null);
      entry = { key: values, row, inDb: row !== null, dirty: false, changed: null, journaledBlock: -1 };
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
      entry.changed = entry.inDb && entry.row !== null ? new Set() : null;
      dirty.push(entry);
    }
  };

  const fullRow = (row: Row): unknown[] => {
    const values: unknown[] = new Array(storedColumns.length);
    for (let i = 0; i < storedColumns.length; i++) values[i] = row[storedColumns[i]];
    for (let i = 0; i < derivedEntries.length; i++) values[derivedIndex[i]] = derivedEntries[i][1].compute(row);
    return values;
  };

  const writeChanges = (entry: Entry, row: Row, changed: Set<string>) => {
    if (changed.size === 0) return;
    for (const [column, spec] of derivedEntries) if (spec.sources.some((source) => changed.has(source))) changed.add(column);
    const id = [...changed].join(",");
    let update = updates.get(id);
    if (!update) {
      const list = [...changed];
      update = { statement: db.prepare(`UPDATE ${name} SET ${list.map((c) => `${c} = ?`).join(", ")} WHERE ${keyWhere}`), columns: list };
      updates.set(id, update);
    }
    const values: unknown[] = [];
    for (const column of update.columns) values.push(column in derived ? derived[column].compute(row) : row[column]);
    for (const value of entry.key) values.push(value);
    update.statement.run(values);
  };

  return {
    name,
    keyColumns,
    get dirtyCount() {
      return dirty.length;
    },
    get(key) {
      return (load(key).row ?? undefined) as R | undefined;
    },
    put(partial) {
      const row: Row = { ...defaults, ...(partial as Row) };
      const key = keyColumns.map((c) => row[c] as KeyValue);
      if (key.some((v) => v === null || v === undefined)) throw new Error(`${name}: row without its key ${JSON.stringify(partial)}`);
      const entry = load(key);
      beforeWrite(entry);
      entry.row = row;
      entry.changed = null;
      return row as R;
    },
    insert(partial) {
      const row: Row = { ...defaults, ...(partial as Row) };
      const key = keyColumns.map((c) => row[c] as KeyValue);
      const id: KeyValue = single ? key[0] : key.join("\u0000");
      let entry = cache.get(id);
      if (entry?.row) throw new Error(`${name}: row ${JSON.stringify(key)} already exists`);
      if (!entry) {
        entry = { key, row: null, inDb: false, dirty: false, changed: null, journaledBlock: -1 };
        cache.set(id, entry);
      }
      beforeWrite(entry);
      entry.row = row;
      entry.changed = null;
      return row as R;
    },
    update(key, changes) {
      const entry = load(key);
      if (entry.row === null) throw new Error(`${name}: no row ${JSON.stringify(key)} to update`);
      beforeWrite(entry);
      Object.assign(entry.row, changes);
      if (entry.changed) for (const column in changes) entry.changed.add(column);
      return entry.row as R;
    },
    delete(key) {
      const entry = load(key);
      if (entry.row === null) return;
      beforeWrite(entry);
      entry.row = null;
      entry.changed = null;
    },
    flush() {
      for (const entry of dirty) {
        const row = entry.row;
        if (row === null) {
          if (entry.inDb) remove.run(...entry.key);
        } else if (!entry.inDb) {
          insert.run(fullRow(row));
        } else if (entry.changed) {
          writeChanges(entry, row, entry.changed);
        } else {
          replace.run(fullRow(row));
        }
        entry.inDb = row !== null;
        entry.dirty = false;
        entry.changed = null;
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
export function createRowRestorer(db: Db, derivedByTable: Record<string, Record<string, DerivedColumn>>) {
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
      statement.insert.run(statement.columns.map((c) => (c in derived ? derived[c].compute(row) : (row[c] ?? null))));
    }
  };
}

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
  /**
   * The block being applied, journaled or not: tables with a history date their row versions with it (null outside
   * the writer's blocks: no versions).
   */
  versionBlock: number | null;
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
  /** History only: the block of the in-memory row's version not yet written (-1: none). */
  versionBlock: number;
  /** History only: a version was written since the last flush (the open version stored before it is settled). */
  versionsWritten: boolean;
  /**
   * History only: valid_from_block of the key's open version in the history table; null when it has none, undefined
   * when it has one of unknown block (a row read from the database: every current row has an open version).
   */
  storedOpenFrom: number | null | undefined;
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
  /**
   * A history table (migrations/009_time_travel.sql): the table's key, the columns that change after a row is
   * created, valid_from_block and valid_to_block, keyed by (the table's key, valid_from_block). Every flush writes the
   * versions of the rows it writes: one per row per block that changed it (journal.versionBlock). The other columns
   * are the current row's: writing another value into one of them throws.
   */
  history?: string;
  /** Columns of a table with history that its history does not keep: a change to them alone writes no version. */
  unversioned?: readonly string[];
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
  const history = options.history ? createHistoryWriter(db, options.history, name, storedColumns, keyColumns, derived) : null;
  const unversioned = new Set(options.unversioned ?? []);
  for (const column of unversioned) {
    const wrong = !columns.includes(column) ? `${name} has no such column` : !history ? `${name} has no history` : history.columns.has(column) ? `${options.history} keeps it` : null;
    if (wrong) throw new Error(`${name}.${column} is declared unversioned, but ${wrong}`);
  }
  /** Columns the history leaves to the current row: a row keeps the values it was created with. */
  const fixedColumns = history ? columns.filter((column) => !history.columns.has(column) && !unversioned.has(column)) : [];
  /** Whether an update makes a version: it changes a column the history keeps. */
  const versions = (changes: Row): boolean => {
    if (unversioned.size === 0) return true;
    for (const column in changes) if (!unversioned.has(column)) return true;
    return false;
  };
  const checkFixed = (entry: Entry, changes: Row) => {
    if (entry.row === null) return;
    for (const column of fixedColumns) {
      if (column in changes && changes[column] !== entry.row[column]) {
        throw new Error(
          `${name}.${column} of ${JSON.stringify(entry.key)} changed from ${entry.row[column]} to ${changes[column]}, ` +
            `but ${options.history} does not version it: add the column to ${options.history}`,
        );
      }
    }
  };

  /**
   * Writes one version of the entry: `row` as it stood from `fromBlock` to `toBlock` (null: still open; row null: the
   * row did not exist). The first since the last flush settles the key's open version already stored: it is closed
   * at `fromBlock`, or, being of the same block, replaced whole by the insert (removed when the block ended with no
   * row). Versions of earlier blocks of a batch are written as soon as a later block changes the row (inside the
   * batch's transaction), so no copy of the row is held until the flush.
   */
  const writeVersion = (entry: Entry, row: Row | null, fromBlock: number, toBlock: number | null) => {
    if (!entry.versionsWritten) {
      const open = entry.storedOpenFrom === undefined ? history!.openFrom(entry.key) : entry.storedOpenFrom;
      if (open !== null && open !== fromBlock) history!.close(entry.key, open, fromBlock);
      else if (open !== null && row === null) history!.remove(entry.key, open);
      entry.versionsWritten = true;
    }
    if (row === null) return;
    // The open version a flush writes is the row the flush has just stored.
    if (toBlock === null) history!.insertCurrent(entry.key, fromBlock);
    else history!.insert(row, fromBlock, toBlock);
  };

  const cache = new Map<KeyValue, Entry>();
  let dirty: Entry[] = [];

  const load = (key: KeyValue | readonly KeyValue[]): Entry => {
    const id: KeyValue = single ? (Array.isArray(key) ? key[0] : (key as KeyValue)) : (key as readonly KeyValue[]).join("\u0000");
    let entry = cache.get(id);
    if (!entry) {
      const values = Array.isArray(key) ? (key as readonly KeyValue[]) : [key as KeyValue];
      const row = options.appendOnly ? null : ((selectOne.get(...values) as Row | undefined) ?? null);
      entry = { key: values, row, inDb: row !== null, dirty: false, changed: null, journaledBlock: -1, versionBlock: -1, versionsWritten: false, storedOpenFrom: row === null ? null : undefined };
      cache.set(id, entry);
    }
    return entry;
  };

  const beforeWrite = (entry: Entry, versioned = true) => {
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
    const versionBlock = journal.versionBlock;
    if (history && versioned && versionBlock !== null && entry.versionBlock !== versionBlock) {
      // The row as the earlier block left it, written before this block changes it in place.
      if (entry.versionBlock !== -1) writeVersion(entry, entry.row, entry.versionBlock, versionBlock);
      entry.versionBlock = versionBlock;
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
      checkFixed(entry, row);
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
        entry = { key, row: null, inDb: false, dirty: false, changed: null, journaledBlock: -1, versionBlock: -1, versionsWritten: false, storedOpenFrom: null };
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
      checkFixed(entry, changes as Row);
      beforeWrite(entry, versions(changes as Row));
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
        if (history && entry.versionBlock !== -1) {
          writeVersion(entry, row, entry.versionBlock, null);
          entry.storedOpenFrom = row === null ? null : entry.versionBlock;
          entry.versionsWritten = false;
          entry.versionBlock = -1;
        }
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

interface HistoryWriter {
  /** The table's columns the history versions (the key included). */
  columns: ReadonlySet<string>;
  /** Inserts `row` as the version of `fromBlock` to `toBlock` (a closed one: the open one is insertCurrent's). */
  insert(row: Row, fromBlock: number, toBlock: number): void;
  /**
   * Inserts the open version from `fromBlock` as a copy of the key's current row in the table (just written by the
   * flush): SQLite copies the columns, instead of each being bound from JavaScript (half the cost of an insert).
   */
  insertCurrent(key: readonly KeyValue[], fromBlock: number): void;
  /** valid_from_block of the key's open version, null when it has none. */
  openFrom(key: readonly KeyValue[]): number | null;
  close(key: readonly KeyValue[], fromBlock: number, toBlock: number): void;
  remove(key: readonly KeyValue[], fromBlock: number): void;
}

/** The table's columns `history` versions: its own but the two bounds, each one of the table's, the key among them. */
export function historyColumns(db: Db, history: string, table: string): string[] {
  const tableColumns = (db.pragma(`table_info(${table})`) as ColumnInfo[]).map((c) => c.name);
  const keyColumns = (db.pragma(`table_info(${table})`) as ColumnInfo[]).filter((c) => c.pk > 0).map((c) => c.name);
  const columns = (db.pragma(`table_info(${history})`) as ColumnInfo[]).map((c) => c.name).filter((c) => c !== "valid_from_block" && c !== "valid_to_block");
  const unknown = columns.filter((c) => !tableColumns.includes(c));
  const keyless = keyColumns.filter((c) => !columns.includes(c));
  if (columns.length === 0 || unknown.length > 0 || keyless.length > 0) {
    throw new Error(`history table ${history} does not fit ${table}: ${unknown.length ? `no column ${unknown.join(", ")} in ${table}` : `it lacks ${keyless.join(", ") || "columns"}`}`);
  }
  return columns;
}

function createHistoryWriter(
  db: Db,
  history: string,
  table: string,
  storedColumns: readonly string[],
  keyColumns: readonly string[],
  derived: Record<string, DerivedColumn>,
): HistoryWriter {
  const columns = historyColumns(db, history, table);
  const missing = columns.filter((c) => !storedColumns.includes(c));
  if (missing.length > 0) throw new Error(`history table ${history} has columns ${table} does not store: ${missing.join(", ")}`);
  const keyWhere = keyColumns.map((c) => `${c} = ?`).join(" AND ");
  const all = [...columns, "valid_from_block", "valid_to_block"];
  const insert = db.prepare(`INSERT OR REPLACE INTO ${history} (${all.join(", ")}) VALUES (${all.map(() => "?").join(", ")})`);
  const insertCurrent = db.prepare(
    `INSERT OR REPLACE INTO ${history} (${all.join(", ")}) SELECT ${columns.join(", ")}, ?, NULL FROM ${table} WHERE ${keyWhere}`,
  );
  const openFrom = db
    .prepare(`SELECT valid_from_block FROM ${history} WHERE ${keyWhere} AND valid_to_block IS NULL ORDER BY valid_from_block DESC LIMIT 1`)
    .pluck();
  const close = db.prepare(`UPDATE ${history} SET valid_to_block = ? WHERE ${keyWhere} AND valid_from_block = ?`);
  const remove = db.prepare(`DELETE FROM ${history} WHERE ${keyWhere} AND valid_from_block = ?`);
  const values: unknown[] = new Array(all.length);
  return {
    columns: new Set(columns),
    insert(row, fromBlock, toBlock) {
      for (let i = 0; i < columns.length; i++) {
        const column = columns[i];
        values[i] = column in derived ? derived[column].compute(row) : row[column];
      }
      values[columns.length] = fromBlock;
      values[columns.length + 1] = toBlock;
      insert.run(values);
    },
    insertCurrent(key, fromBlock) {
      insertCurrent.run(fromBlock, ...key);
    },
    openFrom: (key) => (openFrom.get(...key) as number | undefined) ?? null,
    close(key, fromBlock, toBlock) {
      close.run(toBlock, ...key, fromBlock);
    },
    remove(key, fromBlock) {
      remove.run(...key, fromBlock);
    },
  };
}

/**
 * Rolls the history tables back to `blockNumber` with the keys of the undo records above it (every version above the
 * finalized block has one: its row was written in a journaled block): the versions of later blocks go, and the one
 * they replaced is open again. A database whose history starts above `blockNumber` (indexed before history was kept)
 * starts it again at `blockNumber`, from the current rows as the rollback left them.
 */
export function createHistoryRestorer(db: Db, historyByTable: Record<string, string>) {
  const statements = new Map<string, { keyColumns: string[]; remove: ReturnType<Db["prepare"]>; reopen: ReturnType<Db["prepare"]> }>();
  const prepare = (table: string) => {
    let entry = statements.get(table);
    if (!entry) {
      const history = historyByTable[table];
      const keyColumns = (db.pragma(`table_info(${table})`) as ColumnInfo[]).filter((c) => c.pk > 0).sort((a, b) => a.pk - b.pk).map((c) => c.name);
      const keyWhere = keyColumns.map((c) => `${c} = @${c}`).join(" AND ");
      entry = {
        keyColumns,
        remove: db.prepare(`DELETE FROM ${history} WHERE ${keyWhere} AND valid_from_block > @block`),
        reopen: db.prepare(
          `UPDATE ${history} SET valid_to_block = NULL WHERE ${keyWhere} AND valid_to_block > @block AND valid_from_block =
             (SELECT max(valid_from_block) FROM ${history} WHERE ${keyWhere})`,
        ),
      };
      statements.set(table, entry);
    }
    return entry;
  };
  const historyStart = db.prepare("SELECT block_number FROM history_start WHERE id = 1").pluck();
  return {
    /** Before any row is restored: a history that starts above the block cannot be rolled back, only restarted. */
    restartsAbove(blockNumber: number): boolean {
      const start = historyStart.get() as number | undefined;
      return start !== undefined && start > blockNumber;
    },
    rollBack(table: string, rowKey: string, blockNumber: number) {
      if (!(table in historyByTable)) return;
      const statement = prepare(table);
      const key = JSON.parse(rowKey) as Row;
      const params: Record<string, unknown> = { block: blockNumber };
      for (const column of statement.keyColumns) params[column] = key[column];
      statement.remove.run(params);
      statement.reopen.run(params);
    },
    /** Starts the history again at `blockNumber` from the current rows (after they were rolled back to it). */
    restart(blockNumber: number) {
      for (const [table, history] of Object.entries(historyByTable)) {
        const columns = historyColumns(db, history, table).join(", ");
        db.prepare(`DELETE FROM ${history}`).run();
        db.prepare(`INSERT INTO ${history} (${columns}, valid_from_block, valid_to_block) SELECT ${columns}, ?, NULL FROM ${table}`).run(blockNumber);
      }
      db.prepare("UPDATE history_start SET block_number = ? WHERE id = 1").run(blockNumber);
    },
  };
}

import fs from "node:fs";
import path from "node:path";
// Before better-sqlite3 configures SQLite: URI file names, for immutable opens of databases on read-only media.
import "./sqlite-uri";
import Database from "better-sqlite3";
import { ConfigError, GpuMeshError } from "../internal/errors";

export type Db = Database.Database;

export interface StoreOptions {
  /** SQLite file; ":memory:" for a throwaway store. */
  file: string;
  /** Opens without writing: no migrations, no WAL switch (the writer sets it). */
  readonly?: boolean;
  /** How long a statement waits for another connection's lock before SQLITE_BUSY. */
  busyTimeoutMs?: number;
  /** Directory of NNN_name.sql migrations; defaults to src/store/migrations. */
  migrationsDir?: string;
}

export interface Store {
  db: Db;
  file: string;
  readonly: boolean;
  /** PRAGMA user_version after migrations: the number of the last applied migration. */
  schemaVersion: number;
  /** Runs before the database closes (the writer releases its lock there). */
  onClose(callback: () => void): void;
  close(): void;
}

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

const MIGRATION_FILE = /^(\d{3})_[a-z0-9_]+\.sql$/;

/** Migrations in version order; a gap or a duplicate number is a packaging bug and fails loudly. */
export function readMigrations(dir = defaultMigrationsDir()): Migration[] {
  const migrations = fs
    .readdirSync(dir)
    .filter((name) => MIGRATION_FILE.test(name))
    .sort()
    .map((name) => ({
      version: Number(name.slice(0, 3)),
      name,
      sql: fs.readFileSync(path.join(dir, name), "utf8"),
    }));
  migrations.forEach((migration, index) => {
    if (migration.version !== index + 1) {
      throw new GpuMeshError(`migration ${migration.name} is out of sequence (expected ${String(index + 1).padStart(3, "0")})`, {
        code: "MIGRATION",
      });
    }
  });
  return migrations;
}

function defaultMigrationsDir(): string {
  // Compiled output (dist/) carries no .sql files: fall back to the source tree.
  const here = path.join(__dirname, "migrations");
  return fs.existsSync(here) ? here : path.join(__dirname, "..", "..", "..", "src", "store", "migrations");
}

/** A database file's own account of itself, from its 100-byte header (sqlite.org/fileformat.html). */
function readHeader(file: string): { sqlite: boolean; wal: boolean; expectedBytes: number | null } | null {
  let header: Buffer;
  try {
    const fd = fs.openSync(file, "r");
    try {
      header = Buffer.alloc(100);
      if (fs.readSync(fd, header, 0, 100, 0) < 100) return { sqlite: false, wal: false, expectedBytes: null };
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    return null;
  }
  if (header.toString("latin1", 0, 16) !== "SQLite format 3\0") return { sqlite: false, wal: false, expectedBytes: null };
  const rawPageSize = header.readUInt16BE(16);
  const pageSize = rawPageSize === 1 ? 65536 : rawPageSize;
  const pages = header.readUInt32BE(28);
  // The page count is valid only when the change counter matches "version valid for".
  const valid = header.readUInt32BE(24) === header.readUInt32BE(92) && pages > 0;
  return { sqlite: true, wal: header[18] === 2, expectedBytes: valid ? pageSize * pages : null };
}

/** Why SQLite refused a file, in a sentence that says what to do. */
function openFailure(file: string, readonly: boolean, error: unknown): ConfigError {
  const code = String((error as { code?: unknown })?.code ?? "");
  const reason = (error as Error).message;
  if (code === "SQLITE_NOTADB") {
    return new ConfigError(`database ${file} is not a SQLite database (${reason}): point --db at a GPU Mesh database or at a new file`, error);
  }
  if (code.startsWith("SQLITE_CORRUPT")) {
    return new ConfigError(`database ${file} is damaged (${reason}): delete it and index again into a fresh --db`, error);
  }
  if (!readonly && (code.startsWith("SQLITE_READONLY") || code.startsWith("SQLITE_CANTOPEN") || code === "SQLITE_PERM")) {
    return new ConfigError(
      `database ${file} cannot be written here (${reason}): the indexer needs a writable file and folder; ` +
        "serve a read-only copy with `gpumesh serve --db`, or index into a writable --db",
      error,
    );
  }
  return new ConfigError(`cannot open database ${file}: ${reason}`, error);
}

/** A URI that opens `file` as immutable: nothing can change a file on read-only media, so no -shm is needed. */
function immutableUri(file: string): string {
  const absolute = path.resolve(file).replace(/[%?#]/g, (c) => `%${c.charCodeAt(0).toString(16)}`);
  return `file:${absolute}?immutable=1`;
}

function folderWritable(file: string): boolean {
  try {
    fs.accessSync(path.dirname(path.resolve(file)), fs.constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

function openDatabase(file: string, readonly: boolean): Db {
  const header = file === ":memory:" ? null : readHeader(file);
  if (readonly && header === null) {
    throw new ConfigError(`database ${file} does not exist or cannot be read: run \`gpumesh index --db ${file}\` first`);
  }
  if (header && !header.sqlite && fs.statSync(file).size > 0) {
    throw new ConfigError(`database ${file} is not a SQLite database: point --db at a GPU Mesh database or at a new file`);
  }
  if (header?.expectedBytes && !fs.existsSync(`${file}-wal`)) {
    const size = fs.statSync(file).size;
    if (size < header.expectedBytes) {
      throw new ConfigError(
        `database ${file} is truncated: its header says ${header.expectedBytes} bytes, the file has ${size}; ` +
          "restore it from a copy, or delete it and index again",
      );
    }
  }
  let db: Db | undefined;
  try {
    db = new Database(file, { readonly, fileMustExist: readonly });
    // SQLite reads lazily: touch the schema now so that a bad file fails here, with its sentence.
    db.pragma("schema_version", { simple: true });
    if (!readonly && db.readonly) throw Object.assign(new Error("the file is read-only"), { code: "SQLITE_READONLY" });
    return db;
  } catch (error) {
    db?.close();
    const code = String((error as { code?: unknown })?.code ?? "");
    // A WAL database on read-only media: SQLite cannot create its -shm file beside it.
    if (readonly && header?.wal && code.startsWith("SQLITE_CANTOPEN") && !folderWritable(file)) {
      try {
        const db = new Database(immutableUri(file), { readonly: true });
        db.pragma("schema_version", { simple: true });
        return db;
      } catch (second) {
        throw openFailure(file, readonly, second);
      }
    }
    throw openFailure(file, readonly, error);
  }
}

/**
 * Opens the indexer's SQLite database. A writer gets WAL (readers such as the GraphQL server never block it), a busy
 * timeout, and every pending migration, each in its own transaction with PRAGMA user_version bumped inside it. A
 * file that is not a database, is damaged or truncated, or cannot be written by a writer fails with a ConfigError that
 * says so; a reader opens a WAL database on read-only media as immutable.
 */
export function openStore(options: StoreOptions): Store {
  const readonly = options.readonly ?? false;
  const db = openDatabase(options.file, readonly);
  try {
    db.pragma(`busy_timeout = ${Math.max(0, Math.floor(options.busyTimeoutMs ?? 5000))}`);
    if (!readonly) {
      if (options.file !== ":memory:") db.pragma("journal_mode = WAL");
      // WAL with synchronous=NORMAL is durable across process crashes (only a power loss can drop the last commits,
      // which the checkpoint then simply re-indexes).
      db.pragma("synchronous = NORMAL");
      db.pragma("foreign_keys = OFF");
      // 16 MiB of page cache: the hot pages of a batch (recent jobs, offers, roll-ups) without growing the footprint
      // with the database.
      db.pragma("cache_size = -16384");
      db.pragma("temp_store = MEMORY");
      migrate(db, readMigrations(options.migrationsDir));
    }
  } catch (error) {
    db.close();
    if (error instanceof GpuMeshError) throw error;
    throw openFailure(options.file, readonly, error);
  }
  const schemaVersion = db.pragma("user_version", { simple: true }) as number;
  const onClose: Array<() => void> = [];
  return {
    db,
    file: options.file,
    readonly,
    schemaVersion,
    onClose: (callback) => void onClose.push(callback),
    close: () => {
      if (!db.open) return;
      for (const callback of onClose.splice(0)) callback();
      db.close();
    },
  };
}

function migrate(db: Db, migrations: Migration[]): void {
  const current = db.pragma("user_version", { simple: true }) as number;
  const latest = migrations.length;
  if (current > latest) {
    throw new ConfigError(
      `database schema version ${current} is newer than this indexer (knows ${latest}); upgrade gpumesh or use another --db`,
    );
  }
  for (const migration of migrations.slice(current)) {
    db.transaction(() => {
      db.exec(migration.sql);
      db.pragma(`user_version = ${migration.version}`);
    }).immediate();
  }
}

import fs from "node:fs";
import path from "node:path";
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

/**
 * Opens the indexer's SQLite database. A writer gets WAL (readers such as the GraphQL server never block it), a busy
 * timeout, and every pending migration, each in its own transaction with PRAGMA user_version bumped inside it.
 */
export function openStore(options: StoreOptions): Store {
  const readonly = options.readonly ?? false;
  let db: Db;
  try {
    db = new Database(options.file, { readonly, fileMustExist: readonly });
  } catch (error) {
    throw new ConfigError(`cannot open database ${options.file}: ${(error as Error).message}`, error);
  }
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
  const schemaVersion = db.pragma("user_version", { simple: true }) as number;
  return {
    db,
    file: options.file,
    readonly,
    schemaVersion,
    close: () => db.close(),
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

// better-sqlite3 reads SQLITE_USE_URI once, when SQLite is first configured: URI file names let a reader open a
// database on read-only media as immutable (src/store/db.ts). Ordinary paths are not affected.
process.env.SQLITE_USE_URI ??= "1";
export {};

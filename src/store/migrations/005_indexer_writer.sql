-- GPU Mesh indexer schema, version 5: the database's single writer. An indexer takes this row when it starts (a
-- second one, on a live row of another process, refuses to start) and refreshes seen_at and head_block after every
-- pass; `gpumesh serve`, which only reads, tells from it whether anything is indexing and how far behind it is.

CREATE TABLE indexer_writer (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  pid INTEGER NOT NULL,
  host TEXT NOT NULL,
  started_at INTEGER NOT NULL,        -- unix milliseconds
  seen_at INTEGER NOT NULL,           -- unix milliseconds of the last pass (or of the start)
  poll_interval_ms INTEGER NOT NULL,  -- how often it passes when caught up
  head_block INTEGER,                 -- the node's head at the last pass
  confirmations INTEGER NOT NULL DEFAULT 0
);

-- GPU Mesh indexer schema, version 8: utilization over time. The open offers' GPUs and the leased ones, integrated
-- over time into hour and day buckets (GPU-seconds), up to the indexed block's time: market_totals.utilization_at is
-- the time up to which they are counted. The clock's own changes (expiries) are counted at their moments. A database
-- indexed before this version counts from its next block on: the time before is not in the tables to integrate.
CREATE TABLE utilization_buckets (
  interval TEXT NOT NULL,              -- HOUR or DAY
  start INTEGER NOT NULL,              -- unix seconds, a multiple of the interval
  gpu_seconds_offered INTEGER NOT NULL DEFAULT 0,
  gpu_seconds_leased INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (interval, start)
);
ALTER TABLE market_totals ADD COLUMN utilization_at INTEGER;

-- GPU Mesh indexer schema, version 13: a provider's signs of life make no versions (src/store/schema.ts,
-- UNVERSIONED_COLUMNS). Every heartbeat used to write a version of its provider (most of the history of a busy
-- market); last_heartbeat_at as of a block is now the latest `at` of the heartbeats table up to it, and a sign of life
-- no longer counts as a change of the provider's record (updated_at).
--
-- A database indexed before this version: its provider versions without last_heartbeat_at, each version that a sign of
-- life began (last_heartbeat_at raised, nothing else changed but updated_at) merged into the one before it; the current
-- rows take their open version's updated_at. (A write that changed nothing still makes a version, as it does now.)
CREATE TABLE providers_history_13 (
  address TEXT NOT NULL, metadata_uri TEXT, registered_at INTEGER, staked TEXT, locked TEXT, unbonding TEXT,
  unbonding_ready_at INTEGER, slashed TEXT, earned TEXT, jobs_completed INTEGER, jobs_disputed INTEGER,
  active_offers INTEGER, updated_at INTEGER, jobs_accepted INTEGER, jobs_declined INTEGER,
  jobs_expired INTEGER, jobs_dark INTEGER, jobs_lost_disputes INTEGER,
  valid_from_block INTEGER NOT NULL,
  valid_to_block INTEGER,
  PRIMARY KEY (address, valid_from_block)
);

WITH marked AS (
  SELECT h.*,
    CASE WHEN lag(valid_to_block) OVER w IS valid_from_block AND lag(last_heartbeat_at) OVER w IS NOT last_heartbeat_at
      AND lag(metadata_uri) OVER w IS metadata_uri AND lag(registered_at) OVER w IS registered_at
      AND lag(staked) OVER w IS staked AND lag(locked) OVER w IS locked AND lag(unbonding) OVER w IS unbonding
      AND lag(unbonding_ready_at) OVER w IS unbonding_ready_at AND lag(slashed) OVER w IS slashed
      AND lag(earned) OVER w IS earned AND lag(jobs_completed) OVER w IS jobs_completed
      AND lag(jobs_disputed) OVER w IS jobs_disputed AND lag(active_offers) OVER w IS active_offers
      AND lag(jobs_accepted) OVER w IS jobs_accepted AND lag(jobs_declined) OVER w IS jobs_declined
      AND lag(jobs_expired) OVER w IS jobs_expired AND lag(jobs_dark) OVER w IS jobs_dark
      AND lag(jobs_lost_disputes) OVER w IS jobs_lost_disputes
    THEN 0 ELSE 1 END AS starts_run
  FROM providers_history h
  WINDOW w AS (PARTITION BY address ORDER BY valid_from_block)
),
runs AS (
  SELECT *, sum(starts_run) OVER (PARTITION BY address ORDER BY valid_from_block) AS run FROM marked
),
merged AS (
  SELECT *, last_value(valid_to_block) OVER (
    PARTITION BY address, run ORDER BY valid_from_block ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING
  ) AS run_to_block
  FROM runs
)
INSERT INTO providers_history_13
SELECT address, metadata_uri, registered_at, staked, locked, unbonding, unbonding_ready_at, slashed, earned,
  jobs_completed, jobs_disputed, active_offers, updated_at, jobs_accepted, jobs_declined, jobs_expired, jobs_dark,
  jobs_lost_disputes, valid_from_block, run_to_block
FROM merged WHERE starts_run = 1;

DROP TABLE providers_history;
ALTER TABLE providers_history_13 RENAME TO providers_history;

UPDATE providers SET updated_at = (
  SELECT h.updated_at FROM providers_history h WHERE h.address = providers.address AND h.valid_to_block IS NULL
)
WHERE EXISTS (SELECT 1 FROM providers_history h WHERE h.address = providers.address AND h.valid_to_block IS NULL);

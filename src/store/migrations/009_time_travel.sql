-- GPU Mesh indexer schema, version 9: time travel (README "Time travel"). Every version of every row of the tables the
-- API answers entities from, each with the block from which it held (valid_from_block) and the block that replaced it
-- (valid_to_block, NULL while current): the row as of block N is the one with
-- valid_from_block <= N AND (valid_to_block IS NULL OR valid_to_block > N). One version per row per block that changed
-- it, written by the tables' write-back cache in the same flush as the current row (src/store/tables.ts), dated at
-- the block of the event, or for what the clock changes, at the first block whose timestamp reached the change. A
-- current row always has exactly one open version. Columns are the current table's key and those of its columns that
-- change, then the two bounds; the store refuses to write a change to a column its history lacks, so a migration
-- that adds a changing column to a table adds it to its history table too.

-- GPU-seconds the job's stop counted in market_totals.gpu_seconds_sold and emissions (0 until its clock stops with
-- pay), so that the GPU-hours sold as of any block are a sum over the jobs as of it.
ALTER TABLE jobs ADD COLUMN gpu_seconds_sold INTEGER NOT NULL DEFAULT 0;
-- A database indexed before this version: the handlers' count, from the job's times (as migration 7 estimated them).
UPDATE jobs SET gpu_seconds_sold = gpus * min(max(0, (CASE WHEN state IN ('DARK', 'RECLAIMED') THEN paid_until ELSE ended_at END) - started_at), duration)
WHERE started_at IS NOT NULL AND ended_at IS NOT NULL AND earned IS NOT NULL AND earned <> '0';

CREATE TABLE gpu_models_history (
  id TEXT NOT NULL, name TEXT, vram_gb INTEGER, listed INTEGER, listed_at INTEGER,
  valid_from_block INTEGER NOT NULL,
  valid_to_block INTEGER,
  PRIMARY KEY (id, valid_from_block)
);

CREATE TABLE providers_history (
  address TEXT NOT NULL, metadata_uri TEXT, registered_at INTEGER, staked TEXT, locked TEXT, unbonding TEXT,
  unbonding_ready_at INTEGER, slashed TEXT, earned TEXT, jobs_completed INTEGER, jobs_disputed INTEGER,
  active_offers INTEGER, updated_at INTEGER, last_heartbeat_at INTEGER, jobs_accepted INTEGER, jobs_declined INTEGER,
  jobs_expired INTEGER, jobs_dark INTEGER, jobs_lost_disputes INTEGER,
  valid_from_block INTEGER NOT NULL,
  valid_to_block INTEGER,
  PRIMARY KEY (address, valid_from_block)
);

-- Offers and jobs keep only what changes after creation; the rest (a job's offer, client, provider, model, price,
-- spec, deadline and terms; an offer's provider, model, region, durations and energy figures) is the current row's.
-- A job's offer is kept too (it never changes): the GPU-hours sold and their emissions as of a block sum per offer.
CREATE TABLE offers_history (
  id INTEGER NOT NULL, gpus INTEGER, gpus_leased INTEGER, price_per_gpu_hour TEXT, price_sort INTEGER, expires_at INTEGER,
  state TEXT, updated_at INTEGER,
  valid_from_block INTEGER NOT NULL,
  valid_to_block INTEGER,
  PRIMARY KEY (id, valid_from_block)
);

CREATE TABLE jobs_history (
  id INTEGER NOT NULL, offer_id INTEGER, duration INTEGER, cost TEXT, escrow TEXT, state TEXT, started_at INTEGER, ended_at INTEGER,
  completed_at INTEGER, disputed_at INTEGER, finalized_at INTEGER, ended_early INTEGER, collateral TEXT, claimed TEXT,
  earned TEXT, provider_paid TEXT, refunded TEXT, fee TEXT, cancel_fee TEXT, slashed TEXT, provider_share_bps INTEGER,
  result_hash TEXT, reason_hash TEXT, extensions INTEGER, receipted_until INTEGER, paid_until INTEGER, bond TEXT,
  resolve_deadline INTEGER, bond_to_provider INTEGER, stale_finalized INTEGER, gpu_seconds_sold INTEGER,
  valid_from_block INTEGER NOT NULL,
  valid_to_block INTEGER,
  PRIMARY KEY (id, valid_from_block)
);

CREATE TABLE terms_history (
  terms_id INTEGER NOT NULL, protocol_fee_bps INTEGER, cancel_fee_bps INTEGER, collateral_bps INTEGER,
  expiry_slash_bps INTEGER, accept_window INTEGER, dispute_window INTEGER, abandon_grace INTEGER,
  dark_slash_bps INTEGER, dispute_bond_bps INTEGER, liveness_timeout INTEGER, resolve_window INTEGER,
  published_at INTEGER,
  valid_from_block INTEGER NOT NULL,
  valid_to_block INTEGER,
  PRIMARY KEY (terms_id, valid_from_block)
);

-- The timestamp of every block the indexer applied (every block inside the unfinalized window, every block with a
-- GPU Mesh event, every batch's last block, the first block of each clock change): the clock of an answer as of a
-- block, and what `at:` resolves against. Rolled back with the blocks above a reorg's common ancestor.
CREATE TABLE block_times (
  number INTEGER PRIMARY KEY,
  timestamp INTEGER NOT NULL
);

-- The first block with history, for a database indexed before this version (absent: the deployment's start block).
CREATE TABLE history_start (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  block_number INTEGER NOT NULL
);

-- A database indexed before this version: its rows as they stand, valid from its checkpoint on.
INSERT INTO history_start (id, block_number) SELECT 1, block_number FROM checkpoint;
INSERT INTO block_times (number, timestamp) SELECT number, timestamp FROM blocks;
INSERT OR REPLACE INTO block_times (number, timestamp) SELECT block_number, block_timestamp FROM checkpoint;
INSERT INTO gpu_models_history SELECT gpu_models.*, c.block_number, NULL FROM gpu_models, checkpoint c;
INSERT INTO providers_history SELECT providers.*, c.block_number, NULL FROM providers, checkpoint c;
INSERT INTO offers_history SELECT o.id, o.gpus, o.gpus_leased, o.price_per_gpu_hour, o.price_sort, o.expires_at, o.state,
  o.updated_at, c.block_number, NULL FROM offers o, checkpoint c;
INSERT INTO jobs_history SELECT j.id, j.offer_id, j.duration, j.cost, j.escrow, j.state, j.started_at, j.ended_at, j.completed_at,
  j.disputed_at, j.finalized_at, j.ended_early, j.collateral, j.claimed, j.earned, j.provider_paid, j.refunded, j.fee,
  j.cancel_fee, j.slashed, j.provider_share_bps, j.result_hash, j.reason_hash, j.extensions, j.receipted_until,
  j.paid_until, j.bond, j.resolve_deadline, j.bond_to_provider, j.stale_finalized, j.gpu_seconds_sold, c.block_number,
  NULL FROM jobs j, checkpoint c;
INSERT INTO terms_history SELECT terms.*, c.block_number, NULL FROM terms, checkpoint c;

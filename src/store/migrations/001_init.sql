-- GPU Mesh indexer schema, version 1.
-- Conventions: token amounts and prices are decimal TEXT (exact uint256, never REAL); addresses and hashes are
-- lowercase 0x-hex TEXT; times are unix seconds INTEGER; GPU model ids are the catalog's bytes32 hex.
-- Every table except `blocks`, `undo_log` and `checkpoint` is derived from events alone; writes above the finalized
-- block record their previous row in `undo_log` so that a reorg can roll them back inside one transaction.

CREATE TABLE checkpoint (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  chain_id INTEGER NOT NULL,
  block_number INTEGER NOT NULL,        -- last block whose events are fully applied
  block_hash TEXT NOT NULL,
  block_timestamp INTEGER NOT NULL,
  events_ingested INTEGER NOT NULL DEFAULT 0,
  reorgs INTEGER NOT NULL DEFAULT 0
);

-- Hashes of indexed blocks inside the unfinalized window (pruned below head - finalityDepth).
CREATE TABLE blocks (
  number INTEGER PRIMARY KEY,
  hash TEXT NOT NULL,
  parent_hash TEXT NOT NULL,
  timestamp INTEGER NOT NULL
);

-- Reverse journal: one row per entity write in an unfinalized block. Rolling back to block B replays rows with
-- block_number > B in descending seq order: restore old_row (JSON) or delete the key when old_row is NULL.
CREATE TABLE undo_log (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  block_number INTEGER NOT NULL,
  table_name TEXT NOT NULL,
  row_key TEXT NOT NULL,                -- JSON object of the primary key columns
  old_row TEXT                          -- JSON object of the whole previous row, NULL when the row did not exist
);
CREATE INDEX undo_log_block ON undo_log (block_number);

CREATE TABLE gpu_models (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  vram_gb INTEGER NOT NULL,
  listed INTEGER NOT NULL,              -- 0/1
  listed_at INTEGER NOT NULL
);

CREATE TABLE providers (
  address TEXT PRIMARY KEY,
  metadata_uri TEXT NOT NULL DEFAULT '',
  registered_at INTEGER NOT NULL,
  staked TEXT NOT NULL DEFAULT '0',     -- excludes unbonding; includes locked
  locked TEXT NOT NULL DEFAULT '0',
  unbonding TEXT NOT NULL DEFAULT '0',
  unbonding_ready_at INTEGER,
  slashed TEXT NOT NULL DEFAULT '0',    -- total taken by slashes
  earned TEXT NOT NULL DEFAULT '0',     -- payment token: provider pay received (claims, settlements, resolutions, cancel fees)
  jobs_completed INTEGER NOT NULL DEFAULT 0,   -- reached Settled
  jobs_disputed INTEGER NOT NULL DEFAULT 0,
  active_offers INTEGER NOT NULL DEFAULT 0,
  updated_at INTEGER NOT NULL
);

CREATE TABLE offers (
  id INTEGER PRIMARY KEY,
  provider TEXT NOT NULL,
  gpu_model TEXT NOT NULL,              -- gpu_models.id
  region TEXT NOT NULL,
  gpus INTEGER NOT NULL,
  gpus_leased INTEGER NOT NULL DEFAULT 0,
  price_per_gpu_hour TEXT NOT NULL,
  price_sort INTEGER NOT NULL,          -- price as INTEGER for ordering when it fits in 63 bits (else 2^63-1)
  min_duration INTEGER NOT NULL,
  max_duration INTEGER NOT NULL,
  carbon_intensity INTEGER NOT NULL,
  renewable_bps INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  state TEXT NOT NULL,                  -- OPEN | CLOSED | EXPIRED (expired when a block's timestamp passes expires_at)
  created_at INTEGER NOT NULL,
  created_block INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
CREATE INDEX offers_provider ON offers (provider);
CREATE INDEX offers_model_region_state ON offers (gpu_model, region, state);
CREATE INDEX offers_open_expiry ON offers (state, expires_at);

CREATE TABLE jobs (
  id INTEGER PRIMARY KEY,
  offer_id INTEGER NOT NULL,
  client TEXT NOT NULL,
  provider TEXT NOT NULL,
  payer TEXT NOT NULL,
  gpu_model TEXT NOT NULL,              -- copied from the offer at creation
  region TEXT NOT NULL,
  gpus INTEGER NOT NULL,
  price_per_gpu_hour TEXT NOT NULL,
  duration INTEGER NOT NULL,
  cost TEXT NOT NULL,
  escrow TEXT NOT NULL,
  spec_hash TEXT NOT NULL,
  state TEXT NOT NULL,                  -- CREATED RUNNING COMPLETED DISPUTED SETTLED RESOLVED CANCELLED EXPIRED RECLAIMED
  created_at INTEGER NOT NULL,
  created_block INTEGER NOT NULL,
  accept_deadline INTEGER NOT NULL,
  started_at INTEGER,
  ended_at INTEGER,                     -- clock stopped: completion, early end, dispute from running, cancel, expiry, reclaim
  completed_at INTEGER,
  disputed_at INTEGER,
  finalized_at INTEGER,                 -- settled, resolved, cancelled, expired or reclaimed
  ended_early INTEGER NOT NULL DEFAULT 0,
  collateral TEXT NOT NULL DEFAULT '0', -- stake-token units
  claimed TEXT NOT NULL DEFAULT '0',
  earned TEXT,                          -- provider earnings for time used, known when the clock stops
  provider_paid TEXT NOT NULL DEFAULT '0',   -- everything the provider received for this job (claims, final pay, cancel fee)
  refunded TEXT NOT NULL DEFAULT '0',
  fee TEXT NOT NULL DEFAULT '0',
  cancel_fee TEXT NOT NULL DEFAULT '0',
  slashed TEXT NOT NULL DEFAULT '0',
  provider_share_bps INTEGER,
  result_hash TEXT,
  reason_hash TEXT
);
CREATE INDEX jobs_client ON jobs (client, id);
CREATE INDEX jobs_provider ON jobs (provider, id);
CREATE INDEX jobs_offer ON jobs (offer_id, id);
CREATE INDEX jobs_state ON jobs (state, id);
CREATE INDEX jobs_model_region ON jobs (gpu_model, region, id);

-- Every stake change: STAKE UNSTAKE_REQUEST WITHDRAW LOCK UNLOCK SLASH.
CREATE TABLE stake_movements (
  block_number INTEGER NOT NULL,
  log_index INTEGER NOT NULL,
  tx_hash TEXT NOT NULL,
  timestamp INTEGER NOT NULL,
  provider TEXT NOT NULL,
  kind TEXT NOT NULL,
  amount TEXT NOT NULL,
  job_id INTEGER,
  PRIMARY KEY (block_number, log_index)
);
CREATE INDEX stake_movements_provider ON stake_movements (provider, block_number);

-- Roll-up: open capacity per (model, region), maintained on every offer and job event.
CREATE TABLE capacity (
  gpu_model TEXT NOT NULL,
  region TEXT NOT NULL,
  gpus_offered INTEGER NOT NULL,        -- sum of gpus of OPEN offers
  gpus_leased INTEGER NOT NULL,         -- sum of gpus_leased of OPEN offers
  offers INTEGER NOT NULL,              -- OPEN offers
  PRIMARY KEY (gpu_model, region)
);
-- Distinct providers with OPEN offers per (model, region), for CapacityBucket.providers.
CREATE TABLE capacity_providers (
  gpu_model TEXT NOT NULL,
  region TEXT NOT NULL,
  provider TEXT NOT NULL,
  offers INTEGER NOT NULL,
  PRIMARY KEY (gpu_model, region, provider)
);

-- Roll-up: realized prices of jobs created in each bucket. region '' is the all-regions bucket.
-- interval: 'HOUR' (3600 s) or 'DAY' (86400 s); start = floor(created_at / interval) * interval.
CREATE TABLE price_buckets (
  gpu_model TEXT NOT NULL,
  region TEXT NOT NULL,
  interval TEXT NOT NULL,
  start INTEGER NOT NULL,
  jobs INTEGER NOT NULL DEFAULT 0,
  gpu_seconds INTEGER NOT NULL DEFAULT 0,   -- sum of gpus * duration bought
  notional TEXT NOT NULL DEFAULT '0',       -- sum of price * gpus * duration, for vwap = notional / gpu_seconds
  open TEXT, high TEXT, low TEXT, close TEXT,
  ask_floor TEXT,                           -- lowest OPEN ask with free GPUs after the bucket's last offer/job event
  PRIMARY KEY (gpu_model, region, interval, start)
);

-- Roll-up: network-wide totals (one row).
CREATE TABLE market_totals (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  providers INTEGER NOT NULL DEFAULT 0,
  total_staked TEXT NOT NULL DEFAULT '0',
  total_locked TEXT NOT NULL DEFAULT '0',
  total_unbonding TEXT NOT NULL DEFAULT '0',
  total_slashed TEXT NOT NULL DEFAULT '0',
  escrowed TEXT NOT NULL DEFAULT '0',       -- payment token held for open jobs: escrow - claimed of CREATED/RUNNING/COMPLETED/DISPUTED
  volume TEXT NOT NULL DEFAULT '0',         -- provider pay of finished jobs (earned), claims included
  fees_collected TEXT NOT NULL DEFAULT '0',
  gpu_seconds_sold INTEGER NOT NULL DEFAULT 0,  -- gpus * seconds used, of finished jobs
  gpus_offered INTEGER NOT NULL DEFAULT 0,
  gpus_leased INTEGER NOT NULL DEFAULT 0
);
INSERT INTO market_totals (id) VALUES (1);

CREATE TABLE job_state_counts (
  state TEXT PRIMARY KEY,
  count INTEGER NOT NULL
);

-- GPU Mesh indexer schema, version 3: protocol v2.
-- Job states are the chain's (src/protocol JOB_STATES): CREATED RUNNING COMPLETED DISPUTED SETTLED RESOLVED CANCELLED
-- RECLAIMED DECLINED EXPIRED DARK. jobs.collateral is now locked at creation (JobCreated), not at acceptance, and grows
-- with extensions; jobs.duration, cost, escrow and collateral are the totals after the latest JobExtended.
-- jobs.reason_hash is the decline reason of a DECLINED job (such a job is never disputed). jobs.provider_paid leaves
-- out the dispute bond (refund + provider pay + fee == escrow); providers.earned counts the bonds a provider won.

ALTER TABLE jobs ADD COLUMN terms_id INTEGER NOT NULL DEFAULT 1;     -- terms.terms_id in force at creation
ALTER TABLE jobs ADD COLUMN extensions INTEGER NOT NULL DEFAULT 0;   -- JobExtended events
ALTER TABLE jobs ADD COLUMN receipted_until INTEGER;                 -- time the client acknowledged with a usage receipt
ALTER TABLE jobs ADD COLUMN paid_until INTEGER;                      -- DARK and RECLAIMED: the provider earned up to here
ALTER TABLE jobs ADD COLUMN bond TEXT NOT NULL DEFAULT '0';          -- dispute bond pulled from the client
ALTER TABLE jobs ADD COLUMN resolve_deadline INTEGER;                -- after it, anyone may finalize the dispute
ALTER TABLE jobs ADD COLUMN bond_to_provider INTEGER;                -- 0/1 once the dispute is over (1: ruling fully for the provider)
ALTER TABLE jobs ADD COLUMN stale_finalized INTEGER NOT NULL DEFAULT 0;  -- 1: RESOLVED by finalizeStaleDispute, not the arbiter

-- Signs of life, as JobMarket.lastHeartbeat counts them: heartbeat(), and accepting, claiming and completing a job.
ALTER TABLE providers ADD COLUMN last_heartbeat_at INTEGER;
ALTER TABLE providers ADD COLUMN jobs_accepted INTEGER NOT NULL DEFAULT 0;
ALTER TABLE providers ADD COLUMN jobs_declined INTEGER NOT NULL DEFAULT 0;
ALTER TABLE providers ADD COLUMN jobs_expired INTEGER NOT NULL DEFAULT 0;
ALTER TABLE providers ADD COLUMN jobs_dark INTEGER NOT NULL DEFAULT 0;

ALTER TABLE market_totals ADD COLUMN dispute_bonds_held TEXT NOT NULL DEFAULT '0';  -- JobMarket.disputeBondsHeld()
ALTER TABLE market_totals ADD COLUMN current_terms_id INTEGER NOT NULL DEFAULT 0;   -- the latest ParameterSet's termsId

-- Every sign of life of every address (heartbeat() is open to anyone; only providers' matter). kind: HEARTBEAT ACCEPT
-- CLAIM COMPLETE.
CREATE TABLE heartbeats (
  block_number INTEGER NOT NULL,
  log_index INTEGER NOT NULL,
  provider TEXT NOT NULL,
  at INTEGER NOT NULL,
  kind TEXT NOT NULL,
  job_id INTEGER,
  PRIMARY KEY (block_number, log_index)
);
CREATE INDEX heartbeats_provider ON heartbeats (provider, at);

-- The market's immutable parameter snapshots, from ParameterSet (the constructor emits one per parameter for id 1).
CREATE TABLE terms (
  terms_id INTEGER PRIMARY KEY,
  protocol_fee_bps INTEGER NOT NULL DEFAULT 0,
  cancel_fee_bps INTEGER NOT NULL DEFAULT 0,
  collateral_bps INTEGER NOT NULL DEFAULT 0,
  expiry_slash_bps INTEGER NOT NULL DEFAULT 0,
  accept_window INTEGER NOT NULL DEFAULT 0,
  dispute_window INTEGER NOT NULL DEFAULT 0,
  abandon_grace INTEGER NOT NULL DEFAULT 0,
  dark_slash_bps INTEGER NOT NULL DEFAULT 0,
  dispute_bond_bps INTEGER NOT NULL DEFAULT 0,
  liveness_timeout INTEGER NOT NULL DEFAULT 0,
  resolve_window INTEGER NOT NULL DEFAULT 0,
  published_at INTEGER NOT NULL DEFAULT 0
);

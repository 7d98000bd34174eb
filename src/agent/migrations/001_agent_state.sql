-- The provider agent's own state (not the indexer's): what it knows of its jobs, which GPUs they hold, what it sent.
CREATE TABLE agent_meta (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL
);

CREATE TABLE agent_jobs (
  job_id TEXT PRIMARY KEY,            -- uint256 as decimal text
  offer_id TEXT NOT NULL,
  client TEXT NOT NULL,
  gpus INTEGER NOT NULL,
  price_per_gpu_hour TEXT NOT NULL,
  duration_seconds INTEGER NOT NULL,
  accept_deadline INTEGER NOT NULL,   -- unix seconds, chain time
  spec_hash TEXT NOT NULL,
  liveness_timeout_seconds INTEGER NOT NULL,
  dispute_window_seconds INTEGER NOT NULL,
  -- waiting_spec, preparing, running, finished, failed, declined, settled, gone (ended on chain by someone else)
  status TEXT NOT NULL,
  reason TEXT,                        -- why it was declined or failed
  spec_json TEXT,
  accepted_at INTEGER,                -- chain's startedAt
  started_at_ms INTEGER,              -- workload start, wall clock
  finished_at_ms INTEGER,
  pid INTEGER,
  exit_json TEXT,
  result_hash TEXT,
  archive_bytes INTEGER,
  completed_at INTEGER,               -- chain's endedAt
  created_block INTEGER NOT NULL
);
CREATE INDEX agent_jobs_status ON agent_jobs (status);

-- One job per GPU: the primary key is the guarantee that two jobs never share a GPU.
CREATE TABLE gpu_assignments (
  gpu_index INTEGER PRIMARY KEY,
  job_id TEXT NOT NULL
);

CREATE TABLE agent_txs (
  job_id TEXT NOT NULL,               -- '' for heartbeats
  action TEXT NOT NULL,               -- accept, decline, complete, settle, heartbeat
  hash TEXT,
  status TEXT NOT NULL,               -- sending, sent, mined, reverted, failed
  sent_at_ms INTEGER NOT NULL,
  error TEXT
);
CREATE UNIQUE INDEX agent_txs_once ON agent_txs (job_id, action) WHERE action <> 'heartbeat';

CREATE TABLE seen_requests (
  signature_hash TEXT PRIMARY KEY,
  expires_at INTEGER NOT NULL
);

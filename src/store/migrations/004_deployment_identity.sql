-- GPU Mesh indexer schema, version 4: what a database indexes, and what the clock changes.
-- deployment_identity holds the deployment's contract addresses and the hash of its start block on the chain it was
-- read from: the indexer refuses to add to a database of another deployment, or of another chain with the same id (a
-- restarted dev node starts a new chain with the same id and the same addresses).

CREATE TABLE deployment_identity (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  chain_id INTEGER NOT NULL,
  contracts TEXT NOT NULL,               -- JSON {"GpuCatalog": "0x..", "JobMarket": "0x..", "ProviderStaking": "0x.."}, lowercase
  start_block INTEGER NOT NULL,
  start_block_hash TEXT NOT NULL
);

-- Jobs whose accept deadline the clock passes (they become EXPIRED as of the indexed block's time).
CREATE INDEX jobs_created_by_deadline ON jobs (accept_deadline) WHERE state = 'CREATED';

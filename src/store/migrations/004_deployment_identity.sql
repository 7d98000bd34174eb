-- GPU Mesh indexer schema, version 4: what a database indexes. The deployment's contract addresses and the hash of
-- its start block on the chain it was read from; the indexer refuses to add to a database of another deployment, or
-- of another chain with the same id (a restarted dev node starts a new chain with the same id and addresses).

CREATE TABLE deployment_identity (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  chain_id INTEGER NOT NULL,
  contracts TEXT NOT NULL,               -- JSON {"GpuCatalog": "0x..", "JobMarket": "0x..", "ProviderStaking": "0x.."}, lowercase
  start_block INTEGER NOT NULL,
  start_block_hash TEXT NOT NULL
);

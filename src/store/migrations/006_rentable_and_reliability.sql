-- GPU Mesh indexer schema, version 6: what rentable capacity, quotes and reliability need.
-- stake_per_payment_unit is the deployment's fixed rate between the stake token and the payment token (collateral in
-- stake units = collateral value in payment units x this); the indexer writes it at every start.
ALTER TABLE deployment_identity ADD COLUMN stake_per_payment_unit TEXT;
-- Disputes the arbiter ruled not fully for the provider (providerShareBps < 10000).
ALTER TABLE providers ADD COLUMN jobs_lost_disputes INTEGER NOT NULL DEFAULT 0;

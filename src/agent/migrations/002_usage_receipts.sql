-- The client's latest usage receipt for a job (POST /jobs/{id}/receipts) and the one the agent last claimed with.
ALTER TABLE agent_jobs ADD COLUMN receipt_served_until INTEGER;
ALTER TABLE agent_jobs ADD COLUMN receipt_signature TEXT;
ALTER TABLE agent_jobs ADD COLUMN claimed_served_until INTEGER;

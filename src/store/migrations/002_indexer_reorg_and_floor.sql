-- GPU Mesh indexer schema, version 2.
-- Indexes for ask-floor lookups: the lowest price among offers that are not closed, per model and per
-- model + region, walked in price order.
CREATE INDEX offers_ask_model_region ON offers (gpu_model, region, price_sort) WHERE state <> 'CLOSED';
CREATE INDEX offers_ask_model ON offers (gpu_model, price_sort) WHERE state <> 'CLOSED';

-- Events applied from each unfinalized block, so that a rollback can take them off checkpoint.events_ingested and
-- leave the counter equal to a fresh index of the canonical chain.
ALTER TABLE blocks ADD COLUMN events INTEGER NOT NULL DEFAULT 0;

-- GPU Mesh indexer schema, version 10: what a store of millions of events needs to answer a provider's reliability
-- at once. medianSecondsToAccept counts a provider's accepted jobs and walks them in order of their time to accept;
-- over jobs_provider that read every job row of the provider and sorted them (37 ms for a provider with 4,606 jobs in
-- the 10,000,000-event benchmark store, bench:scale). This index holds both, in order. IF NOT EXISTS: a database set
-- back to an older user_version (as test/indexer/analytics.test.ts does) keeps it.
CREATE INDEX IF NOT EXISTS jobs_provider_accept ON jobs (provider, started_at - created_at) WHERE started_at IS NOT NULL;

-- GPU Mesh indexer schema, version 11: the sum of cancel fees, kept by the writer. The market's volume leaves them
-- out (no GPU time was sold for them), and reads subtracted them by reading every cancelled job: 100 to 180 ms over
-- the 1,000,000 jobs of the scale benchmark, paid by the first `market` request after every commit. NULL means not
-- known yet, in a database upgraded with cancelled jobs (amounts are decimal text, beyond SQLite's integers): reads
-- then sum the jobs' fees, and the writer's next batch sums them exactly and keeps the total from then on.
ALTER TABLE market_totals ADD COLUMN cancel_fees TEXT;
UPDATE market_totals SET cancel_fees = '0' WHERE NOT EXISTS (SELECT 1 FROM jobs WHERE state = 'CANCELLED' AND cancel_fee <> '0');

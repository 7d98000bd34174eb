-- GPU Mesh indexer schema, version 7: what sold GPU time emitted. Per GPU model, the sum over jobs whose clock
-- stopped with pay (the same jobs as market_totals.gpu_seconds_sold) of GPU-seconds used x the offer's carbon
-- intensity (gCO2e/kWh); the API multiplies by the model's power (src/protocol/energy.ts).
CREATE TABLE emissions (
  gpu_model TEXT PRIMARY KEY,
  carbon_gpu_seconds TEXT NOT NULL DEFAULT '0'
);

-- A database indexed before this version: its stopped jobs, with the handlers' GPU-seconds used.
INSERT INTO emissions (gpu_model, carbon_gpu_seconds)
SELECT j.gpu_model, CAST(sum(j.gpus * min(max(0, (CASE WHEN j.state IN ('DARK', 'RECLAIMED') THEN j.paid_until ELSE j.ended_at END) - j.started_at), j.duration) * o.carbon_intensity) AS TEXT)
FROM jobs j JOIN offers o ON o.id = j.offer_id
WHERE j.started_at IS NOT NULL AND j.ended_at IS NOT NULL
GROUP BY j.gpu_model;

// The in-process half of `npm run bench:indexer`: one indexer backfills a fresh store to the head, and prints its
// figures as one JSON line. Plain JavaScript over the compiled indexer (dist/, `npm run build:cli`), as `gpumesh index`
// runs it: under ts-node the TypeScript compiler's own heap (about 60 MB, live for the whole run) is marked by every
// major GC, which slowed the backfill and added to its peak RSS.
// Usage: node scripts/lib/backfill-child.js RPC_URL DEPLOYMENT_FILE DB_FILE
"use strict";
const fs = require("node:fs");
const path = require("node:path");

const dist = path.join(__dirname, "..", "..", "dist", "src");
const { openStore } = require(path.join(dist, "store", "db.js"));
const { createIndexer } = require(path.join(dist, "sync", "indexer.js"));
const { loadDeployment } = require(path.join(dist, "chain", "deployment.js"));

async function main() {
  const [url, deploymentFile, dbFile] = process.argv.slice(2);
  if (!dbFile) throw new Error("usage: backfill-child.js RPC_URL DEPLOYMENT_FILE DB_FILE");
  const deployment = loadDeployment(deploymentFile);
  const store = openStore({ file: dbFile });
  const indexer = createIndexer({ rpcUrls: [url], deployment, store });
  const started = performance.now();
  let batches = 0;
  for (;;) {
    const result = await indexer.syncOnce();
    batches += result.batches;
    if (result.caughtUp) break;
  }
  const seconds = (performance.now() - started) / 1000;
  const status = indexer.status.snapshot();
  store.close();
  const blocks = (status.indexedBlock ?? 0) - deployment.startBlock + 1;
  const size = (file) => (fs.existsSync(file) ? fs.statSync(file).size : 0);
  const figures = {
    events: status.eventsIngested,
    blocks,
    batches,
    seconds,
    eventsPerSecond: status.eventsIngested / seconds,
    blocksPerSecond: blocks / seconds,
    peakRssMb: process.resourceUsage().maxRSS / 1024,
    rpcRequests: status.rpcRequests,
    dbBytes: size(dbFile) + size(`${dbFile}-wal`),
  };
  process.stdout.write(JSON.stringify(figures) + "\n");
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});

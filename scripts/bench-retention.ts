/**
 * What history retention saves (README "Time travel"):
 *   node -r ts-node/register/transpile-only scripts/bench-retention.ts [--events 1000000] [--days 9] [--history-blocks 43200]
 *     [--slice-budget-ms 10[,50...]] [--seed 1]
 *
 * Generates the scale benchmark's market (scripts/lib/scale-market.ts: 2-second blocks; with the defaults about 9 days
 * of 100 providers and 500 clients) and writes it twice through the store's own writer into fresh databases, in
 * 5,000-event batches as the indexer's backfill does: once keeping all history, then once per --slice-budget-ms
 * pruning after every batch as `gpumesh index --history-blocks N` does (createHistoryRetention's afterBatch with that
 * budget; 43,200 blocks is a day), and whole at the head as `--exit-at-head` leaves it. Checks that each pruned store's
 * history is exactly the full one's versions alive at the boundary or later, then prints for each database its file
 * size (WAL checkpointed) and its free pages, the history tables' and block_times' bytes and rows (dbstat), and the
 * writer's and the prunes' time.
 */
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { openStore, type Db } from "../src/store/db";
import { checkOrRecordChain } from "../src/store/identity";
import { createHistoryRetention, type HistoryRetention } from "../src/store/retention";
import { HISTORY_TABLES } from "../src/store/schema";
import { createStoreWriter } from "../src/store/writer";
import { createScaleMarket, type ScaleMarketOptions } from "./lib/scale-market";

const EVENTS_PER_BATCH = 5_000;
const MEASURED = [...Object.values(HISTORY_TABLES), "block_times"];

interface Run {
  label: string;
  bytes: number;
  /** Pages freed by deletes, reused as the database grows (the file shrinks only with VACUUM). */
  freeBytes: number;
  tables: Record<string, { bytes: number; rows: number }>;
  writerSeconds: number;
  /** Calls of afterBatch that pruned, after the batches; passes completed, the final ones included. */
  slices: number;
  passes: number;
  pruneSeconds: number;
  longestSliceMs: number;
  /** The final finish() at the head. */
  finishSeconds: number;
  checkpoint: number;
  startBlock: number;
}

async function write(options: ScaleMarketOptions, dbFile: string, historyBlocks: number | null, sliceBudgetMs = 10): Promise<Run> {
  const market = createScaleMarket(options);
  const store = openStore({ file: dbFile });
  try {
    checkOrRecordChain(store, market.deployment, market.startBlockHash);
    const writer = createStoreWriter({ store, chainId: market.deployment.chainId });
    const retention: HistoryRetention | null = historyBlocks === null ? null : createHistoryRetention(store, { historyBlocks, sliceBudgetMs });
    let writerMs = 0;
    let pruneMs = 0;
    let longestSliceMs = 0;
    let slices = 0;
    let passes = 0;
    let finishMs = 0;
    for (;;) {
      const blocks = market.nextBatch(EVENTS_PER_BATCH);
      if (blocks.length === 0) break;
      const started = performance.now();
      await writer.applyBatch(blocks, { finalizedBlock: blocks[blocks.length - 1]!.number });
      writerMs += performance.now() - started;
      const pruned = retention?.afterBatch(blocks[blocks.length - 1]!.number);
      if (pruned) {
        slices += 1;
        if (pruned.done) passes += 1;
        pruneMs += pruned.durationMs;
        longestSliceMs = Math.max(longestSliceMs, pruned.durationMs);
      }
    }
    // At the head, as `gpumesh index --exit-at-head` leaves it: the pass under way and the one due, whole.
    const checkpointBlock = store.db.prepare("SELECT block_number FROM checkpoint").pluck().get() as number;
    for (let pruned = retention?.finish(checkpointBlock); pruned; pruned = retention!.finish(checkpointBlock)) {
      finishMs += pruned.durationMs;
      passes += 1;
    }
    store.db.pragma("wal_checkpoint(TRUNCATE)");
    const tables = Object.fromEntries(
      MEASURED.map((table) => [
        table,
        {
          bytes: store.db.prepare("SELECT coalesce(sum(pgsize), 0) FROM dbstat WHERE name = ? OR name LIKE ?").pluck().get(table, `sqlite_autoindex_${table}_%`) as number,
          rows: store.db.prepare(`SELECT count(*) FROM ${table}`).pluck().get() as number,
        },
      ]),
    );
    const checkpoint = store.db.prepare("SELECT block_number FROM checkpoint").pluck().get() as number;
    const startBlock = store.db.prepare("SELECT start_block FROM deployment_identity").pluck().get() as number;
    return {
      label: historyBlocks === null ? "all history" : `--history-blocks ${historyBlocks}, slices of ${sliceBudgetMs} ms`,
      bytes: fs.statSync(dbFile).size,
      freeBytes: (store.db.pragma("freelist_count", { simple: true }) as number) * (store.db.pragma("page_size", { simple: true }) as number),
      tables,
      writerSeconds: writerMs / 1000,
      slices,
      passes,
      pruneSeconds: pruneMs / 1000,
      longestSliceMs,
      finishSeconds: finishMs / 1000,
      checkpoint,
      startBlock,
    };
  } finally {
    store.close();
  }
}

/** The pruned history is the full one's versions alive at the boundary or later, row for row. */
function checkPruned(full: Db, pruned: Db) {
  const boundary = pruned.prepare("SELECT block_number FROM history_start").pluck().get() as number;
  for (const history of Object.values(HISTORY_TABLES)) {
    const key = (full.pragma(`table_info(${history})`) as Array<{ name: string; pk: number }>)
      .filter((column) => column.pk > 0)
      .sort((a, b) => a.pk - b.pk)
      .map((column) => column.name)
      .join(", ");
    const digest = (rows: Iterable<unknown>) => {
      const hash = crypto.createHash("sha256");
      let count = 0;
      for (const row of rows) {
        hash.update(JSON.stringify(row));
        count += 1;
      }
      return `${count}:${hash.digest("hex")}`;
    };
    const kept = digest(full.prepare(`SELECT * FROM ${history} WHERE valid_to_block IS NULL OR valid_to_block > ? ORDER BY ${key}`).iterate(boundary));
    const left = digest(pruned.prepare(`SELECT * FROM ${history} ORDER BY ${key}`).iterate());
    if (kept !== left) throw new Error(`${history}: the pruned versions are not the full history's from block ${boundary}`);
  }
  return boundary;
}

async function main() {
  const { values } = parseArgs({
    options: {
      events: { type: "string", default: "1000000" },
      days: { type: "string", default: "9" },
      "history-blocks": { type: "string", default: "43200" },
      "slice-budget-ms": { type: "string", default: "10" },
      seed: { type: "string", default: "1" },
    },
    strict: true,
  });
  const events = Number(values.events);
  const historyBlocks = Number(values["history-blocks"]);
  const options: ScaleMarketOptions = {
    seed: Number(values.seed),
    events,
    providers: Math.max(10, Math.round(events / 10_000)),
    clients: Math.max(50, Math.round(events / 2_000)),
    days: Number(values.days),
  };
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "gpumesh-bench-retention-"));
  try {
    const fullFile = path.join(dir, "full.db");
    const runs = [await write(options, fullFile, null)];
    const full = openStore({ file: fullFile, readonly: true });
    let boundary = 0;
    for (const budget of values["slice-budget-ms"]!.split(",").map(Number)) {
      const prunedFile = path.join(dir, `pruned-${budget}.db`);
      runs.push(await write(options, prunedFile, historyBlocks, budget));
      const pruned = openStore({ file: prunedFile, readonly: true });
      boundary = checkPruned(full.db, pruned.db);
      pruned.close();
      fs.rmSync(prunedFile);
    }
    full.close();
    const mb = (bytes: number) => (bytes / 1e6).toFixed(1);
    console.log(`market: ${events.toLocaleString("en")} events, ${options.providers} providers, ${options.clients} clients, ${(runs[0]!.checkpoint - runs[0]!.startBlock + 1).toLocaleString("en")} blocks of 2 s`);
    for (const run of runs) {
      const history = Object.values(HISTORY_TABLES).reduce((sum, table) => sum + run.tables[table]!.bytes, 0);
      console.log(
        `${run.label}: database ${mb(run.bytes)} MB (${mb(run.freeBytes)} MB of it free pages), history tables ${mb(history)} MB ` +
          `(${Object.values(HISTORY_TABLES).map((table) => `${table} ${mb(run.tables[table]!.bytes)} MB / ${run.tables[table]!.rows.toLocaleString("en")} rows`).join(", ")}), ` +
          `block_times ${mb(run.tables.block_times!.bytes)} MB / ${run.tables.block_times!.rows.toLocaleString("en")} rows; ` +
          `writer ${run.writerSeconds.toFixed(1)} s` +
          (run.slices
            ? `; pruning after the batches ${run.pruneSeconds.toFixed(1)} s in ${run.slices} slices (longest ${Math.round(run.longestSliceMs)} ms), ` +
              `${run.passes} passes, the last whole at the head ${run.finishSeconds.toFixed(2)} s`
            : ""),
      );
    }
    console.log(
      `pruned history starts at block ${boundary} (checkpoint ${runs[1]!.checkpoint} - ${runs[1]!.checkpoint - boundary}: it prunes when the ` +
        `boundary moved on a tenth of ${historyBlocks}), and is the full one's versions from there, row for row`,
    );
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});

import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { expect } from "chai";
import type { Address } from "viem";
import { createGraphqlApp, createServer, type GraphqlServer } from "../../src/graphql/app";
import { silentLogger } from "../../src/internal/logger";
import { openStore, type Db, type Store } from "../../src/store/db";
import { createHistoryRetention } from "../../src/store/retention";
import { HISTORY_TABLES } from "../../src/store/schema";
import { startIndexAndServe } from "../../src/service";
import { createIndexer } from "../../src/sync/indexer";
import { retainHistory } from "../../src/sync/retention";
import { startAnvil, type Anvil } from "./helpers/anvil";
import { dumpTables } from "./helpers/dump";
import { marketTx, setUpMarket, type MarketSession } from "./helpers/market";
import { runFullScenario, type ScenarioLedger } from "./helpers/scenario";

/**
 * History retention (README "Time travel"): `gpumesh index --history-blocks N` on a chain with every job path, against
 * a clean index that keeps all history. What the pruned store still has must answer every block from the boundary on
 * exactly as the full one does; what it dropped must be exactly what only earlier blocks needed.
 */

const ROOT = path.join(__dirname, "..", "..");
const HISTORY_BLOCKS = 40;

type GraphqlResult = { data?: any; errors?: Array<{ message: string; extensions?: Record<string, unknown> }> };

describe("history retention: --history-blocks keeps what blocks from checkpoint - N need", function () {
  let anvil: Anvil;
  let m: MarketSession;
  let ledger: ScenarioLedger;
  let dir: string;
  let dbFile: string;
  let reference: Store;
  let referenceServer: GraphqlServer;
  const referenceIndexer = () => createIndexer({ rpcUrls: [anvil.url], deployment: m.deployment, store: reference });

  const post = async (server: GraphqlServer, query: string, variables: Record<string, unknown> = {}): Promise<GraphqlResult> => {
    const response = await fetch(`${server.url}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ query, variables }),
    });
    return (await response.json()) as GraphqlResult;
  };
  /** Market, capacity and every provider with its offers and jobs, as of a block (hashes left out: see below). */
  const asOfQuery = () => /* GraphQL */ `
    query($block: BlockInput) {
      _meta(block: $block) { block { number timestamp } }
      market(block: $block) {
        providers activeProviders totalStaked totalLocked totalUnbonding totalSlashed escrowed disputeBondsHeld volume
        feesCollected gpuHoursSold estimatedEmissionsKg jobsByState { state count } gpusOffered gpusLeased gpusRentable
      }
      capacity(groupBy: GPU_MODEL_REGION, block: $block) { gpuModel region gpusOffered gpusLeased gpusRentable askFloor askMedian }
      ${ledger.providers
        .map(
          (address, index) => `p${index}: provider(id: "${address}", block: $block) {
            staked locked unbonding slashed earned reliability uptime(window: 3600) lastHeartbeatAt
            offers(first: 20) { totalCount items { id state gpus gpusLeased pricePerGpuHour gpusRentable } }
            jobs(first: 30) { totalCount items { id state claimed earnedSoFar claimable secondsLeft darkSince } }
          }`,
        )
        .join("\n")}
    }`;
  const answer = async (server: GraphqlServer, block: Record<string, number>) => {
    const result = await post(server, asOfQuery(), { block });
    expect(result.errors, JSON.stringify(result.errors)).to.equal(undefined);
    return result.data;
  };
  const rows = (db: Db, sql: string, ...params: unknown[]) => db.prepare(sql).all(...params);
  const keyOf = (db: Db, table: string) =>
    (db.pragma(`table_info(${table})`) as Array<{ name: string; pk: number }>)
      .filter((column) => column.pk > 0)
      .sort((a, b) => a.pk - b.pk)
      .map((column) => column.name)
      .join(", ");
  const head = async () => Number(await m.publicClient.getBlockNumber());
  const historyStart = (db: Db) => db.prepare("SELECT block_number, history_blocks FROM history_start").get() as { block_number: number; history_blocks: number };

  before(async function () {
    anvil = await startAnvil();
    m = await setUpMarket(anvil.url);
    ledger = await runFullScenario(m);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "gpumesh-retention-"));
    dbFile = path.join(dir, "pruned.db");
    reference = openStore({ file: ":memory:" });
    await referenceIndexer().syncOnce();
    referenceServer = await createServer({ app: createGraphqlApp({ db: reference.db, logger: silentLogger() }), port: 0 });
  });

  after(async function () {
    await referenceServer?.close();
    reference?.close();
    await anvil?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it("gpumesh index --history-blocks N drops the versions replaced by the boundary, and answers every block from it as a full index", async function () {
    const exit = await new Promise<{ code: number | null; stderr: string }>((resolve, reject) => {
      const child = spawn(
        process.execPath,
        [path.join(ROOT, "bin", "gpumesh.js"), "index", "--rpc", anvil.url, "--deployment", m.deploymentFile, "--db", dbFile, "--history-blocks", String(HISTORY_BLOCKS), "--exit-at-head", "--log-level", "warn"],
        { cwd: ROOT, stdio: ["ignore", "ignore", "pipe"] },
      );
      let stderr = "";
      child.stderr!.on("data", (chunk) => (stderr += chunk));
      child.on("error", reject);
      child.on("close", (code) => resolve({ code, stderr }));
    });
    expect(exit.code, exit.stderr).to.equal(0);

    const checkpoint = await head();
    const boundary = checkpoint - HISTORY_BLOCKS;
    expect(boundary, "the scenario is longer than the history kept").to.be.greaterThan(m.deployment.startBlock + 20);
    const pruned = openStore({ file: dbFile, readonly: true });
    const server = await createServer({ app: createGraphqlApp({ db: pruned.db, logger: silentLogger() }), port: 0 });
    try {
      expect(historyStart(pruned.db)).to.deep.equal({ block_number: boundary, history_blocks: HISTORY_BLOCKS });
      // Exactly the versions still alive at the boundary or later are kept; the others are gone.
      let dropped = 0;
      for (const history of Object.values(HISTORY_TABLES)) {
        const order = `ORDER BY ${keyOf(reference.db, history)}`;
        const kept = rows(reference.db, `SELECT * FROM ${history} WHERE valid_to_block IS NULL OR valid_to_block > ? ${order}`, boundary);
        expect(rows(pruned.db, `SELECT * FROM ${history} ${order}`), history).to.deep.equal(kept);
        dropped += (reference.db.prepare(`SELECT count(*) FROM ${history} WHERE valid_to_block <= ?`).pluck().get(boundary) as number);
        expect(pruned.db.prepare(`SELECT count(*) FROM ${history} WHERE valid_to_block <= ?`).pluck().get(boundary), history).to.equal(0);
      }
      expect(dropped, "versions only blocks before the boundary needed").to.be.greaterThan(20);
      // Block times: from the last one at or before the boundary (the clock of the blocks from it to the next one).
      const clock = reference.db.prepare("SELECT max(number) FROM block_times WHERE number <= ?").pluck().get(boundary) as number;
      expect(rows(pruned.db, "SELECT * FROM block_times ORDER BY number")).to.deep.equal(rows(reference.db, "SELECT * FROM block_times WHERE number >= ? ORDER BY number", clock));
      // Nothing else changed: the current tables are the full index's.
      const current = (db: Db) => {
        const dump = dumpTables(db);
        for (const history of Object.values(HISTORY_TABLES)) delete dump[history];
        return dump;
      };
      expect(current(pruned.db)).to.deep.equal(current(reference.db));

      for (let number = boundary; number <= checkpoint; number++) {
        expect(await answer(server, { number }), `block ${number}`).to.deep.equal(await answer(referenceServer, { number }));
      }
      const times = rows(pruned.db, "SELECT timestamp FROM block_times WHERE number >= ?", boundary) as Array<{ timestamp: number }>;
      for (const { timestamp } of times) {
        expect(await answer(server, { at: timestamp }), `at ${timestamp}`).to.deep.equal(await answer(referenceServer, { at: timestamp }));
      }

      // Before the boundary: the clear error, naming the argument and why the history starts there.
      const before = await post(server, `{ market(block: { number: ${boundary - 1} }) { providers } }`);
      expect(before.data).to.equal(null);
      expect(before.errors![0]).to.deep.include({
        message:
          `block ${boundary - 1} is before this database's history, which starts at block ${boundary} (its indexer keeps the last ` +
          `${HISTORY_BLOCKS} blocks of history, --history-blocks ${HISTORY_BLOCKS}; index into a fresh --db without it for all of it)`,
        extensions: { code: "BAD_USER_INPUT", argument: "block.number", historyStart: boundary, historyBlocks: HISTORY_BLOCKS },
      });
      const firstTime = reference.db.prepare("SELECT min(timestamp) FROM block_times").pluck().get() as number;
      const early = await post(server, `{ offer(id: "1", block: { at: ${firstTime} }) { id } _meta { block { number } } }`);
      expect(early.data.offer).to.equal(null);
      expect(early.errors![0].message).to.match(new RegExp(`^at ${firstTime} is before this database's history, which starts at block ${boundary} \\(its indexer keeps`));
      expect(early.errors![0].extensions).to.include({ argument: "block.at", historyStart: boundary });
    } finally {
      await server.close();
      pruned.close();
    }
  });

  it("prunes in slices, each its own transaction, and answers every block from the boundary exactly between them", async function () {
    const file = path.join(dir, "sliced.db");
    fs.writeFileSync(file, reference.db.serialize());
    const store = openStore({ file });
    const server = await createServer({ app: createGraphqlApp({ db: store.db, logger: silentLogger() }), port: 0 });
    try {
      const checkpoint = store.db.prepare("SELECT block_number FROM checkpoint").pluck().get() as number;
      const boundary = checkpoint - HISTORY_BLOCKS;
      // One slice per call: the pass spreads over several batches' worth of calls.
      const retention = createHistoryRetention(store, { historyBlocks: HISTORY_BLOCKS, sliceBudgetMs: 0 });
      const probes = [boundary, boundary + 7, checkpoint];
      const expected = await Promise.all(probes.map((number) => answer(referenceServer, { number })));
      let calls = 0;
      for (;;) {
        const progress = retention.afterBatch(checkpoint)!;
        calls += 1;
        expect(progress.boundary).to.equal(boundary);
        // From the first slice on, the history starts at the boundary, and what it answers is whole.
        expect(historyStart(store.db)).to.deep.equal({ block_number: boundary, history_blocks: HISTORY_BLOCKS });
        for (const [index, number] of probes.entries()) expect(await answer(server, { number }), `block ${number} after slice ${calls}`).to.deep.equal(expected[index]);
        if (progress.done) break;
      }
      expect(calls).to.be.greaterThan(2);
      expect(retention.afterBatch(checkpoint), "nothing more to do until the boundary moves on").to.equal(null);
      for (const history of Object.values(HISTORY_TABLES)) {
        const order = `ORDER BY ${keyOf(reference.db, history)}`;
        const kept = rows(reference.db, `SELECT * FROM ${history} WHERE valid_to_block IS NULL OR valid_to_block > ? ${order}`, boundary);
        expect(rows(store.db, `SELECT * FROM ${history} ${order}`), history).to.deep.equal(kept);
      }

      // A pass under way when a reorg deeper than the history starts it again lower (as the writer's rollback does:
      // history_start down to the fork) is dropped: the next call starts a pass at the new boundary.
      const later = createHistoryRetention(store, { historyBlocks: 10, sliceBudgetMs: 0 });
      expect(later.afterBatch(checkpoint)).to.deep.include({ boundary: checkpoint - 10, done: false });
      store.db.prepare("UPDATE history_start SET block_number = ?").run(checkpoint - 12);
      expect(later.afterBatch(checkpoint + 2)).to.deep.include({ boundary: checkpoint - 8, done: false });
      expect(historyStart(store.db).block_number).to.equal(checkpoint - 8);
    } finally {
      await server.close();
      store.close();
    }
  });

  it("keeps pruning as the indexer follows the chain; a reorg deeper than the history starts it again at the fork", async function () {
    const historyBlocks = 4;
    const store = openStore({ file: dbFile });
    const reader = openStore({ file: dbFile, readonly: true });
    const server = await createServer({ app: createGraphqlApp({ db: reader.db, logger: silentLogger() }), port: 0 });
    try {
      const indexer = createIndexer({ rpcUrls: [anvil.url], deployment: m.deployment, store });
      // Each prune whole after its batch (no time slices), so that where the history starts is exact at every step.
      const retained = retainHistory({ status: indexer.status, store, logger: silentLogger(), historyBlocks, sliceBudgetMs: Infinity });
      const beats = ledger.providers.slice(0, 2) as Address[];
      const follow = async () => {
        await indexer.syncOnce();
        await referenceIndexer().syncOnce();
      };
      /** Every block from where the pruned history starts answers as the full index does. */
      const sameAnswers = async () => {
        const checkpoint = await head();
        const { block_number: start } = historyStart(store.db);
        for (let number = start; number <= checkpoint; number++) {
          expect(await answer(server, { number }), `block ${number}`).to.deep.equal(await answer(referenceServer, { number }));
        }
        return start;
      };
      for (let round = 0; round < 3; round++) {
        for (const provider of beats) await m.send(provider, "market", "heartbeat", []);
        await follow();
        expect(historyStart(store.db)).to.deep.equal({ block_number: (await head()) - historyBlocks, history_blocks: historyBlocks });
      }
      await sameAnswers();

      // Six blocks replaced: below where the history starts now, so the rollback starts it again at the fork.
      const forkedFrom = (await head()) - 6;
      await m.testClient.request({ method: "anvil_reorg", params: [6, [marketTx(m, beats[0], "heartbeat", [], 1)]] } as never);
      const result = await indexer.syncOnce();
      expect(result.reorgDepth).to.equal(6);
      // Started again: the rows that did not change since (the GPU models) have one version, from the fork on.
      const models = store.db.prepare("SELECT count(*) FROM gpu_models").pluck().get();
      expect(store.db.prepare("SELECT count(*) FROM gpu_models_history WHERE valid_from_block = ?").pluck().get(forkedFrom)).to.equal(models);
      await referenceIndexer().syncOnce();
      expect(historyStart(store.db)).to.deep.equal({ block_number: (await head()) - historyBlocks, history_blocks: historyBlocks });
      expect((await head()) - historyBlocks).to.be.greaterThan(forkedFrom);
      await sameAnswers();
      for (const provider of beats) await m.send(provider, "market", "heartbeat", []);
      await follow();
      expect(await sameAnswers()).to.equal((await head()) - historyBlocks);
      retained.stop();
    } finally {
      await server.close();
      reader.close();
      store.close();
    }
  });

  it("gpumesh run and start (one process, src/service.ts) prune as they index, and their API refuses the pruned blocks", async function () {
    const service = await startIndexAndServe({
      rpcUrls: [anvil.url],
      deployment: m.deployment,
      dbFile: path.join(dir, "service.db"),
      host: "127.0.0.1",
      port: 0,
      logger: silentLogger(),
      pollIntervalMs: 50,
      historyBlocks: 10,
    });
    try {
      const checkpoint = await head();
      // Caught up, and the pass the checkpoint made due under way (it moves the start first).
      const started = Date.now();
      let before: GraphqlResult = {};
      while (Date.now() - started < 30_000) {
        before = await post(service.server, `{ market(block: { number: ${checkpoint - 11} }) { providers } }`);
        if (before.errors?.[0]?.extensions?.historyStart === checkpoint - 10) break;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      expect(before.errors![0].extensions).to.deep.equal({ code: "BAD_USER_INPUT", argument: "block.number", historyStart: checkpoint - 10, historyBlocks: 10 });
      const query = `{ _meta { block { number } } market(block: { number: ${checkpoint - 10} }) { providers totalStaked volume jobsByState { state count } } }`;
      expect((await post(service.server, query)).data).to.deep.equal((await post(referenceServer, query)).data);
    } finally {
      await service.stop();
    }
  });
});

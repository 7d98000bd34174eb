import { expect } from "chai";
import { createGraphqlApp, createServer, type GraphqlServer } from "../../src/graphql/app";
import { silentLogger } from "../../src/internal/logger";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { openStore, type Store } from "../../src/store/db";
import { createReads } from "../../src/store/reads";
import { createIndexer } from "../../src/sync/indexer";
import { startAnvil, type Anvil } from "./helpers/anvil";
import { H100, MESH, RESULT_HASH, USDC, setUpMarket, type MarketSession } from "./helpers/market";

/**
 * Figures an analyst reads off the API, from a store indexed from a real node: market volume and GPU-hours sold
 * cover finished jobs only (a running job's claims and a completed job awaiting settlement are not sold yet), and
 * prices lists only the intervals in which jobs were created.
 */

const HOUR = 3600;
const DAY = 86400;

describe("GraphQL figures: volume, GPU-hours sold and price intervals", function () {
  let anvil: Anvil;
  let m: MarketSession;
  let store: Store;
  let server: GraphqlServer;
  const jobs: Record<string, bigint> = {};

  async function data(query: string): Promise<any> {
    const response = await fetch(`${server.url}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/json" },
      body: JSON.stringify({ query }),
    });
    const body = (await response.json()) as { data?: any; errors?: unknown[] };
    expect(body.errors, JSON.stringify(body.errors)).to.equal(undefined);
    return body.data;
  }

  before(async function () {
    anvil = await startAnvil();
    m = await setUpMarket(anvil.url);
    const [, provider, client] = m.accounts;
    await m.registerProvider(provider, 10_000n * MESH);
    await m.fund(client, { usdc: 100_000n * USDC });
    const now = await m.latestTimestamp();
    // Start on a fresh hour so that the jobs below share one hourly bucket.
    await m.increaseTime(HOUR - (now % HOUR) + 10);
    const offer = await m.createOffer(provider, { gpuModel: H100, gpus: 8, pricePerGpuHour: 2_000_000n, region: "eu-west", expiresAt: now + 30 * DAY });

    jobs.cancelled = await m.createJob(client, offer, 1, HOUR);
    await m.send(client, "market", "cancelJob", [jobs.cancelled]);
    jobs.settled = await m.createJob(client, offer, 2, HOUR);
    jobs.completed = await m.createJob(client, offer, 1, HOUR);
    jobs.running = await m.createJob(client, offer, 3, 4 * HOUR);
    for (const id of [jobs.settled, jobs.completed, jobs.running]) await m.send(provider, "market", "acceptJob", [id]);
    await m.increaseTime(HOUR);
    await m.send(provider, "market", "completeJob", [jobs.settled, RESULT_HASH]);
    await m.send(provider, "market", "claim", [jobs.running]);
    await m.increaseTime(2 * DAY);
    await m.send(client, "market", "settleJob", [jobs.settled]);
    await m.send(provider, "market", "completeJob", [jobs.completed, RESULT_HASH]);
    await m.send(provider, "market", "claim", [jobs.running]);
    // An hour with an ask change and no job: its ask floor is recorded, but no job was created in it.
    await m.increaseTime(2 * HOUR);
    await m.send(provider, "market", "updateOffer", [offer, 8, 1_900_000n, now + 30 * DAY]);

    store = openStore({ file: ":memory:" });
    const indexer = createIndexer({ rpcUrls: [anvil.url], deployment: m.deployment, store, finalityDepth: 2 });
    expect((await indexer.syncOnce()).caughtUp).to.equal(true);
    const app = createGraphqlApp({ db: store.db, logger: silentLogger() });
    server = await createServer({ app, host: "127.0.0.1", port: 0 });
  });

  after(async function () {
    await server?.close();
    store?.close();
    await anvil?.stop();
  });

  it("counts in volume and GPU-hours sold the finished jobs only, without cancel fees", async function () {
    const { market, all } = await data(`{
      market { volume gpuHoursSold }
      all: jobs(first: 100) { items { id state gpus duration startedAt endedAt paid cancelFee claimed } }
    }`);
    const byId = new Map<string, any>(all.items.map((job: any) => [job.id, job]));
    const job = (name: string) => byId.get(jobs[name].toString());
    expect(job("running").state).to.equal("RUNNING");
    expect(BigInt(job("running").claimed) > 0n, "the running job has claims").to.equal(true);
    expect(job("completed").state).to.equal("COMPLETED");
    expect(job("cancelled").state).to.equal("CANCELLED");
    expect(BigInt(job("cancelled").cancelFee) > 0n, "the cancelled job paid a cancel fee").to.equal(true);
    const settled = job("settled");
    expect(settled.state).to.equal("SETTLED");

    expect(market.volume, "the settled job's pay, nothing else").to.equal(settled.paid);
    // Used time stops at the bought duration (completion may come a block after it ends).
    const used = Math.min(settled.endedAt - settled.startedAt, settled.duration);
    expect(market.gpuHoursSold, "the settled job's GPU-hours").to.equal((settled.gpus * used) / HOUR);
  });

  it("keeps the cancel fees' sum, so that volume reads no cancelled job; an upgraded database sums them once", async function () {
    const { job } = await data(`{ job(id: "${jobs.cancelled}") { cancelFee } }`);
    const cancelFees = (db: Store["db"]) => db.prepare("SELECT cancel_fees FROM market_totals").pluck().get();
    expect(cancelFees(store.db)).to.equal(job.cancelFee);

    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "gpumesh-cancel-fees-"));
    const file = path.join(dir, "index.db");
    try {
      const indexed = openStore({ file });
      const indexer = createIndexer({ rpcUrls: [anvil.url], deployment: m.deployment, store: indexed, finalityDepth: 2 });
      await indexer.syncOnce();
      const volume = createReads(indexed.db).marketTotals().volume;
      indexed.db.exec(
        "ALTER TABLE market_totals DROP COLUMN cancel_fees; ALTER TABLE history_start DROP COLUMN history_blocks; " +
          "ALTER TABLE providers_history ADD COLUMN last_heartbeat_at INTEGER; PRAGMA user_version = 10;",
      );
      indexed.close();
      // As a version-10 indexer left it, with a cancelled job: the sum is not known until the writer's next batch.
      const upgraded = openStore({ file });
      expect(cancelFees(upgraded.db)).to.equal(null);
      expect(createReads(upgraded.db).marketTotals().volume, "summed from the jobs meanwhile").to.equal(volume);
      await m.send(m.accounts[1], "market", "heartbeat", []);
      await createIndexer({ rpcUrls: [anvil.url], deployment: m.deployment, store: upgraded, finalityDepth: 2 }).syncOnce();
      expect(cancelFees(upgraded.db)).to.equal(job.cancelFee);
      expect(createReads(upgraded.db).marketTotals().volume).to.equal(volume);
      upgraded.close();
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("lists only the price intervals in which jobs were created", async function () {
    const { hourly, daily } = await data(`{
      hourly: prices(gpuModel: "H100-SXM-80GB") { start jobs gpuHours askFloor }
      daily: prices(gpuModel: "H100-SXM-80GB", interval: DAY) { start jobs }
    }`);
    expect(hourly.map((point: any) => point.jobs), JSON.stringify(hourly)).to.deep.equal([4]);
    expect(hourly[0].gpuHours).to.equal(1 + 2 + 1 + 12);
    expect(daily.every((point: any) => point.jobs > 0), JSON.stringify(daily)).to.equal(true);
    expect(daily.reduce((sum: number, point: any) => sum + point.jobs, 0)).to.equal(4);
  });
});

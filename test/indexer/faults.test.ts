import { expect } from "chai";
import path from "node:path";
import { createBloomFilter } from "../../src/chain/bloom";
import { GpuMeshError } from "../../src/internal/errors";
import { jobStateName } from "../../src/protocol";
import { openStore, type Db, type Store } from "../../src/store/db";
import { createIndexer } from "../../src/sync/indexer";
import { startAnvil, type Anvil } from "./helpers/anvil";
import { dumpTables, dumpUndoJournal as undoJournal } from "./helpers/dump";
import { H100, MESH, USDC, marketTx, setUpMarket, temporaryDir, type MarketSession } from "./helpers/market";
import { startFaultProxy } from "./helpers/proxy";
import { syncToHead } from "./helpers/sync";

const reorgCount = (db: Db) => (db.prepare("SELECT reorgs FROM checkpoint").get() as { reorgs: number }).reorgs;
const jobState = (db: Db, id: bigint) => (db.prepare("SELECT state FROM jobs WHERE id = ?").get(Number(id)) as { state: string }).state;

async function freshDump(anvil: Anvil, m: MarketSession) {
  const fresh = openStore({ file: ":memory:" });
  try {
    await createIndexer({ rpcUrls: [anvil.url], deployment: m.deployment, store: fresh }).syncOnce();
    return dumpTables(fresh.db);
  } finally {
    fresh.close();
  }
}

async function startMarket(anvil: Anvil) {
  const m = await setUpMarket(anvil.url);
  const [, p1, , , c1, c2] = m.accounts;
  await m.registerProvider(p1, 5_000n * MESH);
  await m.fund(c1, { usdc: 10_000n * USDC });
  await m.fund(c2, { usdc: 10_000n * USDC });
  return { m, p1, c1, c2 };
}

describe("indexer: faults that used to leave it silently wrong", function () {
  let anvil: Anvil;
  const stores: Store[] = [];
  const open = () => {
    const store = openStore({ file: ":memory:" });
    stores.push(store);
    return store;
  };

  beforeEach(async function () {
    anvil = await startAnvil();
  });

  afterEach(async function () {
    for (const store of stores.splice(0)) store.close();
    await anvil?.stop();
  });

  it("verifies the checkpoint against the node on start: a block orphaned while it was down is rolled back", async function () {
    const { m, p1, c1 } = await startMarket(anvil);
    const offer = await m.createOffer(p1, { gpuModel: H100, gpus: 8, pricePerGpuHour: 2_000_000n, region: "eu-west", expiresAt: (await m.latestTimestamp()) + 30 * 86400 });
    const job = await m.createJob(c1, offer, 2, 3600);
    await m.send(p1, "market", "acceptJob", [job]);
    const store = open();
    await createIndexer({ rpcUrls: [anvil.url], deployment: m.deployment, store, finalityDepth: 12 }).syncOnce();
    expect(jobState(store.db, job)).to.equal("RUNNING");

    // While the indexer is down the acceptance is re-orged out (the client cancels instead), and the chain moves on
    // past the finality depth.
    await m.testClient.request({ method: "anvil_reorg", params: [1, [marketTx(m, c1, "cancelJob", [job], 0)]] } as never);
    await m.testClient.mine({ blocks: 20 });

    const result = await createIndexer({ rpcUrls: [anvil.url], deployment: m.deployment, store, finalityDepth: 12 }).syncOnce();
    expect(result.reorgDepth).to.equal(1);
    expect(reorgCount(store.db)).to.equal(1);
    expect(jobState(store.db, job)).to.equal("CANCELLED");
    expect(dumpTables(store.db)).to.deep.equal(await freshDump(anvil, m));
  });

  it("keeps refusing a reorg deeper than its stored blocks after the chain moves on", async function () {
    const { m, p1, c1 } = await startMarket(anvil);
    const offer = await m.createOffer(p1, { gpuModel: H100, gpus: 8, pricePerGpuHour: 2_000_000n, region: "eu-west", expiresAt: (await m.latestTimestamp()) + 30 * 86400 });
    const job = await m.createJob(c1, offer, 2, 3600);
    await m.send(p1, "market", "acceptJob", [job]);
    await m.testClient.mine({ blocks: 6 });
    const store = open();
    const options = { rpcUrls: [anvil.url], deployment: m.deployment, store, finalityDepth: 3 };
    await createIndexer(options).syncOnce();

    // Deeper than the 3 blocks whose hashes and undo records are kept: the acceptance and more are replaced.
    await m.testClient.request({ method: "anvil_reorg", params: [8, [marketTx(m, c1, "cancelJob", [job], 0)]] } as never);
    const refusal = async () => {
      try {
        await createIndexer(options).syncOnce();
      } catch (error) {
        return error as GpuMeshError;
      }
      throw new Error("the indexer accepted a database built on blocks the node no longer has");
    };
    expect((await refusal()).code).to.equal("REORG_TOO_DEEP");
    await m.testClient.mine({ blocks: 10 });
    const again = await refusal();
    expect(again.code).to.equal("REORG_TOO_DEEP");
    expect(again.message).to.match(/fresh --db/);
    expect(jobState(store.db, job)).to.equal("RUNNING");
  });

  it("refuses a database indexed from another chain with the same id (a restarted dev node) or another deployment", async function () {
    const first = await startMarket(anvil);
    const file = path.join(temporaryDir("gpumesh-identity-"), "index.db");
    let store = openStore({ file });
    await createIndexer({ rpcUrls: [anvil.url], deployment: first.m.deployment, store }).syncOnce();
    store.close();

    // The same dev node restarted: same chain id, same deployer, so the same addresses at the same blocks.
    await anvil.stop();
    anvil = await startAnvil(["--timestamp", String(Math.floor(Date.now() / 1000) + 3600)]);
    const second = await startMarket(anvil);
    expect(second.m.deployment.contracts.JobMarket.address).to.equal(first.m.deployment.contracts.JobMarket.address);
    store = openStore({ file });
    stores.push(store);
    let refusal: GpuMeshError | undefined;
    try {
      await createIndexer({ rpcUrls: [anvil.url], deployment: second.m.deployment, store }).syncOnce();
    } catch (error) {
      refusal = error as GpuMeshError;
    }
    expect(refusal?.code).to.equal("DEPLOYMENT_MISMATCH");
    expect(refusal?.message).to.match(/another chain/).and.match(/--db/);

    // Another deployment on the same node.
    const other = await setUpMarket(anvil.url);
    try {
      await createIndexer({ rpcUrls: [anvil.url], deployment: other.deployment, store }).syncOnce();
      refusal = undefined;
    } catch (error) {
      refusal = error as GpuMeshError;
    }
    expect(refusal?.code).to.equal("DEPLOYMENT_MISMATCH");
    expect(refusal?.message).to.match(/indexes another deployment: its \w+ is 0x/);
  });

  it("never moves past logs a lagging load-balanced backend left out", async function () {
    const { m, p1, c1, c2 } = await startMarket(anvil);
    const offer = await m.createOffer(p1, { gpuModel: H100, gpus: 8, pricePerGpuHour: 2_000_000n, region: "eu-west", expiresAt: (await m.latestTimestamp()) + 30 * 86400 });
    const store = open();
    await createIndexer({ rpcUrls: [anvil.url], deployment: m.deployment, store }).syncOnce();

    // Headers come from an up-to-date backend, logs from one 3 blocks behind.
    const proxy = await startFaultProxy(anvil.url, { logsLagBlocks: 3 });
    try {
      const jobs = [await m.createJob(c1, offer, 1, 3600), await m.createJob(c2, offer, 2, 3600), await m.createJob(c1, offer, 1, 7200)];
      const options = { rpcUrls: [proxy.url], deployment: m.deployment, store, maxRetries: 0, retryBaseDelayMs: 1 };
      let missed: unknown;
      try {
        await createIndexer(options).syncOnce();
      } catch (error) {
        missed = error;
      }
      expect(proxy.counts.logsLagged).to.be.greaterThan(0);
      expect((missed as GpuMeshError | undefined)?.retryable, "an incomplete batch is a retryable failure").to.equal(true);
      expect(store.db.prepare("SELECT COUNT(*) AS n FROM jobs").get()).to.deep.equal({ n: 0 });

      // The backend catches up; the jobs are accepted.
      proxy.rules.logsLagBlocks = 0;
      for (const job of jobs) await m.send(p1, "market", "acceptJob", [job]);
      await syncToHead(options, 30);
      expect(dumpTables(store.db)).to.deep.equal(await freshDump(anvil, m));
    } finally {
      await proxy.close();
    }
  });

  it("reads a header's logsBloom: blocks with GPU Mesh logs match, empty blocks and other contracts' blocks do not", async function () {
    const { m, c1 } = await startMarket(anvil);
    const mayHaveOurLogs = createBloomFilter(Object.values(m.deployment.contracts).map((c) => c.address));
    const marketBlock = await m.publicClient.getBlock({ blockNumber: (await m.send(m.accounts[1], "market", "heartbeat", [])).blockNumber });
    // The stablecoin's mint logs a Transfer from the token, not from a GPU Mesh contract.
    const tokenBlock = await m.publicClient.getBlock({ blockNumber: (await m.send(c1, "payment", "mint", [c1, 1n])).blockNumber });
    await m.testClient.mine({ blocks: 1 });
    const emptyBlock = await m.publicClient.getBlock();
    expect(mayHaveOurLogs(marketBlock.logsBloom)).to.equal(true);
    expect(mayHaveOurLogs(tokenBlock.logsBloom)).to.equal(false);
    expect(mayHaveOurLogs(emptyBlock.logsBloom)).to.equal(false);
  });

  it("restores the ask floor as of the block a reorg rolls back to, whatever the batch boundaries", async function () {
    const { m, p1, c1 } = await startMarket(anvil);
    // Everything below happens within one hour bucket.
    const hour = Math.ceil((await m.latestTimestamp()) / 3600) * 3600;
    await m.testClient.setNextBlockTimestamp({ timestamp: BigInt(hour + 10) });
    const offer = await m.createOffer(p1, { gpuModel: H100, gpus: 8, pricePerGpuHour: 2_000_000n, region: "eu-west", expiresAt: hour + 30 * 86400 });
    const job = await m.createJob(c1, offer, 2, 3600);
    await m.send(p1, "market", "acceptJob", [job]);
    const big = open();
    const small = open();
    const bigOptions = { rpcUrls: [anvil.url], deployment: m.deployment, store: big, finalityDepth: 1000 };
    const smallOptions = { ...bigOptions, store: small, initialBlockRange: 1, maxBlockRange: 1 };
    await createIndexer(bigOptions).syncOnce();
    await createIndexer(smallOptions).syncOnce();

    // One batch: a reprice that moves the floor, then an extension that writes the same price bucket.
    await m.send(p1, "market", "updateOffer", [offer, 8, 1_500_000n, hour + 20 * 86400]);
    await m.send(c1, "market", "extendJob", [job, 600, 2n ** 255n]);
    await m.testClient.mine({ blocks: 1 });
    await createIndexer(bigOptions).syncOnce();
    await syncToHead(smallOptions, 30);
    const floor = (db: Db) =>
      (db.prepare("SELECT ask_floor FROM price_buckets WHERE region = 'eu-west' AND interval = 'HOUR' AND start = ?").get(hour) as { ask_floor: string }).ask_floor;
    expect(floor(big.db)).to.equal("1500000");
    expect(dumpTables(small.db)).to.deep.equal(dumpTables(big.db));
    expect(undoJournal(small.db)).to.deep.equal(undoJournal(big.db));

    // Roll back to the reprice's block: the extension and the empty block are replaced by nothing.
    await m.testClient.request({ method: "anvil_reorg", params: [2, []] } as never);
    await createIndexer(bigOptions).syncOnce();
    await createIndexer(smallOptions).syncOnce();
    expect(floor(big.db)).to.equal("1500000");
    const fresh = await freshDump(anvil, m);
    expect(dumpTables(big.db)).to.deep.equal(fresh);
    expect(dumpTables(small.db)).to.deep.equal(fresh);
  });

  it("reports what the clock changed as of the indexed block: an expired offer leaves the ask floor, an unaccepted job past its deadline frees its GPUs", async function () {
    const { m, p1, c1 } = await startMarket(anvil);
    const hour = Math.ceil((await m.latestTimestamp()) / 3600) * 3600;
    await m.testClient.setNextBlockTimestamp({ timestamp: BigInt(hour + 10) });
    const cheap = await m.createOffer(p1, { gpuModel: H100, gpus: 4, pricePerGpuHour: 1_000_000n, region: "eu-west", expiresAt: hour + 1800 });
    const dear = await m.createOffer(p1, { gpuModel: H100, gpus: 8, pricePerGpuHour: 2_000_000n, region: "eu-west", expiresAt: hour + 30 * 86400 });
    const job = await m.createJob(c1, dear, 3, 3600);
    const big = open();
    const small = open();
    const bigOptions = { rpcUrls: [anvil.url], deployment: m.deployment, store: big, finalityDepth: 1000 };
    const smallOptions = { ...bigOptions, store: small, initialBlockRange: 1, maxBlockRange: 1 };
    const all = (db: Db, sql: string) => db.prepare(sql).all();
    const floor = (db: Db) =>
      (db.prepare("SELECT ask_floor FROM price_buckets WHERE region = 'eu-west' AND interval = 'HOUR' AND start = ?").get(hour) as { ask_floor: string }).ask_floor;
    await createIndexer(bigOptions).syncOnce();
    expect(floor(big.db)).to.equal("1000000");

    // 40 minutes later, one block without a GPU Mesh event: the cheap offer has expired, the job's accept window (30
    // minutes) has closed, and nobody has called expireJob yet.
    await m.testClient.setNextBlockTimestamp({ timestamp: BigInt(hour + 2400) });
    await m.testClient.mine({ blocks: 1 });
    await createIndexer(bigOptions).syncOnce();
    await syncToHead(smallOptions, 30);
    expect(jobStateName(Number((await m.read<{ state: number }>("market", "getJob", [job])).state)), "on chain").to.equal("CREATED");
    expect(all(big.db, `SELECT id, state FROM offers ORDER BY id`)).to.deep.equal([
      { id: Number(cheap), state: "EXPIRED" },
      { id: Number(dear), state: "OPEN" },
    ]);
    expect(floor(big.db), "the floor once the cheap offer expired").to.equal("2000000");
    expect(jobState(big.db, job)).to.equal("EXPIRED");
    expect(all(big.db, `SELECT gpus_leased FROM offers WHERE id = ${dear}`)).to.deep.equal([{ gpus_leased: 0 }]);
    expect(all(big.db, "SELECT gpus_offered, gpus_leased FROM market_totals")).to.deep.equal([{ gpus_offered: 8, gpus_leased: 0 }]);
    expect(all(big.db, "SELECT state, count FROM job_state_counts WHERE count > 0")).to.deep.equal([{ state: "EXPIRED", count: 1 }]);
    expect(all(big.db, "SELECT jobs_expired FROM providers")).to.deep.equal([{ jobs_expired: 1 }]);
    expect(dumpTables(small.db)).to.deep.equal(dumpTables(big.db));
    expect(undoJournal(small.db)).to.deep.equal(undoJournal(big.db));
    expect(dumpTables(big.db)).to.deep.equal(await freshDump(anvil, m));

    // expireJob moves the money; the GPUs and the counts are not released or counted twice.
    await m.send(c1, "market", "expireJob", [job]);
    await createIndexer(bigOptions).syncOnce();
    expect(all(big.db, "SELECT gpus_leased FROM market_totals")).to.deep.equal([{ gpus_leased: 0 }]);
    expect(all(big.db, "SELECT state, count FROM job_state_counts WHERE count > 0")).to.deep.equal([{ state: "EXPIRED", count: 1 }]);
    expect(all(big.db, "SELECT jobs_expired FROM providers")).to.deep.equal([{ jobs_expired: 1 }]);
    expect((big.db.prepare("SELECT refunded FROM jobs").get() as { refunded: string }).refunded).to.not.equal("0");
    expect(dumpTables(big.db)).to.deep.equal(await freshDump(anvil, m));
  });
});

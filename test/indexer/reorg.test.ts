import { expect } from "chai";
import type { Address } from "viem";
import { GpuMeshError } from "../../src/internal/errors";
import { openStore, type Store } from "../../src/store/db";
import { createIndexer, type Indexer } from "../../src/sync/indexer";
import { startAnvil, type Anvil } from "./helpers/anvil";
import { dumpTables } from "./helpers/dump";
import { A100, H100, MESH, SPEC_HASH, USDC, marketTx, setUpMarket, type MarketSession } from "./helpers/market";

describe("indexer: chain reorganisations (anvil_reorg)", function () {
  let anvil: Anvil;
  let m: MarketSession;
  let store: Store;
  let indexer: Indexer;
  let p1: Address;
  let c1: Address;
  let c2: Address;
  let offers: { O1: bigint; O2: bigint };

  const freshDump = async () => {
    const fresh = openStore({ file: ":memory:" });
    try {
      await createIndexer({ rpcUrls: [anvil.url], deployment: m.deployment, store: fresh }).syncOnce();
      return dumpTables(fresh.db);
    } finally {
      fresh.close();
    }
  };
  const reorgs = () => (store.db.prepare("SELECT reorgs FROM checkpoint").get() as { reorgs: number }).reorgs;

  before(async function () {
    anvil = await startAnvil();
    m = await setUpMarket(anvil.url);
    [, p1, , , c1, c2] = m.accounts;
    await m.registerProvider(p1, 5_000n * MESH);
    await m.fund(c1, { usdc: 10_000n * USDC });
    await m.fund(c2, { usdc: 10_000n * USDC });
    const now = await m.latestTimestamp();
    offers = {
      O1: await m.createOffer(p1, { gpuModel: H100, gpus: 8, pricePerGpuHour: 2_000_000n, region: "eu-west", expiresAt: now + 30 * 86400 }),
      O2: await m.createOffer(p1, { gpuModel: A100, gpus: 4, pricePerGpuHour: 1_000_000n, region: "us-east", expiresAt: now + 30 * 86400 }),
    };
    const job = await m.createJob(c1, offers.O1, 2, 3600);
    await m.send(p1, "market", "acceptJob", [job]);
    store = openStore({ file: ":memory:" });
    indexer = createIndexer({ rpcUrls: [anvil.url], deployment: m.deployment, store, finalityDepth: 12 });
    await indexer.syncOnce();
  });

  after(async function () {
    store?.close();
    await anvil?.stop();
  });

  it("rolls back to the common ancestor and re-applies the new blocks", async function () {
    // Four blocks of business the reorg will drop: a job, its acceptance, a reprice, a claim.
    const job = await m.createJob(c2, offers.O1, 3, 7200);
    await m.send(p1, "market", "acceptJob", [job]);
    await m.send(p1, "market", "updateOffer", [offers.O1, 10, 2_100_000n, (await m.latestTimestamp()) + 20 * 86400]);
    await m.increaseTime(600);
    await m.send(p1, "market", "claim", [job]);
    await indexer.syncOnce();
    const before = dumpTables(store.db);
    expect((before.jobs as unknown[]).length).to.equal(2);

    // Replace the last 4 blocks: a different job on the other offer, and the offer closed.
    await m.testClient.request({
      method: "anvil_reorg",
      params: [4, [marketTx(m, c1, "createJob", [offers.O2, 1, 3600, 2n ** 96n, 2n ** 255n, SPEC_HASH], 0), marketTx(m, p1, "closeOffer", [offers.O1], 2)]],
    } as never);

    const result = await indexer.syncOnce();
    expect(result.reorgDepth).to.be.greaterThan(0);
    expect(reorgs()).to.equal(1);
    const after = dumpTables(store.db);
    expect(after).to.deep.equal(await freshDump());
    expect(after).to.not.deep.equal(before);
    const states = store.db.prepare("SELECT id, state FROM offers ORDER BY id").all();
    expect(states).to.deep.equal([
      { id: Number(offers.O1), state: "CLOSED" },
      { id: Number(offers.O2), state: "OPEN" },
    ]);
  });

  it("follows a reorg onto a longer chain, then keeps indexing", async function () {
    await m.createJob(c2, offers.O2, 1, 3600);
    await m.createJob(c2, offers.O2, 1, 3600);
    await indexer.syncOnce();
    await m.testClient.request({
      method: "anvil_reorg",
      params: [2, [marketTx(m, c2, "createJob", [offers.O2, 2, 7200, 2n ** 96n, 2n ** 255n, SPEC_HASH], 1)]],
    } as never);
    await m.testClient.mine({ blocks: 3 });
    await m.createJob(c1, offers.O2, 1, 3600);
    const result = await indexer.syncOnce();
    expect(result.reorgDepth).to.be.greaterThan(0);
    expect(reorgs()).to.equal(2);
    expect(dumpTables(store.db)).to.deep.equal(await freshDump());
  });

  it("refuses a reorg deeper than finalityDepth with a fatal error", async function () {
    const shallowStore = openStore({ file: ":memory:" });
    try {
      const shallow = createIndexer({ rpcUrls: [anvil.url], deployment: m.deployment, store: shallowStore, finalityDepth: 2 });
      const now = await m.latestTimestamp();
      const big = await m.createOffer(p1, { gpuModel: H100, gpus: 64, pricePerGpuHour: 1_500_000n, region: "us-west", expiresAt: now + 86400 });
      for (let i = 0; i < 4; i++) await m.createJob(c1, big, 1, 3600);
      await shallow.syncOnce();
      await m.testClient.request({ method: "anvil_reorg", params: [5, []] } as never);
      let failure: unknown;
      try {
        await shallow.syncOnce();
      } catch (error) {
        failure = error;
      }
      expect(failure).to.be.instanceOf(GpuMeshError);
      expect((failure as GpuMeshError).code).to.equal("REORG_TOO_DEEP");
      expect((failure as GpuMeshError).retryable).to.equal(false);
      expect((failure as Error).message).to.match(/deeper than the stored blocks.*finalityDepth = 2 blocks/);
      // start() stops on it instead of retrying forever.
      let startFailure: unknown;
      await shallow.start().catch((error) => (startFailure = error));
      expect((startFailure as GpuMeshError).code).to.equal("REORG_TOO_DEEP");
      expect(shallow.status.snapshot().phase).to.equal("failed");
    } finally {
      shallowStore.close();
    }
    // The deeper-window indexer takes the same reorg in its stride.
    await indexer.syncOnce();
    expect(dumpTables(store.db)).to.deep.equal(await freshDump());
  });
});

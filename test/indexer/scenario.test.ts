import fs from "node:fs";
import path from "node:path";
import { expect } from "chai";
import type { Address } from "viem";
import { PARAMETER_NAMES, parameterColumn } from "../../src/protocol";
import { openStore, type Store } from "../../src/store/db";
import type { JobRow, OfferRow, ProviderRow } from "../../src/store/rows";
import { createIndexer } from "../../src/sync/indexer";
import { startAnvil, type Anvil } from "./helpers/anvil";
import { dumpTables } from "./helpers/dump";
import { A100, setUpMarket, type MarketSession } from "./helpers/market";
import { clockView } from "./helpers/clock";
import { runFullScenario, type ScenarioLedger } from "./helpers/scenario";

interface ChainJob {
  client: Address;
  offerId: number;
  gpus: number;
  termsId: number;
  sponsored: boolean;
  pricePerGpuHour: bigint;
  duration: number;
  acceptDeadline: number;
  startedAt: number;
  endedAt: number;
  state: number;
  claimed: bigint;
  receiptedSeconds: number;
}
interface ChainOffer {
  provider: Address;
  gpus: number;
  gpusLeased: number;
  expiresAt: number;
  pricePerGpuHour: bigint;
  closed: boolean;
  gpuModel: string;
}

const sum = (values: Iterable<bigint>) => [...values].reduce((a, b) => a + b, 0n);

describe("indexer: every job path, checked against the contracts", function () {
  let anvil: Anvil;
  let m: MarketSession;
  let ledger: ScenarioLedger;
  let incremental: Store;
  let store: Store;

  before(async function () {
    anvil = await startAnvil();
    m = await setUpMarket(anvil.url);
    incremental = openStore({ file: ":memory:" });
    // Indexed after every step of the scenario: realtime batches of a few blocks, all journaled.
    const follower = createIndexer({ rpcUrls: [anvil.url], deployment: m.deployment, store: incremental, finalityDepth: 1000 });
    ledger = await runFullScenario(m, async () => {
      await follower.syncOnce();
    });
    await follower.syncOnce();
    store = openStore({ file: ":memory:" });
    const indexer = createIndexer({ rpcUrls: [anvil.url], deployment: m.deployment, store, finalityDepth: 2 });
    const result = await indexer.syncOnce();
    expect(result.caughtUp).to.equal(true);
  });

  after(async function () {
    incremental?.close();
    store?.close();
    await anvil?.stop();
  });

  const rows = <T>(sql: string, ...params: unknown[]) => store.db.prepare(sql).all(...params) as T[];

  it("providers: stake, locked, unbonding, slashed, earnings and signs of life equal the chain", async function () {
    const providers = rows<ProviderRow>("SELECT * FROM providers ORDER BY address");
    expect(providers.map((p) => p.address)).to.deep.equal([...ledger.providers].map((a) => a.toLowerCase()).sort());
    const bondsWon = rows<{ provider: string; bond: string }>("SELECT provider, bond FROM jobs WHERE bond_to_provider = 1");
    for (const address of ledger.providers) {
      const row = providers.find((p) => p.address === address.toLowerCase())!;
      const account = await m.read<{ staked: bigint; locked: bigint; unbonding: bigint; unbondingReadyAt: number }>("staking", "account", [address]);
      expect(row.staked, "staked").to.equal(account.staked.toString());
      expect(row.locked, "locked").to.equal(account.locked.toString());
      expect(row.unbonding, "unbonding").to.equal(account.unbonding.toString());
      // Stake tokens are conserved: wallet + staked + unbonding + slashed == minted.
      const wallet = await m.read<bigint>("stake", "balanceOf", [address]);
      expect(wallet + account.staked + account.unbonding + BigInt(row.slashed), "stake conservation").to.equal(ledger.meshMinted.get(address));
      // Providers hold no payment token but their pay and the dispute bonds they won.
      expect(row.earned, "earned").to.equal((await m.read<bigint>("payment", "balanceOf", [address])).toString());
      const lastHeartbeat = await m.read<bigint>("market", "lastHeartbeat", [address]);
      expect(row.last_heartbeat_at ?? 0, `${address} last sign of life`).to.equal(Number(lastHeartbeat));
    }
    expect(bondsWon.length, "a ruling fully for the provider hands it the bond").to.equal(1);
    const byAddress = (a: Address) => providers.find((p) => p.address === a.toLowerCase())!;
    const [p1, p2, p3, p4, p5] = ledger.providers;
    expect(BigInt(byAddress(p1).slashed) > 0n, "P1 slashed by resolution").to.equal(true);
    expect(BigInt(byAddress(p2).slashed) > 0n, "P2 slashed by expiry").to.equal(true);
    expect(BigInt(byAddress(p3).slashed) > 0n, "P3 slashed from reserved collateral while the rest unbonds").to.equal(true);
    expect(BigInt(byAddress(p3).unbonding) > 0n).to.equal(true);
    expect(BigInt(byAddress(p4).slashed) > 0n, "P4 slashed for going dark").to.equal(true);
    const counters = (p: ProviderRow) => [p.jobs_accepted, p.jobs_declined, p.jobs_expired, p.jobs_dark, p.jobs_disputed, p.jobs_completed];
    expect(ledger.providers.map((a) => counters(byAddress(a)))).to.deep.equal([
      // P1 never accepted J8: its accept window closed, so the clock expired it.
      [4, 0, 1, 0, 2, 1],
      [3, 1, 1, 0, 1, 1],
      [1, 0, 1, 0, 1, 0],
      [1, 0, 0, 1, 0, 0],
      [0, 0, 0, 0, 0, 0],
    ]);
    expect(ledger.providers.map((a) => byAddress(a).active_offers)).to.deep.equal([2, 1, 1, 1, 0]);
    expect(byAddress(p1).unbonding_ready_at).to.equal(null);
    // P5 only ever sent a heartbeat, before it registered.
    expect(byAddress(p5).last_heartbeat_at).to.be.a("number");
    const kinds = rows<{ kind: string; n: number }>("SELECT kind, count(*) AS n FROM heartbeats GROUP BY kind ORDER BY kind");
    expect(kinds.map((k) => k.kind)).to.deep.equal(["ACCEPT", "CLAIM", "COMPLETE", "HEARTBEAT"]);
    expect(rows("SELECT * FROM heartbeats WHERE provider = ?", ledger.clients[0].toLowerCase())).to.have.length(1);
  });

  it("offers: gpus, leases, prices and states equal the chain", async function () {
    const clock = await clockView(m, Object.values(ledger.jobs));
    const now = clock.now;
    const offers = rows<OfferRow>("SELECT * FROM offers ORDER BY id");
    expect(offers).to.have.length(Object.keys(ledger.offers).length);
    for (const row of offers) {
      const chain = await m.read<ChainOffer>("market", "getOffer", [BigInt(row.id)]);
      expect(row.provider).to.equal(chain.provider.toLowerCase());
      expect(row.gpu_model).to.equal(chain.gpuModel.toLowerCase());
      expect(row.gpus, `offer ${row.id} gpus`).to.equal(chain.gpus);
      expect(row.gpus_leased, `offer ${row.id} gpusLeased`).to.equal(clock.leased(row.id, chain.gpusLeased));
      expect(row.price_per_gpu_hour).to.equal(chain.pricePerGpuHour.toString());
      expect(row.expires_at).to.equal(chain.expiresAt);
      const state = chain.closed ? "CLOSED" : chain.expiresAt <= now ? "EXPIRED" : "OPEN";
      expect(row.state, `offer ${row.id} state`).to.equal(state);
    }
    expect(offers.map((o) => o.state)).to.deep.equal(["OPEN", "OPEN", "CLOSED", "OPEN", "OPEN", "OPEN", "EXPIRED"]);
  });

  it("jobs: state, amounts, terms, claims, receipts, bonds, pay, refund and fee equal the chain and add up", async function () {
    const jobs = rows<JobRow>("SELECT * FROM jobs ORDER BY id");
    expect(jobs).to.have.length(Object.keys(ledger.jobs).length);
    const clock = await clockView(m, Object.values(ledger.jobs));
    for (const row of jobs) {
      const id = BigInt(row.id);
      const chain = await m.read<ChainJob>("market", "getJob", [id]);
      const [cost, escrow, collateral] = await m.read<[bigint, bigint, bigint]>("market", "jobAmounts", [id]);
      expect(row.state, `job ${row.id} state`).to.equal(clock.jobState(id));
      expect(row.client).to.equal(chain.client.toLowerCase());
      expect(row.payer, `job ${row.id} payer`).to.equal((await m.read<Address>("market", "payerOf", [id])).toLowerCase());
      expect(row.offer_id).to.equal(Number(chain.offerId));
      expect(row.gpus).to.equal(chain.gpus);
      expect(row.duration).to.equal(chain.duration);
      expect([row.cost, row.escrow, row.collateral], `job ${row.id} amounts`).to.deep.equal([cost, escrow, collateral].map(String));
      expect(row.terms_id, `job ${row.id} terms`).to.equal(chain.termsId);
      expect(row.claimed, `job ${row.id} claimed`).to.equal(chain.claimed.toString());
      expect(row.accept_deadline).to.equal(Number(chain.acceptDeadline));
      expect(row.started_at ?? 0).to.equal(Number(chain.startedAt));
      expect(row.ended_at ?? 0, `job ${row.id} endedAt`).to.equal(Number(chain.endedAt));
      expect(row.receipted_until === null ? 0 : row.receipted_until - row.started_at!, `job ${row.id} receipted`).to.equal(chain.receiptedSeconds);
      const dispute = await m.read<{ disputedAt: number; bond: bigint }>("market", "getDispute", [id]);
      expect(row.bond, `job ${row.id} bond`).to.equal(dispute.bond.toString());
      expect(row.disputed_at ?? 0).to.equal(Number(dispute.disputedAt));
      if (row.finalized_at !== null) {
        expect(BigInt(row.refunded) + BigInt(row.provider_paid) + BigInt(row.fee), `job ${row.id} refund + pay + fee`).to.equal(
          BigInt(row.escrow),
        );
      } else {
        expect(BigInt(row.provider_paid)).to.equal(chain.claimed);
      }
    }
    // Payers paid escrow and got refunds; clients posted bonds and got back those the provider did not win.
    for (const account of [...ledger.clients, ledger.sponsor]) {
      const address = account.toLowerCase();
      const paid = jobs.filter((j) => j.payer === address);
      const disputed = jobs.filter((j) => j.client === address);
      const expected =
        ledger.usdcMinted.get(account)! -
        sum(paid.map((j) => BigInt(j.escrow))) +
        sum(paid.map((j) => BigInt(j.refunded))) -
        sum(disputed.map((j) => BigInt(j.bond))) +
        sum(disputed.filter((j) => j.bond_to_provider === 0).map((j) => BigInt(j.bond)));
      expect(await m.read<bigint>("payment", "balanceOf", [account]), `${account} balance`).to.equal(expected);
    }
    const byId = (name: string) => jobs.find((j) => j.id === Number(ledger.jobs[name]))!;
    expect(byId("J11")).to.include({ state: "DECLINED", payer: ledger.sponsor.toLowerCase(), client: ledger.clients[1].toLowerCase() });
    expect(byId("J12").state).to.equal("DARK");
    expect(byId("J12").paid_until).to.equal(byId("J12").started_at);
    expect(byId("J13")).to.include({ state: "RESOLVED", stale_finalized: 1, bond_to_provider: 0, terms_id: 2 });
    expect(byId("J9").extensions).to.equal(1);
    expect(byId("J3").receipted_until).to.be.a("number");
    // J8 was never accepted and nobody has called expireJob: the clock expired it, its escrow is still held.
    expect(byId("J8")).to.include({ state: "EXPIRED", finalized_at: null, refunded: "0" });
    const states = new Set(jobs.map((j) => j.state));
    for (const state of ["RUNNING", "DISPUTED", "SETTLED", "RESOLVED", "CANCELLED", "EXPIRED", "RECLAIMED", "DECLINED", "DARK"]) {
      expect(states.has(state as JobRow["state"]), state).to.equal(true);
    }
    const counts = rows<{ state: string; count: number }>("SELECT state, count FROM job_state_counts WHERE count > 0 ORDER BY state");
    const recount = new Map<string, number>();
    for (const job of jobs) recount.set(job.state, (recount.get(job.state) ?? 0) + 1);
    expect(counts).to.deep.equal([...recount.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([state, count]) => ({ state, count })));
  });

  it("terms: every parameter snapshot equals the chain's", async function () {
    const terms = rows<Record<string, number>>("SELECT * FROM terms ORDER BY terms_id");
    const current = Number(await m.read<bigint>("market", "currentTermsId"));
    expect(terms.map((t) => t.terms_id)).to.deep.equal(Array.from({ length: current }, (_, i) => i + 1));
    for (const row of terms) {
      const chain = await m.read<Record<string, number>>("market", "terms", [BigInt(row.terms_id)]);
      for (const name of PARAMETER_NAMES) expect(row[parameterColumn(name)], `terms ${row.terms_id} ${name}`).to.equal(chain[name]);
    }
    expect(rows<{ current_terms_id: number }>("SELECT current_terms_id FROM market_totals")[0].current_terms_id).to.equal(current);
  });

  it("market totals: escrow, bonds, fees, volume, stake and capacity equal the chain", async function () {
    const totals = rows<Record<string, string | number>>("SELECT * FROM market_totals")[0];
    const market = m.deployment.contracts.JobMarket.address;
    const held = await m.read<bigint>("payment", "balanceOf", [market]);
    const feesAccrued = await m.read<bigint>("market", "feesAccrued");
    const bondsHeld = await m.read<bigint>("market", "disputeBondsHeld");
    let credited = 0n;
    for (const account of m.accounts) credited += await m.read<bigint>("market", "balanceOf", [account]);
    expect(totals.dispute_bonds_held, "bonds").to.equal(bondsHeld.toString());
    expect(bondsHeld > 0n, "J14's bond is held").to.equal(true);
    expect(totals.escrowed, "escrowed").to.equal((held - credited - feesAccrued - bondsHeld).toString());
    const withdrawnFees = await m.read<bigint>("payment", "balanceOf", [ledger.arbiter]);
    expect(totals.fees_collected, "fees").to.equal((feesAccrued + withdrawnFees).toString());
    expect(BigInt(totals.fees_collected as string) > 0n).to.equal(true);
    const jobs = rows<JobRow>("SELECT * FROM jobs");
    expect(totals.fees_collected).to.equal(sum(jobs.map((j) => BigInt(j.fee))).toString());
    let providerBalances = 0n;
    for (const provider of ledger.providers) providerBalances += await m.read<bigint>("payment", "balanceOf", [provider]);
    const bondsWon = sum(jobs.filter((j) => j.bond_to_provider === 1).map((j) => BigInt(j.bond)));
    expect(totals.volume, "volume: provider pay, without the bonds won").to.equal((providerBalances - bondsWon).toString());

    let staked = 0n;
    let locked = 0n;
    let unbonding = 0n;
    for (const provider of ledger.providers) {
      const account = await m.read<{ staked: bigint; locked: bigint; unbonding: bigint }>("staking", "account", [provider]);
      staked += account.staked;
      locked += account.locked;
      unbonding += account.unbonding;
    }
    expect(totals.total_staked).to.equal(staked.toString());
    expect(totals.total_locked).to.equal(locked.toString());
    expect(totals.total_unbonding).to.equal(unbonding.toString());
    const stakingHeld = await m.read<bigint>("stake", "balanceOf", [m.deployment.contracts.ProviderStaking.address]);
    expect(stakingHeld, "staking holds staked + unbonding").to.equal(staked + unbonding);
    const slashed = rows<{ s: string }>("SELECT slashed AS s FROM providers").map((r) => BigInt(r.s));
    expect(totals.total_slashed).to.equal(sum(slashed).toString());
    expect(totals.providers).to.equal(ledger.providers.length);

    // Capacity over the chain's open offers.
    const clock = await clockView(m, Object.values(ledger.jobs));
    const open: ChainOffer[] = [];
    for (const id of Object.values(ledger.offers)) {
      const offer = await m.read<ChainOffer>("market", "getOffer", [id]);
      if (!offer.closed && offer.expiresAt > clock.now) open.push({ ...offer, gpusLeased: clock.leased(id, offer.gpusLeased) });
    }
    expect(totals.gpus_offered).to.equal(open.reduce((a, o) => a + o.gpus, 0));
    expect(totals.gpus_leased).to.equal(open.reduce((a, o) => a + o.gpusLeased, 0));
    const capacity = rows<{ gpu_model: string; gpus_offered: number; gpus_leased: number; offers: number }>(
      "SELECT gpu_model, sum(gpus_offered) AS gpus_offered, sum(gpus_leased) AS gpus_leased, sum(offers) AS offers FROM capacity GROUP BY gpu_model ORDER BY gpu_model",
    );
    const expected = new Map<string, { gpus_offered: number; gpus_leased: number; offers: number }>();
    for (const offer of open) {
      const entry = expected.get(offer.gpuModel.toLowerCase()) ?? { gpus_offered: 0, gpus_leased: 0, offers: 0 };
      entry.gpus_offered += offer.gpus;
      entry.gpus_leased += offer.gpusLeased;
      entry.offers += 1;
      expected.set(offer.gpuModel.toLowerCase(), entry);
    }
    expect(capacity).to.deep.equal([...expected.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([gpu_model, v]) => ({ gpu_model, ...v })));

    // GPU time sold: gpus x seconds used when the clock stopped (dark and reclaimed jobs: up to where the provider was
    // paid), whatever a later ruling decides.
    let gpuSeconds = 0;
    for (const row of jobs) {
      if (row.started_at === null || row.ended_at === null) continue;
      const until = row.state === "DARK" || row.state === "RECLAIMED" ? row.paid_until! : row.ended_at!;
      gpuSeconds += row.gpus * Math.min(until - row.started_at, row.duration);
    }
    expect(totals.gpu_seconds_sold).to.equal(gpuSeconds);
    expect(gpuSeconds).to.be.greaterThan(0);

    // Emissions kept per model by the handlers equal what migration 007 computes from the jobs of a database
    // indexed without them (every job path of the scenario, dark and reclaimed included).
    const migration = fs.readFileSync(path.join(__dirname, "..", "..", "src", "store", "migrations", "007_emissions.sql"), "utf8");
    const backfill = migration.slice(migration.indexOf("SELECT j.gpu_model"));
    const fromJobs = store.db.prepare(backfill.replace(/;\s*$/, "") + " ORDER BY j.gpu_model").raw().all();
    const kept = store.db.prepare("SELECT gpu_model, carbon_gpu_seconds FROM emissions ORDER BY gpu_model").raw().all();
    expect(kept).to.deep.equal(fromJobs);
    expect(kept.length).to.be.greaterThan(1);
  });

  it("price buckets: every job counted once per interval and region, A100 ask floor", function () {
    const jobs = rows<JobRow>("SELECT * FROM jobs");
    for (const interval of ["HOUR", "DAY"]) {
      const all = rows<{ jobs: number; gpu_seconds: number; notional: string }>(
        "SELECT jobs, gpu_seconds, notional FROM price_buckets WHERE interval = ? AND region = ''",
        interval,
      );
      expect(all.reduce((a, b) => a + b.jobs, 0)).to.equal(jobs.length);
      expect(all.reduce((a, b) => a + b.gpu_seconds, 0)).to.equal(jobs.reduce((a, j) => a + j.gpus * j.duration, 0));
      expect(sum(all.map((b) => BigInt(b.notional)))).to.equal(sum(jobs.map((j) => BigInt(j.price_per_gpu_hour) * BigInt(j.gpus * j.duration))));
      const regional = rows<{ jobs: number }>("SELECT jobs FROM price_buckets WHERE interval = ? AND region <> ''", interval);
      expect(regional.reduce((a, b) => a + b.jobs, 0)).to.equal(jobs.length);
    }
    const lastA100 = rows<{ ask_floor: string; open: string; close: string }>(
      "SELECT ask_floor, open, close FROM price_buckets WHERE gpu_model = ? AND region = '' AND interval = 'HOUR' ORDER BY start DESC LIMIT 1",
      A100.toLowerCase(),
    )[0];
    expect(lastA100.ask_floor).to.equal("1200000");
  });

  it("indexing step by step (journaled) gives the same tables as one backfill", function () {
    expect(dumpTables(incremental.db)).to.deep.equal(dumpTables(store.db));
  });

  it("small eth_getLogs ranges give the same tables", async function () {
    const other = openStore({ file: ":memory:" });
    try {
      const indexer = createIndexer({ rpcUrls: [anvil.url], deployment: m.deployment, store: other, maxBlockRange: 3, initialBlockRange: 1 });
      await indexer.syncOnce();
      expect(dumpTables(other.db)).to.deep.equal(dumpTables(store.db));
    } finally {
      other.close();
    }
  });
});

import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { expect } from "chai";
import type { Address } from "viem";
import { createGraphqlApp, createServer, type GraphqlServer } from "../../src/graphql/app";
import { silentLogger } from "../../src/internal/logger";
import { openStore, type Store } from "../../src/store/db";
import { createIndexer, type Indexer } from "../../src/sync/indexer";
import { startAnvil, type Anvil } from "./helpers/anvil";
import { H100, MESH, RESULT_HASH, USDC, setUpMarket, type MarketSession } from "./helpers/market";

const HOUR = 3600;

describe("GraphQL analytics: rentable capacity, quotes and reliability, against a real chain", function () {
  let anvil: Anvil;
  let m: MarketSession;
  let store: Store;
  let indexer: Indexer;
  let server: GraphqlServer;
  let p1: Address;
  let p2: Address;
  let c1: Address;
  let c2: Address;
  let o1: bigint;
  let o2: bigint;

  const query = async (text: string) => {
    await indexer.syncOnce();
    const response = await fetch(`${server.url}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ query: text }),
    });
    return (await response.json()) as { data?: any; errors?: Array<{ message: string; extensions?: Record<string, unknown> }> };
  };
  const data = async (text: string) => {
    const result = await query(text);
    expect(result.errors, JSON.stringify(result.errors)).to.equal(undefined);
    return result.data;
  };

  before(async function () {
    anvil = await startAnvil();
    m = await setUpMarket(anvil.url);
    [, p1, p2, , c1, c2] = m.accounts;
    await m.registerProvider(p1, 5_000n * MESH);
    await m.registerProvider(p2, 106n * MESH);
    await m.fund(c1, { usdc: 10_000n * USDC });
    await m.fund(c2, { usdc: 10_000n * USDC });
    const expiresAt = (await m.latestTimestamp()) + 30 * 86400;
    o1 = await m.createOffer(p1, { gpuModel: H100, gpus: 8, pricePerGpuHour: 2_000_000n, region: "eu-west", carbonIntensity: 300, renewableBps: 2000, minDuration: HOUR, expiresAt });
    o2 = await m.createOffer(p2, { gpuModel: H100, gpus: 8, pricePerGpuHour: 1_500_000n, region: "us-east", carbonIntensity: 50, renewableBps: 9000, minDuration: HOUR, expiresAt });
    // P2 moves all but 1.5 MESH to unbonding: at 0.75 MESH of collateral per GPU-hour, its stake backs 2 of its 8 GPUs.
    await m.send(p2, "staking", "requestUnstake", [1045n * MESH / 10n]);
    store = openStore({ file: ":memory:" });
    indexer = createIndexer({ rpcUrls: [anvil.url], deployment: m.deployment, store });
    await indexer.syncOnce();
    server = await createServer({ app: createGraphqlApp({ db: store.db, logger: silentLogger(), paymentToken: m.deployment.tokens.payment }), port: 0 });
  });

  after(async function () {
    await server?.close();
    store?.close();
    await anvil?.stop();
  });

  it("counts as rentable only the free GPUs the providers' unlocked stake can back", async function () {
    const { offers, capacity, market } = await data(`{
      offers(orderBy: ID) { items { id gpusAvailable gpusRentable } }
      capacity(groupBy: GPU_MODEL) { gpuModel gpusAvailable gpusRentable }
      market { gpusAvailable gpusRentable }
    }`);
    expect(market).to.deep.equal({ gpusAvailable: 16, gpusRentable: 10 });
    expect(offers.items).to.deep.equal([
      { id: o1.toString(), gpusAvailable: 8, gpusRentable: 8 },
      { id: o2.toString(), gpusAvailable: 8, gpusRentable: 2 },
    ]);
    expect(capacity).to.deep.equal([{ gpuModel: "H100-SXM-80GB", gpusAvailable: 16, gpusRentable: 10 }]);
  });

  it("quotes the cheapest plan, and the chain charges exactly what it said", async function () {
    const { quote } = await data(`{
      quote(gpuModel: "H100-SXM-80GB", gpus: 4, duration: 3600) {
        fillable shortfall gpusPlanned providers cost fee escrow collateral
        legs { offer { id } provider { address } gpus pricePerGpuHour cost fee escrow collateral }
      }
    }`);
    expect(quote).to.include({ fillable: true, shortfall: null, gpusPlanned: 4, providers: 2 });
    expect(quote.legs.map((leg: any) => [leg.offer.id, leg.gpus, leg.pricePerGpuHour])).to.deep.equal([
      [o2.toString(), 2, "1500000"],
      [o1.toString(), 2, "2000000"],
    ]);
    expect(quote.cost).to.equal("7000000");
    // Renting each leg: the job's cost, escrow and collateral are the leg's, and the totals add up.
    for (const leg of quote.legs) {
      const job = await m.createJob(c1, BigInt(leg.offer.id), leg.gpus, HOUR, BigInt(leg.pricePerGpuHour));
      const [cost, escrow, collateral] = await m.read<[bigint, bigint, bigint]>("market", "jobAmounts", [job]);
      expect([cost.toString(), escrow.toString(), collateral.toString()]).to.deep.equal([leg.cost, leg.escrow, leg.collateral]);
      expect(BigInt(leg.cost) + BigInt(leg.fee)).to.equal(BigInt(leg.escrow));
    }
    const sum = (field: string) => quote.legs.reduce((total: bigint, leg: any) => total + BigInt(leg[field]), 0n).toString();
    expect([quote.fee, quote.escrow, quote.collateral]).to.deep.equal([sum("fee"), sum("escrow"), sum("collateral")]);

    // P2's stake is now all locked: nothing of O2 is rentable, and the next quote goes to P1 alone.
    const after = await data(`{
      offer(id: "${o2}") { gpusAvailable gpusRentable }
      quote(gpuModel: "H100-SXM-80GB", gpus: 2, duration: 3600) { legs { offer { id } gpus } }
    }`);
    expect(after.offer).to.deep.equal({ gpusAvailable: 6, gpusRentable: 0 });
    expect(after.quote.legs).to.deep.equal([{ offer: { id: o1.toString() }, gpus: 2 }]);
  });

  it("says why a request cannot be filled", async function () {
    const shortfall = async (args: string) =>
      (await data(`{ quote(gpuModel: "H100-SXM-80GB", ${args}) { fillable shortfall message gpusPlanned } }`)).quote;
    expect(await shortfall("gpus: 2, duration: 3600, maxPricePerGpuHour: \"1000000\"")).to.deep.include({
      fillable: false,
      shortfall: "PRICE",
      message: "the cheapest free GPUs ask 1.50 USDC per GPU-hour (1500000 base units), above maxPricePerGpuHour 1.00 USDC (1000000)",
    });
    // Exact whatever the size: one base unit, and more digits than a double holds.
    expect((await shortfall("gpus: 2, duration: 3600, maxPricePerGpuHour: \"1\"")).message).to.equal(
      "the cheapest free GPUs ask 1.50 USDC per GPU-hour (1500000 base units), above maxPricePerGpuHour 0.000001 USDC (1)",
    );
    expect((await shortfall("gpus: 2, duration: 3600, maxPricePerGpuHour: \"1234567\"")).message).to.match(/above maxPricePerGpuHour 1\.234567 USDC \(1234567\)$/);
    expect(await shortfall("gpus: 2, duration: 3600, maxCarbonIntensity: 10")).to.deep.include({ shortfall: "CARBON" });
    expect(await shortfall("gpus: 2, duration: 3600, minRenewableBps: 9500")).to.deep.include({ shortfall: "RENEWABLE" });
    // The sentence says what would do: the durations the offers take, the model and region nothing is offered in.
    expect(await shortfall("gpus: 2, duration: 30")).to.deep.include({ shortfall: "DURATION", message: "no offer with free GPUs takes a 30-second job: they take 1h to 30d" });
    // O2 alone (the low-carbon one) has 6 free GPUs but no stake left behind them.
    expect(await shortfall("gpus: 2, duration: 3600, maxCarbonIntensity: 100")).to.deep.include({ shortfall: "STAKE", gpusPlanned: 0 });
    expect(await shortfall("gpus: 20, duration: 3600")).to.deep.include({ shortfall: "NOT_ENOUGH_GPUS", gpusPlanned: 6 });
    expect(await shortfall("gpus: 4, duration: 3600, spreadAcross: 2")).to.deep.include({ shortfall: "NOT_ENOUGH_PROVIDERS", gpusPlanned: 2 });
    expect(await shortfall("gpus: 4, duration: 3600, region: \"ap-south\"")).to.deep.include({
      shortfall: "NO_OFFERS",
      message: "no open offer of H100-SXM-80GB in ap-south has free GPUs",
    });

    // Without the deployment's token (`gpumesh serve` without --deployment): base units only, and said so.
    const unitless = await createServer({ app: createGraphqlApp({ db: store.db, logger: silentLogger() }), port: 0 });
    try {
      const response = await fetch(`${unitless.url}/graphql`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ query: `{ quote(gpuModel: "H100-SXM-80GB", gpus: 2, duration: 3600, maxPricePerGpuHour: "1000000") { message } }` }),
      });
      expect(((await response.json()) as { data: any }).data.quote.message).to.equal(
        "the cheapest free GPUs ask 1500000 base units per GPU-hour, above maxPricePerGpuHour 1000000 base units",
      );
    } finally {
      await unitless.close();
    }

    const bad = await query(`{ quote(gpuModel: "H100-SXM-80GB", gpus: 2, duration: 3600, spreadAcross: 3) { fillable } }`);
    expect(bad.errors?.[0].message).to.match(/argument "spreadAcross" must be between 1 and gpus \(2\), got 3/);
    const unknown = await query(`{ quote(gpuModel: "B200", gpus: 2, duration: 3600) { fillable } }`);
    expect(unknown.errors?.[0].message).to.match(/unknown GPU model "B200" in argument "gpuModel"/);
  });

  it("splits a spread quote evenly over distinct providers", async function () {
    await m.registerProvider(m.accounts[3], 5_000n * MESH);
    const expiresAt = (await m.latestTimestamp()) + 30 * 86400;
    const o3 = await m.createOffer(m.accounts[3], { gpuModel: H100, gpus: 4, pricePerGpuHour: 2_500_000n, region: "eu-west", minDuration: HOUR, expiresAt });
    const { quote } = await data(`{ quote(gpuModel: "H100-SXM-80GB", gpus: 5, duration: 3600, spreadAcross: 2) { fillable providers legs { offer { id } gpus } } }`);
    expect(quote.fillable).to.equal(true);
    expect(quote.providers).to.equal(2);
    expect(quote.legs).to.deep.equal([
      { offer: { id: o1.toString() }, gpus: 3 },
      { offer: { id: o3.toString() }, gpus: 2 },
    ]);
  });

  it("scores reliability from outcomes, filters and orders by it, and reports uptime and time to accept", async function () {
    const accepted = await m.createJob(c2, o1, 1, HOUR);
    await m.increaseTime(120);
    await m.send(p1, "market", "acceptJob", [accepted]);
    // Nobody accepts the two quote legs created above: the accept window (30 minutes) closes and they expire, one
    // on each of P1 and P2.
    await m.increaseTime(31 * 60);
    const { providers } = await data(`{
      providers(orderBy: RELIABILITY, orderDirection: ASC) {
        items { address jobsAccepted jobsExpired reliability completionRate medianSecondsToAccept }
      }
    }`);
    const [worst, ...rest] = providers.items;
    // P2: one job left to expire, nothing good: (0 + 1) / (0 + 1 + 2).
    expect(worst).to.deep.include({ address: p2.toLowerCase(), jobsExpired: 1, reliability: 0.333333, medianSecondsToAccept: null });
    const byAddress = new Map(rest.map((p: any) => [p.address, p]));
    // P1: one accepted, one expired: (1 + 1) / (1 + 1 + 2).
    expect(byAddress.get(p1.toLowerCase())).to.deep.include({ jobsAccepted: 1, jobsExpired: 1, reliability: 0.5, completionRate: 0 });
    expect((byAddress.get(p1.toLowerCase()) as any).medianSecondsToAccept).to.be.within(120, 125);
    // A provider without history.
    expect(byAddress.get(m.accounts[3].toLowerCase())).to.deep.include({ reliability: 0.5, completionRate: null });

    const filtered = (await data(`{ providers(where: { minReliability: 0.4 }) { items { address } } }`)).providers.items;
    expect(filtered.map((p: any) => p.address).sort()).to.deep.equal([p1, m.accounts[3]].map((a) => a.toLowerCase()).sort());
    const reliableOffers = (await data(`{ offers(where: { minProviderReliability: 0.4 }) { items { provider { address } } } }`)).offers.items;
    expect(new Set(reliableOffers.map((o: any) => o.provider.address))).to.deep.equal(new Set([p1, m.accounts[3]].map((a) => a.toLowerCase())));
    const bad = await query(`{ providers(where: { minReliability: 1.5 }) { totalCount } }`);
    expect(bad.errors?.[0].message).to.match(/argument "where.minReliability" must be a reliability between 0 and 1, got 1.5/);
    const strict = await data(`{ quote(gpuModel: "H100-SXM-80GB", gpus: 1, duration: 3600, minReliability: 0.6) { shortfall } }`);
    expect(strict.quote.shortfall).to.equal("RELIABILITY");

    // Uptime over the last hour: P1's only sign of life is the acceptance, which covers the 15-minute liveness timeout.
    const lastLife = Number(await m.read<bigint>("market", "lastHeartbeat", [p1]));
    const now = await m.latestTimestamp();
    const { provider } = await data(`{ provider(id: "${p1}") { uptime(window: 3600) } }`);
    expect(provider.uptime).to.equal((Math.min(now, lastLife + 15 * 60) - Math.max(now - 3600, lastLife)) / 3600);
    expect(provider.uptime).to.be.greaterThan(0);
  });

  it("filters and orders offers by carbon and renewable share, averages them over capacity, and estimates sold emissions", async function () {
    const { offers } = await data(`{ offers(where: { maxCarbonIntensity: 150 }, orderBy: CARBON_INTENSITY) { items { id carbonIntensity } } }`);
    expect(offers.items.map((o: any) => o.carbonIntensity)).to.deep.equal([50, 120]);
    const green = await data(`{ offers(where: { minRenewableBps: 5000 }, orderBy: RENEWABLE_BPS, orderDirection: DESC) { items { renewableBps } } }`);
    expect(green.offers.items.map((o: any) => o.renewableBps)).to.deep.equal([9000, 5000]);
    // 8 GPUs at 300 g and 20 %, 8 at 50 g and 90 %, 4 at 120 g and 50 %.
    const { capacity } = await data(`{ capacity(groupBy: GPU_MODEL) { gpusOffered avgCarbonIntensity avgRenewableBps } }`);
    expect(capacity).to.deep.equal([{ gpusOffered: 20, avgCarbonIntensity: 164, avgRenewableBps: 5400 }]);

    // The job P1 accepted finishes: completed, then settled after the dispute window.
    const running = (await data(`{ jobs(where: { state: RUNNING }) { items { id } } }`)).jobs.items;
    expect(running).to.have.length(1);
    await m.send(p1, "market", "completeJob", [BigInt(running[0].id), RESULT_HASH]);
    await m.increaseTime(24 * 3600 + 1);
    await m.send(c2, "market", "settleJob", [BigInt(running[0].id)]);
    const { market, job } = await data(`{ market { gpuHoursSold estimatedEmissionsKg } job(id: "${running[0].id}") { gpus startedAt endedAt } }`);
    const gpuSeconds = job.gpus * (job.endedAt - job.startedAt);
    expect(market.gpuHoursSold).to.equal(gpuSeconds / 3600);
    // H100 SXM at 700 W on an offer of 300 gCO2e/kWh.
    expect(market.estimatedEmissionsKg).to.be.closeTo((gpuSeconds * 300 * 700) / 3.6e9, 1e-12);
    expect(market.estimatedEmissionsKg).to.be.greaterThan(0);
  });

  it("upgrades a database indexed before emissions were kept to the same figures as a fresh index", async function () {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "gpumesh-upgrade-"));
    const file = path.join(dir, "index.db");
    try {
      const indexed = openStore({ file });
      await createIndexer({ rpcUrls: [anvil.url], deployment: m.deployment, store: indexed }).syncOnce();
      // As a version-6 indexer left it: no emissions (nor utilization, nor history) tables.
      indexed.db.exec(
        "DROP TABLE utilization_buckets; ALTER TABLE market_totals DROP COLUMN utilization_at; " +
          "ALTER TABLE market_totals DROP COLUMN cancel_fees; DROP TABLE emissions; " +
          "DROP TABLE gpu_models_history; DROP TABLE providers_history; DROP TABLE offers_history; DROP TABLE jobs_history; " +
          "DROP TABLE terms_history; DROP TABLE block_times; DROP TABLE history_start; ALTER TABLE jobs DROP COLUMN gpu_seconds_sold; " +
          "PRAGMA user_version = 6;",
      );
      indexed.close();
      const upgraded = openStore({ file });
      const emissions = (db: Store["db"]) => db.prepare("SELECT * FROM emissions ORDER BY gpu_model").all();
      await indexer.syncOnce();
      expect(emissions(upgraded.db)).to.have.length(1);
      expect(emissions(upgraded.db)).to.deep.equal(emissions(store.db));
      upgraded.close();
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

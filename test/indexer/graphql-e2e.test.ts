import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { expect } from "chai";
import type { Address } from "viem";
import { startAnvil, type Anvil } from "./helpers/anvil";
import { clockView } from "./helpers/clock";
import { H100, setUpMarket, type MarketSession } from "./helpers/market";
import { runFullScenario, type ScenarioLedger } from "./helpers/scenario";

/**
 * `gpumesh run` (indexer and API in one process) against a real node: after every job path of the scenario, the
 * API's entities, links, pages and roll-ups agree with the contracts and with each other; new blocks show up live.
 */

interface ChainOffer {
  provider: Address;
  gpus: number;
  gpusLeased: number;
  pricePerGpuHour: bigint;
  closed: boolean;
  expiresAt: number;
}
interface ChainJob {
  client: Address;
  offerId: number;
  gpus: number;
  pricePerGpuHour: bigint;
  state: number;
  termsId: number;
  claimed: bigint;
  receiptedSeconds: number;
}

const BIN = path.join(__dirname, "..", "..", "bin", "gpumesh.js");

async function waitFor<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const started = Date.now();
  for (;;) {
    const value = await check().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() - started > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

describe("GraphQL API served by `gpumesh run` against a real node", function () {
  let anvil: Anvil;
  let m: MarketSession;
  let ledger: ScenarioLedger;
  let dir: string;
  let child: ChildProcess;
  let apiUrl: string;
  let stderr = "";

  async function query(text: string, variables?: Record<string, unknown>): Promise<any> {
    const response = await fetch(`${apiUrl}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/json" },
      body: JSON.stringify({ query: text, variables }),
    });
    const body = (await response.json()) as { data?: any; errors?: unknown[] };
    expect(body.errors, JSON.stringify(body.errors)).to.equal(undefined);
    return body.data;
  }

  /** Every item of a top-level list, page by page. */
  async function all(list: "offers" | "jobs" | "providers", fields: string, pageSize = 2): Promise<any[]> {
    const items: any[] = [];
    let after: string | null = null;
    for (;;) {
      const data: any = await query(
        `query($after: String) { ${list}(first: ${pageSize}, after: $after) { items { ${fields} } pageInfo { hasNextPage endCursor } totalCount } }`,
        { after },
      );
      items.push(...data[list].items);
      if (!data[list].pageInfo.hasNextPage) {
        expect(items).to.have.length(data[list].totalCount);
        return items;
      }
      after = data[list].pageInfo.endCursor;
    }
  }

  before(async function () {
    anvil = await startAnvil();
    m = await setUpMarket(anvil.url);
    ledger = await runFullScenario(m);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "gpumesh-graphql-e2e-"));
    child = spawn(
      process.execPath,
      [BIN, "run", "--db", path.join(dir, "index.db"), "--rpc", anvil.url, "--deployment", m.deploymentFile, "--port", "0", "--poll-interval-ms", "100", "--log-level", "warn"],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    child.stderr!.on("data", (chunk) => (stderr += chunk));
    apiUrl = await new Promise<string>((resolve, reject) => {
      let stdout = "";
      child.stdout!.on("data", (chunk) => {
        stdout += chunk;
        const match = /GraphQL API at (http:\/\/\S+)\/graphql/.exec(stdout);
        if (match) resolve(match[1]);
      });
      child.once("exit", (code) => reject(new Error(`gpumesh run exited with ${code}: ${stderr}`)));
    });
    const head = Number(await m.publicClient.getBlockNumber());
    await waitFor("the index to reach the head", async () => {
      const ready = await fetch(`${apiUrl}/ready`);
      const meta = (await query("{ _meta { block { number } } }"))._meta;
      return ready.status === 200 && meta.block.number >= head ? true : undefined;
    });
  });

  after(async function () {
    if (child && child.exitCode === null) {
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGTERM");
      await exited;
    }
    await anvil?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it("reports progress, health and metrics", async function () {
    // The indexer polls every 100 ms: wait for it to hold the node's current head.
    const { head, _meta } = await waitFor("the index at the head", async () => {
      const head = Number(await m.publicClient.getBlockNumber());
      const { _meta } = await query("{ _meta { chainId block { number hash } headBlock lagBlocks reorgs eventsIngested } }");
      return _meta.block.number === head ? { head, _meta } : undefined;
    });
    expect(_meta.chainId).to.equal(31337);
    expect(_meta.block.number).to.equal(head);
    expect(_meta.block.hash).to.equal((await m.publicClient.getBlock({ blockNumber: BigInt(head) })).hash);
    expect(_meta.headBlock).to.be.at.least(head);
    expect(_meta.eventsIngested).to.be.greaterThan(0);
    expect((await fetch(`${apiUrl}/health`)).status).to.equal(200);
    const metrics = await (await fetch(`${apiUrl}/metrics`)).text();
    expect(metrics).to.match(/^gpumesh_indexed_block \d+$/m);
    expect(metrics).to.match(/^gpumesh_head_block \d+$/m);
    expect(metrics).to.match(/^gpumesh_rpc_requests_total [1-9]\d*$/m);
    expect(metrics).to.match(/^gpumesh_indexer_rpc_request_duration_seconds_count\{method="eth_getLogs"\} [1-9]\d*$/m);
  });

  it("serves providers as the staking contract holds them, with their signs of life", async function () {
    const providers = await all(
      "providers",
      "address staked locked unbonding activeOffers offers(first: 100) { totalCount } lastHeartbeatAt jobsDark heartbeats(first: 1000) { totalCount items { at kind job { id } } }",
    );
    expect(providers.map((p) => p.address)).to.deep.equal(ledger.providers.map((a) => a.toLowerCase()).sort());
    for (const provider of providers) {
      const account = await m.read<{ staked: bigint; locked: bigint; unbonding: bigint }>("staking", "account", [provider.address]);
      expect(provider.staked).to.equal(account.staked.toString());
      expect(provider.locked).to.equal(account.locked.toString());
      expect(provider.unbonding).to.equal(account.unbonding.toString());
      expect(provider.lastHeartbeatAt ?? 0).to.equal(Number(await m.read<bigint>("market", "lastHeartbeat", [provider.address])));
      const heartbeats = provider.heartbeats.items as Array<{ at: number; kind: string; job: { id: string } | null }>;
      expect(heartbeats).to.have.length(provider.heartbeats.totalCount);
      if (heartbeats.length) expect(Math.max(...heartbeats.map((h) => h.at))).to.equal(provider.lastHeartbeatAt);
      for (const heartbeat of heartbeats) expect(heartbeat.job === null, heartbeat.kind).to.equal(heartbeat.kind === "HEARTBEAT");
    }
    expect(providers.map((p) => p.jobsDark).reduce((a, b) => a + b, 0)).to.equal(1);
  });

  it("serves every offer and job as the market contract holds them, with their links", async function () {
    const clock = await clockView(m, Object.values(ledger.jobs));
    const now = clock.now;
    const offers = await all("offers", "id gpus gpusLeased pricePerGpuHour state provider { address } jobs(first: 100) { totalCount }");
    expect(offers.map((o) => BigInt(o.id))).to.deep.equal(Object.values(ledger.offers).sort((a, b) => Number(a - b)));
    for (const offer of offers) {
      const chain = await m.read<ChainOffer>("market", "getOffer", [BigInt(offer.id)]);
      expect(offer.provider.address).to.equal(chain.provider.toLowerCase());
      expect([offer.gpus, offer.gpusLeased, offer.pricePerGpuHour]).to.deep.equal([chain.gpus, clock.leased(offer.id, chain.gpusLeased), chain.pricePerGpuHour.toString()]);
      expect(offer.state).to.equal(chain.closed ? "CLOSED" : chain.expiresAt <= now ? "EXPIRED" : "OPEN");
    }
    const jobs = await all(
      "jobs",
      "id state escrow collateral claimed gpus client { address } payer { address } offer { id } provider { address } startedAt receiptedUntil bond resolveDeadline terms { id disputeBondBps }",
      3,
    );
    expect(jobs).to.have.length(Object.keys(ledger.jobs).length);
    for (const job of jobs) {
      const id = BigInt(job.id);
      const chain = await m.read<ChainJob>("market", "getJob", [id]);
      const [, escrow, collateral] = await m.read<[bigint, bigint, bigint]>("market", "jobAmounts", [id]);
      expect(job.state, `job ${job.id}`).to.equal(clock.jobState(id));
      expect([job.escrow, job.collateral, job.claimed, job.gpus]).to.deep.equal([escrow.toString(), collateral.toString(), chain.claimed.toString(), chain.gpus]);
      expect(job.payer.address).to.equal((await m.read<Address>("market", "payerOf", [id])).toLowerCase());
      expect(job.receiptedUntil === null ? 0 : job.receiptedUntil - job.startedAt).to.equal(chain.receiptedSeconds);
      expect(job.bond).to.equal((await m.read<{ bond: bigint }>("market", "getDispute", [id])).bond.toString());
      const terms = await m.read<{ disputeBondBps: number }>("market", "jobTerms", [id]);
      expect(job.terms).to.deep.equal({ id: String(chain.termsId), disputeBondBps: terms.disputeBondBps });
      expect(job.client.address).to.equal(chain.client.toLowerCase());
      expect(job.offer.id).to.equal(chain.offerId.toString());
      const offer = offers.find((o) => o.id === job.offer.id)!;
      expect(job.provider.address).to.equal(offer.provider.address);
    }
    // Each offer's jobs page counts the jobs that name it.
    for (const offer of offers) {
      expect(offer.jobs.totalCount, `offer ${offer.id} jobs`).to.equal(jobs.filter((j) => j.offer.id === offer.id).length);
    }
  });

  it("keeps market, capacity and prices consistent with the entities", async function () {
    const offers = await all("offers", "gpuModel region gpus gpusLeased pricePerGpuHour state provider { address }", 100);
    const open = offers.filter((o) => o.state === "OPEN");
    const { market, capacity, jobs } = await query(`{
      market { gpusOffered gpusLeased utilization activeProviders jobs jobsByState { state count } }
      capacity(groupBy: GPU_MODEL_REGION) { gpuModel region gpusOffered gpusLeased offers providers askFloor askMedian }
      jobs { totalCount }
    }`);
    expect(market.gpusOffered).to.equal(open.reduce((sum, o) => sum + o.gpus, 0));
    expect(market.gpusLeased).to.equal(open.reduce((sum, o) => sum + o.gpusLeased, 0));
    expect(market.activeProviders).to.equal(new Set(open.map((o) => o.provider.address)).size);
    expect(market.jobs).to.equal(jobs.totalCount);
    expect(market.jobsByState.reduce((sum: number, s: { count: number }) => sum + s.count, 0)).to.equal(jobs.totalCount);

    const groups = new Map<string, any[]>();
    for (const offer of open) groups.set(`${offer.gpuModel}|${offer.region}`, [...(groups.get(`${offer.gpuModel}|${offer.region}`) ?? []), offer]);
    expect(capacity.map((b: any) => `${b.gpuModel}|${b.region}`).sort()).to.deep.equal([...groups.keys()].sort());
    for (const bucket of capacity) {
      const members = groups.get(`${bucket.gpuModel}|${bucket.region}`)!;
      expect(bucket.gpusOffered).to.equal(members.reduce((sum, o) => sum + o.gpus, 0));
      expect(bucket.gpusLeased).to.equal(members.reduce((sum, o) => sum + o.gpusLeased, 0));
      expect(bucket.offers).to.equal(members.length);
      expect(bucket.providers).to.equal(new Set(members.map((o) => o.provider.address)).size);
      const asks = members.filter((o) => o.gpus > o.gpusLeased).map((o) => BigInt(o.pricePerGpuHour));
      expect(bucket.askFloor).to.equal(asks.length ? asks.reduce((a, b) => (a < b ? a : b)).toString() : null);
    }

    const h100Jobs = (await query('{ jobs(where: { gpuModel: "H100-SXM-80GB" }) { totalCount } }')).jobs.totalCount;
    const hourly = (await query('{ prices(gpuModel: "H100-SXM-80GB") { jobs } }')).prices;
    expect(hourly.reduce((sum: number, p: { jobs: number }) => sum + p.jobs, 0)).to.equal(h100Jobs);
  });

  it("shows new blocks as they are indexed", async function () {
    const before = (await query("{ offers { totalCount } }")).offers.totalCount;
    const provider = ledger.providers[0];
    await m.createOffer(provider, { gpuModel: H100, gpus: 3, pricePerGpuHour: 1_234_567n, region: "e2e-region", expiresAt: (await m.latestTimestamp()) + 86400 });
    const capacity = await waitFor("the new offer", async () => {
      const data = await query('{ offers { totalCount } capacity(groupBy: REGION, region: "e2e-region") { gpusOffered askFloor } }');
      return data.offers.totalCount === before + 1 ? data.capacity : undefined;
    });
    expect(capacity).to.deep.equal([{ gpusOffered: 3, askFloor: "1234567" }]);
  });

  it("stops cleanly on SIGTERM", async function () {
    const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
    child.kill("SIGTERM");
    expect(await exited, stderr).to.equal(0);
  });
});

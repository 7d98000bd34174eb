import { expect } from "chai";
import { spawn, type ChildProcess } from "node:child_process";
import path from "node:path";
import { silentLogger } from "../../src/internal/logger";
import { JOB_STATES } from "../../src/protocol";
import { runSimulation, type SimulationResult } from "../../src/sim/simulate";
import { ROOT, freePort, json, runCli, show, startNode, type LocalNode } from "./helpers";

const EVERY_JOB_STATE: readonly string[] = JOB_STATES;

describe("market simulation", function () {
  let node: LocalNode;
  let fresh: string;
  const rpc = (method: string, params: unknown[] = []) => node.publicClient.request({ method: method as never, params: params as never }) as Promise<string>;
  const simulate = (seed: number, size: { providers: number; clients: number; hours: number; jobsPerClientHour?: number }) =>
    runSimulation({ rpcUrl: node.url, deployment: node.deployment, seed, logger: silentLogger(), ...size });
  /** Back to the freshly deployed chain, and a new snapshot of it (anvil's snapshots are single-use). */
  const rewind = async () => {
    await rpc("evm_revert", [fresh]);
    fresh = await rpc("evm_snapshot");
  };

  before(async function () {
    node = await startNode();
    fresh = await rpc("evm_snapshot");
  });

  after(async function () {
    await node?.stop();
  });

  it("sends the same transactions for the same seed, and others for another seed", async function () {
    const size = { providers: 2, clients: 3, hours: 5, jobsPerClientHour: 0.8 };
    const first = await simulate(10, size);
    await rewind();
    const second = await simulate(10, size);
    await rewind();
    const other = await simulate(12, size);
    await rewind();
    expect(first.jobs).to.be.greaterThan(3);
    expect(second.actions).to.deep.equal(first.actions);
    expect(second.transitions).to.deep.equal(first.transitions);
    expect(other.actions).not.to.deep.equal(first.actions);
  });

  let result: SimulationResult;
  it("takes every job path and leaves jobs in every state", async function () {
    result = await simulate(4, { providers: 3, clients: 8, hours: 30, jobsPerClientHour: 0.5 });
    expect(Object.keys(result.jobStates).sort()).to.deep.equal([...EVERY_JOB_STATE].sort());
    for (const transition of [
      "jobCreated", "jobAccepted", "jobCancelled", "jobExpired", "jobClaimed", "jobCompleted", "jobEndedEarly",
      "jobDisputed", "jobResolved", "jobSettled", "jobReclaimed", "providerSlashed", "offerRepriced", "unstakeRequested",
      "parameterSet", "heartbeat", "jobDeclined", "jobExtended", "receiptSigned", "jobClaimedWithReceipt", "providerOutage",
      "jobReportedDark", "jobDisputeFinalized",
    ]) {
      expect(result.transitions[transition] ?? 0, transition).to.be.greaterThan(0);
    }
    expect(result.failedActions).to.equal(0);
  });

  describe("read back through the indexer's API", function () {
    let indexer: ChildProcess;
    let apiUrl: string;

    before(async function () {
      const port = await freePort();
      apiUrl = `http://127.0.0.1:${port}/graphql`;
      indexer = spawn(
        process.execPath,
        [path.join(ROOT, "bin/gpumesh.js"), "run", "--db", path.join(node.dir, "index.db"), "--rpc", node.url, "--deployment", node.deploymentFile, "--port", String(port), "--confirmations", "0", "--poll-interval-ms", "200"],
        { cwd: ROOT, stdio: ["ignore", "ignore", "pipe"], env: { ...process.env, GPUMESH_LOG_LEVEL: "warn" } },
      );
      let stderr = "";
      indexer.stderr!.on("data", (chunk) => (stderr += chunk));
      const head = Number(await node.publicClient.getBlockNumber());
      const deadline = Date.now() + 120_000;
      for (;;) {
        const indexed = await fetch(apiUrl, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ query: "{ _meta { block { number } } }" }),
        })
          .then(async (response) => ((await response.json()) as { data?: { _meta: { block: { number: number } } } }).data?._meta.block.number ?? -1)
          .catch(() => -1);
        if (indexed >= head) break;
        if (indexer.exitCode !== null || Date.now() > deadline) throw new Error(`indexer did not catch up (exit ${indexer.exitCode}):\n${stderr}`);
        await new Promise((resolve) => setTimeout(resolve, 300));
      }
    });

    after(async function () {
      if (indexer && indexer.exitCode === null) {
        indexer.kill("SIGTERM");
        await new Promise((resolve) => indexer.once("exit", resolve));
      }
    });

    it("market stats, capacity and prices print tables and JSON", async function () {
      const stats = await runCli(node, ["market", "stats", "--api", apiUrl, "--json"]);
      expect(stats.code, show(stats)).to.equal(0);
      const market = json(stats);
      expect(market.providers).to.equal(3);
      const jobsByState = Object.fromEntries((market.jobsByState as Array<{ state: string; count: number }>).map((entry) => [entry.state, entry.count]));
      for (const state of EVERY_JOB_STATE) expect(jobsByState[state], state).to.equal(result.jobStates[state]);

      const statsTable = await runCli(node, ["market", "stats", "--api", apiUrl]);
      expect(statsTable.stdout).to.match(/providers\s+3 registered/).and.to.contain("USDC in escrow");

      const capacity = await runCli(node, ["market", "capacity", "--by", "model-region", "--api", apiUrl]);
      expect(capacity.code, show(capacity)).to.equal(0);
      expect(capacity.stdout).to.match(/model\s+region\s+offered\s+leased\s+free\s+utilization/);
      expect(capacity.stdout).to.contain("USDC");
      const buckets = json<Array<{ gpuModel: string; region: string; gpusOffered: number }>>(
        await runCli(node, ["market", "capacity", "--by", "region", "--api", apiUrl, "--json"]),
      );
      expect(buckets.length).to.be.greaterThan(0);
      expect(buckets.every((bucket) => bucket.region && bucket.gpusOffered > 0)).to.equal(true);

      const traded = Object.entries(countModels(result)).sort((a, b) => b[1] - a[1])[0]![0];
      const prices = await runCli(node, ["market", "prices", "--model", traded, "--api", apiUrl, "--json"]);
      expect(prices.code, show(prices)).to.equal(0);
      const points = json(prices).prices as Array<{ jobs: number; vwap: string | null }>;
      expect(points.length).to.be.greaterThan(1);
      expect(points.every((point) => point.jobs === 0 || BigInt(point.vwap!) > 0n)).to.equal(true);
      const pricesTable = await runCli(node, ["market", "prices", "--model", traded, "--interval", "day", "--api", apiUrl]);
      expect(pricesTable.stdout).to.contain(`${traded}, price per GPU-hour by day`).and.to.match(/vwap/);

      const badGroup = await runCli(node, ["market", "capacity", "--by", "planet", "--api", apiUrl]);
      expect(badGroup.code).to.equal(2);
      expect(badGroup.stderr).to.contain('--by: "planet"');
      const down = await runCli(node, ["market", "stats", "--api", "http://127.0.0.1:9/graphql"]);
      expect(down.code).to.equal(1);
      expect(down.stderr).to.contain("cannot reach the GraphQL API at http://127.0.0.1:9/graphql");
    });

    it("market stats and capacity as of an earlier block or time (--block, --at) answer as the API does", async function () {
      const api = async <T>(query: string, variables: Record<string, unknown> = {}) => {
        const response = await fetch(apiUrl, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ query, variables }) });
        const body = (await response.json()) as { data: T; errors?: unknown };
        expect(body.errors, JSON.stringify(body.errors)).to.equal(undefined);
        return body.data;
      };
      const { _meta: head } = await api<{ _meta: { block: { number: number; timestamp: number } } }>("{ _meta { block { number timestamp } } }");
      const past = Math.floor(head.block.number / 2);
      const expected = await api<{ market: { providers: number; volume: string; jobsByState: Array<{ state: string; count: number }> } }>(
        "query($b: BlockInput) { market(block: $b) { providers volume jobsByState { state count } } }",
        { b: { number: past } },
      );
      const now = await api<{ market: { jobsByState: Array<{ state: string; count: number }> } }>("{ market { jobsByState { state count } } }");
      expect(expected.market.jobsByState, "the past differs from now").not.to.deep.equal(now.market.jobsByState);

      const stats = await runCli(node, ["market", "stats", "--block", String(past), "--api", apiUrl, "--json"]);
      expect(stats.code, show(stats)).to.equal(0);
      const asOf = json(stats);
      expect(asOf.asOf).to.include({ number: past });
      expect(asOf.volume).to.equal(expected.market.volume);
      expect(asOf.jobsByState).to.deep.equal(expected.market.jobsByState);
      const table = await runCli(node, ["market", "stats", "--block", String(past), "--api", apiUrl]);
      expect(table.stdout).to.match(new RegExp(`^as of block ${past} \\(\\d{4}-`));

      // --at a duration before the indexed chain's time resolves to the last block at or before it.
      const agoSeconds = 3600;
      const { _meta: atMeta } = await api<{ _meta: { block: { number: number } } }>("query($b: BlockInput) { _meta(block: $b) { block { number } } }", {
        b: { at: head.block.timestamp - agoSeconds },
      });
      const capacity = await runCli(node, ["market", "capacity", "--at", "1h", "--api", apiUrl]);
      expect(capacity.code, show(capacity)).to.equal(0);
      expect(capacity.stdout).to.contain(`as of block ${atMeta.block.number} (`);

      const both = await runCli(node, ["market", "stats", "--block", "1", "--at", "1h", "--api", apiUrl]);
      expect(both.code).to.equal(2);
      expect(both.stderr).to.contain("--block and --at");
      const notNumber = await runCli(node, ["market", "capacity", "--block", "latest", "--api", apiUrl]);
      expect(notNumber.code).to.equal(2);
      expect(notNumber.stderr).to.contain('--block: "latest" is not a block number');
      const future = await runCli(node, ["market", "stats", "--block", String(head.block.number + 1000), "--api", apiUrl]);
      expect(future.code).to.equal(1);
      expect(future.stderr).to.contain("is not indexed yet");
    });

    it("client offers from the API match the chain", async function () {
      const fromApi = json(await runCli(node, ["client", "offers", "--api", apiUrl, "--model", "h100", "--json"]));
      const fromChain = json(await runCli(node, ["client", "offers", "--chain", "--model", "h100", "--json"]));
      expect(fromApi.source).to.equal("api");
      expect(fromChain.source).to.equal("chain");
      const summary = (offers: Array<Record<string, unknown>>) =>
        offers.map((offer) => [offer.id, offer.gpuModel, offer.region, offer.gpusAvailable, offer.pricePerGpuHour].join(" ")).sort();
      expect(summary(fromApi.offers)).to.deep.equal(summary(fromChain.offers));
      expect(fromApi.offers.length).to.be.greaterThan(0);
    });
  });
});

/** Jobs per GPU model name, from the simulation's record (offer ids count from 1 on a fresh deployment). */
function countModels(result: SimulationResult): Record<string, number> {
  const modelOfOffer = new Map<string, string>();
  for (const action of result.actions) {
    if (action.action === "createOffer" && action.ok) modelOfOffer.set(String(modelOfOffer.size + 1), String(action.args.model));
  }
  const counts: Record<string, number> = {};
  for (const action of result.actions) {
    if ((action.action === "createJob" || action.action === "createJobWithPermit") && action.ok) {
      const model = modelOfOffer.get(String(action.args.offer))!;
      counts[model] = (counts[model] ?? 0) + 1;
    }
  }
  return counts;
}

describe("market simulation, live", function () {
  let node: LocalNode;

  before(async function () {
    node = await startNode();
  });

  after(async function () {
    await node?.stop();
  });

  it("goes on after its history until it is stopped", async function () {
    const stop = new AbortController();
    const histories: SimulationResult[] = [];
    const running = runSimulation({
      rpcUrl: node.url,
      deployment: node.deployment,
      seed: 5,
      providers: 1,
      clients: 2,
      hours: 1,
      logger: silentLogger(),
      onHistoryDone: (history) => {
        histories.push(history);
        setTimeout(() => stop.abort(), 1_500);
      },
      live: { tickDelayMs: 50, signal: stop.signal },
    });
    const result = await running;
    expect(histories).to.have.length(1);
    expect(histories[0]!.simulatedSeconds).to.equal(3600);
    expect(result.simulatedSeconds).to.be.greaterThan(3600);
    expect(result.actions).to.deep.equal(histories[0]!.actions);
  });
});

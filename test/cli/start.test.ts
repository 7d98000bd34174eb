import { expect } from "chai";
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { ROOT, freePort, portAnswers, waitFor } from "./helpers";

/** npm start end to end: the whole market comes up, fills with jobs and prices, and Ctrl-C leaves nothing running. */

async function graphql(url: string, query: string): Promise<any> {
  const response = await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ query }) });
  const body = (await response.json()) as { data?: any; errors?: unknown };
  if (body.errors) throw new Error(JSON.stringify(body.errors));
  return body.data;
}

const WORKLOAD_PAUSE_MS = 15_000;

describe("npm start: the whole market in one command", function () {
  this.timeout(600_000);
  let child: ChildProcess | null = null;
  let output = "";
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "gpumesh-start-"));

  after(async function () {
    // SIGINT first: gpumesh start then stops the indexer, the API and the chain in order.
    if (child && child.exitCode === null) {
      const exited = new Promise((resolve) => child!.once("exit", resolve));
      child.kill("SIGINT");
      await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 30_000))]);
      if (child.exitCode === null) child.kill("SIGKILL");
    }
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("starts chain, contracts, simulation, indexer and API; shows jobs and prices; stops cleanly on SIGINT", async function () {
    const chainPort = await freePort();
    const apiPort = await freePort();
    child = spawn(
      process.execPath,
      [
        path.join(ROOT, "bin/gpumesh.js"),
        "start",
        "--chain-port",
        String(chainPort),
        "--api-port",
        String(apiPort),
        "--history-hours",
        "8",
        // 10 simulated minutes every 3 s, as by default: the agents' 30-minute accept windows last 9 s of real time.
        "--live-tick-ms",
        "3000",
        // A pause between workloads longer than a clean stop takes: a Ctrl-C during a workload must not wait it out.
        "--workload-every-ms",
        String(WORKLOAD_PAUSE_MS),
        "--failover-every",
        "2",
        "--db",
        path.join(dir, "market.db"),
      ],
      { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] },
    );
    child.stdout!.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.stderr!.on("data", (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child!.once("exit", (code) => resolve(code)));

    const api = `http://127.0.0.1:${apiPort}/graphql`;
    await waitFor("the banner", async () => (output.includes("GPU Mesh is running locally.") ? true : undefined), 180_000);
    expect(output).to.include(api);
    expect(output).to.include(`http://127.0.0.1:${chainPort}`);
    expect(output).to.match(/#1 0x70997970C51812dc3A010C7d01b50e0d17dc79C8 {2}key 0x59c6/);

    // Jobs and hourly prices appear as the simulation runs and the indexer follows it.
    const data = await waitFor(
      "jobs and prices in the API",
      async () => {
        const result = await graphql(
          api,
          `{ jobs(first: 1) { totalCount }
             market { providers gpusOffered volume }
             prices(gpuModel: "H100-SXM-80GB", interval: HOUR) { start jobs vwap } }`,
        );
        const priced = result.prices.filter((point: { jobs: number }) => point.jobs > 0);
        return result.jobs.totalCount >= 5 && priced.length >= 2 && BigInt(result.market.volume) > 0n ? result : undefined;
      },
      180_000,
    );
    expect(data.market.providers).to.be.greaterThan(0);
    expect(data.market.gpusOffered).to.be.greaterThan(0);
    const ready = await fetch(`http://127.0.0.1:${apiPort}/health`);
    expect(ready.status).to.equal(200);

    // Real agents run real workloads: the first completes with a verified result; the second's agent is killed once
    // its job runs, the job is reported dark, and the other agent finishes the work.
    await waitFor("workload 1's verified result", async () => (/workload 1: job #\d+: completed; result 0x[0-9a-f]{64} verified/.test(output) ? true : undefined), 120_000);
    // The agents answered before the first workload was placed: its first job was handed over, with no failover.
    expect(output).to.not.match(/workload 1: .*(cannot read provider|failover)/);
    await waitFor("workload 2's failover", async () => (/workload 2: job #\d+: completed; result 0x[0-9a-f]{64} verified/.test(output) ? true : undefined), 180_000);
    expect(output).to.match(/workload 2: killing the agent of 0x[0-9a-fA-F]{40}/);
    expect(output).to.match(/workload 2: job #\d+: dark; paid until .*, refund .* USDC, SLA credit/);
    expect(output).to.match(/workload 2: failover: .* go to offer #\d+ of 0x/);

    // SIGINT while workload 2 winds up (its client exits, the killed agent restarts): the stop does not wait for the
    // pause before workload 3, which it did when the pause began after the abort.
    const stopping = Date.now();
    child.kill("SIGINT");
    const code = await Promise.race([exited, new Promise((resolve) => setTimeout(() => resolve("timeout"), 60_000))]);
    expect(code, output.slice(-2_000)).to.equal(0);
    expect(Date.now() - stopping, output.slice(-2_000)).to.be.below(WORKLOAD_PAUSE_MS * 0.75);
    expect(output).to.include("GPU Mesh stopped.");
    // Nothing left behind: neither the API nor the embedded chain answers any more.
    expect(await portAnswers(apiPort)).to.equal(false);
    expect(await portAnswers(chainPort)).to.equal(false);
  });
});

import { expect } from "chai";
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { erc20Abi, parseAbiItem } from "viem";
import { jobMarketAbi } from "../../src/chain/abis";
import { specHash } from "../../src/agent/spec";
import { startAgentProcess, type AgentProcess } from "./helpers";
import { KEYS, ROOT, freePort, json, runCli, show, startNode, waitFor, type CliResult, type LocalNode } from "../cli/helpers";

const CLIENT = "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC";
const PROVIDER_A = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8";
const PROVIDER_B = "0x15d34AAf54267DB7D7c367839AAf71A00a2C6A65";

interface ProviderSetup {
  key: string;
  address: string;
  port: number;
  configFile: string;
  offer: string;
  agent?: AgentProcess;
}

/**
 * `gpumesh client run` end to end: two providers, each run by a real `gpumesh agent` process with the process runner,
 * the indexer's API (`gpumesh run`) to quote from, and the client run as a real CLI process against anvil.
 */
describe("gpumesh client run: a workload handed to real agents, its result verified, failed over when a provider goes dark", function () {
  let node: LocalNode;
  let indexer: ChildProcess;
  let apiUrl: string;
  const providers: Record<"a" | "b", ProviderSetup> = {} as never;

  const ok = async (result: Promise<CliResult>) => {
    const done = await result;
    expect(done.code, show(done)).to.equal(0);
    return done;
  };
  const market = () => node.deployment.contracts.JobMarket.address;
  const asClient = (args: string[]) => runCli(node, args, { GPUMESH_PRIVATE_KEY: KEYS[2], GPUMESH_API_URL: apiUrl });
  const eventsOf = async (signature: string, args?: Record<string, unknown>) =>
    (await node.publicClient.getLogs({ address: market(), event: parseAbiItem(signature) as never, args: args as never, fromBlock: 0n, toBlock: "latest" })) as unknown as Array<{
      args: Record<string, any>;
      blockNumber: bigint;
    }>;
  const readJob = (jobId: bigint) => node.publicClient.readContract({ address: market(), abi: jobMarketAbi, functionName: "getJob", args: [jobId] });

  /** A workload that prints a line, waits, then writes out/result.txt with its GPU. */
  const specFile = (name: string, text: string, delayMs: number) => {
    const spec = {
      version: 1,
      command: [
        process.execPath,
        "-e",
        `console.log('working on ' + ${JSON.stringify(text)});setTimeout(()=>{const fs=require('fs');fs.mkdirSync('out');fs.writeFileSync('out/result.txt',${JSON.stringify(text)}+' on GPU '+process.env.CUDA_VISIBLE_DEVICES);console.log('done')},${delayMs})`,
      ],
      outputs: ["out/"],
      maxRuntimeSeconds: 300,
    };
    const file = path.join(node.dir, `${name}.json`);
    fs.writeFileSync(file, JSON.stringify(spec, null, 2));
    return { file, spec };
  };

  const indexedBlock = async () =>
    fetch(apiUrl, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ query: "{ _meta { block { number } } }" }) })
      .then(async (response) => ((await response.json()) as { data?: { _meta: { block: { number: number } } } }).data?._meta.block.number ?? -1)
      .catch(() => -1);
  const indexerCaughtUp = async () => {
    const head = Number(await node.publicClient.getBlockNumber());
    await waitFor("the indexer to reach the head", async () => ((await indexedBlock()) >= head ? true : undefined), 60_000);
  };

  before(async function () {
    node = await startNode();
    const setup = async (name: "a" | "b", key: string, address: string, price: string) => {
      const port = await freePort();
      const asProvider = (args: string[]) => runCli(node, args, { GPUMESH_PRIVATE_KEY: key });
      for (const args of [
        ["wallet", "faucet", "--stake", "2000"],
        ["provider", "register", "--metadata", `http://127.0.0.1:${port}/metadata`],
        ["provider", "stake", "1000"],
      ]) {
        await ok(asProvider(args));
      }
      const offer = json(await ok(asProvider(["provider", "offer", "create", "--model", "h100", "--gpus", "2", "--price", price, "--region", "eu-west", "--json"]))).offerId as string;
      const configFile = path.join(node.dir, `agent-${name}.json`);
      fs.writeFileSync(
        configFile,
        JSON.stringify({
          rpcUrl: node.url,
          deployment: node.deploymentFile,
          stateDir: path.join(node.dir, `agent-${name}-state`),
          api: { host: "127.0.0.1", port },
          gpus: [
            { index: 0, model: "H100-SXM-80GB" },
            { index: 1, model: "H100-SXM-80GB" },
          ],
          policy: { allowedCommands: [process.execPath] },
          claims: { minAmount: "1" },
          timing: { pollIntervalMs: 200, heartbeatIntervalSeconds: 2 },
        }),
      );
      providers[name] = { key, address, port, configFile, offer };
    };
    // A is the cheaper, so every plan picks it first.
    await setup("a", KEYS[1], PROVIDER_A, "2.00");
    await setup("b", KEYS[4], PROVIDER_B, "2.50");
    await node.mintPayment(CLIENT, 10_000_000_000n);
    for (const provider of Object.values(providers)) {
      provider.agent = await startAgentProcess(provider.configFile, `http://127.0.0.1:${provider.port}`, provider.key);
    }
    const port = await freePort();
    apiUrl = `http://127.0.0.1:${port}/graphql`;
    indexer = spawn(
      process.execPath,
      [path.join(ROOT, "bin/gpumesh.js"), "run", "--db", path.join(node.dir, "index.db"), "--rpc", node.url, "--deployment", node.deploymentFile, "--port", String(port), "--confirmations", "0", "--poll-interval-ms", "200"],
      { cwd: ROOT, stdio: ["ignore", "ignore", "ignore"], env: { ...process.env, GPUMESH_LOG_LEVEL: "warn" } },
    );
    await indexerCaughtUp();
  });

  after(async function () {
    for (const provider of Object.values(providers)) await provider.agent?.stop();
    if (indexer && indexer.exitCode === null) {
      indexer.kill("SIGTERM");
      await new Promise((resolve) => indexer.once("exit", resolve));
    }
    await node?.stop();
  });

  it("client spec hash prints the canonical keccak256 the agent checks; a bad spec names its field", async function () {
    const { file, spec } = specFile("hash", "x", 0);
    const hashed = await ok(runCli(node, ["client", "spec", "hash", file]));
    expect(hashed.stdout.trim()).to.equal(specHash(spec));
    const bad = path.join(node.dir, "bad.json");
    fs.writeFileSync(bad, JSON.stringify({ version: 1, command: ["x"], extra: true }));
    const refused = await runCli(node, ["client", "spec", "hash", bad]);
    expect(refused.code, show(refused)).to.equal(2);
    expect(refused.stderr).to.contain("extra: unknown field");
  });

  it("quotes from the API, creates the job with a permit, hands the spec to the agent, streams its logs, signs receipts and verifies the result", async function () {
    const { file } = specFile("hello", "hello", 4_000);
    const outDir = path.join(node.dir, "results-hello");
    const ran = await ok(
      asClient(["client", "run", file, "--model", "h100", "--gpus", "1", "--duration", "1h", "--max-price", "3", "--receipt-every", "1s", "--poll-interval-ms", "200", "--out", outDir, "--yes", "--json"]),
    );
    const result = json(ran);
    expect(result.completed, show(ran)).to.equal(true);
    expect(result.jobs).to.have.length(1);
    const [job] = result.jobs;
    expect(job).to.include({ outcome: "completed", offerId: providers.a.offer, provider: PROVIDER_A, exitCode: 0 });
    expect(job.secondsToAccept).to.be.a("number");
    expect(fs.readFileSync(path.join(outDir, `job-${job.jobId}`, "out/result.txt"), "utf8")).to.equal("hello on GPU 0");
    expect(ran.stderr, "the workload's output is streamed").to.contain("working on hello");
    const [completed] = await eventsOf("event JobCompleted(uint256 indexed jobId, uint64 endedAt, uint256 earned, bytes32 resultHash)", { jobId: BigInt(job.jobId) });
    expect(job.resultHash).to.equal(completed!.args.resultHash);
    const created = await eventsOf(
      "event JobCreated(uint256 indexed jobId, uint256 indexed offerId, address indexed client, address provider, address payer, uint32 gpus, uint256 pricePerGpuHour, uint32 duration, uint256 cost, uint256 escrow, uint64 acceptDeadline, bytes32 specHash, uint256 collateral)",
      { jobId: BigInt(job.jobId) },
    );
    expect(created[0]?.args.specHash, "the job carries the spec file's hash").to.equal(result.specHash);
    expect((await readJob(BigInt(job.jobId))).receiptedSeconds, "the agent claimed with the client's receipt").to.be.greaterThan(0);

    // The same result again through `client result`, and the log through `client logs`.
    const again = await ok(asClient(["client", "result", job.jobId, "--out", path.join(node.dir, "again"), "--json"]));
    expect(json(again)).to.include({ resultHash: job.resultHash });
    expect(fs.readFileSync(path.join(node.dir, "again", "out/result.txt"), "utf8")).to.equal("hello on GPU 0");
    const logs = await ok(asClient(["client", "logs", job.jobId]));
    expect(logs.stdout).to.contain("working on hello").and.to.contain("done");
    const stranger = await runCli(node, ["client", "logs", job.jobId], { GPUMESH_PRIVATE_KEY: KEYS[3] });
    expect(stranger.code).to.equal(1);
    expect(stranger.stderr).to.contain("its agent answers only the client");
  });

  it("--spread 2 from the chain (no API): one share per provider, each result verified; SIGINT ends a running job early", async function () {
    const { file } = specFile("spread", "shared", 2_000);
    const outDir = path.join(node.dir, "results-spread");
    const spread = await ok(
      runCli(node, ["client", "run", file, "--model", "h100", "--gpus", "2", "--duration", "1h", "--max-price", "3", "--spread", "2", "--chain", "--poll-interval-ms", "200", "--out", outDir, "--yes", "--json"], {
        GPUMESH_PRIVATE_KEY: KEYS[2],
      }),
    );
    const jobs = json(spread).jobs as Array<Record<string, any>>;
    expect(jobs.map((job) => [job.provider, job.gpus, job.outcome]).sort()).to.deep.equal([
      [PROVIDER_B, 1, "completed"],
      [PROVIDER_A, 1, "completed"],
    ].sort());
    for (const job of jobs) expect(fs.readFileSync(path.join(outDir, `job-${job.jobId}`, "out/result.txt"), "utf8")).to.match(/^shared on GPU \d$/);

    // Ctrl-C (SIGINT, no terminal: no question) once the job runs: it is ended early and paid for the time used.
    const { file: longFile } = specFile("long", "long", 120_000);
    const base = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith("GPUMESH_")));
    const child = spawn(process.execPath, [path.join(ROOT, "bin/gpumesh.js"), "client", "run", longFile, "--model", "h100", "--gpus", "1", "--duration", "1h", "--max-price", "3", "--chain", "--poll-interval-ms", "200", "--yes", "--json"], {
      cwd: ROOT,
      env: { ...base, GPUMESH_PRIVATE_KEY: KEYS[2], GPUMESH_RPC_URL: node.url, GPUMESH_DEPLOYMENT: node.deploymentFile },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stderr = "";
    let stdout = "";
    child.stderr!.on("data", (chunk) => (stderr += chunk));
    child.stdout!.on("data", (chunk) => (stdout += chunk));
    const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
    await waitFor("the long job to run", async () => (/accepted after/.test(stderr) ? true : undefined), 60_000);
    child.kill("SIGINT");
    expect(await exited, stderr).to.equal(1);
    const [record] = JSON.parse(stdout).jobs;
    expect(record.outcome).to.equal("stopped");
    const ended = await eventsOf("event JobEndedEarly(uint256 indexed jobId, uint64 endedAt, uint256 earned)", { jobId: BigInt(record.jobId) });
    expect(ended).to.have.length(1);
    expect(stderr).to.contain("the workload did not finish");
  });

  it("--failover: the provider killed mid-job is reported dark within its liveness timeout, the client refunded with the SLA credit, and the rest finished on the next provider", async function () {
    await indexerCaughtUp();
    const { file } = specFile("failover", "resumed", 8_000);
    const outDir = path.join(node.dir, "results-failover");
    const startBlock = await node.publicClient.getBlockNumber();
    const stakeBalance = () => node.publicClient.readContract({ address: node.deployment.tokens.stake.address, abi: erc20Abi, functionName: "balanceOf", args: [CLIENT] });
    const stakeBefore = await stakeBalance();
    const run = asClient(["client", "run", file, "--model", "h100", "--gpus", "1", "--duration", "1h", "--max-price", "3", "--failover", "--poll-interval-ms", "200", "--out", outDir, "--yes", "--json"]);

    // Kill A's agent as soon as its job runs, and keep it dead.
    const accepted = await waitFor("provider A to accept", async () => {
      const logs = await eventsOf("event JobAccepted(uint256 indexed jobId, address indexed provider, uint64 startedAt)", { provider: PROVIDER_A });
      return logs.find((log) => log.blockNumber > startBlock);
    }, 60_000);
    await providers.a.agent!.stop("SIGKILL");
    const jobA = accepted.args.jobId as bigint;
    const darkAt = Number(await node.publicClient.readContract({ address: market(), abi: jobMarketAbi, functionName: "darkAt", args: [jobA] }));
    const timeout = Number((await node.publicClient.readContract({ address: market(), abi: jobMarketAbi, functionName: "jobTerms", args: [jobA] })).livenessTimeout);
    // The chain's clock moves to one second past the liveness timeout.
    const now = Number((await node.publicClient.getBlock()).timestamp);
    await node.advance(darkAt - now + 1);

    const ran = await run;
    expect(ran.code, show(ran)).to.equal(0);
    const result = json(ran);
    expect(result.jobs.map((job: any) => [job.provider, job.outcome])).to.deep.equal([
      [PROVIDER_A, "dark"],
      [PROVIDER_B, "completed"],
    ]);
    const [dark, resumed] = result.jobs;
    expect(dark.jobId).to.equal(jobA.toString());
    const [reported] = await eventsOf("event JobDark(uint256 indexed jobId, uint64 at, uint64 paidUntil, uint256 earned, uint256 providerPay, uint256 protocolFee, uint256 refund, uint256 slashed)", { jobId: jobA });
    expect(Number(reported!.args.at) - darkAt, "reported within a poll of the liveness timeout passing").to.be.at.most(5);
    expect(Number(reported!.args.at) - (darkAt - timeout)).to.be.at.most(timeout + 5);
    expect(BigInt(dark.refund) > 0n && BigInt(dark.refund) === reported!.args.refund).to.equal(true);
    expect(BigInt(dark.slaCredit) > 0n, "the SLA credit").to.equal(true);
    const slashedLogs = (await node.publicClient.getLogs({
      address: node.deployment.contracts.ProviderStaking.address,
      event: parseAbiItem("event Slashed(address indexed provider, uint256 indexed jobId, address client, uint256 toClient, address treasury, uint256 toTreasury, uint256 staked)"),
      args: { jobId: jobA },
      fromBlock: 0n,
    })) as unknown as Array<{ args: { toClient: bigint } }>;
    expect(slashedLogs).to.have.length(1);
    expect(slashedLogs[0]!.args.toClient > 0n).to.equal(true);
    expect((await stakeBalance()) - stakeBefore, "the SLA credit is paid to the client's wallet").to.equal(slashedLogs[0]!.args.toClient);
    expect(resumed.duration, "the second job buys only the time the first did not serve").to.equal(dark.secondsLeft);
    expect(resumed.offerId).to.equal(providers.b.offer);
    expect(fs.readFileSync(path.join(outDir, `job-${resumed.jobId}`, "out/result.txt"), "utf8")).to.equal("resumed on GPU 0");

    // A restarted: the job that went dark while it was down is left, its GPU freed and its heartbeats stopped.
    providers.a.agent = await startAgentProcess(providers.a.configFile, `http://127.0.0.1:${providers.a.port}`, providers.a.key);
    const status = await waitFor("agent A to leave the dark job", async () => {
      const shown = json(await runCli(node, ["agent", "status", "--config", providers.a.configFile, "--json"]));
      const row = (shown.jobs as Array<Record<string, any>>).find((job) => job.jobId === dark.jobId);
      return row?.status === "gone" ? shown : undefined;
    }, 30_000);
    expect(status.gpuAssignments, "no GPU held for the dark job").to.deep.equal([]);
  });
});

import Database from "better-sqlite3";
import { expect } from "chai";
import { spawn, type ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import fs from "node:fs";
import http from "node:http";
import net from "node:net";
import path from "node:path";
import { keccak256, parseAbiItem, toHex, type Hex } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { jobMarketAbi } from "../../src/chain/abis";
import { RECEIPT_DOMAIN, USAGE_RECEIPT_TYPES } from "../../src/protocol";
import { signAgentRequest } from "../../src/agent/auth";
import { createAgentClient } from "../../src/agent/client";
import { canonicalJson, specHash } from "../../src/agent/spec";
import { startAgentProcess, type AgentProcess } from "./helpers";
import { KEYS, ROOT, freePort, isRunning, json, runCli, show, startNode, waitFor, type LocalNode } from "../cli/helpers";

const PROVIDER = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8";
const CLIENT = "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC";
const client = privateKeyToAccount(KEYS[2]);
const stranger = privateKeyToAccount(KEYS[3]);

/** Real agent processes (`gpumesh agent --config FILE`, the compiled CLI) against anvil, with a client signing its requests. */
describe("gpumesh agent: a real agent process against a local chain", function () {
  let node: LocalNode;
  let offer: string;
  let configFile: string;
  let stateDir: string;
  let apiUrl: string;
  let agent: AgentProcess;

  const ok = async (result: ReturnType<typeof runCli>) => {
    const done = await result;
    expect(done.code, show(done)).to.equal(0);
    return done;
  };
  const asProvider = (args: string[]) => runCli(node, args, { GPUMESH_PRIVATE_KEY: KEYS[1] });
  const asClient = (args: string[]) => runCli(node, args, { GPUMESH_PRIVATE_KEY: KEYS[2] });
  const market = () => node.deployment.contracts.JobMarket.address;

  const startAgent = () => startAgentProcess(configFile, apiUrl, KEYS[1]);

  async function signedFetch(method: "GET" | "POST", pathname: string, options: { body?: string; account?: typeof client; timestamp?: bigint; headers?: Record<string, string>; accept?: string } = {}) {
    const jobId = BigInt(/^\/jobs\/(\d+)/.exec(pathname)![1]!);
    const body = new TextEncoder().encode(options.body ?? "");
    const headers =
      options.headers ??
      (await signAgentRequest(options.account ?? client, { chainId: node.deployment.chainId, verifyingContract: market() }, {
        method,
        path: pathname,
        jobId,
        body,
        timestamp: options.timestamp,
      }));
    const response = await fetch(`${apiUrl}${pathname}`, {
      method,
      headers: { ...headers, "content-type": "application/json", ...(options.accept ? { accept: options.accept } : {}) },
      body: method === "POST" ? options.body : undefined,
    });
    return { response, headers };
  }

  const readJob = (jobId: string) => node.publicClient.readContract({ address: market(), abi: jobMarketAbi, functionName: "getJob", args: [BigInt(jobId)] });
  const jobState = async (jobId: string) => (await readJob(jobId)).state;
  const waitForState = (jobId: string, state: number, timeoutMs = 60_000) =>
    waitFor(`job ${jobId} in state ${state}`, async () => ((await jobState(jobId)) === state ? true : undefined), timeoutMs);
  const eventsOf = async (signature: string, args?: Record<string, unknown>) =>
    node.publicClient.getLogs({ address: market(), event: parseAbiItem(signature) as never, args: args as never, fromBlock: 0n, toBlock: "latest" }) as Promise<Array<{ args: Record<string, any>; blockNumber: bigint }>>;

  async function createJob(spec: unknown, gpus = 1): Promise<string> {
    const hash = typeof spec === "string" ? spec : specHash(spec);
    const created = await ok(asClient(["client", "create-job", "--offer", offer, "--gpus", String(gpus), "--duration", "1h", "--max-price", "2.50", "--spec", hash, "--yes", "--json"]));
    return json(created).jobId as string;
  }

  /** The agent has seen the job once a signed status request stops answering 404. */
  const agentKnows = (jobId: string) =>
    waitFor(`the agent to see job ${jobId}`, async () => {
      const { response } = await signedFetch("GET", `/jobs/${jobId}`);
      return response.status === 200 ? ((await response.json()) as Record<string, any>) : undefined;
    }, 30_000);

  /** A workload that writes out/result.txt after `delayMs`. */
  const specFor = (text: string, delayMs: number) => ({
    version: 1,
    command: [process.execPath, "-e", `console.log('hello from the workload');setTimeout(()=>{const fs=require('fs');fs.mkdirSync('out');fs.writeFileSync('out/result.txt',${JSON.stringify(text)}+' on GPU '+process.env.CUDA_VISIBLE_DEVICES)},${delayMs})`],
    outputs: ["out/"],
    maxRuntimeSeconds: 120,
  });

  before(async function () {
    node = await startNode();
    for (const args of [
      ["wallet", "faucet", "--stake", "2000"],
      ["provider", "register", "--metadata", "https://provider.example"],
      ["provider", "stake", "1000"],
    ]) {
      await ok(asProvider(args));
    }
    offer = json(await ok(asProvider(["provider", "offer", "create", "--model", "h100", "--gpus", "8", "--price", "2.50", "--region", "eu-west", "--json"]))).offerId as string;
    await node.mintPayment(CLIENT, 10_000_000_000n);
    await node.mintPayment(stranger.address, 10_000_000_000n);
    const port = await freePort();
    apiUrl = `http://127.0.0.1:${port}`;
    stateDir = path.join(node.dir, "agent-state");
    configFile = path.join(node.dir, "agent.json");
    fs.writeFileSync(
      configFile,
      JSON.stringify({
        rpcUrl: node.url,
        deployment: node.deploymentFile,
        stateDir,
        api: { host: "127.0.0.1", port },
        // Two GPUs on this machine although the offer lists eight: the agent serves what it has.
        gpus: [
          { index: 0, model: "H100-SXM-80GB" },
          { index: 1, model: "H100-SXM-80GB" },
        ],
        // The inputs test serves its files from 127.0.0.1, which the default policy refuses (units.test.ts proves that).
        policy: { allowedCommands: [process.execPath], denyClients: [stranger.address], allowPrivateInputs: true },
        claims: { minAmount: "1" },
        timing: { pollIntervalMs: 200, heartbeatIntervalSeconds: 2 },
      }),
    );
    agent = await startAgent();
  });

  after(async function () {
    await agent?.stop();
    await node?.stop();
  });

  it("accepts a job whose spec was delivered, runs it on its GPU, heartbeats, completes with the outputs' hash, and serves a result that verifies", async function () {
    const spec = specFor("hello", 5_000);
    const jobId = await createJob(spec);
    const seen = await agentKnows(jobId);
    expect(seen).to.include({ status: "waiting_spec", specReceived: false, client: CLIENT });
    expect(await jobState(jobId), "no accept before the spec").to.equal(1);

    const { response } = await signedFetch("POST", `/jobs/${jobId}/spec`, { body: JSON.stringify(spec) });
    expect(response.status, await response.clone().text()).to.equal(202);
    expect(await response.json()).to.include({ jobId, specHash: specHash(spec) });

    await waitForState(jobId, 2);
    const accepted = (await eventsOf("event JobAccepted(uint256 indexed jobId, address indexed provider, uint64 startedAt)", { jobId: BigInt(jobId) }))[0]!;
    await waitForState(jobId, 3);
    const heartbeats = (await eventsOf("event ProviderHeartbeat(address indexed provider, uint64 at)", { provider: PROVIDER })).filter((log) => log.blockNumber > accepted.blockNumber);
    expect(heartbeats.length, "heartbeats while the 5 s workload ran (every 2 s)").to.be.at.least(1);

    const completed = (await eventsOf("event JobCompleted(uint256 indexed jobId, uint64 endedAt, uint256 earned, bytes32 resultHash)", { jobId: BigInt(jobId) }))[0]!;
    const result = await signedFetch("GET", `/jobs/${jobId}/result`);
    expect(result.response.status).to.equal(200);
    const listing = (await result.response.json()) as Record<string, any>;
    expect(listing.resultHash).to.equal(completed.args.resultHash);
    expect(listing.files.map((file: { path: string }) => file.path)).to.deep.equal(["out/result.txt", "exit.json"]);
    const archive = Buffer.from(await (await signedFetch("GET", `/jobs/${jobId}/result/archive`)).response.arrayBuffer());
    expect(`0x${createHash("sha256").update(archive).digest("hex")}`, "the archive's sha256 is the on-chain resultHash").to.equal(completed.args.resultHash);
    const file = await signedFetch("GET", `/jobs/${jobId}/result/files/out/result.txt`);
    expect(await file.response.text()).to.equal("hello on GPU 0");
    expect(listing.exit).to.include({ exitCode: 0, reason: "exited" });

    const logText = await (await signedFetch("GET", `/jobs/${jobId}/logs?offset=0`)).response.text();
    expect(logText).to.contain("hello from the workload");
    const events = await (await signedFetch("GET", `/jobs/${jobId}/logs`, { accept: "text/event-stream" })).response.text();
    expect(events).to.match(/^event: log\nid: \d+\ndata: "hello from the workload/).and.to.match(/event: end\ndata: \{"status":"finished"\}\n\n$/);

    const traversal = await signedFetch("GET", `/jobs/${jobId}/result/files/..%2F..%2Fagent.db`);
    expect(traversal.response.status).to.equal(400);
    expect(((await traversal.response.json()) as any).error.code).to.equal("BAD_PATH");

    // The client library: the same result, verified against the chain's resultHash; any other hash is refused.
    const agentClient = createAgentClient({ apiUrl, account: client, chainId: node.deployment.chainId, market: market() });
    const verified = await agentClient.fetchResult(BigInt(jobId), completed.args.resultHash);
    expect(verified.files.map((entry) => [entry.path, entry.data.toString()])).to.deep.equal([["out/result.txt", "hello on GPU 0"]]);
    expect(verified.exit).to.include({ exitCode: 0 });
    let mismatch: Error | undefined;
    await agentClient.fetchResult(BigInt(jobId), keccak256(toHex("another result"))).catch((caught) => (mismatch = caught));
    expect(mismatch?.message).to.match(/hashes to 0x[0-9a-f]{64}, not to the on-chain resultHash 0x[0-9a-f]{64}: do not use it; dispute the job/);

    const logs = agent.logs();
    expect(logs.filter((entry) => entry.msg === "transaction sent" && entry.jobId === jobId).map((entry) => entry.action)).to.deep.equal(["accept", "complete"]);
    expect(logs.some((entry) => entry.msg === "heartbeat")).to.equal(true);
    const at = (msg: string) => logs.find((entry) => entry.msg === msg && entry.jobId === jobId)!.time as number;
    console.log(
      `      spec received -> job accepted ${at("job accepted") - at("spec received")} ms; workload ended -> job completed ${at("job completed") - at("workload ended")} ms; ` +
        `${heartbeats.length} heartbeats in the ${at("workload ended") - at("workload started")} ms the workload ran`,
    );
  });

  it("claims with the client's latest usage receipt once it pays at least claims.minAmount; a receipt by another key is refused", async function () {
    const spec = specFor("receipted", 6_000);
    const jobId = await createJob(spec);
    await agentKnows(jobId);
    expect((await signedFetch("POST", `/jobs/${jobId}/spec`, { body: JSON.stringify(spec) })).response.status).to.equal(202);
    await waitForState(jobId, 2);
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    const servedUntil = (await node.publicClient.getBlock()).timestamp;
    const receiptFor = async (account: typeof client) =>
      JSON.stringify({
        servedUntil: servedUntil.toString(),
        signature: await account.signTypedData({
          domain: { ...RECEIPT_DOMAIN, chainId: node.deployment.chainId, verifyingContract: market() },
          types: USAGE_RECEIPT_TYPES,
          primaryType: "UsageReceipt",
          message: { jobId: BigInt(jobId), servedUntil },
        }),
      });
    const forged = await signedFetch("POST", `/jobs/${jobId}/receipts`, { body: await receiptFor(stranger) });
    expect([forged.response.status, ((await forged.response.json()) as any).error.code]).to.deep.equal([422, "RECEIPT_INVALID"]);
    const posted = await createAgentClient({ apiUrl, account: client, chainId: node.deployment.chainId, market: market() }).sendReceipt(BigInt(jobId), servedUntil);
    expect(BigInt(posted.servedUntil)).to.equal(servedUntil);
    const claim = await waitFor("a claim with the receipt", async () => {
      const logs = await eventsOf("event JobClaimed(uint256 indexed jobId, uint256 amount, uint256 claimed, uint64 receiptedUntil)", { jobId: BigInt(jobId) });
      return logs[0];
    }, 30_000);
    expect(BigInt(claim.args.receiptedUntil)).to.equal(servedUntil);
    expect(claim.args.amount > 0n).to.equal(true);
    await waitForState(jobId, 3);
  });

  it("declines a client on its deny list, refuses a command its policy does not allow, and answers hostile requests with JSON errors", async function () {
    const created = await ok(runCli(node, ["client", "create-job", "--offer", offer, "--gpus", "1", "--duration", "1h", "--max-price", "2.50", "--spec", specHash(specFor("x", 0)), "--yes", "--json"], { GPUMESH_PRIVATE_KEY: KEYS[3] }));
    const denied = json(created).jobId as string;
    await waitForState(denied, 9, 30_000);
    const declined = (await eventsOf("event JobDeclined(uint256 indexed jobId, address indexed provider, uint256 refund, bytes32 reason)", { jobId: BigInt(denied) }))[0]!;
    expect(declined.args.reason).to.equal(keccak256(toHex("client refused by policy")));

    const shell = { version: 1, command: ["/bin/sh", "-c", "echo hi"] };
    const jobId = await createJob(shell);
    await agentKnows(jobId);
    const refused = await signedFetch("POST", `/jobs/${jobId}/spec`, { body: JSON.stringify(shell) });
    expect(refused.response.status).to.equal(422);
    expect(((await refused.response.json()) as any).error).to.deep.equal({ code: "POLICY_REFUSED", message: "command /bin/sh is not allowed here" });
    const notJson = await signedFetch("POST", `/jobs/${jobId}/spec`, { body: "{ nope" });
    expect([notJson.response.status, ((await notJson.response.json()) as any).error.code]).to.deep.equal([400, "BAD_JSON"]);

    const hostile: Array<[string, RequestInit, number]> = [
      ["/jobs/0x1", {}, 400],
      ["/jobs/99999999999999999999999999999999999999999999999999999999999999999999999999999999", {}, 400],
      [`/jobs/${jobId}/result/files/%E0%A4%A`, {}, 401],
      [`/jobs/${jobId}/spec`, {}, 405],
      [`/jobs/${jobId}`, { headers: { "x-gpumesh-timestamp": "1", "x-gpumesh-nonce": `0x${"00".repeat(32)}`, "x-gpumesh-signature": `0x${"00".repeat(65)}` } }, 401],
      [`/jobs/${jobId}`, { headers: { "x-gpumesh-timestamp": String(Math.floor(Date.now() / 1000)), "x-gpumesh-nonce": `0x${"00".repeat(32)}`, "x-gpumesh-signature": `0x${"ff".repeat(65)}` } }, 401],
      ["/nothing", { method: "DELETE" }, 404],
    ];
    for (const [pathname, init, status] of hostile) {
      const response = await fetch(`${apiUrl}${pathname}`, init);
      expect(response.status, pathname).to.equal(status);
      expect(((await response.json()) as any).error.code, pathname).to.be.a("string");
    }
    const raw = await new Promise<string>((resolve) => {
      const socket = net.connect(Number(new URL(apiUrl).port), "127.0.0.1", () => socket.write("\x00\xffGARBAGE / HTTP/9\r\n\r\n"));
      let answer = "";
      socket.on("data", (chunk) => (answer += chunk));
      socket.on("close", () => resolve(answer));
      socket.on("error", () => resolve(answer));
    });
    expect(raw).to.match(/^HTTP\/1\.1 400/).and.to.contain('"code":"BAD_REQUEST"');

    const metrics = await (await fetch(`${apiUrl}/metrics`)).text();
    expect(metrics).to.match(/gpumesh_agent_transactions_total\{action="accept",status="mined"\} [1-9]/);
    expect(metrics).to.match(/gpumesh_agent_heartbeats_total [1-9]/);
    expect(((await (await fetch(`${apiUrl}/metadata`)).json()) as any).hardware).to.have.length(2);
    await ok(asClient(["client", "cancel", jobId]));
  });

  it("fetches the spec's inputs, checked against their sha256, before accepting; declines a job whose input does not match", async function () {
    const content = Buffer.from("weights v1\n");
    const sha256 = createHash("sha256").update(content).digest("hex");
    const files = http.createServer((_request, response) => response.end(content));
    await new Promise<void>((resolve) => files.listen(0, "127.0.0.1", () => resolve()));
    const url = `http://127.0.0.1:${(files.address() as { port: number }).port}/weights.bin`;
    try {
      const spec = {
        version: 1,
        command: [process.execPath, "-e", `const fs=require('fs');fs.mkdirSync('out');fs.copyFileSync('inputs/${sha256}','out/copy.bin')`],
        inputs: [{ url, sha256 }],
        outputs: ["out/"],
      };
      const jobId = await createJob(spec);
      await agentKnows(jobId);
      expect((await signedFetch("POST", `/jobs/${jobId}/spec`, { body: JSON.stringify(spec) })).response.status).to.equal(202);
      await waitForState(jobId, 3);
      expect(await (await signedFetch("GET", `/jobs/${jobId}/result/files/out/copy.bin`)).response.text()).to.equal("weights v1\n");

      const wrong = { ...spec, inputs: [{ url, sha256: "0".repeat(64) }] };
      const wrongJob = await createJob(wrong);
      await agentKnows(wrongJob);
      expect((await signedFetch("POST", `/jobs/${wrongJob}/spec`, { body: JSON.stringify(wrong) })).response.status).to.equal(202);
      await waitForState(wrongJob, 9, 30_000);
      const declined = (await eventsOf("event JobDeclined(uint256 indexed jobId, address indexed provider, uint256 refund, bytes32 reason)", { jobId: BigInt(wrongJob) }))[0]!;
      expect(declined.args.reason).to.equal(keccak256(toHex("input 0 does not match its sha256")));
    } finally {
      files.close();
    }
  });

  it("keeps heartbeating while a slow input download holds a job's step", async function () {
    const running = await createJob(specFor("long", 20_000));
    await agentKnows(running);
    await signedFetch("POST", `/jobs/${running}/spec`, { body: JSON.stringify(specFor("long", 20_000)) });
    await waitForState(running, 2);
    // The input server answers after 10 s; meanwhile the running job needs its heartbeats (every 2 s here).
    const content = Buffer.from("slow weights\n");
    const sha256 = createHash("sha256").update(content).digest("hex");
    let asked = 0;
    const files = http.createServer((_request, response) => {
      asked = Date.now();
      setTimeout(() => response.end(content), 10_000);
    });
    await new Promise<void>((resolve) => files.listen(0, "127.0.0.1", () => resolve()));
    try {
      const url = `http://127.0.0.1:${(files.address() as { port: number }).port}/slow.bin`;
      const slow = { version: 1, command: [process.execPath, "-e", "0"], inputs: [{ url, sha256 }], outputs: [] };
      const slowJob = await createJob(slow);
      await agentKnows(slowJob);
      await signedFetch("POST", `/jobs/${slowJob}/spec`, { body: JSON.stringify(slow) });
      await waitFor("the agent to ask for the input", async () => (asked ? true : undefined), 30_000);
      const from = await node.publicClient.getBlockNumber();
      await new Promise((resolve) => setTimeout(resolve, 7_000));
      const heartbeats = (await eventsOf("event ProviderHeartbeat(address indexed provider, uint64 at)", { provider: PROVIDER })).filter((log) => log.blockNumber > from);
      expect(heartbeats.length, "heartbeats during the 7 s the download held the step").to.be.at.least(2);
      await waitForState(slowJob, 3, 60_000);
    } finally {
      files.close();
    }
    await waitForState(running, 3, 60_000);
  });

  it("refuses a spec whose hash is not the job's specHash, and unsigned, stale, replayed or foreign requests, with JSON errors", async function () {
    const jobId = await createJob(specFor("promised", 0));
    await agentKnows(jobId);
    const other = specFor("something else", 0);
    const mismatch = await signedFetch("POST", `/jobs/${jobId}/spec`, { body: JSON.stringify(other) });
    expect(mismatch.response.status).to.equal(409);
    const error = ((await mismatch.response.json()) as any).error;
    expect(error.code).to.equal("SPEC_HASH_MISMATCH");
    expect(error.message).to.contain(`the spec hashes to ${specHash(other)} but job ${jobId} was created with specHash ${specHash(specFor("promised", 0))}`);

    const replay = await fetch(`${apiUrl}/jobs/${jobId}/spec`, { method: "POST", headers: mismatch.headers, body: JSON.stringify(other) });
    expect(replay.status).to.equal(401);
    expect(((await replay.json()) as any).error.code).to.equal("REPLAYED");
    const stale = await signedFetch("GET", `/jobs/${jobId}`, { timestamp: BigInt(Math.floor(Date.now() / 1000) - 3600) });
    expect([stale.response.status, ((await stale.response.json()) as any).error.code]).to.deep.equal([401, "TIMESTAMP_STALE"]);
    const foreign = await signedFetch("GET", `/jobs/${jobId}`, { account: stranger });
    expect([foreign.response.status, ((await foreign.response.json()) as any).error.code]).to.deep.equal([403, "NOT_CLIENT"]);
    const unsigned = await fetch(`${apiUrl}/jobs/${jobId}`);
    expect([unsigned.status, ((await unsigned.json()) as any).error.code]).to.deep.equal([401, "SIGNATURE_REQUIRED"]);
    // A body declared larger than the limit is refused before any of it is read.
    const huge = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const request = http.request(`${apiUrl}/jobs/${jobId}/spec`, { method: "POST", headers: { "content-length": String(10 * 1024 * 1024) } }, (response) => {
        let body = "";
        response.on("data", (chunk) => (body += chunk));
        response.on("end", () => resolve({ status: response.statusCode!, body }));
      });
      request.on("error", reject);
      request.write("x".repeat(1024));
    });
    expect(huge.status).to.equal(413);
    expect(JSON.parse(huge.body).error.code).to.equal("BODY_TOO_LARGE");
    const garbage = await fetch(`${apiUrl}/jobs/../../etc/passwd`);
    expect(garbage.status).to.equal(404);

    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(await jobState(jobId), "still Created: a refused spec is never accepted").to.equal(1);
    expect((await fetch(`${apiUrl}/health`)).ok, "hostile requests did not crash the agent").to.equal(true);
    await ok(asClient(["client", "cancel", jobId]));
  });

  it("declines a job when all of the machine's GPUs are taken, with the reason's hash on chain", async function () {
    const holders = [await createJob(specFor("a", 0)), await createJob(specFor("b", 0))];
    for (const jobId of holders) await agentKnows(jobId);
    const assigned = await waitFor("both GPUs to be held", async () => {
      const rows = json(await runCli(node, ["agent", "status", "--config", configFile, "--json"])).gpuAssignments as Array<{ jobId: string }>;
      return rows.length === 2 ? rows.map((row) => row.jobId).sort() : undefined;
    }, 30_000);
    expect(assigned).to.deep.equal([...holders].sort());

    const jobId = await createJob(specFor("c", 0));
    await waitForState(jobId, 9, 30_000);
    const declined = (await eventsOf("event JobDeclined(uint256 indexed jobId, address indexed provider, uint256 refund, bytes32 reason)", { jobId: BigInt(jobId) }))[0]!;
    expect(declined.args.reason).to.equal(keccak256(toHex("no free GPUs")));
    for (const holder of holders) await ok(asClient(["client", "cancel", holder]));
    await waitFor("the GPUs to be released", async () => {
      const after = json(await runCli(node, ["agent", "status", "--config", configFile, "--json"]));
      return after.gpuAssignments.length === 0 ? true : undefined;
    }, 30_000);
  });

  it("killed with SIGKILL mid-job and restarted: does not accept again, awaits the workload that outlived it, completes with its outputs", async function () {
    const spec = specFor("survived", 6_000);
    const jobId = await createJob(spec);
    await agentKnows(jobId);
    expect((await signedFetch("POST", `/jobs/${jobId}/spec`, { body: JSON.stringify(spec) })).response.status).to.equal(202);
    const running = await waitFor("the workload to run", async () => {
      const { response } = await signedFetch("GET", `/jobs/${jobId}`);
      const body = (await response.json()) as Record<string, any>;
      return body.status === "running" ? body : undefined;
    }, 30_000);
    expect(running.gpus).to.have.length(1);
    const db = path.join(stateDir, "agent.db");
    await agent.stop("SIGKILL");
    const reader = new Database(db, { readonly: true });
    const { pid } = reader.prepare("SELECT pid FROM agent_jobs WHERE job_id = ?").get(jobId) as { pid: number };
    reader.close();
    expect(isRunning(pid), "the workload outlives the agent").to.equal(true);
    expect(await jobState(jobId)).to.equal(2);

    agent = await startAgent();
    await waitForState(jobId, 3);
    const accepts = await eventsOf("event JobAccepted(uint256 indexed jobId, address indexed provider, uint64 startedAt)", { jobId: BigInt(jobId) });
    expect(accepts).to.have.length(1);
    const logs = agent.logs();
    expect(logs.filter((entry) => entry.msg === "transaction sent" && entry.jobId === jobId).map((entry) => entry.action), "the restarted agent only completes").to.deep.equal(["complete"]);
    expect(logs.some((entry) => entry.msg === "reattaching to workload" && entry.jobId === jobId)).to.equal(true);

    const completed = (await eventsOf("event JobCompleted(uint256 indexed jobId, uint64 endedAt, uint256 earned, bytes32 resultHash)", { jobId: BigInt(jobId) }))[0]!;
    const archive = Buffer.from(await (await signedFetch("GET", `/jobs/${jobId}/result/archive`)).response.arrayBuffer());
    expect(`0x${createHash("sha256").update(archive).digest("hex")}`).to.equal(completed.args.resultHash as Hex);
    expect(await (await signedFetch("GET", `/jobs/${jobId}/result/files/out/result.txt`)).response.text()).to.equal("survived on GPU 0");
  });

  it("killed after its accept was mined but before it recorded it: the restarted agent reads the chain, sends no second accept, and runs the job", async function () {
    const spec = specFor("accepted once", 1_000);
    const jobId = await createJob(spec);
    await agentKnows(jobId);
    await agent.stop("SIGKILL");
    // What the dead agent had done: taken the spec, moved the job to preparing, and sent acceptJob (mined).
    const writer = new Database(path.join(stateDir, "agent.db"));
    writer.prepare("UPDATE agent_jobs SET spec_json = ?, status = 'preparing' WHERE job_id = ?").run(canonicalJson(spec), jobId);
    writer.close();
    await ok(asProvider(["provider", "accept", jobId]));

    agent = await startAgent();
    await waitForState(jobId, 3);
    const logs = agent.logs();
    expect(logs.filter((entry) => entry.jobId === jobId && /^transaction/.test(entry.msg)).map((entry) => `${entry.msg} ${entry.action}`)).to.deep.equal(["transaction sent complete"]);
    expect(logs.some((entry) => entry.msg === "job already running on chain" && entry.jobId === jobId)).to.equal(true);
    expect(await eventsOf("event JobAccepted(uint256 indexed jobId, address indexed provider, uint64 startedAt)", { jobId: BigInt(jobId) })).to.have.length(1);
    expect(await (await signedFetch("GET", `/jobs/${jobId}/result/files/out/result.txt`)).response.text()).to.match(/^accepted once on GPU \d$/);
  });

  it("a workload that vanished while the agent was down is reported and completed at once, never billed on", async function () {
    const spec = specFor("never written", 60_000);
    const jobId = await createJob(spec);
    await agentKnows(jobId);
    expect((await signedFetch("POST", `/jobs/${jobId}/spec`, { body: JSON.stringify(spec) })).response.status).to.equal(202);
    await waitFor("the workload to run", async () => {
      const { response } = await signedFetch("GET", `/jobs/${jobId}`);
      return ((await response.json()) as Record<string, any>).status === "running" ? true : undefined;
    }, 30_000);
    await agent.stop("SIGKILL");
    const reader = new Database(path.join(stateDir, "agent.db"), { readonly: true });
    const { pid } = reader.prepare("SELECT pid FROM agent_jobs WHERE job_id = ?").get(jobId) as { pid: number };
    reader.close();
    process.kill(-pid, "SIGKILL");
    await waitFor("the workload to be gone", async () => (isRunning(pid) ? undefined : true), 10_000);

    agent = await startAgent();
    await waitForState(jobId, 3, 30_000);
    const status = (await (await signedFetch("GET", `/jobs/${jobId}`)).response.json()) as Record<string, any>;
    expect(status).to.include({ status: "failed" });
    expect(status.exit).to.include({ reason: "vanished", exitCode: null });
    expect(agent.logs().some((entry) => entry.msg === "workload vanished" && entry.jobId === jobId)).to.equal(true);
    const job = await readJob(jobId);
    expect(job.endedAt - job.startedAt, "billed only until the restarted agent found the workload gone").to.be.below(60);
  });

  it("declines in time a job whose spec never comes", async function () {
    const jobId = await createJob(specFor("never delivered", 0));
    await agentKnows(jobId);
    const { acceptDeadline } = await readJob(jobId);
    const now = (await node.publicClient.getBlock()).timestamp;
    // Up to the default margin of 60 s before the deadline: the agent must decline now, while it still can.
    await node.advance(Number(BigInt(acceptDeadline) - now) - 50);
    await waitForState(jobId, 9, 30_000);
    const declined = (await eventsOf("event JobDeclined(uint256 indexed jobId, address indexed provider, uint256 refund, bytes32 reason)", { jobId: BigInt(jobId) }))[0]!;
    expect(declined.args.reason).to.equal(keccak256(toHex("spec not delivered before the accept deadline")));
  });

  it("agent status prints the jobs and GPUs; a bad config fails at start naming the key", async function () {
    const status = await ok(runCli(node, ["agent", "status", "--config", configFile]));
    expect(status.stdout).to.contain(`provider    ${PROVIDER}`).and.to.match(/JOB\s+STATUS\s+GPUS/).and.to.contain("declined");
    const bad = path.join(node.dir, "bad-agent.json");
    fs.writeFileSync(bad, JSON.stringify({ stateDir: "s", api: { prot: 1 } }));
    const failed = await runCli(node, ["agent", "--config", bad], { GPUMESH_PRIVATE_KEY: KEYS[1] });
    expect(failed.code, show(failed)).to.equal(1);
    expect(failed.stderr).to.contain("config api.prot: unknown key (known: host, port, publicUrl)");
  });

  it("settles its completed jobs once their dispute windows have passed", async function () {
    const completed = json(await ok(runCli(node, ["agent", "status", "--config", configFile, "--json"]))).jobs.filter((job: { status: string }) => job.status === "finished" || job.status === "failed");
    expect(completed.length).to.be.at.least(6);
    await node.advance(24 * 3600 + 60);
    for (const job of completed) await waitForState(job.jobId, 5, 30_000);
    const txs = json(await ok(runCli(node, ["agent", "status", "--config", configFile, "--json"]))).transactions as Array<{ action: string; status: string; count: number }>;
    expect(txs.filter((tx) => tx.status !== "mined"), "no transaction failed or was sent twice").to.deep.equal([]);
  });
});

/**
 * Indexer benchmark: `npm run bench:indexer [-- --events 100000] [--sparse-events 50000] [--sparse-blocks 200000]
 * [--runs 3] [--cpu-prof] [--skip-graphql] [--skip-sparse]`.
 *
 * Dense chain: anvil, GPU Mesh deployed, at least --events contract events (providers, offers, rounds of job
 * lifecycles batched through multicall, many transactions per block), backfilled --runs times into fresh SQLite files
 * in a child process running the compiled indexer (scripts/lib/backfill-child.js; in-process figures: from the
 * indexer's start to caught up) and --runs times by `gpumesh index --exit-at-head` (end to end, from process start to
 * exit); each figure is the median of its runs.
 * The ceiling is a bare eth_getLogs of the same chain, one pass right before each backfill: the share of it is the
 * median of the pairs' ratios, as the machine was during each pair.
 * Sparse chain: the same trades on a Hardhat node with empty blocks between them (--sparse-blocks in all: 40 after
 * every block of trades, the rest between rounds), read through a proxy that drops blockTimestamp from logs as geth
 * does, so that headers must be fetched.
 * Then GraphQL latency (p50/p99, 32 concurrent clients) over the dense database: see measureGraphqlLatency.
 * Writes bench/indexer.json and prints every figure against its target.
 * Only a whole run (no --skip-*) rewrites bench/indexer.json; a partial one prints its figures.
 */
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { createPublicClient, createWalletClient, decodeErrorResult, encodeFunctionData, http, keccak256, toHex, type Address, type Hex } from "viem";
import { foundry } from "viem/chains";
import { devStablecoinAbi, jobMarketAbi, providerStakingAbi } from "../src/chain/abis";
import { deployGpuMesh } from "../src/chain/deploy";
import { loadDeployment, type Deployment } from "../src/chain/deployment";
import { createEventDecoder, type RpcLog } from "../src/chain/events";
import { freePort } from "../src/internal/net";
import { cpuProfileFlags } from "./lib/profile-summary";
import { failuresOf, runLoad } from "./lib/scale-load";

const ROOT = path.join(__dirname, "..");
const TARGET_RSS_MB = 300;
const TARGET_GRAPHQL_P99_MS = 20;
const MODELS = ["H100-SXM-80GB", "A100-SXM-80GB", "L40S-48GB", "RTX-4090-24GB", "H200-SXM-141GB"];
const REGIONS = ["eu-west", "us-east", "us-west", "ap-south"];
const PROVIDERS = 8;
const CLIENTS = 16;
/** Calls per multicall transaction and transactions per mined block. */
const CALLS_PER_TX = 100;
const TXS_PER_BLOCK = 6;
const GAS_PER_CALL = 250_000n;
/** Events of one job's lifecycle: JobCreated, JobAccepted + CollateralLocked, JobClaimed, JobCompleted, JobSettled + CollateralUnlocked. */
const EVENTS_PER_JOB = 7;
const JOBS_PER_CLIENT_PER_ROUND = 150;

// ------------------------------------------------------------------ anvil
interface Anvil {
  url: string;
  child: ChildProcess;
  stop(): Promise<void>;
}


/** Waits up to `attempts` x 100 ms for a JSON-RPC node on `port` spawned as `child`; kills it when it never answers. */
async function nodeReady(child: ChildProcess, port: number, name: string, attempts: number): Promise<Anvil> {
  const url = `http://127.0.0.1:${port}`;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  for (let i = 0; i < attempts; i++) {
    try {
      const response = await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "eth_chainId", params: [] }) });
      if (response.ok) return { url, child, stop: async () => { child.kill("SIGTERM"); await exited; } };
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  child.kill("SIGKILL");
  throw new Error(`${name} did not start`);
}

export async function startAnvil(): Promise<Anvil> {
  const port = await freePort();
  const child = spawn(
    path.join(ROOT, "node_modules", ".bin", "anvil"),
    ["--host", "127.0.0.1", "--port", String(port), "--silent", "--accounts", String(1 + PROVIDERS + CLIENTS),
      "--gas-limit", "4000000000", "--disable-code-size-limit", "--balance", "1000000"],
    { stdio: "ignore" },
  );
  return nodeReady(child, port, "anvil", 200);
}

/** A Hardhat node (scripts/bench-hardhat.config.ts) on a free loopback port. */
async function startHardhatNode(): Promise<Anvil> {
  const port = await freePort();
  const child = spawn(process.execPath, [path.join(ROOT, "node_modules", "hardhat", "internal", "cli", "cli.js"), "--config", path.join(__dirname, "bench-hardhat.config.ts"), "node", "--hostname", "127.0.0.1", "--port", String(port)], {
    cwd: ROOT,
    stdio: "ignore",
  });
  return nodeReady(child, port, "the Hardhat node", 600);
}

// ------------------------------------------------------------------ event generation
async function rpc<T>(url: string, method: string, params: unknown[]): Promise<T> {
  const response = await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ jsonrpc: "2.0", id: 1, method, params }) });
  const body = (await response.json()) as { result?: T; error?: { message: string } };
  if (body.error) throw new Error(`${method}: ${body.error.message}`);
  return body.result as T;
}

interface Generated {
  deployment: Deployment;
  deploymentFile: string;
  expectedEvents: number;
  blocks: number;
  generateSeconds: number;
}

export interface SparseOptions {
  /** Empty blocks (1 s apart) after every block of transactions: few enough that jobs stay inside their windows. */
  emptyBlocksPerMine: number;
  /** Empty blocks in all before the first round and after every round of job lifecycles, spread evenly over the gaps. */
  emptyBlocksBetweenRounds: number;
  /** Mines that many empty blocks 1 s apart (hardhat_mine: constant time; anvil_mine is quadratic in the count). */
  mineEmpty(blocks: number): Promise<void>;
  /** Real blocks mined at the end, so that the unfinalized window holds no reserved blocks. */
  tailBlocks: number;
}

/** sparse: empty blocks between the trades, for a chain like a real L2's, where most blocks hold nothing of GPU Mesh. */
export async function generateEvents(url: string, dir: string, targetEvents: number, sparse?: SparseOptions): Promise<Generated> {
  const started = performance.now();
  const transport = http(url);
  const publicClient = createPublicClient({ chain: foundry, transport });
  const accounts = await createWalletClient({ chain: foundry, transport }).getAddresses();
  const walletClient = createWalletClient({ chain: foundry, transport, account: accounts[0] });
  const deploymentFile = path.join(dir, "deployment.json");
  fs.writeFileSync(deploymentFile, JSON.stringify(await deployGpuMesh({ publicClient, walletClient, network: "bench" }), null, 2));
  const deployment = loadDeployment(deploymentFile);
  const market = deployment.contracts.JobMarket.address;
  const staking = deployment.contracts.ProviderStaking.address;
  const providers = accounts.slice(1, 1 + PROVIDERS);
  const clients = accounts.slice(1 + PROVIDERS, 1 + PROVIDERS + CLIENTS);

  const nonces = new Map<Address, number>();
  const pending: Hex[] = [];
  let sentSinceMine = 0;
  const mine = async () => {
    await rpc(url, "evm_mine", []);
    if (sparse) await sparse.mineEmpty(sparse.emptyBlocksPerMine);
    sentSinceMine = 0;
    const receipts = await Promise.all(pending.map((hash) => rpc<{ status: Hex } | null>(url, "eth_getTransactionReceipt", [hash])));
    const failed = receipts.findIndex((receipt) => !receipt || receipt.status !== "0x1");
    if (failed >= 0) {
      const tx = await rpc<{ from: Address; to: Address; input: Hex; gas: Hex; blockNumber: Hex }>(url, "eth_getTransactionByHash", [pending[failed]]);
      const replay = await fetch(url, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "eth_call", params: [{ from: tx.from, to: tx.to, data: tx.input, gas: tx.gas }, toHex(Number.parseInt(tx.blockNumber, 16) - 1)] }),
      }).then((response) => response.json() as Promise<{ error?: { message: string; data?: Hex } }>);
      const reason = replay.error?.data ? decodeErrorResult({ abi: jobMarketAbi, data: replay.error.data }) : replay.error;
      throw new Error(`transaction ${pending[failed]} failed: ${JSON.stringify(reason, (_, v) => (typeof v === "bigint" ? v.toString() : v))}`);
    }
    pending.length = 0;
  };
  const send = async (from: Address, to: Address, data: Hex, gas: bigint) => {
    if (!nonces.has(from)) nonces.set(from, Number.parseInt(await rpc<Hex>(url, "eth_getTransactionCount", [from, "pending"]), 16));
    const nonce = nonces.get(from)!;
    nonces.set(from, nonce + 1);
    pending.push(await rpc<Hex>(url, "eth_sendTransaction", [{ from, to, data, gas: toHex(gas), nonce: toHex(nonce) }]));
    if (++sentSinceMine >= TXS_PER_BLOCK) await mine();
  };
  const call = (functionName: string, args: readonly unknown[]) => encodeFunctionData({ abi: jobMarketAbi, functionName, args } as never);
  /** Sends calls from one account in multicall batches. */
  const multicall = async (from: Address, calls: Hex[]) => {
    for (let i = 0; i < calls.length; i += CALLS_PER_TX) {
      const chunk = calls.slice(i, i + CALLS_PER_TX);
      await send(from, market, encodeFunctionData({ abi: jobMarketAbi, functionName: "multicall", args: [chunk] }), GAS_PER_CALL * BigInt(chunk.length) + 100_000n);
    }
  };
  const token = (address: Address, functionName: string, args: readonly unknown[]) => encodeFunctionData({ abi: devStablecoinAbi, functionName, args } as never);

  await rpc(url, "evm_setAutomine", [false]);
  // Set-up: providers stake and list offers over every model and region; clients get money.
  for (const provider of providers) {
    await send(provider, deployment.tokens.stake.address, token(deployment.tokens.stake.address, "mint", [provider, 10n ** 30n]), 200_000n);
    await send(provider, deployment.tokens.stake.address, token(deployment.tokens.stake.address, "approve", [staking, 2n ** 255n]), 200_000n);
    await send(provider, staking, encodeFunctionData({ abi: providerStakingAbi, functionName: "register", args: ["https://bench.example"] }), 300_000n);
    await send(provider, staking, encodeFunctionData({ abi: providerStakingAbi, functionName: "stake", args: [10n ** 29n] }), 300_000n);
  }
  for (const client of clients) {
    await send(client, deployment.tokens.payment.address, token(deployment.tokens.payment.address, "mint", [client, 10n ** 24n]), 200_000n);
    await send(client, deployment.tokens.payment.address, token(deployment.tokens.payment.address, "approve", [market, 2n ** 255n]), 200_000n);
  }
  await mine();
  const now = Number((await publicClient.getBlock()).timestamp);
  let offerId = 1n;
  const offersOf = new Map<Address, bigint[]>();
  const offerCalls = new Map<Address, Hex[]>();
  providers.forEach((provider, p) => {
    const ids: bigint[] = [];
    const calls: Hex[] = [];
    for (let k = 0; k < 5; k++) {
      const model = MODELS[(p + k) % MODELS.length];
      calls.push(
        call("createOffer", [
          {
            gpuModel: keccak256(toHex(model)),
            gpus: 100_000,
            pricePerGpuHour: 1_000_000n + BigInt(p * 37_000 + k * 113_000),
            minDuration: 60,
            maxDuration: 86400 * 30,
            region: toHex(REGIONS[(p + k) % REGIONS.length], { size: 16 }),
            carbonIntensity: 100 + p,
            renewableBps: 1000 * k,
            expiresAt: now + 365 * 86400,
          },
        ]),
      );
      ids.push(offerId++);
    }
    offersOf.set(provider, ids);
    offerCalls.set(provider, calls);
  });
  for (const provider of providers) await multicall(provider, offerCalls.get(provider)!);
  await mine();

  const decoder = createEventDecoder(deployment);
  const jobsPerRound = CLIENTS * JOBS_PER_CLIENT_PER_ROUND;
  const rounds = Math.max(1, Math.ceil(targetEvents / (jobsPerRound * EVENTS_PER_JOB)));
  let expectedEvents = 0;
  const gapBlocks = sparse ? Math.ceil(sparse.emptyBlocksBetweenRounds / (rounds + 1)) : 0;
  if (sparse) await sparse.mineEmpty(gapBlocks);
  for (let round = 0; round < rounds; round++) {
    const firstBlock = Number.parseInt(await rpc<Hex>(url, "eth_blockNumber", []), 16) + 1;
    for (const [c, client] of clients.entries()) {
      const calls: Hex[] = [];
      for (let j = 0; j < JOBS_PER_CLIENT_PER_ROUND; j++) {
        const provider = providers[(c + j + round) % providers.length];
        const offers = offersOf.get(provider)!;
        calls.push(call("createJob", [offers[(j + round) % offers.length], 1 + (j % 4), 3600, 2n ** 96n, 2n ** 255n, keccak256(toHex(`job ${round} ${c} ${j}`))]));
      }
      await multicall(client, calls);
    }
    await mine();
    // Job ids and providers from the JobCreated logs (transaction order inside a block is the node's choice).
    const logs = await rpc<RpcLog[]>(url, "eth_getLogs", [{ address: market, fromBlock: toHex(firstBlock), toBlock: "latest" }]);
    const jobsOf = new Map<Address, bigint[]>(providers.map((p) => [p.toLowerCase() as Address, []]));
    for (const log of logs) {
      const { event } = decoder.decode(log);
      if (event.contract === "JobMarket" && event.eventName === "JobCreated") jobsOf.get(event.args.provider.toLowerCase() as Address)!.push(event.args.jobId);
    }
    for (const provider of providers) await multicall(provider, jobsOf.get(provider.toLowerCase() as Address)!.map((id) => call("acceptJob", [id])));
    // Reprices: the ask floors move.
    for (const provider of providers) {
      await multicall(provider, offersOf.get(provider)!.map((id, k) => call("updateOffer", [id, 100_000, 900_000n + BigInt(round * 50_000 + k * 10_000), now + 365 * 86400])));
    }
    await mine();
    await rpc(url, "evm_increaseTime", [1800]);
    for (const provider of providers) await multicall(provider, jobsOf.get(provider.toLowerCase() as Address)!.map((id) => call("claim", [id])));
    await mine();
    for (const provider of providers) {
      await multicall(provider, jobsOf.get(provider.toLowerCase() as Address)!.map((id) => call("completeJob", [id, keccak256(toHex("done"))])));
    }
    await mine();
    await rpc(url, "evm_increaseTime", [25 * 3600]);
    for (const provider of providers) await multicall(provider, jobsOf.get(provider.toLowerCase() as Address)!.map((id) => call("settleJob", [id])));
    await mine();
    if (sparse) await sparse.mineEmpty(gapBlocks);
    expectedEvents += jobsPerRound * EVENTS_PER_JOB + providers.length * 5;
    process.stderr.write(`generated round ${round + 1}/${rounds}: ~${expectedEvents} events\n`);
  }
  for (let i = 0; sparse && i < sparse.tailBlocks; i++) await rpc(url, "evm_mine", []);
  await rpc(url, "evm_setAutomine", [true]);
  const head = Number.parseInt(await rpc<Hex>(url, "eth_blockNumber", []), 16);
  return {
    deployment,
    deploymentFile,
    expectedEvents,
    blocks: head - deployment.startBlock + 1,
    generateSeconds: (performance.now() - started) / 1000,
  };
}

// ------------------------------------------------------------------ backfill measurement (child process)
interface BackfillFigures {
  events: number;
  blocks: number;
  batches: number;
  seconds: number;
  eventsPerSecond: number;
  blocksPerSecond: number;
  peakRssMb: number;
  rpcRequests: number;
  dbBytes: number;
}

async function measureBackfill(url: string, deploymentFile: string, dbFile: string, cpuProfile: boolean): Promise<BackfillFigures> {
  const child = spawn(
    process.execPath,
    [...cpuProfileFlags(cpuProfile, "the backfill"), path.join(ROOT, "scripts", "lib", "backfill-child.js"), url, deploymentFile, dbFile],
    { cwd: ROOT, stdio: ["ignore", "pipe", "inherit"] },
  );
  let stdout = "";
  child.stdout!.on("data", (chunk) => (stdout += chunk));
  const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
  if (code !== 0) throw new Error(`backfill child exited with ${code}`);
  return JSON.parse(stdout.trim().split("\n").pop()!) as BackfillFigures;
}

// ------------------------------------------------------------------ GraphQL latency
export interface LatencyFigures {
  requests: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  requestsPerSecond?: number;
}

/** wrk on PATH (Debian package `wrk`): a C load generator that does not compete with the server for CPU time. */
function findWrk(): string | null {
  for (const dir of (process.env.PATH ?? "").split(path.delimiter)) {
    const candidate = path.join(dir, "wrk");
    if (dir && fs.existsSync(candidate)) return candidate;
  }
  return null;
}

/** Runs wrk with `connections` keep-alive connections POSTing `body` for `seconds`; parses its latency report. */
function runWrk(wrk: string, endpoint: string, body: string, connections: number, seconds: number): Promise<LatencyFigures> {
  const script = path.join(os.tmpdir(), `gpumesh-wrk-${process.pid}.lua`);
  fs.writeFileSync(
    script,
    `wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\nwrk.body = [==[${body}]==]\n`,
  );
  return new Promise((resolve, reject) => {
    const child = spawn(wrk, ["-t1", `-c${connections}`, `-d${seconds}s`, "--latency", "-s", script, endpoint], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    let output = "";
    child.stdout!.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.once("error", reject);
    child.once("exit", (code) => {
      fs.rmSync(script, { force: true });
      const toMs = (value: string, unit: string) => Number(value) * (unit === "us" ? 0.001 : unit === "s" ? 1000 : 1);
      const line = (pattern: RegExp) => {
        const match = pattern.exec(output);
        if (!match) throw new Error(`wrk exited with ${code} and no figures:\n${output}`);
        return match;
      };
      try {
        const p50 = line(/^\s+50%\s+([\d.]+)(us|ms|s)$/m);
        const p99 = line(/^\s+99%\s+([\d.]+)(us|ms|s)$/m);
        const max = line(/^\s+Latency\s+\S+\s+\S+\s+([\d.]+)(us|ms|s)/m);
        const requests = line(/^\s+(\d+) requests in/m);
        const perSecond = line(/^Requests\/sec:\s+([\d.]+)/m);
        if (/Non-2xx/.test(output)) throw new Error(`wrk saw non-2xx answers:\n${output}`);
        const ms = (value: number) => Number(value.toFixed(2));
        resolve({
          requests: Number(requests[1]),
          p50Ms: ms(toMs(p50[1]!, p50[2]!)),
          p99Ms: ms(toMs(p99[1]!, p99[2]!)),
          maxMs: ms(toMs(max[1]!, max[2]!)),
          requestsPerSecond: Math.round(Number(perSecond[1])),
        });
      } catch (error) {
        reject(error);
      }
    });
  });
}

const GRAPHQL_QUERIES = {
  capacity: {
    query: `{ capacity(groupBy: GPU_MODEL_REGION) { gpuModel region gpusOffered gpusLeased gpusAvailable utilization providers offers askFloor askMedian } }`,
    variables: () => ({}),
  },
  prices: {
    query: `query ($model: String!) { prices(gpuModel: $model, interval: HOUR) { start jobs gpuHours open high low close vwap askFloor } }`,
    variables: (i: number) => ({ model: MODELS[i % MODELS.length] }),
  },
  jobsPage: {
    query: `query ($after: String) { jobs(first: 50, after: $after) { items { id state gpus pricePerGpuHour escrow provider { address } } pageInfo { hasNextPage endCursor } totalCount } }`,
    variables: () => ({}),
  },
} as const;

/**
 * GraphQL latency at 32 keep-alive connections, per query kind: capacity, prices (each model), and the first ten
 * pages of jobs (cursors from endCursor). The API runs as `gpumesh serve` in its own process, as in production, and
 * the load generator in another. Repeated identical queries can be answered from the API's response
 * cache, which every indexer commit drops: these figures are for a read-mostly API between commits.
 */
export async function measureGraphqlLatency(dbFile: string, options: { clients?: number } = {}) {
  const serve = spawn(process.execPath, [path.join(__dirname, "..", "bin", "gpumesh.js"), "serve", "--db", dbFile, "--port", "0"], {
    stdio: ["ignore", "pipe", "ignore"],
  });
  const serverUrl = await new Promise<string>((resolve, reject) => {
    let printed = "";
    serve.stdout!.on("data", (chunk: Buffer) => {
      printed += chunk.toString();
      const match = /GraphQL API at (http:\/\/\S+)\/graphql/.exec(printed);
      if (match) resolve(match[1]!);
    });
    serve.once("exit", (code) => reject(new Error(`gpumesh serve exited with ${code} before listening`)));
  });
  const server = {
    url: serverUrl,
    close: () =>
      new Promise<void>((resolve) => {
        serve.once("exit", () => resolve());
        serve.kill("SIGTERM");
      }),
  };
  const clients = options.clients ?? 32;
  const endpoint = `${server.url}/graphql`;
  const post = async (query: string, variables: Record<string, unknown>) => {
    const response = await fetch(endpoint, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ query, variables }) });
    const body = (await response.json()) as { data?: any; errors?: Array<{ message: string }> };
    if (body.errors?.length) throw new Error(`GraphQL error: ${body.errors[0].message}`);
    return body.data;
  };
  const results: Record<string, LatencyFigures> = {};
  // wrk when it is installed (C, one thread); else autocannon in its own process (scripts/lib/scale-load.ts, as
  // bench:scale measures). A generator in this process would share its event loop with the clients' JSON work and,
  // on this 2-core machine, take more CPU per request than the server (a fetch-based one left the server idle half
  // the time). The JSON says which generator measured.
  const wrk = findWrk();
  try {
    for (const [name, spec] of Object.entries(GRAPHQL_QUERIES)) {
      const variables = spec.variables(0);
      await post(spec.query, variables); // answers without errors before it is measured
      if (wrk) {
        results[name] = await runWrk(wrk, endpoint, JSON.stringify({ query: spec.query, variables }), clients, 8);
        continue;
      }
      // Variants: each model for prices; for the jobs page the first ten pages, walked with endCursor.
      const variants: Array<Record<string, unknown>> = [];
      if (name === "jobsPage") {
        let after: string | null = null;
        do {
          variants.push({ after });
          const data = await post(spec.query, { after });
          after = data.jobs.pageInfo.hasNextPage ? data.jobs.pageInfo.endCursor : null;
        } while (after !== null && variants.length < 10);
      } else {
        for (let i = 0; i < MODELS.length; i++) variants.push({ ...spec.variables(i) });
      }
      const figures = await runLoad({ url: endpoint, connections: clients, seconds: 8, warmupSeconds: 2, query: spec.query, variants, distinct: false });
      const failed = failuresOf(figures);
      if (failed > 0) throw new Error(`graphql ${name}: ${failed} failed requests (${figures.firstGraphqlError ?? "non-2xx, errors or timeouts"})`);
      results[name] = { requests: figures.requests, p50Ms: figures.p50Ms, p99Ms: figures.p99Ms, maxMs: figures.maxMs, requestsPerSecond: figures.requestsPerSecond };
    }
  } finally {
    await server.close();
  }
  return {
    clients,
    server: "gpumesh serve (separate process)",
    loadGenerator: wrk
      ? "wrk, 1 thread, 8 s per query, keep-alive connections"
      : "autocannon in its own process, keep-alive connections, 8 s per query after 2 s of warm-up",
    queries: results,
  };
}

// ------------------------------------------------------------------ main
// ------------------------------------------------------------------ end to end, the ceiling, a geth-like node
/** `gpumesh index --exit-at-head` from process start to exit: start-up, backfill and the head check included. */
async function measureEndToEnd(url: string, deploymentFile: string, dbFile: string): Promise<{ seconds: number; events: number; eventsPerSecond: number; blocksPerSecond: number }> {
  const started = performance.now();
  const child = spawn(process.execPath, [path.join(ROOT, "bin", "gpumesh.js"), "index", "--rpc", url, "--deployment", deploymentFile, "--db", dbFile, "--exit-at-head", "--log-level", "warn"], {
    cwd: ROOT,
    stdio: ["ignore", "ignore", "inherit"],
  });
  const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
  const seconds = (performance.now() - started) / 1000;
  if (code !== 0) throw new Error(`gpumesh index exited with ${code}`);
  const { openStore } = await import("../src/store/db");
  const store = openStore({ file: dbFile, readonly: true });
  const checkpoint = store.db.prepare("SELECT block_number, events_ingested FROM checkpoint").get() as { block_number: number; events_ingested: number };
  store.close();
  const blocks = checkpoint.block_number - loadDeployment(deploymentFile).startBlock + 1;
  return { seconds: Number(seconds.toFixed(3)), events: checkpoint.events_ingested, eventsPerSecond: Math.round(checkpoint.events_ingested / seconds), blocksPerSecond: Math.round(blocks / seconds) };
}

/**
 * One pass of the ceiling: every log of the deployment fetched with bare `eth_getLogs` in ranges of 10,000 blocks,
 * parsed, nothing decoded or written. One pass runs right before each in-process backfill (runScenario).
 */
async function bareGetLogsPass(url: string, deployment: Deployment): Promise<{ logs: number; seconds: number }> {
  const head = Number.parseInt(await rpc<Hex>(url, "eth_blockNumber", []), 16);
  const address = Object.values(deployment.contracts).map((c) => c.address);
  const started = performance.now();
  let logs = 0;
  for (let from = deployment.startBlock; from <= head; from += 10_000) {
    logs += (await rpc<RpcLog[]>(url, "eth_getLogs", [{ address, fromBlock: toHex(from), toBlock: toHex(Math.min(head, from + 9_999)) }])).length;
  }
  return { logs, seconds: (performance.now() - started) / 1000 };
}

/** The middle item by `key` (the upper one of an even count), as every figure of several runs is reported. */
const medianBy = <T>(items: readonly T[], key: (item: T) => number): T => [...items].sort((a, b) => key(a) - key(b))[Math.floor(items.length / 2)];
const median = (values: readonly number[]) => medianBy(values, (value) => value);

/**
 * A JSON-RPC proxy on loopback that answers like geth: its logs carry no blockTimestamp (anvil adds it), so the
 * indexer has to fetch the header of every block with events. A string edit, so that the proxy costs little CPU.
 */
async function startGethLikeProxy(targetUrl: string): Promise<{ url: string; close(): Promise<void> }> {
  const http = await import("node:http");
  const server = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", async () => {
      try {
        const upstream = await fetch(targetUrl, { method: "POST", headers: { "content-type": "application/json" }, body: Buffer.concat(chunks) });
        const text = (await upstream.text()).replace(/,"blockTimestamp":"0x[0-9a-f]+"/g, "");
        response.writeHead(upstream.status, { "content-type": "application/json" });
        response.end(text);
      } catch (error) {
        response.writeHead(502);
        response.end(String(error));
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as net.AddressInfo;
  return { url: `http://127.0.0.1:${port}`, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

interface ScenarioReport {
  chain: { blocks: number; events: number; generateSeconds: number };
  inProcess: BackfillFigures & { runs: Array<{ seconds: number; eventsPerSecond: number; peakRssMb: number }> };
  endToEnd: Awaited<ReturnType<typeof measureEndToEnd>>;
  dbFile: string;
}

/**
 * Generates a chain, then backfills it `runs` times in a child (in-process figures) and `runs` times with the CLI (end
 * to end).
 * `beforeEachRun` (the dense chain's ceiling pass) runs right before each backfill, so that both figures of a pair see
 * the same machine: on a shared one the same pass measured 35,420 and 65,478 logs/s on two days.
 */
async function runScenario(
  name: string,
  nodeUrl: string,
  indexUrl: string,
  dir: string,
  targetEvents: number,
  runCount: number,
  cpuProfile: boolean,
  sparse?: SparseOptions,
  beforeEachRun?: (deployment: Deployment) => Promise<void>,
): Promise<ScenarioReport> {
  fs.mkdirSync(dir, { recursive: true });
  process.stderr.write(`${name}: generating >= ${targetEvents} events${sparse ? ", with empty blocks between the trades" : ""}\n`);
  const generated = await generateEvents(nodeUrl, dir, targetEvents, sparse);
  process.stderr.write(`${name}: generated ${generated.blocks} blocks in ${generated.generateSeconds.toFixed(1)} s; backfilling\n`);
  const runs: BackfillFigures[] = [];
  let dbFile = "";
  for (let run = 0; run < runCount; run++) {
    dbFile = path.join(dir, `${name}-${run}.db`);
    await beforeEachRun?.(generated.deployment);
    const figures = await measureBackfill(indexUrl, generated.deploymentFile, dbFile, cpuProfile && run === runCount - 1);
    if (figures.events < generated.expectedEvents) throw new Error(`indexed ${figures.events} events, expected at least ${generated.expectedEvents}`);
    process.stderr.write(`${name}: in-process run ${run + 1}/${runCount}: ${Math.round(figures.eventsPerSecond)} events/s, ${Math.round(figures.blocksPerSecond)} blocks/s, peak RSS ${Math.round(figures.peakRssMb)} MB\n`);
    runs.push(figures);
  }
  const middle = medianBy(runs, (run) => run.eventsPerSecond);
  const endToEndRuns: Array<Awaited<ReturnType<typeof measureEndToEnd>>> = [];
  for (let run = 0; run < runCount; run++) {
    const figures = await measureEndToEnd(indexUrl, generated.deploymentFile, path.join(dir, `${name}-cli-${run}.db`));
    process.stderr.write(`${name}: end to end (gpumesh index --exit-at-head) run ${run + 1}/${runCount}: ${figures.eventsPerSecond} events/s in ${figures.seconds} s\n`);
    endToEndRuns.push(figures);
  }
  const endToEnd = medianBy(endToEndRuns, (run) => run.seconds);
  return {
    chain: { blocks: generated.blocks, events: middle.events, generateSeconds: Number(generated.generateSeconds.toFixed(1)) },
    inProcess: {
      ...middle,
      seconds: Number(middle.seconds.toFixed(3)),
      eventsPerSecond: Math.round(middle.eventsPerSecond),
      blocksPerSecond: Math.round(middle.blocksPerSecond),
      peakRssMb: Math.round(Math.max(...runs.map((r) => r.peakRssMb))),
      runs: runs.map((r) => ({ seconds: Number(r.seconds.toFixed(3)), eventsPerSecond: Math.round(r.eventsPerSecond), peakRssMb: Math.round(r.peakRssMb) })),
    },
    endToEnd,
    dbFile,
  };
}

const TARGET_DENSE_SHARE_OF_CEILING = 0.5;
const TARGET_SPARSE_EVENTS_PER_SECOND = 5_000;

async function main() {
  const { values } = parseArgs({
    options: {
      events: { type: "string", default: "100000" },
      "sparse-events": { type: "string", default: "50000" },
      "sparse-blocks": { type: "string", default: "200000" },
      "cpu-prof": { type: "boolean", default: false },
      "skip-graphql": { type: "boolean", default: false },
      "skip-sparse": { type: "boolean", default: false },
      runs: { type: "string", default: "3" },
    },
    strict: true,
  });
  const targetEvents = Number(values.events);
  if (!Number.isInteger(targetEvents) || targetEvents < 1) throw new Error(`--events must be a positive integer, got ${values.events}`);
  const runCount = Math.max(1, Number(values.runs));
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "gpumesh-bench-"));
  try {
    const anvil = await startAnvil();
    let dense: ScenarioReport;
    const ceilingPasses: Array<{ logs: number; seconds: number }> = [];
    let graphqlLatency: Awaited<ReturnType<typeof measureGraphqlLatency>> | null = null;
    try {
      dense = await runScenario("dense", anvil.url, anvil.url, path.join(dir, "dense"), targetEvents, runCount, values["cpu-prof"], undefined, async (deployment) => {
        ceilingPasses.push(await bareGetLogsPass(anvil.url, deployment));
      });
      if (!values["skip-graphql"]) graphqlLatency = await measureGraphqlLatency(dense.dbFile);
    } finally {
      await anvil.stop();
    }
    let sparse: ScenarioReport | null = null;
    if (!values["skip-sparse"]) {
      const node = await startHardhatNode();
      const proxy = await startGethLikeProxy(node.url);
      try {
        const targetBlocks = Number(values["sparse-blocks"]);
        sparse = await runScenario("sparse", node.url, proxy.url, path.join(dir, "sparse"), Number(values["sparse-events"]), runCount, false, {
          emptyBlocksPerMine: 40,
          emptyBlocksBetweenRounds: targetBlocks,
          mineEmpty: (blocks) => rpc(node.url, "hardhat_mine", [toHex(blocks), "0x1"]),
          tailBlocks: 20,
        });
      } finally {
        await proxy.close();
        await node.stop();
      }
    }
    const strip = (scenario: ScenarioReport) => ({ chain: scenario.chain, inProcess: scenario.inProcess, endToEnd: scenario.endToEnd });
    // The share is the median over the pairs (a ceiling pass, then the backfill after it), not a ratio of medians.
    const ceilingRuns = ceilingPasses.map((pass) => Math.round(pass.logs / pass.seconds));
    const denseShare = median(dense.inProcess.runs.map((run, i) => run.eventsPerSecond / ceilingRuns[i]));
    const ceiling = { logs: ceilingPasses[0].logs, logsPerSecond: median(ceilingRuns), runs: ceilingRuns, pairedWithEachBackfill: true };
    const report = {
      date: new Date().toISOString(),
      machine: { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model, memoryGb: Math.round(os.totalmem() / 2 ** 30), node: process.version, loadAverage: os.loadavg().map((l) => Number(l.toFixed(2))) },
      dense: { ...strip(dense), bareGetLogsCeiling: ceiling, shareOfCeiling: Number(denseShare.toFixed(3)) },
      sparse: sparse && { ...strip(sparse), node: "anvil behind a proxy that drops blockTimestamp from logs, as geth does" },
      graphqlLatency,
      targets: {
        denseShareOfCeiling: TARGET_DENSE_SHARE_OF_CEILING,
        denseShareMet: denseShare >= TARGET_DENSE_SHARE_OF_CEILING,
        peakRssMb: TARGET_RSS_MB,
        peakRssMet: dense.inProcess.peakRssMb <= TARGET_RSS_MB,
        sparseEventsPerSecond: TARGET_SPARSE_EVENTS_PER_SECOND,
        sparseMet: sparse ? sparse.inProcess.eventsPerSecond >= TARGET_SPARSE_EVENTS_PER_SECOND && sparse.chain.blocks >= 200_000 : null,
        graphqlP99Ms: TARGET_GRAPHQL_P99_MS,
        graphqlP99Met: graphqlLatency ? ["capacity", "prices"].every((name) => graphqlLatency!.queries[name]!.p99Ms <= TARGET_GRAPHQL_P99_MS) : null,
      },
    };
    // Only a whole run replaces bench/indexer.json: a partial one would leave its skipped figures null there.
    const whole = !values["skip-graphql"] && !values["skip-sparse"];
    if (whole) {
      fs.mkdirSync(path.join(ROOT, "bench"), { recursive: true });
      fs.writeFileSync(path.join(ROOT, "bench", "indexer.json"), JSON.stringify(report, null, 2) + "\n");
    } else {
      console.log("a partial run (--skip-graphql or --skip-sparse): bench/indexer.json is left as it was");
    }
    const line = (name: string, scenario: ScenarioReport) =>
      console.log(
        `${name}: ${scenario.inProcess.events} events over ${scenario.chain.blocks} blocks: in-process ${scenario.inProcess.eventsPerSecond} events/s, ` +
          `${scenario.inProcess.blocksPerSecond} blocks/s (median of ${runCount}); end to end ${scenario.endToEnd.eventsPerSecond} events/s, ` +
          `${scenario.endToEnd.blocksPerSecond} blocks/s in ${scenario.endToEnd.seconds} s; peak RSS ${scenario.inProcess.peakRssMb} MB`,
      );
    line("dense", dense);
    console.log(`dense ceiling: bare eth_getLogs ${ceiling.logsPerSecond} logs/s (median; passes ${ceilingRuns.join(", ")}, each right before a backfill); the indexer reaches ${(denseShare * 100).toFixed(0)} % of it (median over the pairs) (target >= ${TARGET_DENSE_SHARE_OF_CEILING * 100} %: ${report.targets.denseShareMet ? "met" : "MISSED"})`);
    console.log(`peak RSS target <= ${TARGET_RSS_MB} MB: ${report.targets.peakRssMet ? "met" : "MISSED"}`);
    if (sparse) {
      line("sparse", sparse);
      console.log(`sparse target >= ${TARGET_SPARSE_EVENTS_PER_SECOND} events/s over >= 200,000 blocks: ${report.targets.sparseMet ? "met" : "MISSED"}`);
    }
    if (graphqlLatency) {
      for (const [name, figures] of Object.entries(graphqlLatency.queries)) {
        console.log(`graphql ${name}: p50 ${figures.p50Ms.toFixed(1)} ms, p99 ${figures.p99Ms.toFixed(1)} ms (${graphqlLatency.clients} clients, ${figures.requests} requests, ${graphqlLatency.loadGenerator})`);
      }
      console.log(`graphql capacity and prices p99 target <= ${TARGET_GRAPHQL_P99_MS} ms: ${report.targets.graphqlP99Met ? "met" : "MISSED"}`);
    }
    if (whole) console.log("wrote bench/indexer.json");
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

if (require.main === module) {
  main().catch((error) => {
    console.error(error);
    process.exitCode = 1;
  });
}

/**
 * Scale benchmark (issue #10): `npm run bench:scale [-- --events 10000000] [--seed 1] [--regenerate] [--seconds 10]
 * [--connections 32] [--generate-only] [--queries capacity,quote] [--regimes distinct,cold] [--cpu-prof]`.
 *
 * 1. Generates a market of --events decoded protocol-v2 events (1 provider per 10,000 events, 1 client per 2,000;
 *    10,000,000 events: 1,000 providers and about 1,000,000 jobs over about 90 days; scripts/lib/scale-market.ts) and
 *    writes it through the store's own writer (createStoreWriter, applyBatch of 5,000-event batches, as the indexer's
 *    backfill does), into a database with the made-up deployment's identity. The database is cached under the
 *    system's temp directory, keyed by the generator's parameters, its source and the migrations' count: a re-run skips
 *    the generation (--regenerate forces it). Before anything is measured the store is checked against the
 *    generator's own chain state (stake, locked collateral, escrow, bonds, jobs per state) and one event of each kind
 *    against the real log decoder.
 * 2. Prints the generation's time and events/s, the database's size (its WAL checkpointed) and row counts.
 * 3. Starts `gpumesh serve --db FILE --deployment FILE` (the compiled CLI) on 127.0.0.1 and a free port, checks that
 *    every variant of each query answers data without errors, then measures each query for --seconds with autocannon
 *    in its own process (scripts/lib/scale-load.ts, --connections keep-alive connections) in each of REGIMES: from
 *    clients repeating the same requests between commits (the whole-response cache answers) to a commit before every
 *    request (every answer computed from the database, SQLite's page cache emptied). A baseline, `{ _meta }` (never
 *    cached, reads one row), gives the floor of any request that runs GraphQL on this machine.
 *    The target: p99 <= 50 ms for each query, reported per regime.
 * Writes bench/scale.json (only for a whole run: --queries or --regimes measure a part of it and print it alone).
 * --cpu-prof profiles the server's thread during the runs (as bench:indexer's --cpu-prof does the backfill's), for
 * Chrome's DevTools or `scripts/lib/profile-summary.ts`.
 */
import { spawn } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { encodeAbiParameters, encodeEventTopics, type Abi, type AbiEvent, type Hex } from "viem";
import { gpuCatalogAbi, jobMarketAbi, providerStakingAbi } from "../src/chain/abis";
import { writeDeployment } from "../src/chain/deploy";
import type { Deployment } from "../src/chain/deployment";
import { createEventDecoder, type IndexedEvent, type RpcLog } from "../src/chain/events";
import { openStore, readMigrations } from "../src/store/db";
import { checkOrRecordChain } from "../src/store/identity";
import { ENTITY_TABLES } from "../src/store/schema";
import { createStoreWriter } from "../src/store/writer";
import { SCALE_CHAIN_ID, SCALE_START_TIME, createScaleMarket, type ChainState, type ScaleMarketOptions } from "./lib/scale-market";
import { cpuProfileFlags } from "./lib/profile-summary";
import { failuresOf, runLoad, type LoadFigures, type LoadSpec } from "./lib/scale-load";

const ROOT = path.join(__dirname, "..");
const TARGET_P99_MS = 50;
const EVENTS_PER_BATCH = 5_000;
const DAYS = 90;
const WARMUP_SECONDS = 2;

// ------------------------------------------------------------------ generation
interface Generation {
  options: ScaleMarketOptions;
  generatedAt: string;
  seconds: number;
  eventsPerSecond: number;
  /** Time inside the writer's applyBatch, and its share of the events/s. */
  writerSeconds: number;
  writerEventsPerSecond: number;
  batches: number;
  peakRssMb: number;
  chain: Omit<ChainState, "totalStaked" | "totalLocked" | "totalUnbonding" | "escrowed" | "disputeBondsHeld"> & { firstBlock: number; days: number };
  db: { bytes: number; walBytes: number; rows: Record<string, number> };
}

interface CachedMarket {
  dir: string;
  dbFile: string;
  deploymentFile: string;
  generation: Generation;
  fromCache: boolean;
}

const jsonText = (value: unknown) => JSON.stringify(value, (_key, item) => (typeof item === "bigint" ? item.toString() : item));

/** The cache directory of a market: its parameters, the generator's source and the migrations' count. */
function cacheDir(options: ScaleMarketOptions): string {
  const source = fs.readFileSync(path.join(__dirname, "lib", "scale-market.ts"));
  const key = crypto
    .createHash("sha256")
    .update(jsonText({ options, migrations: readMigrations().length }))
    .update(source)
    .digest("hex")
    .slice(0, 16);
  return path.join(os.tmpdir(), "gpumesh-bench-scale", `${options.events}-${key}`);
}

async function generate(options: ScaleMarketOptions, dir: string): Promise<CachedMarket> {
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  const dbFile = path.join(dir, "scale.db");
  const market = createScaleMarket(options);
  const deploymentFile = writeDeployment(dir, market.deployment);
  const store = openStore({ file: dbFile });
  let peakRss = process.memoryUsage().rss;
  const started = performance.now();
  let writerMs = 0;
  let batches = 0;
  let events = 0;
  let firstBlock = 0;
  try {
    checkOrRecordChain(store, market.deployment, market.startBlockHash);
    const writer = createStoreWriter({ store, chainId: market.deployment.chainId });
    let reportedAt = started;
    for (;;) {
      const blocks = market.nextBatch(EVENTS_PER_BATCH);
      if (blocks.length === 0) break;
      firstBlock ||= blocks[0]!.number;
      const writeStarted = performance.now();
      // Deep history: every block is final, nothing is journaled (as the indexer's backfill far below the head).
      const result = await writer.applyBatch(blocks, { finalizedBlock: blocks[blocks.length - 1]!.number });
      writerMs += performance.now() - writeStarted;
      events += result.events;
      batches += 1;
      if (batches % 20 === 0) peakRss = Math.max(peakRss, process.memoryUsage().rss);
      if (performance.now() - reportedAt > 15_000) {
        reportedAt = performance.now();
        const seconds = (reportedAt - started) / 1000;
        process.stderr.write(
          `generating: ${events.toLocaleString("en")} of ${options.events.toLocaleString("en")} events, ${Math.round(events / seconds)} events/s, ` +
            `day ${dayOf(blocks[blocks.length - 1]!.timestamp).toFixed(1)}, ${seconds.toFixed(0)} s, RSS ${Math.round(peakRss / 2 ** 20)} MB\n`,
        );
      }
    }
    const seconds = (performance.now() - started) / 1000;
    const chain = market.chainState();
    checkAgainstChain(store.db, chain);
    checkDecoding(market.samples(), market.deployment);
    store.db.pragma("wal_checkpoint(TRUNCATE)");
    const rows = Object.fromEntries(
      ENTITY_TABLES.map((table) => [table, store.db.prepare(`SELECT count(*) FROM ${table}`).pluck().get() as number]),
    );
    store.close();
    const { totalStaked: _staked, totalLocked: _locked, totalUnbonding: _unbonding, escrowed: _escrowed, disputeBondsHeld: _bonds, ...counts } = chain;
    const generation: Generation = {
      options,
      generatedAt: new Date().toISOString(),
      seconds: round(seconds, 1),
      eventsPerSecond: Math.round(events / seconds),
      writerSeconds: round(writerMs / 1000, 1),
      writerEventsPerSecond: Math.round(events / (writerMs / 1000)),
      batches,
      peakRssMb: Math.round(peakRss / 2 ** 20),
      chain: { ...counts, firstBlock, days: round(dayOf(chain.timestamp), 1) },
      db: { ...fileSizes(dbFile), rows },
    };
    fs.writeFileSync(path.join(dir, "generation.json"), JSON.stringify(generation, null, 2) + "\n");
    return { dir, dbFile, deploymentFile, generation, fromCache: false };
  } catch (error) {
    store.close();
    throw error;
  }
}

const dayOf = (timestamp: number) => (timestamp - SCALE_START_TIME) / 86_400;
const round = (value: number, digits: number) => Number(value.toFixed(digits));

function fileSizes(dbFile: string): { bytes: number; walBytes: number } {
  const size = (file: string) => (fs.existsSync(file) ? fs.statSync(file).size : 0);
  return { bytes: size(dbFile), walBytes: size(`${dbFile}-wal`) };
}

/** The store's roll-ups against what the generator's contracts hold: a handler that dropped or misread an event shows here. */
function checkAgainstChain(db: ReturnType<typeof openStore>["db"], chain: ChainState): void {
  const totals = db.prepare("SELECT * FROM market_totals WHERE id = 1").get() as Record<string, string | number>;
  const counts = new Map((db.prepare("SELECT state, count FROM job_state_counts").all() as Array<{ state: string; count: number }>).map((r) => [r.state, r.count]));
  const expectedStates: Record<string, number> = { ...chain.jobStates };
  // The store's clock reads a job past its accept deadline as EXPIRED before anyone calls expireJob (API.md).
  expectedStates.CREATED = (expectedStates.CREATED ?? 0) - chain.createdPastDeadline;
  expectedStates.EXPIRED = (expectedStates.EXPIRED ?? 0) + chain.createdPastDeadline;
  const problems: string[] = [];
  const expect = (what: string, actual: unknown, expected: unknown) => {
    if (String(actual) !== String(expected)) problems.push(`${what}: store ${actual}, chain ${expected}`);
  };
  expect("providers", totals.providers, chain.providers);
  expect("total staked", totals.total_staked, chain.totalStaked);
  expect("total locked", totals.total_locked, chain.totalLocked);
  expect("total unbonding", totals.total_unbonding, chain.totalUnbonding);
  expect("escrowed", totals.escrowed, chain.escrowed);
  expect("dispute bonds held", totals.dispute_bonds_held, chain.disputeBondsHeld);
  expect("jobs", db.prepare("SELECT count(*) FROM jobs").pluck().get(), chain.jobs);
  expect("offers", db.prepare("SELECT count(*) FROM offers").pluck().get(), chain.offers);
  for (const state of new Set([...counts.keys(), ...Object.keys(expectedStates)])) {
    expect(`jobs ${state}`, counts.get(state) ?? 0, expectedStates[state] ?? 0);
  }
  if (problems.length > 0) throw new Error(`the store disagrees with the generated chain:\n  ${problems.join("\n  ")}`);
}

/** One event of each kind, encoded as a log and decoded by the indexer's decoder: the generated args must come back equal. */
function checkDecoding(samples: IndexedEvent[], deployment: Deployment): void {
  const decoder = createEventDecoder(deployment);
  const abis: Record<string, Abi> = { GpuCatalog: gpuCatalogAbi as Abi, ProviderStaking: providerStakingAbi as Abi, JobMarket: jobMarketAbi as Abi };
  for (const sample of samples) {
    const { contract, eventName, args } = sample.event as { contract: keyof Deployment["contracts"]; eventName: string; args: Record<string, unknown> };
    const abiEvent = abis[contract]!.find((item) => item.type === "event" && item.name === eventName) as AbiEvent;
    const topics = encodeEventTopics({ abi: [abiEvent], eventName, args } as Parameters<typeof encodeEventTopics>[0]);
    const data = abiEvent.inputs.filter((input) => !input.indexed);
    const log: RpcLog = {
      address: deployment.contracts[contract].address,
      topics: topics as Hex[],
      data: encodeAbiParameters(data, data.map((input) => args[input.name!])),
      blockNumber: `0x${sample.blockNumber.toString(16)}`,
      blockHash: sample.blockHash,
      transactionHash: sample.transactionHash,
      logIndex: `0x${sample.logIndex.toString(16)}`,
    };
    const decoded = decoder.decode(log).event as { args: Record<string, unknown> };
    if (jsonText(decoded.args) !== jsonText(args) || typeof decoded.args !== typeof args) {
      throw new Error(`generated ${eventName} differs from its decoded log:\n  generated ${jsonText(args)}\n  decoded   ${jsonText(decoded.args)}`);
    }
    for (const [name, value] of Object.entries(args)) {
      if (typeof decoded.args[name] !== typeof value) throw new Error(`generated ${eventName}.${name} is a ${typeof value}, the decoder gives a ${typeof decoded.args[name]}`);
    }
  }
}

function cachedOrGenerate(options: ScaleMarketOptions, regenerate: boolean): Promise<CachedMarket> | CachedMarket {
  const dir = cacheDir(options);
  const marker = path.join(dir, "generation.json");
  if (!regenerate && fs.existsSync(marker)) {
    const generation = JSON.parse(fs.readFileSync(marker, "utf8")) as Generation;
    const dbFile = path.join(dir, "scale.db");
    return { dir, dbFile, deploymentFile: path.join(dir, `${SCALE_CHAIN_ID}.json`), generation, fromCache: true };
  }
  process.stderr.write(`generating ${options.events.toLocaleString("en")} events into ${dir}\n`);
  return generate(options, dir);
}

// ------------------------------------------------------------------ the server and its queries
interface Server {
  url: string;
  close(): Promise<void>;
}

function startServer(dbFile: string, deploymentFile: string, cpuProfile: boolean): Promise<Server> {
  const child = spawn(
    process.execPath,
    [...cpuProfileFlags(cpuProfile, "the server"), path.join(ROOT, "bin", "gpumesh.js"), "serve", "--db", dbFile, "--deployment", deploymentFile, "--host", "127.0.0.1", "--port", "0"],
    { cwd: ROOT, stdio: ["ignore", "pipe", "inherit"], env: { ...process.env, GPUMESH_LOG_LEVEL: "warn" } },
  );
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  return new Promise((resolve, reject) => {
    let printed = "";
    child.stdout!.on("data", (chunk: Buffer) => {
      printed += chunk.toString();
      const match = /GraphQL API at (http:\/\/\S+)\/graphql/.exec(printed);
      if (match) {
        resolve({
          url: match[1]!,
          close: async () => {
            child.kill("SIGTERM");
            await exited;
          },
        });
      }
    });
    child.once("exit", (code) => reject(new Error(`gpumesh serve exited with ${code} before listening`)));
  });
}

async function post(endpoint: string, query: string, variables: Record<string, unknown>): Promise<any> {
  const response = await fetch(endpoint, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ query, variables }) });
  const body = (await response.json()) as { data?: any; errors?: Array<{ message: string }> };
  if (!response.ok || body.errors?.length) throw new Error(`GraphQL error (${response.status}): ${body.errors?.[0]?.message ?? "no data"}\n  ${query}\n  ${JSON.stringify(variables)}`);
  return body.data;
}

interface QuerySpec {
  name: string;
  what: string;
  query: string;
  variants: Array<Record<string, unknown>>;
  /** Non-empty data, or why not. */
  check(data: any): string | null;
}

const CAPACITY = `query ($groupBy: CapacityGroup) {
  capacity(groupBy: $groupBy) { gpuModel region gpusOffered gpusLeased gpusAvailable utilization providers offers askFloor askMedian gpusRentable avgCarbonIntensity avgRenewableBps }
}`;
const MARKET = `{
  market { providers activeProviders totalStaked totalLocked totalUnbonding totalSlashed escrowed disputeBondsHeld volume
    feesCollected gpuHoursSold estimatedEmissionsKg jobs jobsByState { state count } gpusOffered gpusLeased gpusAvailable
    gpusRentable utilization }
}`;
const PRICES = `query ($model: String!, $from: Int!, $to: Int!) {
  prices(gpuModel: $model, interval: HOUR, from: $from, to: $to) { start end jobs gpuHours notional open high low close vwap askFloor }
}`;
const QUOTE = `query ($model: String!, $gpus: Int!, $duration: Int!, $spread: Int) {
  quote(gpuModel: $model, gpus: $gpus, duration: $duration, spreadAcross: $spread) {
    fillable shortfall message gpusRequested gpusPlanned providers cost fee escrow collateral asOf
    legs { offer { id region } provider { id reliability } gpus pricePerGpuHour cost fee escrow collateral }
  }
}`;
const RELIABILITY = `query ($id: ID!) {
  provider(id: $id) {
    id reliability completionRate medianSecondsToAccept uptime(window: 86400) lastHeartbeatAt activeOffers
    jobsAccepted jobsDeclined jobsExpired jobsDark jobsDisputed jobsLostDisputes jobsCompleted earned staked locked
  }
}`;
const JOBS_PAGE = `query ($provider: String!, $after: String) {
  jobs(where: { provider: $provider }, first: 50, after: $after) {
    items { id state gpuModel region gpus pricePerGpuHour duration escrow createdAt startedAt endedAt client { id } }
    pageInfo { hasNextPage endCursor }
    totalCount
  }
}`;

/** The query variants: real models, providers and cursors of the generated market. */
async function buildQueries(endpoint: string): Promise<QuerySpec[]> {
  const meta = await post(endpoint, "{ _meta { block { number timestamp } } gpuModels { name } }", {});
  const now = meta._meta.block.timestamp as number;
  const models = (meta.gpuModels as Array<{ name: string }>).map((m) => m.name);
  const busiest = await post(endpoint, "{ providers(first: 200, orderBy: JOBS_COMPLETED, orderDirection: DESC) { items { id } } }", {});
  const providers = (busiest.providers.items as Array<{ id: string }>).map((p) => p.id);
  // A later page of a provider's jobs: the cursor after its fifth page (or its last one).
  const cursors: Array<{ provider: string; after: string | null }> = [];
  for (const provider of providers.slice(0, 40)) {
    cursors.push({ provider, after: null });
    let after: string | null = null;
    for (let page = 0; page < 5; page++) {
      const data = await post(endpoint, JOBS_PAGE, { provider, after });
      if (!data.jobs.pageInfo.hasNextPage) break;
      after = data.jobs.pageInfo.endCursor;
    }
    if (after) cursors.push({ provider, after });
  }
  const quoteVariants: Array<Record<string, unknown>> = [];
  for (const model of models) {
    for (const [gpus, duration, spread] of [[1, 3600, 1], [4, 4 * 3600, 1], [8, 8 * 3600, 1], [16, 24 * 3600, 2], [8, 2 * 3600, 4]] as const) {
      quoteVariants.push({ model, gpus, duration, spread });
    }
  }
  return [
    {
      name: "capacity",
      what: "capacity by model, by region and by both (every field, gpusRentable and the ask median included)",
      query: CAPACITY,
      variants: ["GPU_MODEL", "REGION", "GPU_MODEL_REGION"].map((groupBy) => ({ groupBy })),
      check: (data) => (data.capacity.length > 0 ? null : "no capacity buckets"),
    },
    {
      name: "market",
      what: "the network-wide totals, every field (volume, GPU-hours sold, rentable GPUs, emissions)",
      query: MARKET,
      variants: [{}],
      check: (data) => (data.market.jobs > 0 ? null : "no jobs"),
    },
    {
      name: "prices",
      what: "one model's hourly candles over the last week (168 buckets)",
      query: PRICES,
      variants: models.map((model) => ({ model, from: now - 7 * 86_400, to: now })),
      check: (data) => (data.prices.length > 0 ? null : "no price buckets"),
    },
    {
      name: "quote",
      what: "a request for 1 to 16 GPUs of one model for 1 to 24 hours, some spread over 2 or 4 providers",
      query: QUOTE,
      variants: quoteVariants,
      check: (data) => (data.quote.gpusPlanned > 0 && data.quote.legs.length > 0 ? null : `nothing planned: ${data.quote.message}`),
    },
    {
      name: "reliability",
      what: "one provider's reliability fields: score, counts, completion rate, median time to accept, 24 h uptime",
      query: RELIABILITY,
      variants: providers.map((id) => ({ id })),
      check: (data) => (data.provider && data.provider.jobsAccepted > 0 ? null : "no provider or no accepted jobs"),
    },
    {
      name: "jobsPage",
      what: "a provider's jobs, 50 per page, the first page or the one after its fifth (cursor), with totalCount",
      query: JOBS_PAGE,
      variants: cursors,
      check: (data) => (data.jobs.items.length > 0 && data.jobs.totalCount > 0 ? null : "an empty page"),
    },
  ];
}

/** Every variant answers data without errors; variants that cannot (a quote nobody can fill) are left out and counted. */
async function checkQueries(endpoint: string, specs: QuerySpec[]): Promise<Record<string, { variants: number; dropped: number }>> {
  const result: Record<string, { variants: number; dropped: number }> = {};
  for (const spec of specs) {
    const kept: Array<Record<string, unknown>> = [];
    const reasons: string[] = [];
    for (const variables of spec.variants) {
      const problem = spec.check(await post(endpoint, spec.query, variables));
      if (problem) reasons.push(`${JSON.stringify(variables)}: ${problem}`);
      else kept.push(variables);
    }
    if (kept.length === 0) throw new Error(`${spec.name}: no variant answers data:\n  ${reasons.join("\n  ")}`);
    result[spec.name] = { variants: kept.length, dropped: reasons.length };
    spec.variants = kept;
  }
  return result;
}

/**
 * How the clients and the indexer behave while a query is measured. At 32 closed-loop connections each request waits
 * for the others queued before it on the server's one thread: p99 is about 32 x the server time per request.
 */
const REGIMES = {
  cached: { distinct: false, commit: null, what: "clients repeat the same requests (the query's variants) and nothing commits: the whole-response cache answers" },
  live: { distinct: false, commit: "second", what: "the same requests while an indexer passes (commits) every second, as one following a chain does: every cache starts over each second" },
  distinct: { distinct: true, commit: null, what: "every request differs, nothing commits: each runs GraphQL; per-commit caches of derived results (capacity, price series, terms) may answer" },
  cold: { distinct: true, commit: "request", what: "every request differs and the load process commits before each: answers computed from the database, SQLite's page cache emptied" },
} as const;
type Regime = keyof typeof REGIMES;

const BASELINE: Pick<QuerySpec, "name" | "what" | "query" | "variants"> = {
  name: "baseline",
  what: "{ _meta { block { number } } }: never cached, one row read: the floor of a request that runs GraphQL",
  query: "{ _meta { block { number } } }",
  variants: [{}],
};

/**
 * Waits until the server answers the baseline promptly again: requests of a run that timed out are still being
 * answered after it ends (a closed connection does not stop their execution) and would slow the next run.
 */
async function drained(endpoint: string): Promise<void> {
  const started = performance.now();
  for (let prompt = 0; prompt < 3; ) {
    const sent = performance.now();
    await post(endpoint, BASELINE.query, {});
    prompt = performance.now() - sent < 50 ? prompt + 1 : 0;
    if (performance.now() - started > 300_000) throw new Error("the server is still busy 5 minutes after a run");
  }
}

// ------------------------------------------------------------------ main
/** The comma-separated names of a flag, each one of `known`; all of them when the flag is not given. */
function chosen(flag: string, value: string | undefined, known: string[]): string[] {
  if (value === undefined) return known;
  const names = value.split(",").map((name) => name.trim()).filter(Boolean);
  const unknown = names.filter((name) => !known.includes(name));
  if (names.length === 0 || unknown.length > 0) throw new Error(`${flag} takes names of ${known.join(", ")}; got ${value}`);
  return names;
}

async function main() {
  const { values } = parseArgs({
    options: {
      events: { type: "string", default: "10000000" },
      seed: { type: "string", default: "1" },
      regenerate: { type: "boolean", default: false },
      seconds: { type: "string", default: "10" },
      connections: { type: "string", default: "32" },
      "generate-only": { type: "boolean", default: false },
      queries: { type: "string" },
      regimes: { type: "string" },
      "cpu-prof": { type: "boolean", default: false },
    },
    strict: true,
  });
  const events = Number(values.events);
  if (!Number.isInteger(events) || events < 10_000) throw new Error(`--events must be a whole number of at least 10000, got ${values.events}`);
  const options: ScaleMarketOptions = {
    seed: Number(values.seed),
    events,
    providers: Math.max(10, Math.round(events / 10_000)),
    clients: Math.max(50, Math.round(events / 2_000)),
    days: DAYS,
  };
  const market = await cachedOrGenerate(options, values.regenerate);
  const g = market.generation;
  console.log(
    `market: ${g.chain.events.toLocaleString("en")} events in ${g.chain.blockNumber - g.chain.firstBlock + 1} blocks over ${g.chain.days} days: ` +
      `${g.chain.providers} providers, ${g.chain.offers.toLocaleString("en")} offers, ${g.chain.jobs.toLocaleString("en")} jobs ` +
      `(${g.chain.unmetRequests.toLocaleString("en")} requests found no offer)`,
  );
  console.log(
    `generation${market.fromCache ? ` (cached, ${g.generatedAt})` : ""}: ${g.seconds} s, ${g.eventsPerSecond.toLocaleString("en")} events/s ` +
      `(writer alone ${g.writerEventsPerSecond.toLocaleString("en")} events/s in ${g.writerSeconds} s), ${g.batches} batches, peak RSS ${g.peakRssMb} MB`,
  );
  const sizes = fileSizes(market.dbFile);
  console.log(`database: ${(sizes.bytes / 2 ** 30).toFixed(2)} GiB (${sizes.bytes.toLocaleString("en")} bytes; WAL ${sizes.walBytes} bytes after checkpoint) ${market.dbFile}`);
  console.log(`rows: ${Object.entries(g.db.rows).map(([table, rows]) => `${table} ${rows.toLocaleString("en")}`).join(", ")}`);
  if (values["generate-only"]) return;
  const regimes = chosen("--regimes", values.regimes, Object.keys(REGIMES)) as Regime[];
  const partial = values.queries !== undefined || values.regimes !== undefined;

  const server = await startServer(market.dbFile, market.deploymentFile, values["cpu-prof"]);
  const endpoint = `${server.url}/graphql`;
  const connections = Number(values.connections);
  const seconds = Number(values.seconds);
  const results: Record<string, { what: string; variants: number; dropped: number; regimes: Partial<Record<Regime, LoadFigures>> }> = {};
  const met = (figures: LoadFigures) => figures.p99Ms <= TARGET_P99_MS && failuresOf(figures) === 0;
  const print = (name: string, regime: string, figures: LoadFigures) =>
    console.log(
      `${name.padEnd(11)} ${regime.padEnd(8)}: p50 ${figures.p50Ms} ms, p99 ${figures.p99Ms} ms, max ${figures.maxMs} ms, ${figures.requestsPerSecond} req/s ` +
        `(${figures.requests} requests${figures.commits ? `, ${figures.commits} commits` : ""}` +
        `${failuresOf(figures) ? `, ${failuresOf(figures)} FAILED (non-2xx ${figures.non2xx}, errors ${figures.errors}, timeouts ${figures.timeouts}, GraphQL errors ${figures.graphqlErrors}${figures.firstGraphqlError ? `: "${figures.firstGraphqlError}"` : ""})` : ""}) ` +
        `${met(figures) ? "met" : "MISSED"}`,
    );
  try {
    const all = await buildQueries(endpoint);
    const names = chosen("--queries", values.queries, all.map((spec) => spec.name));
    const specs = all.filter((spec) => names.includes(spec.name));
    const checked = await checkQueries(endpoint, specs);
    const load = async (spec: Pick<QuerySpec, "query" | "variants">, regime: Regime) => {
      const { distinct, commit } = REGIMES[regime];
      await drained(endpoint);
      return runLoad({
        url: endpoint,
        connections,
        seconds,
        warmupSeconds: WARMUP_SECONDS,
        query: spec.query,
        variants: spec.variants,
        distinct,
        commit: commit ? { db: market.dbFile, every: commit } : undefined,
      });
    };
    if (!partial) {
      const baseline = await load(BASELINE, "distinct");
      results.baseline = { what: BASELINE.what, variants: 1, dropped: 0, regimes: { distinct: baseline } };
      print(BASELINE.name, "distinct", baseline);
    }
    for (const spec of specs) {
      results[spec.name] = { what: spec.what, ...checked[spec.name]!, regimes: {} };
      for (const regime of regimes) {
        const figures = await load(spec, regime);
        results[spec.name]!.regimes[regime] = figures;
        print(spec.name, regime, figures);
      }
    }
  } finally {
    await server.close();
  }
  if (partial) return;
  const report = {
    date: new Date().toISOString(),
    machine: {
      cpus: os.cpus().length,
      cpuModel: os.cpus()[0]?.model,
      memoryGb: Math.round(os.totalmem() / 2 ** 30),
      node: process.version,
      loadAverage: os.loadavg().map((l) => round(l, 2)),
    },
    market: { ...g.chain, options: g.options },
    generation: {
      fromCache: market.fromCache,
      generatedAt: g.generatedAt,
      seconds: g.seconds,
      eventsPerSecond: g.eventsPerSecond,
      writerSeconds: g.writerSeconds,
      writerEventsPerSecond: g.writerEventsPerSecond,
      batches: g.batches,
      peakRssMb: g.peakRssMb,
    },
    database: { ...sizes, rows: g.db.rows, schemaVersion: readMigrations().length },
    load: {
      server: "gpumesh serve (compiled CLI, its own process) on 127.0.0.1",
      loadGenerator: `autocannon in its own process, ${connections} keep-alive connections, ${seconds} s per query and regime after ${WARMUP_SECONDS} s of warm-up`,
      regimes: Object.fromEntries(Object.entries(REGIMES).map(([name, regime]) => [name, regime.what])),
    },
    queries: results,
    targets: {
      p99Ms: TARGET_P99_MS,
      met: Object.fromEntries(
        Object.entries(results)
          .filter(([name]) => name !== BASELINE.name)
          .map(([name, r]) => [name, Object.fromEntries(Object.entries(r.regimes).map(([regime, figures]) => [regime, met(figures)]))]),
      ),
    },
  };
  fs.mkdirSync(path.join(ROOT, "bench"), { recursive: true });
  fs.writeFileSync(path.join(ROOT, "bench", "scale.json"), JSON.stringify(report, null, 2) + "\n");
  for (const [name, regimes] of Object.entries(report.targets.met)) {
    console.log(`p99 <= ${TARGET_P99_MS} ms, ${name}: ${Object.entries(regimes).map(([regime, ok]) => `${regime} ${ok ? "met" : "MISSED"}`).join(", ")}`);
  }
  console.log("wrote bench/scale.json");
}

if (require.main === module) {
  main().catch((error) => {
    console.error(error);
    process.exitCode = 1;
  });
}

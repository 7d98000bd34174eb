import type { Hex } from "viem";
import { GpuMeshError, UsageError } from "../../internal/errors";
import { requireOption, resolveApiUrl, resolveChainOptions } from "../lib/args";
import { parseOrHelp, type Command, type Subcommand } from "../lib/command";
import { graphqlRequest } from "../lib/graphql";
import { createOutput } from "../lib/output";
import { formatAmount, formatTime, parseDuration, type TokenUnits } from "../../protocol/units";


const API_OPTIONS = {
  api: { type: "string" },
  deployment: { type: "string" },
  json: { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const;
const API_HELP = [
  "  --api URL             GraphQL API (env GPUMESH_API_URL, default http://127.0.0.1:4000/graphql)",
  "  --deployment FILE     deployment file, for token symbols and decimals (env GPUMESH_DEPLOYMENT)",
  "  --json                machine-readable output (amounts in base units)",
];

/**
 * Token units from the deployment file; without one, amounts are shown in base units, which a line on stderr says
 * (not under --json, whose amounts are base units anyway). Read once the API has answered, so that a command that
 * fails for the API says that alone.
 */
async function tokenUnits(values: { deployment?: string; json?: boolean }): Promise<{ payment: TokenUnits; stake: TokenUnits }> {
  // Loaded here, not at the top: `gpumesh market --help` then loads no viem.
  const { loadDeployment } = await import("../../chain/deployment");
  try {
    const deployment = loadDeployment(resolveChainOptions(values).deploymentFile);
    return { payment: deployment.tokens.payment, stake: deployment.tokens.stake };
  } catch (error) {
    if (!(error instanceof GpuMeshError)) throw error;
    if (!values.json) process.stderr.write(`${error.message}; amounts are in base units\n`);
    const base = { symbol: "units", decimals: 0 };
    return { payment: base, stake: base };
  }
}

async function resolveModelName(apiUrl: string, name: string): Promise<string> {
  const { gpuModels } = await graphqlRequest<{ gpuModels: Array<{ id: Hex; name: string; vramGb: number; listed: boolean }> }>(
    apiUrl,
    "query { gpuModels { id name vramGb listed } }",
  );
  const { resolveModel } = await import("../lib/reads");
  return resolveModel(gpuModels.map((model) => ({ ...model, listed: true })), name).name;
}

const optionalAmount = (value: string | null, token: TokenUnits) => (value === null ? "-" : formatAmount(BigInt(value), token));
const percent = (ratio: number) => `${(ratio * 100).toFixed(1)}%`;

// ------------------------------------------------------------------ time travel
const AS_OF_OPTIONS = { block: { type: "string" }, at: { type: "string" } } as const;
const AS_OF_HELP = [
  "  --block N             as of block N (the indexer keeps every block's state: time travel)",
  "  --at D|DATE           as of the last block at or before this long ago (e.g. 2h) or an ISO date",
];

/** The API's `block: BlockInput` argument from --block or --at, or undefined for now. */
async function asOfBlock(apiUrl: string, values: { block?: string; at?: string }): Promise<{ number: number } | { at: number } | undefined> {
  if (values.block !== undefined && values.at !== undefined) throw new UsageError("--block and --at: give one of them, not both");
  if (values.block !== undefined) {
    if (!/^\d+$/.test(values.block) || !Number.isSafeInteger(Number(values.block))) {
      throw new UsageError(`--block: "${values.block}" is not a block number`);
    }
    return { number: Number(values.block) };
  }
  if (values.at === undefined) return undefined;
  return { at: parsePastTime(values.at, "--at", await chainNow(apiUrl, [values.at]))! };
}

/** The block an answer is as of, for the line that says so: from the API, which resolved --at to it. */
interface AsOf {
  number: number;
  timestamp: number;
}
const asOfLine = (asOf: AsOf) => `as of block ${asOf.number} (${formatTime(asOf.timestamp)})`;

// ------------------------------------------------------------------ capacity
const capacityHelp = [
  "usage: gpumesh market capacity [--by model|region|model-region] [--model NAME] [--region CODE] [--block N | --at D|DATE] [options]",
  "Open capacity now (or as of a block): GPUs offered, leased and free, utilization, providers and asks.",
  ...AS_OF_HELP,
  ...API_HELP,
].join("\n");

interface CapacityBucket {
  gpuModel: string | null;
  region: string | null;
  gpusOffered: number;
  gpusLeased: number;
  gpusAvailable: number;
  utilization: number;
  providers: number;
  offers: number;
  askFloor: string | null;
  askMedian: string | null;
}

const GROUPS: Record<string, string> = { model: "GPU_MODEL", region: "REGION", "model-region": "GPU_MODEL_REGION" };

const capacity: Subcommand = {
  summary: "open capacity by GPU model and/or region",
  help: capacityHelp,
  async run(argv) {
    const parsed = parseOrHelp(argv, { ...API_OPTIONS, ...AS_OF_OPTIONS, by: { type: "string" }, model: { type: "string" }, region: { type: "string" } }, capacityHelp);
    if (!parsed) return 0;
    const { values } = parsed;
    const groupBy = GROUPS[values.by ?? "model"];
    if (!groupBy) throw new UsageError(`--by: "${values.by}" is not one of model, region, model-region`);
    const apiUrl = resolveApiUrl(values);
    const block = await asOfBlock(apiUrl, values);
    const gpuModel = values.model ? await resolveModelName(apiUrl, values.model) : undefined;
    const { capacity: buckets, _meta: meta } = await graphqlRequest<{ capacity: CapacityBucket[]; _meta?: { block: AsOf } }>(
      apiUrl,
      `query Capacity($groupBy: CapacityGroup, $gpuModel: String, $region: String${block ? ", $block: BlockInput" : ""}) {
        capacity(groupBy: $groupBy, gpuModel: $gpuModel, region: $region${block ? ", block: $block" : ""}) {
          gpuModel region gpusOffered gpusLeased gpusAvailable utilization providers offers askFloor askMedian
        }
        ${block ? "_meta(block: $block) { block { number timestamp } }" : ""}
      }`,
      { groupBy, gpuModel, region: values.region, ...(block ? { block } : {}) },
    );
    const units = await tokenUnits(values);
    const out = createOutput(Boolean(values.json));
    if (meta) out.line(asOfLine(meta.block));
    const withModel = groupBy !== "REGION";
    const withRegion = groupBy !== "GPU_MODEL";
    out.table(
      [...(withModel ? ["model"] : []), ...(withRegion ? ["region"] : []), "offered", "leased", "free", "utilization", "providers", "offers", "ask floor", "ask median"],
      buckets.map((bucket) => [
        ...(withModel ? [bucket.gpuModel ?? "-"] : []),
        ...(withRegion ? [bucket.region ?? "-"] : []),
        String(bucket.gpusOffered),
        String(bucket.gpusLeased),
        String(bucket.gpusAvailable),
        percent(bucket.utilization),
        String(bucket.providers),
        String(bucket.offers),
        optionalAmount(bucket.askFloor, units.payment),
        optionalAmount(bucket.askMedian, units.payment),
      ]),
    );
    out.result(buckets);
  },
};

// ------------------------------------------------------------------ prices
const pricesHelp = [
  "usage: gpumesh market prices --model NAME [--region CODE] [--interval hour|day] [--since D|DATE] [--until D|DATE] [options]",
  "Realized prices per GPU-hour of jobs created in each hour or day (open, high, low, close, VWAP) and the ask floor.",
  "  --since D|DATE        from this long ago (e.g. 24h) or an ISO date",
  "  --until D|DATE        up to this long ago or an ISO date",
  ...API_HELP,
].join("\n");

interface PricePoint {
  start: number;
  jobs: number;
  gpuHours: number;
  open: string | null;
  high: string | null;
  low: string | null;
  close: string | null;
  vwap: string | null;
  askFloor: string | null;
}

/** A past time: an ISO date, or a duration before `nowSeconds` (the indexed chain's time: dev chains move theirs). */
function parsePastTime(text: string | undefined, flag: string, nowSeconds: number): number | undefined {
  if (text === undefined) return undefined;
  if (/^\d{4}-\d{2}-\d{2}/.test(text)) {
    const millis = Date.parse(text);
    if (Number.isNaN(millis)) throw new UsageError(`${flag}: "${text}" is not a date`);
    return Math.floor(millis / 1000);
  }
  return nowSeconds - parseDuration(text, flag);
}

/** The indexed chain's time when one of `times` is a duration before it (else the wall clock: no request). */
async function chainNow(apiUrl: string, times: Array<string | undefined>): Promise<number> {
  const now = Math.floor(Date.now() / 1000);
  if (!times.some((text) => text !== undefined && !/^\d{4}-/.test(text))) return now;
  const meta = await graphqlRequest<{ _meta: { block: { timestamp: number } } }>(apiUrl, "query { _meta { block { timestamp } } }");
  return meta._meta.block.timestamp > 0 ? meta._meta.block.timestamp : now;
}

const prices: Subcommand = {
  summary: "realized prices per hour or day for a GPU model",
  help: pricesHelp,
  async run(argv) {
    const parsed = parseOrHelp(
      argv,
      { ...API_OPTIONS, model: { type: "string" }, region: { type: "string" }, interval: { type: "string" }, since: { type: "string" }, until: { type: "string" } },
      pricesHelp,
    );
    if (!parsed) return 0;
    const { values } = parsed;
    const modelText = requireOption(values.model, "--model");
    const interval = (values.interval ?? "hour").toUpperCase();
    if (interval !== "HOUR" && interval !== "DAY") throw new UsageError(`--interval: "${values.interval}" is not hour or day`);
    const apiUrl = resolveApiUrl(values);
    const now = await chainNow(apiUrl, [values.since, values.until]);
    const from = parsePastTime(values.since, "--since", now);
    const to = parsePastTime(values.until, "--until", now);
    const gpuModel = await resolveModelName(apiUrl, modelText);
    const { prices: points } = await graphqlRequest<{ prices: PricePoint[] }>(
      apiUrl,
      `query Prices($gpuModel: String!, $region: String, $interval: Interval, $from: Int, $to: Int) {
        prices(gpuModel: $gpuModel, region: $region, interval: $interval, from: $from, to: $to) {
          start jobs gpuHours open high low close vwap askFloor
        }
      }`,
      { gpuModel, region: values.region, interval, from, to },
    );
    const units = await tokenUnits(values);
    const out = createOutput(Boolean(values.json));
    out.line(`${gpuModel}${values.region ? ` in ${values.region}` : ""}, price per GPU-hour by ${interval.toLowerCase()}`);
    out.table(
      ["start", "jobs", "GPU-hours", "open", "high", "low", "close", "vwap", "ask floor"],
      points.map((point) => [
        formatTime(point.start),
        String(point.jobs),
        point.gpuHours.toFixed(1),
        optionalAmount(point.open, units.payment),
        optionalAmount(point.high, units.payment),
        optionalAmount(point.low, units.payment),
        optionalAmount(point.close, units.payment),
        optionalAmount(point.vwap, units.payment),
        optionalAmount(point.askFloor, units.payment),
      ]),
    );
    out.result({ gpuModel, region: values.region ?? null, interval, prices: points });
  },
};

// ------------------------------------------------------------------ stats
const statsHelp = [
  "usage: gpumesh market stats [--block N | --at D|DATE] [options]",
  "Network-wide totals now (or as of a block): providers, stake, escrow, volume, jobs by state, utilization.",
  ...AS_OF_HELP,
  ...API_HELP,
].join("\n");

interface MarketStats {
  providers: number;
  activeProviders: number;
  totalStaked: string;
  totalLocked: string;
  totalUnbonding: string;
  totalSlashed: string;
  escrowed: string;
  volume: string;
  feesCollected: string;
  gpuHoursSold: number;
  jobsByState: Array<{ state: string; count: number }>;
  gpusOffered: number;
  gpusLeased: number;
  utilization: number;
}

const stats: Subcommand = {
  summary: "network-wide totals",
  help: statsHelp,
  async run(argv) {
    const parsed = parseOrHelp(argv, { ...API_OPTIONS, ...AS_OF_OPTIONS }, statsHelp);
    if (!parsed) return 0;
    const apiUrl = resolveApiUrl(parsed.values);
    const block = await asOfBlock(apiUrl, parsed.values);
    const { market, _meta: meta } = await graphqlRequest<{ market: MarketStats; _meta?: { block: AsOf } }>(
      apiUrl,
      `query Market${block ? "($block: BlockInput)" : ""} { market${block ? "(block: $block)" : ""} {
        providers activeProviders totalStaked totalLocked totalUnbonding totalSlashed escrowed volume feesCollected
        gpuHoursSold jobsByState { state count } gpusOffered gpusLeased utilization
      } ${block ? "_meta(block: $block) { block { number timestamp } }" : ""} }`,
      block ? { block } : {},
    );
    const units = await tokenUnits(parsed.values);
    const pay = (value: string) => formatAmount(BigInt(value), units.payment);
    const stake = (value: string) => formatAmount(BigInt(value), units.stake);
    const out = createOutput(Boolean(parsed.values.json));
    if (meta) out.line(asOfLine(meta.block));
    out.line(`providers      ${market.providers} registered, ${market.activeProviders} with open offers`);
    out.line(`stake          ${stake(market.totalStaked)} staked, ${stake(market.totalLocked)} locked, ${stake(market.totalUnbonding)} unbonding, ${stake(market.totalSlashed)} slashed`);
    out.line(`capacity       ${market.gpusLeased}/${market.gpusOffered} GPUs leased (${percent(market.utilization)})`);
    out.line(`money          ${pay(market.escrowed)} in escrow, volume ${pay(market.volume)}, fees ${pay(market.feesCollected)}`);
    out.line(`GPU-hours sold ${market.gpuHoursSold.toFixed(1)}`);
    out.line(`jobs           ${market.jobsByState.map((entry) => `${entry.count} ${entry.state.toLowerCase()}`).join(", ")}`);
    out.result({ ...market, ...(meta ? { asOf: meta.block } : {}) } as unknown as Record<string, unknown>);
  },
};

const subcommands: Record<string, Subcommand> = { capacity, prices, stats };

export const command: Command = { help: "", subcommands };

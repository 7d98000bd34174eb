import { Kind, type GraphQLResolveInfo, type SelectionNode } from "graphql";
import { JOB_STATES, bpsUp, costUp } from "../protocol";
import { emissionsKg, gpuPowerWatts } from "../protocol/energy";
import type {
  CapacityGrouping,
  GpuModelRecord,
  HeartbeatRecord,
  Interval,
  JobOrderBy,
  JobParentColumn,
  JobRecord,
  JobWhere,
  KeyedRecord,
  OfferOrderBy,
  OfferRecord,
  OfferWhere,
  OpenAskRecord,
  ProviderOrderBy,
  ProviderRecord,
  ProviderWhere,
  RentableOfferRecord,
  SortDirection,
  StakeMovementRecord,
  TermsRecord,
} from "../store/reads";
import { INTERVAL_SECONDS, sortKeyTypes } from "../store/reads";
import { backedGpus, byPrice, groupBy, planQuote, rentableGpus, type PlanningTerms, type QuoteShortfall } from "./planning";
import type { GraphqlContext, GpuModelIndex } from "./context";
import { answerAsOf, resolveBlock, type BlockInput } from "./time-travel";
import {
  BigIntScalar,
  badUserInput,
  decodeCursor,
  encodeCursor,
  parseAddress,
  parseCount,
  parseEntityId,
  parseFirst,
  parseTime,
} from "./inputs";

const ZERO_HASH = `0x${"0".repeat(64)}`;

/**
 * GraphQL Int is 32-bit, but the contracts allow uint32 GPU counts and expiry times (an offer that "never expires"
 * at 2^32 - 1). Such values read as 2^31 - 1 rather than failing the whole response.
 */
const MAX_GRAPHQL_INT = 2_147_483_647;
const saturated = (value: number): number => Math.min(value, MAX_GRAPHQL_INT);

// ---------------------------------------------------------------------------------------------------------------
// Arguments
// ---------------------------------------------------------------------------------------------------------------

interface PageArguments<Where, OrderBy> {
  where?: Where | null;
  orderBy?: OrderBy | null;
  orderDirection?: SortDirection | null;
  first?: number | null;
  after?: string | null;
}

interface ProviderFilterInput {
  address?: string | null;
  active?: boolean | null;
  minReliability?: number | null;
}
interface OfferFilterInput {
  provider?: string | null;
  gpuModel?: string | null;
  region?: string | null;
  state?: string | null;
  minGpusAvailable?: number | null;
  maxPricePerGpuHour?: bigint | null;
  maxCarbonIntensity?: number | null;
  minRenewableBps?: number | null;
  minProviderReliability?: number | null;
}
interface JobFilterInput {
  client?: string | null;
  provider?: string | null;
  payer?: string | null;
  offer?: string | null;
  state?: string | null;
  gpuModel?: string | null;
  region?: string | null;
  createdAfter?: number | null;
  createdBefore?: number | null;
}

const given = <T>(value: T | null | undefined): value is T => value !== null && value !== undefined;

function modelIdByName(models: GpuModelIndex, name: string, argument: string): string {
  const model = models.byName.get(name);
  if (!model) {
    const known = models.list.map((m) => m.name).join(", ") || "none indexed yet";
    throw badUserInput(`unknown GPU model "${name}" in argument "${argument}" (known models: ${known})`, argument);
  }
  return model.id;
}

function atLeast(value: number, min: number, argument: string): number {
  if (value < min) throw badUserInput(`argument "${argument}" must be at least ${min}, got ${value}`, argument);
  return value;
}

/** A reliability bound in 0..1 as parts per million (rounded up: a bound is never loosened). */
function parseReliability(value: number, argument: string): number {
  if (!Number.isFinite(value) || value < 0 || value > 1) {
    throw badUserInput(`argument "${argument}" must be a reliability between 0 and 1, got ${value}`, argument);
  }
  return Math.ceil(value * 1_000_000);
}

function providerWhere(input: ProviderFilterInput | null | undefined): ProviderWhere {
  const where: ProviderWhere = {};
  if (given(input?.address)) where.address = parseAddress(input.address, "where.address");
  if (given(input?.active)) where.active = input.active;
  if (given(input?.minReliability)) where.minReliabilityPpm = parseReliability(input.minReliability, "where.minReliability");
  return where;
}

function offerWhere(input: OfferFilterInput | null | undefined, context: GraphqlContext): OfferWhere {
  const where: OfferWhere = {};
  if (!input) return where;
  if (given(input.provider)) where.provider = parseAddress(input.provider, "where.provider");
  if (given(input.gpuModel)) where.gpuModelId = modelIdByName(context.models(), input.gpuModel, "where.gpuModel");
  if (given(input.region)) where.region = input.region;
  if (given(input.state)) where.state = input.state;
  if (given(input.minGpusAvailable)) where.minGpusAvailable = parseCount(input.minGpusAvailable, "where.minGpusAvailable");
  if (given(input.maxPricePerGpuHour)) where.maxPricePerGpuHour = input.maxPricePerGpuHour;
  if (given(input.maxCarbonIntensity)) where.maxCarbonIntensity = parseCount(input.maxCarbonIntensity, "where.maxCarbonIntensity");
  if (given(input.minRenewableBps)) where.minRenewableBps = parseCount(input.minRenewableBps, "where.minRenewableBps");
  if (given(input.minProviderReliability)) {
    where.minProviderReliabilityPpm = parseReliability(input.minProviderReliability, "where.minProviderReliability");
  }
  return where;
}

function jobWhere(input: JobFilterInput | null | undefined, context: GraphqlContext): JobWhere {
  const where: JobWhere = {};
  if (!input) return where;
  if (given(input.client)) where.client = parseAddress(input.client, "where.client");
  if (given(input.provider)) where.provider = parseAddress(input.provider, "where.provider");
  if (given(input.payer)) where.payer = parseAddress(input.payer, "where.payer");
  if (given(input.offer)) where.offerId = parseEntityId(input.offer, "where.offer");
  if (given(input.state)) where.state = input.state;
  if (given(input.gpuModel)) where.gpuModelId = modelIdByName(context.models(), input.gpuModel, "where.gpuModel");
  if (given(input.region)) where.region = input.region;
  if (given(input.createdAfter)) where.createdAfter = parseTime(input.createdAfter, "where.createdAfter");
  if (given(input.createdBefore)) where.createdBefore = parseTime(input.createdBefore, "where.createdBefore");
  return where;
}

interface ParsedPage<Where, OrderBy extends string> {
  where: Where;
  orderBy: OrderBy;
  direction: SortDirection;
  first: number;
  after?: Array<string | number>;
}

function parsePage<Where, OrderBy extends string>(
  entity: "provider" | "offer" | "job" | "stakeMovement" | "heartbeat",
  args: PageArguments<unknown, OrderBy>,
  where: Where,
  defaultOrderBy: OrderBy,
): ParsedPage<Where, OrderBy> {
  const orderBy = args.orderBy ?? defaultOrderBy;
  return {
    where,
    orderBy,
    direction: args.orderDirection ?? "ASC",
    first: parseFirst(args.first),
    after: decodeCursor(args.after, orderBy, sortKeyTypes(entity, orderBy) ?? []),
  };
}

/** Stable text of parsed arguments, to share one loader between parents asking for the same page. */
function argumentsKey(value: unknown): string {
  return JSON.stringify(value, (_key, item) => (typeof item === "bigint" ? item.toString() : item));
}

interface Page<R> {
  items: R[];
  pageInfo: { hasNextPage: boolean; endCursor: string | null };
  /** Counted only when totalCount is asked for: a count can cost more than the page. */
  count: () => number | Promise<number>;
}

/** Rows were fetched with limit first + 1: the extra row only tells that a next page exists. */
function toPage<R>(rows: Array<KeyedRecord<R>>, page: ParsedPage<unknown, string>, count: Page<R>["count"]): Page<R> {
  const shown = rows.slice(0, page.first);
  const last = shown[shown.length - 1];
  return {
    items: shown.map((row) => row.record),
    pageInfo: { hasNextPage: rows.length > page.first, endCursor: last ? encodeCursor(page.orderBy, last.key) : null },
    count,
  };
}

const pageQuery = <Where, OrderBy extends string>(page: ParsedPage<Where, OrderBy>) => ({
  where: page.where,
  orderBy: page.orderBy,
  direction: page.direction,
  limit: page.first + 1,
  after: page.after,
});

// ---------------------------------------------------------------------------------------------------------------
// Derived results
// ---------------------------------------------------------------------------------------------------------------

const compareDecimal = (a: string, b: string): number => a.length - b.length || (a < b ? -1 : a > b ? 1 : 0);

/** askFloor and the GPU-weighted (lower) median of asks: the price of the GPU at position ceil(total / 2). */
function askSummary(asks: OpenAskRecord[]): { askFloor: string | null; askMedian: string | null } {
  if (asks.length === 0) return { askFloor: null, askMedian: null };
  const sorted = [...asks].sort((a, b) => compareDecimal(a.pricePerGpuHour, b.pricePerGpuHour));
  const total = sorted.reduce((sum, ask) => sum + ask.gpusFree, 0);
  const middle = Math.ceil(total / 2);
  let seen = 0;
  let median = sorted[sorted.length - 1].pricePerGpuHour;
  for (const ask of sorted) {
    seen += ask.gpusFree;
    if (seen >= middle) {
      median = ask.pricePerGpuHour;
      break;
    }
  }
  return { askFloor: sorted[0].pricePerGpuHour, askMedian: median };
}

export interface CapacityBucket {
  gpuModel: string | null;
  gpuModelId: string | null;
  region: string | null;
  gpusOffered: number;
  gpusLeased: number;
  gpusAvailable: number;
  utilization: number;
  providers: number;
  offers: number;
  askFloor: string | null;
  askMedian: string | null;
  /** Null until the indexer has recorded the deployment's stake rate. */
  gpusRentable: number | null;
  avgCarbonIntensity: number | null;
  avgRenewableBps: number | null;
}

/** The current terms and the stake rate: what renting costs and locks now; null before anything is indexed. */
function planningTerms(context: GraphqlContext): PlanningTerms | null {
  return context.cached("planningTerms", () => {
    const stakePerPaymentUnit = context.reads.stakePerPaymentUnit();
    const current = currentTerms(context);
    if (stakePerPaymentUnit === null || !current) return null;
    return { parameters: current, stakePerPaymentUnit };
  });
}

/**
 * The offers with free GPUs now (of one model, one region, or all), cheapest first: read once per commit (or block, as
 * of one) and shared by the requests until the next, so treat the list as read-only.
 */
function rentableOffers(context: GraphqlContext, filter: { gpuModelId?: string; region?: string } = {}): readonly RentableOfferRecord[] {
  return context.cached(`rentableOffers:${filter.gpuModelId ?? ""}:${filter.region ?? ""}`, () =>
    context.reads.rentableOffers({ ...filter, at: indexedAt(context) }).sort(byPrice),
  );
}

function capacityBuckets(
  context: GraphqlContext,
  grouping: CapacityGrouping,
  filter: { gpuModelId?: string; region?: string },
): CapacityBucket[] {
  return context.cached(`capacity:${grouping}:${filter.gpuModelId ?? ""}:${filter.region ?? ""}`, () => {
    const models = context.models();
    const groupKey = (gpuModelId: string | null, region: string | null) =>
      grouping === "GPU_MODEL" ? `${gpuModelId}` : grouping === "REGION" ? `${region}` : `${gpuModelId}|${region}`;
    const asksByGroup = groupBy(context.reads.openAsks(filter), (ask) => groupKey(ask.gpuModelId, ask.region));
    const terms = planningTerms(context);
    const rentableByGroup = terms
      ? groupBy(rentableOffers(context, filter), (offer) => groupKey(offer.gpuModelId, offer.region))
      : new Map<string, never[]>();
    return context.reads
      .capacity(grouping, filter)
      .map((row): CapacityBucket => {
        const name = row.gpuModelId === null ? null : (models.byId.get(row.gpuModelId)?.name ?? row.gpuModelId);
        return {
          gpuModel: name,
          gpuModelId: row.gpuModelId,
          region: row.region,
          gpusOffered: saturated(row.gpusOffered),
          gpusLeased: saturated(row.gpusLeased),
          gpusAvailable: saturated(row.gpusOffered - row.gpusLeased),
          utilization: row.gpusOffered > 0 ? row.gpusLeased / row.gpusOffered : 0,
          providers: row.providers,
          offers: row.offers,
          ...askSummary(asksByGroup.get(groupKey(row.gpuModelId, row.region)) ?? []),
          avgCarbonIntensity: row.gpusOffered > 0 ? row.carbonGpuSum / row.gpusOffered : null,
          avgRenewableBps: row.gpusOffered > 0 ? row.renewableGpuSum / row.gpusOffered : null,
          gpusRentable: terms ? saturated(rentableGpus(rentableByGroup.get(groupKey(row.gpuModelId, row.region)) ?? [], terms)) : null,
        };
      })
      .sort((a, b) => (a.gpuModel ?? "").localeCompare(b.gpuModel ?? "") || (a.region ?? "").localeCompare(b.region ?? ""));
  });
}

function modelOf(context: GraphqlContext, gpuModelId: string): GpuModelRecord {
  // Offers can only list catalog models, so a miss means the catalog row is not indexed yet: show the raw id.
  return context.models().byId.get(gpuModelId) ?? { id: gpuModelId, name: gpuModelId, vramGb: 0, listed: false, listedAt: 0 };
}

// ---------------------------------------------------------------------------------------------------------------
// Lists shared by top-level queries and links
// ---------------------------------------------------------------------------------------------------------------

function jobsOfParent(
  context: GraphqlContext,
  column: JobParentColumn,
  parent: string | number,
  args: PageArguments<JobFilterInput, JobOrderBy>,
  info: GraphQLResolveInfo,
): Promise<Page<JobRecord>> {
  const page = parsePage("job", args, jobWhere(args.where, context), "ID");
  const columns = selectedJobColumns(info);
  // Pages of the same arguments but other selections (aliases) read other columns: not one batch.
  const key = `${argumentsKey(page)}|${columns?.join(",") ?? "*"}`;
  return context.loaders
    .childPages<string | number, JobRecord>(`jobs.${column}`, key, (value) =>
      context.reads.jobs(pageQuery(page), { column, value }, columns),
    )
    .load(parent)
    .then((rows) =>
      toPage(rows, page, () =>
        context.loaders
          .childCounts<string | number>(`jobs.${column}`, argumentsKey(page.where), (parents) =>
            context.reads.countJobsByParent(page.where, column, parents),
          )
          .load(parent),
      ),
    );
}

/** Network-wide totals in `context` (now, or as of its block). */
function marketStats(context: GraphqlContext) {
  return context.cached("market", () => {
    const totals = context.reads.marketTotals();
    const counts = new Map(context.reads.jobStateCounts().map((row) => [row.state, row.count]));
    const jobsByState = JOB_STATES.map((state) => ({ state, count: counts.get(state) ?? 0 }));
    return {
      providers: totals.providers,
      activeProviders: context.reads.activeProviderCount(),
      totalStaked: totals.totalStaked,
      totalLocked: totals.totalLocked,
      totalUnbonding: totals.totalUnbonding,
      totalSlashed: totals.totalSlashed,
      escrowed: totals.escrowed,
      disputeBondsHeld: totals.disputeBondsHeld,
      volume: totals.volume,
      feesCollected: totals.feesCollected,
      gpuHoursSold: totals.gpuSecondsSold / 3600,
      gpusRentable: (() => {
        const terms = planningTerms(context);
        return terms ? saturated(rentableGpus(rentableOffers(context), terms)) : null;
      })(),
      estimatedEmissionsKg: [...context.reads.soldCarbonGpuSeconds()].reduce(
        (sum, [gpuModelId, carbon]) => sum + emissionsKg(carbon, gpuPowerWatts(modelOf(context, gpuModelId).name)),
        0,
      ),
      jobsByState,
      jobs: jobsByState.reduce((sum, row) => sum + row.count, 0),
      gpusOffered: saturated(totals.gpusOffered),
      gpusLeased: saturated(totals.gpusLeased),
      gpusAvailable: saturated(totals.gpusOffered - totals.gpusLeased),
      utilization: totals.gpusOffered > 0 ? totals.gpusLeased / totals.gpusOffered : 0,
    };
  });
}

/**
 * The block a time-travel argument resolves to, as _meta(block) reports it: its number, its hash when the store has
 * it (else "": Meta.block.hash is non-null in the v1 API and block_times keeps no hashes), and the timestamp the
 * answers as of it are computed at (the block's own whenever the indexer applied it, which `at` always resolves to).
 */
function resolvedBlock(context: GraphqlContext, input: BlockInput) {
  const block = resolveBlock(context, input);
  return { number: block.number, hash: context.history.blockHash(block.number) ?? "", timestamp: block.timestamp };
}

// ---------------------------------------------------------------------------------------------------------------
// Resolvers
// ---------------------------------------------------------------------------------------------------------------

type Resolver<Parent, Args = Record<string, never>> = (parent: Parent, args: Args, context: GraphqlContext, info: GraphQLResolveInfo) => unknown;

const Query: Record<string, Resolver<unknown, any>> = {
  _meta(_parent, args: { block?: BlockInput | null }, context) {
    const checkpoint = context.reads.checkpoint();
    const headBlock = context.status?.().headBlock ?? null;
    const indexed = checkpoint?.blockNumber ?? 0;
    return {
      chainId: checkpoint?.chainId ?? context.chainId ?? 0,
      block: args.block ? resolvedBlock(context, args.block) : { number: indexed, hash: checkpoint?.blockHash ?? ZERO_HASH, timestamp: checkpoint?.blockTimestamp ?? 0 },
      headBlock,
      lagBlocks: headBlock === null ? null : Math.max(0, headBlock - indexed),
      reorgs: checkpoint?.reorgs ?? 0,
      eventsIngested: checkpoint?.eventsIngested ?? 0,
    };
  },

  market: (_parent, args: { block?: BlockInput | null }, context) => answerAsOf(context, args.block, marketStats),

  gpuModels: (_parent, _args, context) => context.models().list,

  gpuModel: (_parent, args: { name: string }, context) => context.models().byName.get(args.name) ?? null,

  quote(
    _parent,
    args: {
      gpuModel: string;
      gpus: number;
      duration: number;
      region?: string | null;
      maxPricePerGpuHour?: bigint | null;
      maxCarbonIntensity?: number | null;
      minRenewableBps?: number | null;
      minReliability?: number | null;
      spreadAcross?: number | null;
      excludeProviders?: string[] | null;
    },
    context,
  ) {
    const excluded = new Set((args.excludeProviders ?? []).map((address) => parseAddress(address, "excludeProviders")));
    const gpuModelId = modelIdByName(context.models(), args.gpuModel, "gpuModel");
    const gpus = atLeast(args.gpus, 1, "gpus");
    const duration = atLeast(args.duration, 1, "duration");
    const spreadAcross = atLeast(args.spreadAcross ?? 1, 1, "spreadAcross");
    if (spreadAcross > gpus) {
      throw badUserInput(`argument "spreadAcross" must be between 1 and gpus (${gpus}), got ${spreadAcross}`, "spreadAcross");
    }
    const terms = planningTerms(context);
    const at = indexedAt(context);
    const offers = terms ? rentableOffers(context, { gpuModelId, region: args.region ?? undefined }).filter((offer) => !excluded.has(offer.provider)) : [];
    const quote = planQuote(
      offers,
      {
        gpus,
        duration,
        spreadAcross,
        scope: { gpuModel: args.gpuModel, region: args.region ?? undefined, excludedProviders: excluded.size },
        maxPricePerGpuHour: args.maxPricePerGpuHour ?? undefined,
        maxCarbonIntensity: given(args.maxCarbonIntensity) ? atLeast(args.maxCarbonIntensity, 0, "maxCarbonIntensity") : undefined,
        minRenewableBps: given(args.minRenewableBps) ? atLeast(args.minRenewableBps, 0, "minRenewableBps") : undefined,
        minReliabilityPpm: given(args.minReliability) ? parseReliability(args.minReliability, "minReliability") : undefined,
      },
      terms ?? { parameters: { protocolFeeBps: 0, collateralBps: 0, disputeBondBps: 0 }, stakePerPaymentUnit: 1n },
      context.paymentToken,
    );
    return {
      ...quote,
      shortfall: quote.shortfall satisfies QuoteShortfall | null,
      asOf: at,
      duration,
      legs: quote.legs.map((leg) => ({
        offerId: leg.offer.id,
        providerAddress: leg.offer.provider,
        gpus: leg.gpus,
        pricePerGpuHour: leg.offer.pricePerGpuHour.toString(),
        cost: leg.cost.toString(),
        fee: leg.fee.toString(),
        escrow: leg.escrow.toString(),
        collateral: leg.collateral.toString(),
      })),
      cost: quote.cost.toString(),
      fee: quote.fee.toString(),
      escrow: quote.escrow.toString(),
      collateral: quote.collateral.toString(),
    };
  },

  capacity(
    _parent,
    args: { groupBy?: CapacityGrouping | null; gpuModel?: string | null; region?: string | null; block?: BlockInput | null },
    context,
  ) {
    const filter: { gpuModelId?: string; region?: string } = {};
    // The model is named in the catalog as it is now (a model listed later than the block has no capacity then).
    if (given(args.gpuModel)) filter.gpuModelId = modelIdByName(context.models(), args.gpuModel, "gpuModel");
    if (given(args.region)) filter.region = args.region;
    return answerAsOf(context, args.block, (scoped) => capacityBuckets(scoped, args.groupBy ?? "GPU_MODEL", filter));
  },

  utilization(_parent, args: { interval?: Interval | null; from?: number | null; to?: number | null }, context) {
    const interval = args.interval ?? "HOUR";
    const seconds = INTERVAL_SECONDS[interval];
    const from = parseTime(args.from, "from") ?? 0;
    const to = parseTime(args.to, "to") ?? Number.MAX_SAFE_INTEGER;
    if (from > to) throw badUserInput(`argument "from" (${from}) is after "to" (${to})`, "from");
    return context.cached(`utilization:${interval}:${from}:${to}`, () =>
      context.reads.utilizationBuckets({ interval, from: Math.floor(from / seconds) * seconds, to }).map((bucket) => ({
        start: bucket.start,
        end: bucket.start + seconds,
        gpuHoursOffered: bucket.gpuSecondsOffered / 3600,
        gpuHoursLeased: bucket.gpuSecondsLeased / 3600,
        utilization: bucket.gpuSecondsOffered > 0 ? bucket.gpuSecondsLeased / bucket.gpuSecondsOffered : 0,
      })),
    );
  },

  prices(
    _parent,
    args: { gpuModel: string; region?: string | null; interval?: Interval | null; from?: number | null; to?: number | null },
    context,
  ) {
    const gpuModelId = modelIdByName(context.models(), args.gpuModel, "gpuModel");
    const interval = args.interval ?? "HOUR";
    const seconds = INTERVAL_SECONDS[interval];
    const from = parseTime(args.from, "from") ?? 0;
    const to = parseTime(args.to, "to") ?? Number.MAX_SAFE_INTEGER;
    if (from > to) throw badUserInput(`argument "from" (${from}) is after "to" (${to})`, "from");
    const region = args.region ?? "";
    return context.cached(`prices:${gpuModelId}:${region}:${interval}:${from}:${to}`, () =>
      context.reads
        .priceBuckets({ gpuModelId, region, interval, from: Math.floor(from / seconds) * seconds, to })
        .map((bucket) => ({
          start: bucket.start,
          end: bucket.start + seconds,
          jobs: bucket.jobs,
          gpuHours: bucket.gpuSeconds / 3600,
          notional: bucket.notional,
          open: bucket.open,
          high: bucket.high,
          low: bucket.low,
          close: bucket.close,
          vwap: bucket.gpuSeconds > 0 ? (BigInt(bucket.notional) / BigInt(bucket.gpuSeconds)).toString() : null,
          askFloor: bucket.askFloor,
        })),
    );
  },

  provider(_parent, args: { id: string; block?: BlockInput | null }, context) {
    const address = parseAddress(args.id, "id");
    return answerAsOf(context, args.block, (scoped) => scoped.loaders.provider.load(address));
  },

  providers(_parent, args: PageArguments<ProviderFilterInput, ProviderOrderBy>, context) {
    const page = parsePage("provider", args, providerWhere(args.where), "ADDRESS");
    return toPage(context.reads.providers(pageQuery(page)), page, () =>
      context.cached(`count.providers:${argumentsKey(page.where)}`, () => context.reads.countProviders(page.where)),
    );
  },

  offer(_parent, args: { id: string; block?: BlockInput | null }, context) {
    const id = parseEntityId(args.id, "id");
    return answerAsOf(context, args.block, (scoped) => scoped.loaders.offer.load(id));
  },

  offers(_parent, args: PageArguments<OfferFilterInput, OfferOrderBy>, context) {
    const page = parsePage("offer", args, offerWhere(args.where, context), "ID");
    return toPage(context.reads.offers(pageQuery(page)), page, () =>
      context.cached(`count.offers:${argumentsKey(page.where)}`, () => context.reads.countOffers(page.where)),
    );
  },

  job(_parent, args: { id: string; block?: BlockInput | null }, context) {
    const id = parseEntityId(args.id, "id");
    return answerAsOf(context, args.block, (scoped) => scoped.loaders.job.load(id));
  },

  jobs(_parent, args: PageArguments<JobFilterInput, JobOrderBy>, context, info) {
    const page = parsePage("job", args, jobWhere(args.where, context), "ID");
    return toPage(context.reads.jobs(pageQuery(page), undefined, selectedJobColumns(info)), page, () =>
      context.cached(`count.jobs:${argumentsKey(page.where)}`, () => context.reads.countJobs(page.where)),
    );
  },

  account: (_parent, args: { id: string }) => ({ address: parseAddress(args.id, "id") }),

  terms: (_parent, _args, context) => termsById(context).list,
};

/**
 * The terms in force: the latest snapshot (market_totals.current_terms_id is the highest termsId published, and every
 * published one has its row), read without the market's totals, which as of a block are a scan.
 */
function currentTerms(context: GraphqlContext): TermsRecord | undefined {
  const { list } = termsById(context);
  return list[list.length - 1];
}

/** The market's parameter snapshots: a handful of rows, read once per database version. */
function termsById(context: GraphqlContext): { list: TermsRecord[]; byId: Map<number, TermsRecord> } {
  return context.cached("terms", () => {
    const list = context.reads.terms();
    return { list, byId: new Map(list.map((terms) => [terms.termsId, terms])) };
  });
}

const GpuModel: Record<string, Resolver<GpuModelRecord>> = {
  capacity: (model, _args, context) =>
    capacityBuckets(context, "GPU_MODEL", {}).find((bucket) => bucket.gpuModelId === model.id) ?? null,
};

const CapacityBucket: Record<string, Resolver<CapacityBucket>> = {
  model: (bucket, _args, context) => (bucket.gpuModelId === null ? null : modelOf(context, bucket.gpuModelId)),
};

const Provider: Record<string, Resolver<ProviderRecord, any>> = {
  id: (provider) => provider.address,
  stake: (provider) => provider.staked,
  reliability: (provider) => provider.reliabilityPpm / 1_000_000,
  completionRate: (provider) => (provider.jobsAccepted === 0 ? null : provider.jobsCompleted / provider.jobsAccepted),
  medianSecondsToAccept: (provider, _args, context) => context.reads.medianSecondsToAccept(provider.address),
  uptime(provider, args: { window?: number | null }, context) {
    const window = atLeast(args.window ?? 86_400, 1, "window");
    const end = indexedAt(context);
    const start = end - window;
    const timeout = currentTerms(context)?.livenessTimeout ?? 0;
    // Each sign of life covers the liveness timeout after it; the share of the window covered is the uptime.
    let covered = 0;
    let coveredUntil = start;
    for (const at of context.reads.signsOfLife(provider.address, start, end)) {
      const from = Math.max(at, coveredUntil);
      const until = Math.min(at + timeout, end);
      if (until > from) covered += until - from;
      coveredUntil = Math.max(coveredUntil, until);
    }
    return covered / window;
  },

  offers(provider, args: PageArguments<OfferFilterInput, OfferOrderBy>, context) {
    const page = parsePage("offer", args, offerWhere(args.where, context), "ID");
    const key = argumentsKey(page);
    return context.loaders
      .childPages<string, OfferRecord>("offers.provider", key, (value) =>
        context.reads.offers(pageQuery(page), { column: "provider", value }),
      )
      .load(provider.address)
      .then((rows) =>
        toPage(rows, page, () =>
          context.loaders
            .childCounts<string>("offers.provider", argumentsKey(page.where), (parents) =>
              context.reads.countOffersByParent(page.where, "provider", parents),
            )
            .load(provider.address),
        ),
      );
  },

  jobs: (provider, args: PageArguments<JobFilterInput, JobOrderBy>, context, info) =>
    jobsOfParent(context, "provider", provider.address, args, info),

  heartbeats(provider, args: PageArguments<never, never>, context) {
    const page = parsePage("heartbeat", { ...args, orderBy: "BLOCK" }, { provider: provider.address }, "BLOCK");
    return toPage(context.reads.heartbeats(pageQuery(page)), page, () => context.reads.countHeartbeats(page.where));
  },

  stakeMovements(provider, args: PageArguments<never, never>, context) {
    const page = parsePage("stakeMovement", { ...args, orderBy: "BLOCK" }, { provider: provider.address }, "BLOCK");
    return toPage(context.reads.stakeMovements(pageQuery(page)), page, () =>
      context.reads.countStakeMovements(page.where),
    );
  },
};

const Offer: Record<string, Resolver<OfferRecord, any>> = {
  provider: (offer, _args, context) => context.loaders.provider.load(offer.provider),
  gpuModel: (offer, _args, context) => modelOf(context, offer.gpuModelId).name,
  model: (offer, _args, context) => modelOf(context, offer.gpuModelId),
  gpus: (offer) => saturated(offer.gpus),
  gpusLeased: (offer) => saturated(offer.gpusLeased),
  gpusAvailable: (offer) => saturated(offer.gpus - offer.gpusLeased),
  expiresAt: (offer) => saturated(offer.expiresAt),
  price: (offer) => offer.pricePerGpuHour,
  jobs: (offer, args: PageArguments<JobFilterInput, JobOrderBy>, context, info) => jobsOfParent(context, "offer_id", offer.id, args, info),
  async gpusRentable(offer, _args, context) {
    const terms = planningTerms(context);
    if (!terms) return null;
    if (offer.state !== "OPEN" || offer.expiresAt <= indexedAt(context)) return 0;
    const provider = await context.loaders.provider.load(offer.provider);
    if (!provider) return 0;
    const unlocked = BigInt(provider.staked) - BigInt(provider.locked);
    return saturated(backedGpus(BigInt(offer.pricePerGpuHour), offer.gpus - offer.gpusLeased, offer.minDuration, unlocked, terms));
  },
};

const QuoteLeg: Record<string, Resolver<{ offerId: number; providerAddress: string }>> = {
  offer: (leg, _args, context) => context.loaders.offer.load(leg.offerId),
  provider: (leg, _args, context) => context.loaders.provider.load(leg.providerAddress),
};

/**
 * The jobs columns each field of Job reads (its own, or what its resolver below computes from). A page reads only the
 * columns of the fields its items select; a field missing here makes it read them all. The test "a page reads only
 * the columns its selection needs" asks every field of Job both ways.
 */
const JOB_FIELD_COLUMNS: Record<string, readonly string[]> = {
  id: ["id"],
  offer: ["offer_id"],
  client: ["client"],
  provider: ["provider"],
  payer: ["payer"],
  gpuModel: ["gpu_model"],
  model: ["gpu_model"],
  region: ["region"],
  gpus: ["gpus"],
  pricePerGpuHour: ["price_per_gpu_hour"],
  price: ["price_per_gpu_hour"],
  duration: ["duration"],
  extensions: ["extensions"],
  gpuHours: ["gpus", "duration"],
  cost: ["cost"],
  escrow: ["escrow"],
  specHash: ["spec_hash"],
  state: ["state"],
  createdAt: ["created_at"],
  createdBlock: ["created_block"],
  acceptDeadline: ["accept_deadline"],
  startedAt: ["started_at"],
  endsAt: ["started_at", "duration"],
  endedAt: ["ended_at"],
  completedAt: ["completed_at"],
  disputedAt: ["disputed_at"],
  finalizedAt: ["finalized_at"],
  endedEarly: ["ended_early"],
  collateral: ["collateral"],
  claimed: ["claimed"],
  earned: ["earned"],
  paid: ["provider_paid"],
  providerPaid: ["provider_paid"],
  refunded: ["refunded"],
  fee: ["fee"],
  cancelFee: ["cancel_fee"],
  slashed: ["slashed"],
  providerShareBps: ["provider_share_bps"],
  resultHash: ["result_hash"],
  reasonHash: ["reason_hash"],
  terms: ["terms_id"],
  receiptedUntil: ["receipted_until"],
  paidUntil: ["paid_until"],
  darkSince: ["state", "started_at", "provider", "duration", "terms_id"],
  earnedSoFar: ["state", "started_at", "price_per_gpu_hour", "gpus", "duration", "earned"],
  claimable: ["state", "claimed", "terms_id", "receipted_until", "started_at", "price_per_gpu_hour", "gpus", "cost", "duration"],
  secondsLeft: ["state", "started_at", "duration"],
  bond: ["bond"],
  resolveDeadline: ["resolve_deadline"],
  bondToProvider: ["bond_to_provider"],
  staleFinalized: ["stale_finalized"],
};

/** The columns a jobs page's items need (fragments included), or undefined for all of them. */
function selectedJobColumns(info: GraphQLResolveInfo): string[] | undefined {
  const columns = new Set<string>(["id"]);
  /** False when a selected field has no column map. */
  const visit = (selections: readonly SelectionNode[], inItems: boolean): boolean => {
    for (const selection of selections) {
      if (selection.kind === Kind.FIELD) {
        const name = selection.name.value;
        if (!inItems) {
          if (name === "items" && selection.selectionSet && !visit(selection.selectionSet.selections, true)) return false;
        } else if (name !== "__typename") {
          const needs = JOB_FIELD_COLUMNS[name];
          if (!needs) return false;
          for (const column of needs) columns.add(column);
        }
      } else {
        const fragment = selection.kind === Kind.INLINE_FRAGMENT ? selection : info.fragments[selection.name.value];
        if (!fragment || !visit(fragment.selectionSet.selections, inItems)) return false;
      }
    }
    return true;
  };
  for (const node of info.fieldNodes) if (node.selectionSet && !visit(node.selectionSet.selections, false)) return undefined;
  return [...columns];
}

const Job: Record<string, Resolver<JobRecord>> = {
  offer: (job, _args, context) => context.loaders.offer.load(job.offerId),
  client: (job) => ({ address: job.client }),
  payer: (job) => ({ address: job.payer }),
  provider: (job, _args, context) => context.loaders.provider.load(job.provider),
  gpuModel: (job, _args, context) => modelOf(context, job.gpuModelId).name,
  model: (job, _args, context) => modelOf(context, job.gpuModelId),
  gpus: (job) => saturated(job.gpus),
  price: (job) => job.pricePerGpuHour,
  gpuHours: (job) => (job.gpus * job.duration) / 3600,
  paid: (job) => job.providerPaid,
  endsAt: (job) => (job.startedAt === null ? null : job.startedAt + job.duration),
  terms: (job, _args, context) => {
    const terms = termsById(context).byId.get(job.termsId);
    // ParameterSet of the job's snapshot comes before any JobCreated that follows it: a miss is an empty store.
    if (!terms) throw new Error(`terms ${job.termsId} of job ${job.id} are not indexed`);
    return terms;
  },
  earnedSoFar(job, _args, context) {
    if (job.startedAt === null) return null;
    return job.state === "RUNNING" ? earnedAt(job, indexedAt(context)).toString() : job.earned;
  },
  claimable(job, _args, context) {
    if (job.state !== "RUNNING") return job.claimed;
    // Without a receipt, claims stop at what the collateral could take back (JobLib.claimCap).
    const collateralBps = termsById(context).byId.get(job.termsId)?.collateralBps ?? 0;
    const receipted = job.receiptedUntil === null ? 0 : job.receiptedUntil - job.startedAt!;
    const cap = costUp(BigInt(job.pricePerGpuHour), job.gpus, receipted) + bpsUp(BigInt(job.cost), collateralBps);
    const earned = earnedAt(job, indexedAt(context));
    return (earned < cap ? earned : cap).toString();
  },
  secondsLeft: (job, _args, context) =>
    job.state === "RUNNING" && job.startedAt !== null ? Math.max(0, job.startedAt + job.duration - indexedAt(context)) : null,
  async darkSince(job, _args, context) {
    if (job.state !== "RUNNING" || job.startedAt === null) return null;
    const provider = await context.loaders.provider.load(job.provider);
    const lastLifeAt = Math.max(provider?.lastHeartbeatAt ?? 0, job.startedAt);
    if (lastLifeAt >= job.startedAt + job.duration) return null;
    const darkAt = lastLifeAt + (termsById(context).byId.get(job.termsId)?.livenessTimeout ?? 0);
    return indexedAt(context) > darkAt ? darkAt : null;
  },
};

/**
 * The indexed block's time, or the time of the block a time-travel answer is as of: "now" for everything that changes
 * with the clock and no event (API.md).
 */
const indexedAt = (context: GraphqlContext) => context.asOf?.timestamp ?? context.reads.checkpoint()?.blockTimestamp ?? 0;

/** JobLib.earnedAt: pay for the time from the start to `timestamp`, never past the duration. */
function earnedAt(job: JobRecord, timestamp: number): bigint {
  const used = Math.min(Math.max(0, timestamp - (job.startedAt ?? timestamp)), job.duration);
  return costUp(BigInt(job.pricePerGpuHour), job.gpus, used);
}

const Terms: Record<string, Resolver<TermsRecord>> = {
  id: (terms) => terms.termsId,
};

const Heartbeat: Record<string, Resolver<HeartbeatRecord>> = {
  id: (heartbeat) => `${heartbeat.blockNumber}-${heartbeat.logIndex}`,
  job: (heartbeat, _args, context) => (heartbeat.jobId === null ? null : context.loaders.job.load(heartbeat.jobId)),
};

const Account: Record<string, Resolver<{ address: string }, any>> = {
  id: (account) => account.address,
  provider: (account, _args, context) => context.loaders.provider.load(account.address),
  jobs: (account, args: PageArguments<JobFilterInput, JobOrderBy>, context, info) =>
    jobsOfParent(context, "client", account.address, args, info),
};

const StakeMovement: Record<string, Resolver<StakeMovementRecord>> = {
  id: (movement) => `${movement.blockNumber}-${movement.logIndex}`,
  provider: (movement, _args, context) => context.loaders.provider.load(movement.provider),
  job: (movement, _args, context) => (movement.jobId === null ? null : context.loaders.job.load(movement.jobId)),
};

/** Every page type (ProviderPage, JobPage, ...). */
const PageFields: Record<string, Resolver<Page<unknown>>> = {
  totalCount: (page) => page.count(),
};

export const resolvers = {
  BigInt: BigIntScalar,
  ProviderPage: PageFields,
  OfferPage: PageFields,
  JobPage: PageFields,
  HeartbeatPage: PageFields,
  StakeMovementPage: PageFields,
  Query,
  GpuModel,
  CapacityBucket,
  Provider,
  Offer,
  QuoteLeg,
  Job,
  Account,
  StakeMovement,
  Terms,
  Heartbeat,
};

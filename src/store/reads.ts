import type { Database, Statement } from "better-sqlite3";
import { OPEN_JOB_STATES, PARAMETER_NAMES, parameterColumn, type MarketParameters } from "../protocol";
import type { GpuModelRow, HeartbeatRow, JobRow, OfferRow, ProviderRow, StakeMovementRow } from "./rows";
import { readWriter, type WriterRow } from "./writer-lock";

/**
 * Read side of the store: every SQL statement the GraphQL API runs, prepared once per connection and
 * returning camelCase records. Token amounts stay decimal strings (exact uint256); ids of offers and jobs,
 * counts and times are numbers (they fit in 53 bits). Nothing here writes.
 */

export interface CheckpointRecord {
  chainId: number;
  blockNumber: number;
  blockHash: string;
  blockTimestamp: number;
  eventsIngested: number;
  reorgs: number;
}

export interface MarketTotalsRecord {
  providers: number;
  totalStaked: string;
  totalLocked: string;
  totalUnbonding: string;
  totalSlashed: string;
  escrowed: string;
  /** Provider pay of finished jobs (claims included), without cancel fees. */
  volume: string;
  feesCollected: string;
  /** GPU-seconds used by finished jobs that earned their provider something. */
  gpuSecondsSold: number;
  gpusOffered: number;
  gpusLeased: number;
  disputeBondsHeld: string;
  currentTermsId: number;
}

export interface GpuModelRecord {
  id: string;
  name: string;
  vramGb: number;
  listed: boolean;
  listedAt: number;
}

export interface ProviderRecord {
  address: string;
  metadataUri: string;
  registeredAt: number;
  staked: string;
  locked: string;
  unbonding: string;
  unbondingReadyAt: number | null;
  slashed: string;
  earned: string;
  jobsCompleted: number;
  jobsDisputed: number;
  activeOffers: number;
  updatedAt: number;
  lastHeartbeatAt: number | null;
  jobsAccepted: number;
  jobsDeclined: number;
  jobsExpired: number;
  jobsDark: number;
  jobsLostDisputes: number;
  /** RELIABILITY_PPM_SQL of the provider's counts. */
  reliabilityPpm: number;
}

export interface RentableOfferRecord {
  id: number;
  provider: string;
  gpuModelId: string;
  region: string;
  gpusFree: number;
  pricePerGpuHour: bigint;
  minDuration: number;
  maxDuration: number;
  carbonIntensity: number;
  renewableBps: number;
  /** The provider's stake not locked as collateral. */
  providerUnlocked: bigint;
  providerReliabilityPpm: number;
}

export interface OfferRecord {
  id: number;
  provider: string;
  gpuModelId: string;
  region: string;
  gpus: number;
  gpusLeased: number;
  pricePerGpuHour: string;
  minDuration: number;
  maxDuration: number;
  carbonIntensity: number;
  renewableBps: number;
  expiresAt: number;
  state: string;
  createdAt: number;
  createdBlock: number;
  updatedAt: number;
}

export interface JobRecord {
  id: number;
  offerId: number;
  client: string;
  provider: string;
  payer: string;
  gpuModelId: string;
  region: string;
  gpus: number;
  pricePerGpuHour: string;
  duration: number;
  cost: string;
  escrow: string;
  specHash: string;
  state: string;
  createdAt: number;
  createdBlock: number;
  acceptDeadline: number;
  startedAt: number | null;
  endedAt: number | null;
  completedAt: number | null;
  disputedAt: number | null;
  finalizedAt: number | null;
  endedEarly: boolean;
  collateral: string;
  claimed: string;
  earned: string | null;
  providerPaid: string;
  refunded: string;
  fee: string;
  cancelFee: string;
  slashed: string;
  providerShareBps: number | null;
  resultHash: string | null;
  reasonHash: string | null;
  termsId: number;
  extensions: number;
  receiptedUntil: number | null;
  paidUntil: number | null;
  bond: string;
  resolveDeadline: number | null;
  bondToProvider: boolean | null;
  staleFinalized: boolean;
}

export interface HeartbeatRecord {
  blockNumber: number;
  logIndex: number;
  provider: string;
  at: number;
  kind: string;
  jobId: number | null;
}

/** A parameter snapshot (IJobMarket.Parameters) and when it was published. */
export interface TermsRecord extends MarketParameters {
  termsId: number;
  publishedAt: number;
}

export interface StakeMovementRecord {
  blockNumber: number;
  logIndex: number;
  txHash: string;
  timestamp: number;
  provider: string;
  kind: string;
  amount: string;
  jobId: number | null;
}

export type CapacityGrouping = "GPU_MODEL" | "REGION" | "GPU_MODEL_REGION";

/** One capacity group; the grouped-away dimension is null. */
export interface CapacityRecord {
  gpuModelId: string | null;
  region: string | null;
  gpusOffered: number;
  gpusLeased: number;
  offers: number;
  providers: number;
  /** Sums over the open offers' GPUs of their carbon intensity and renewable share (for GPU-weighted averages). */
  carbonGpuSum: number;
  renewableGpuSum: number;
}

/** An OPEN offer with free GPUs: the asks behind askFloor and askMedian. */
export interface OpenAskRecord {
  gpuModelId: string;
  region: string;
  pricePerGpuHour: string;
  gpusFree: number;
}

export interface PriceBucketRecord {
  start: number;
  jobs: number;
  gpuSeconds: number;
  notional: string;
  open: string | null;
  high: string | null;
  low: string | null;
  close: string | null;
  askFloor: string | null;
}

export type Interval = "HOUR" | "DAY";
export const INTERVAL_SECONDS: Record<Interval, number> = { HOUR: 3600, DAY: 86400 };

// ---------------------------------------------------------------------------------------------------------------
// Pages: keyset pagination on (sort key..., id)
// ---------------------------------------------------------------------------------------------------------------

export type SortDirection = "ASC" | "DESC";

/** The values of a row's sort key, id last: what a cursor carries. */
export type SortKey = Array<string | number>;

export interface PageQuery<Where, OrderBy extends string> {
  where: Where;
  orderBy: OrderBy;
  direction: SortDirection;
  /** Rows to return; callers ask for one more than they show to learn whether a next page exists. */
  limit: number;
  after?: SortKey;
}

export interface KeyedRecord<R> {
  record: R;
  key: SortKey;
}

export interface ProviderWhere {
  address?: string;
  active?: boolean;
  minReliabilityPpm?: number;
}
export type ProviderOrderBy = "ADDRESS" | "STAKED" | "EARNED" | "JOBS_COMPLETED" | "REGISTERED_AT" | "RELIABILITY";

/**
 * A provider's reliability in parts per million, from its counts alone: (good + 1) / (good + bad + 2), where good is
 * jobs declined in time plus jobs accepted that neither went dark nor lost a dispute, and bad is jobs left to expire,
 * jobs reported dark and disputes lost (the arbiter paid it less than everything). A provider without history scores
 * 0.5; every outcome moves it, old and new alike.
 */
export const RELIABILITY_PPM_SQL =
  "(((jobs_accepted - jobs_dark - jobs_lost_disputes + jobs_declined) + 1) * 1000000) / " +
  "((jobs_accepted + jobs_declined + jobs_expired + jobs_lost_disputes) + 2)";

export interface OfferWhere {
  provider?: string;
  gpuModelId?: string;
  region?: string;
  state?: string;
  minGpusAvailable?: number;
  maxPricePerGpuHour?: bigint;
  maxCarbonIntensity?: number;
  minRenewableBps?: number;
  /** Offers of providers whose RELIABILITY_PPM_SQL is at least this. */
  minProviderReliabilityPpm?: number;
}
export type OfferOrderBy = "ID" | "PRICE" | "GPUS_AVAILABLE" | "CREATED_AT" | "CARBON_INTENSITY" | "RENEWABLE_BPS";

export interface JobWhere {
  client?: string;
  provider?: string;
  payer?: string;
  offerId?: number;
  state?: string;
  gpuModelId?: string;
  region?: string;
  /** created_at >= createdAfter */
  createdAfter?: number;
  /** created_at < createdBefore */
  createdBefore?: number;
}
export type JobOrderBy = "ID" | "CREATED_AT" | "PRICE";

export interface StakeMovementWhere {
  provider?: string;
}
export type StakeMovementOrderBy = "BLOCK";

export interface HeartbeatWhere {
  provider?: string;
}
export type HeartbeatOrderBy = "BLOCK";

/** A list of child rows per parent (provider.jobs, offer.jobs, ...): the column that holds the parent's key. */
export type JobParentColumn = "provider" | "offer_id" | "client";
export type OfferParentColumn = "provider";

type KeyType = "int" | "text";
interface SortColumn {
  sql: string;
  type: KeyType;
}

/** Sort keys of the orderings; decimal amounts sort exactly by (length, text) since they carry no leading zeros. */
const decimalKey = (column: string): SortColumn[] => [
  { sql: `length(${column})`, type: "int" },
  { sql: column, type: "text" },
];

const PROVIDER_ORDER: Record<ProviderOrderBy, SortColumn[]> = {
  ADDRESS: [],
  STAKED: decimalKey("staked"),
  EARNED: decimalKey("earned"),
  JOBS_COMPLETED: [{ sql: "jobs_completed", type: "int" }],
  REGISTERED_AT: [{ sql: "registered_at", type: "int" }],
  RELIABILITY: [{ sql: RELIABILITY_PPM_SQL, type: "int" }],
};
// Offer and job ids are assigned in creation order and block timestamps never decrease, so (created_at, id) order
// is id order: CREATED_AT pages walk the primary key (and the (parent, id) indexes) instead of sorting the table.
const OFFER_ORDER: Record<OfferOrderBy, SortColumn[]> = {
  ID: [],
  PRICE: decimalKey("price_per_gpu_hour"),
  GPUS_AVAILABLE: [{ sql: "gpus - gpus_leased", type: "int" }],
  CREATED_AT: [],
  CARBON_INTENSITY: [{ sql: "carbon_intensity", type: "int" }],
  RENEWABLE_BPS: [{ sql: "renewable_bps", type: "int" }],
};
const JOB_ORDER: Record<JobOrderBy, SortColumn[]> = {
  ID: [],
  CREATED_AT: [],
  PRICE: decimalKey("price_per_gpu_hour"),
};
const STAKE_MOVEMENT_ORDER: Record<StakeMovementOrderBy, SortColumn[]> = {
  BLOCK: [{ sql: "block_number", type: "int" }],
};
const HEARTBEAT_ORDER: Record<HeartbeatOrderBy, SortColumn[]> = {
  BLOCK: [{ sql: "block_number", type: "int" }],
};

interface TableSpec<Where, OrderBy extends string, Row, R> {
  table: string;
  /** The unique tie-breaker that ends every sort key. */
  id: SortColumn[];
  order: Record<OrderBy, SortColumn[]>;
  /** `from` names the source of another table a condition reads (see TableSource). */
  conditions(where: Where, params: unknown[], from: TableSource): string[];
  map(row: Row): R;
}

/** The shape of a sort key for an ordering: validates cursors before their values reach SQL. */
export function sortKeyTypes(
  entity: "provider" | "offer" | "job" | "stakeMovement" | "heartbeat",
  orderBy: string,
): KeyType[] | undefined {
  const spec = { provider: PROVIDERS, offer: OFFERS, job: JOBS, stakeMovement: STAKE_MOVEMENTS, heartbeat: HEARTBEATS }[entity] as TableSpec<
    unknown,
    string,
    unknown,
    unknown
  >;
  const columns = spec.order[orderBy];
  return columns && [...columns, ...spec.id].map((column) => column.type);
}

// 2^63 - 1: offers.price_sort saturates there, so it orders exactly only below it.
const PRICE_SORT_MAX = 9223372036854775807n;

function decimalAtMost(column: string, sortColumn: string, max: bigint, params: unknown[]): string {
  if (max < PRICE_SORT_MAX) {
    params.push(max);
    return `${sortColumn} <= ?`;
  }
  const text = max.toString();
  params.push(text.length, text.length, text);
  return `(${sortColumn} < ${PRICE_SORT_MAX} OR length(${column}) < ? OR (length(${column}) = ? AND ${column} <= ?))`;
}

const PROVIDERS: TableSpec<ProviderWhere, ProviderOrderBy, ProviderReadRow, ProviderRecord> = {
  table: "providers",
  id: [{ sql: "address", type: "text" }],
  order: PROVIDER_ORDER,
  conditions(where, params) {
    const conditions: string[] = [];
    if (where.address !== undefined) conditions.push("address = ?"), params.push(where.address);
    if (where.active !== undefined) conditions.push(where.active ? "active_offers > 0" : "active_offers = 0");
    if (where.minReliabilityPpm !== undefined) conditions.push(`${RELIABILITY_PPM_SQL} >= ?`), params.push(where.minReliabilityPpm);
    return conditions;
  },
  map: providerRecord,
};

const OFFERS: TableSpec<OfferWhere, OfferOrderBy, OfferRow, OfferRecord> = {
  table: "offers",
  id: [{ sql: "id", type: "int" }],
  order: OFFER_ORDER,
  conditions(where, params, from) {
    const conditions: string[] = [];
    if (where.provider !== undefined) conditions.push("provider = ?"), params.push(where.provider);
    if (where.gpuModelId !== undefined) conditions.push("gpu_model = ?"), params.push(where.gpuModelId);
    if (where.region !== undefined) conditions.push("region = ?"), params.push(where.region);
    if (where.state !== undefined) conditions.push("state = ?"), params.push(where.state);
    if (where.minGpusAvailable !== undefined) {
      conditions.push("gpus - gpus_leased >= ?"), params.push(where.minGpusAvailable);
    }
    if (where.maxCarbonIntensity !== undefined) conditions.push("carbon_intensity <= ?"), params.push(where.maxCarbonIntensity);
    if (where.minRenewableBps !== undefined) conditions.push("renewable_bps >= ?"), params.push(where.minRenewableBps);
    if (where.minProviderReliabilityPpm !== undefined) {
      conditions.push(`provider IN (SELECT address FROM ${from("providers")} WHERE ${RELIABILITY_PPM_SQL} >= ?)`);
      params.push(where.minProviderReliabilityPpm);
    }
    if (where.maxPricePerGpuHour !== undefined) {
      conditions.push(decimalAtMost("price_per_gpu_hour", "price_sort", where.maxPricePerGpuHour, params));
    }
    return conditions;
  },
  map: offerRecord,
};

const JOBS: TableSpec<JobWhere, JobOrderBy, JobRow, JobRecord> = {
  table: "jobs",
  id: [{ sql: "id", type: "int" }],
  order: JOB_ORDER,
  conditions(where, params) {
    const conditions: string[] = [];
    if (where.client !== undefined) conditions.push("client = ?"), params.push(where.client);
    if (where.provider !== undefined) conditions.push("provider = ?"), params.push(where.provider);
    if (where.payer !== undefined) conditions.push("payer = ?"), params.push(where.payer);
    if (where.offerId !== undefined) conditions.push("offer_id = ?"), params.push(where.offerId);
    if (where.state !== undefined) conditions.push("state = ?"), params.push(where.state);
    if (where.gpuModelId !== undefined) conditions.push("gpu_model = ?"), params.push(where.gpuModelId);
    if (where.region !== undefined) conditions.push("region = ?"), params.push(where.region);
    if (where.createdAfter !== undefined) conditions.push("created_at >= ?"), params.push(where.createdAfter);
    if (where.createdBefore !== undefined) conditions.push("created_at < ?"), params.push(where.createdBefore);
    return conditions;
  },
  map: jobRecord,
};

const STAKE_MOVEMENTS: TableSpec<StakeMovementWhere, StakeMovementOrderBy, StakeMovementRow, StakeMovementRecord> = {
  table: "stake_movements",
  id: [{ sql: "log_index", type: "int" }],
  order: STAKE_MOVEMENT_ORDER,
  conditions(where, params) {
    const conditions: string[] = [];
    if (where.provider !== undefined) conditions.push("provider = ?"), params.push(where.provider);
    return conditions;
  },
  map: stakeMovementRecord,
};

const HEARTBEATS: TableSpec<HeartbeatWhere, HeartbeatOrderBy, HeartbeatRow, HeartbeatRecord> = {
  table: "heartbeats",
  id: [{ sql: "log_index", type: "int" }],
  order: HEARTBEAT_ORDER,
  conditions(where, params) {
    const conditions: string[] = [];
    if (where.provider !== undefined) conditions.push("provider = ?"), params.push(where.provider);
    return conditions;
  },
  map: (row) => ({
    blockNumber: row.block_number,
    logIndex: row.log_index,
    provider: row.provider,
    at: row.at,
    kind: row.kind,
    jobId: row.job_id,
  }),
};

// ---------------------------------------------------------------------------------------------------------------
// Records from the rows SQLite returns (the row types live in ./rows, shared with the write side)
// ---------------------------------------------------------------------------------------------------------------

/** A providers row as PROVIDER_COLUMNS selects it. */
export type ProviderReadRow = ProviderRow & { reliability_ppm: number };

export function providerRecord(row: ProviderReadRow): ProviderRecord {
  return {
    address: row.address,
    metadataUri: row.metadata_uri,
    registeredAt: row.registered_at,
    staked: row.staked,
    locked: row.locked,
    unbonding: row.unbonding,
    unbondingReadyAt: row.unbonding_ready_at,
    slashed: row.slashed,
    earned: row.earned,
    jobsCompleted: row.jobs_completed,
    jobsDisputed: row.jobs_disputed,
    activeOffers: row.active_offers,
    updatedAt: row.updated_at,
    lastHeartbeatAt: row.last_heartbeat_at,
    jobsAccepted: row.jobs_accepted,
    jobsDeclined: row.jobs_declined,
    jobsExpired: row.jobs_expired,
    jobsDark: row.jobs_dark,
    jobsLostDisputes: row.jobs_lost_disputes,
    reliabilityPpm: row.reliability_ppm,
  };
}

export function offerRecord(row: OfferRow): OfferRecord {
  return {
    id: row.id,
    provider: row.provider,
    gpuModelId: row.gpu_model,
    region: row.region,
    gpus: row.gpus,
    gpusLeased: row.gpus_leased,
    pricePerGpuHour: row.price_per_gpu_hour,
    minDuration: row.min_duration,
    maxDuration: row.max_duration,
    carbonIntensity: row.carbon_intensity,
    renewableBps: row.renewable_bps,
    expiresAt: row.expires_at,
    state: row.state,
    createdAt: row.created_at,
    createdBlock: row.created_block,
    updatedAt: row.updated_at,
  };
}

export function jobRecord(row: JobRow): JobRecord {
  return {
    id: row.id,
    offerId: row.offer_id,
    client: row.client,
    provider: row.provider,
    payer: row.payer,
    gpuModelId: row.gpu_model,
    region: row.region,
    gpus: row.gpus,
    pricePerGpuHour: row.price_per_gpu_hour,
    duration: row.duration,
    cost: row.cost,
    escrow: row.escrow,
    specHash: row.spec_hash,
    state: row.state,
    createdAt: row.created_at,
    createdBlock: row.created_block,
    acceptDeadline: row.accept_deadline,
    startedAt: row.started_at,
    endedAt: row.ended_at,
    completedAt: row.completed_at,
    disputedAt: row.disputed_at,
    finalizedAt: row.finalized_at,
    endedEarly: row.ended_early !== 0,
    collateral: row.collateral,
    claimed: row.claimed,
    earned: row.earned,
    providerPaid: row.provider_paid,
    refunded: row.refunded,
    fee: row.fee,
    cancelFee: row.cancel_fee,
    slashed: row.slashed,
    providerShareBps: row.provider_share_bps,
    resultHash: row.result_hash,
    reasonHash: row.reason_hash,
    termsId: row.terms_id,
    extensions: row.extensions,
    receiptedUntil: row.receipted_until,
    paidUntil: row.paid_until,
    bond: row.bond,
    resolveDeadline: row.resolve_deadline,
    bondToProvider: row.bond_to_provider === null ? null : row.bond_to_provider !== 0,
    staleFinalized: row.stale_finalized !== 0,
  };
}

function stakeMovementRecord(row: StakeMovementRow): StakeMovementRecord {
  return {
    blockNumber: row.block_number,
    logIndex: row.log_index,
    txHash: row.tx_hash,
    timestamp: row.timestamp,
    provider: row.provider,
    kind: row.kind,
    amount: row.amount,
    jobId: row.job_id,
  };
}

// Explicit column lists: offers.price_sort may exceed 2^53 and is never read into a JS number.
export const PROVIDER_COLUMNS =
  "address, metadata_uri, registered_at, staked, locked, unbonding, unbonding_ready_at, slashed, earned, " +
  "jobs_completed, jobs_disputed, active_offers, updated_at, last_heartbeat_at, jobs_accepted, jobs_declined, " +
  `jobs_expired, jobs_dark, jobs_lost_disputes, ${RELIABILITY_PPM_SQL} AS reliability_ppm`;
export const OFFER_COLUMNS =
  "id, provider, gpu_model, region, gpus, gpus_leased, price_per_gpu_hour, min_duration, max_duration, " +
  "carbon_intensity, renewable_bps, expires_at, state, created_at, created_block, updated_at";
export const JOB_COLUMNS =
  "id, offer_id, client, provider, payer, gpu_model, region, gpus, price_per_gpu_hour, duration, cost, escrow, " +
  "spec_hash, state, created_at, created_block, accept_deadline, started_at, ended_at, completed_at, disputed_at, " +
  "finalized_at, ended_early, collateral, claimed, earned, provider_paid, refunded, fee, cancel_fee, slashed, " +
  "provider_share_bps, result_hash, reason_hash, terms_id, extensions, receipted_until, paid_until, bond, " +
  "resolve_deadline, bond_to_provider, stale_finalized";
const STAKE_MOVEMENT_COLUMNS = "block_number, log_index, tx_hash, timestamp, provider, kind, amount, job_id";
const HEARTBEAT_COLUMNS = "block_number, log_index, provider, at, kind, job_id";
const COLUMNS: Record<string, string> = {
  heartbeats: HEARTBEAT_COLUMNS,
  providers: PROVIDER_COLUMNS,
  offers: OFFER_COLUMNS,
  jobs: JOB_COLUMNS,
  stake_movements: STAKE_MOVEMENT_COLUMNS,
};

/** The rentable offers' query over `offers` and `providers` (tables, or their rows as of a block), with @model, @region and @at. */
export function rentableOffersSql(offers: string, providers: string): string {
  return `SELECT o.id, o.provider, o.gpu_model, o.region, o.gpus - o.gpus_leased AS gpus_free, o.price_per_gpu_hour,
            o.min_duration, o.max_duration, o.carbon_intensity, o.renewable_bps, p.staked, p.locked,
            ${RELIABILITY_PPM_SQL.replace(/jobs_/g, "p.jobs_")} AS reliability_ppm
     FROM ${offers} o JOIN ${providers} p ON p.address = o.provider
     WHERE o.state = 'OPEN' AND o.expires_at > @at AND o.gpus > o.gpus_leased
       AND (@model IS NULL OR o.gpu_model = @model) AND (@region IS NULL OR o.region = @region)`;
}

/** A capacity bucket as the capacity queries select it (over the roll-ups, or over the offers as of a block). */
export interface CapacityReadRow {
  model: string | null;
  region: string | null;
  gpus_offered: number;
  gpus_leased: number;
  offers: number;
  providers: number;
  carbon_gpu_sum: number;
  renewable_gpu_sum: number;
}

export function capacityRecord(row: CapacityReadRow): CapacityRecord {
  return {
    gpuModelId: row.model,
    region: row.region,
    gpusOffered: row.gpus_offered,
    gpusLeased: row.gpus_leased,
    offers: row.offers,
    providers: row.providers,
    carbonGpuSum: row.carbon_gpu_sum,
    renewableGpuSum: row.renewable_gpu_sum,
  };
}

/** An open offer's free GPUs at its price, as the open-asks queries select them. */
export interface OpenAskRow {
  gpu_model: string;
  region: string;
  price_per_gpu_hour: string;
  gpus_free: number;
}

export function openAskRecord(row: OpenAskRow): OpenAskRecord {
  return { gpuModelId: row.gpu_model, region: row.region, pricePerGpuHour: row.price_per_gpu_hour, gpusFree: row.gpus_free };
}

export interface RentableOfferRow {
  id: number;
  provider: string;
  gpu_model: string;
  region: string;
  gpus_free: number;
  price_per_gpu_hour: string;
  min_duration: number;
  max_duration: number;
  carbon_intensity: number;
  renewable_bps: number;
  staked: string;
  locked: string;
  reliability_ppm: number;
}

export function rentableOfferRecord(row: RentableOfferRow): RentableOfferRecord {
  return {
    id: row.id,
    provider: row.provider,
    gpuModelId: row.gpu_model,
    region: row.region,
    gpusFree: row.gpus_free,
    pricePerGpuHour: BigInt(row.price_per_gpu_hour),
    minDuration: row.min_duration,
    maxDuration: row.max_duration,
    carbonIntensity: row.carbon_intensity,
    renewableBps: row.renewable_bps,
    providerUnlocked: BigInt(row.staked) - BigInt(row.locked),
    providerReliabilityPpm: row.reliability_ppm,
  };
}

/** A terms row (one column per PARAMETER_NAMES entry). */
export function termsRecord(row: Record<string, number>): TermsRecord {
  return {
    termsId: row.terms_id!,
    publishedAt: row.published_at!,
    ...(Object.fromEntries(PARAMETER_NAMES.map((name) => [name, row[parameterColumn(name)]!])) as MarketParameters),
  };
}

// ---------------------------------------------------------------------------------------------------------------
// The read functions
// ---------------------------------------------------------------------------------------------------------------

export interface Reads {
  /** Changes whenever any connection commits to the database: a key for caches of derived results. */
  dataVersion(): string;
  checkpoint(): CheckpointRecord | undefined;
  /** The process that writes this database, if one took it (absent from databases of schema version 4 or older). */
  writer(): WriterRow | undefined;
  marketTotals(): MarketTotalsRecord;
  /** The parameter snapshot new jobs follow (marketTotals().currentTermsId without marketTotals' scans of the jobs). */
  currentTermsId(): number;
  jobStateCounts(): Array<{ state: string; count: number }>;
  activeProviderCount(): number;
  gpuModels(): GpuModelRecord[];
  providersByAddress(addresses: readonly string[]): ProviderRecord[];
  offersById(ids: readonly number[]): OfferRecord[];
  jobsById(ids: readonly number[]): JobRecord[];
  providers(query: PageQuery<ProviderWhere, ProviderOrderBy>): Array<KeyedRecord<ProviderRecord>>;
  countProviders(where: ProviderWhere): number;
  offers(query: PageQuery<OfferWhere, OfferOrderBy>, parent?: { column: OfferParentColumn; value: string }): Array<KeyedRecord<OfferRecord>>;
  countOffers(where: OfferWhere): number;
  /** Counts per parent in one statement: Map(parent key -> count), parents without rows absent. */
  countOffersByParent(where: OfferWhere, column: OfferParentColumn, values: readonly string[]): Map<string, number>;
  /**
   * A page of jobs. With `columns` (of JOB_COLUMNS) only those are read, and the records' other fields are undefined:
   * for a page whose selection needs only those (materializing all 43 columns is most of a page's cost).
   */
  jobs(
    query: PageQuery<JobWhere, JobOrderBy>,
    parent?: { column: JobParentColumn; value: string | number },
    columns?: readonly string[],
  ): Array<KeyedRecord<JobRecord>>;
  countJobs(where: JobWhere): number;
  countJobsByParent(where: JobWhere, column: JobParentColumn, values: ReadonlyArray<string | number>): Map<string | number, number>;
  stakeMovements(query: PageQuery<StakeMovementWhere, StakeMovementOrderBy>): Array<KeyedRecord<StakeMovementRecord>>;
  countStakeMovements(where: StakeMovementWhere): number;
  heartbeats(query: PageQuery<HeartbeatWhere, HeartbeatOrderBy>): Array<KeyedRecord<HeartbeatRecord>>;
  countHeartbeats(where: HeartbeatWhere): number;
  /** Every parameter snapshot, by id. */
  terms(): TermsRecord[];
  capacity(grouping: CapacityGrouping, filter: { gpuModelId?: string; region?: string }): CapacityRecord[];
  openAsks(filter: { gpuModelId?: string; region?: string }): OpenAskRecord[];
  /** Open offers with free GPUs, unexpired at `at`, with what their providers' stake can back (quotes, gpusRentable). */
  rentableOffers(filter: { gpuModelId?: string; region?: string; at: number }): RentableOfferRecord[];
  /** Signs of life of a provider in (from, to], and the last one at or before `from`, oldest first. */
  signsOfLife(provider: string, from: number, to: number): number[];
  /** The lower median of startedAt - createdAt over a provider's accepted jobs; null before the first. */
  medianSecondsToAccept(provider: string): number | null;
  /** Utilization buckets of an interval with start in [from, to], oldest first (absent before schema version 8). */
  utilizationBuckets(query: { interval: Interval; from: number; to: number }): Array<{ start: number; gpuSecondsOffered: number; gpuSecondsLeased: number }>;
  /** Per GPU model, sum of GPU-seconds x gCO2e/kWh of the jobs in market.gpuHoursSold (finished jobs). */
  soldCarbonGpuSeconds(): Map<string, bigint>;
  /** The deployment's stake units per payment unit; null before an indexer of this version recorded it. */
  stakePerPaymentUnit(): bigint | null;
  priceBuckets(query: { gpuModelId: string; region: string; interval: Interval; from: number; to: number }): PriceBucketRecord[];
}

/**
 * The sum of the cancel fees of the cancelled jobs, read from the jobs: what market_totals.cancel_fees holds once
 * known (migrations/011_cancel_fees.sql). The writer computes it once for an upgraded database; reads use it until then.
 */
export function createCancelFeesSum(db: Database): () => bigint {
  const fees = db.prepare(`SELECT cancel_fee FROM jobs WHERE state = 'CANCELLED' AND cancel_fee <> '0'`).pluck();
  return () => (fees.all() as string[]).reduce((sum, fee) => sum + BigInt(fee), 0n);
}

export function createReads(db: Database): Reads {
  const statements = new Map<string, Statement>();
  // Queries built from filters vary by which filters are set; each shape is prepared once.
  const prepare = (sql: string): Statement => {
    let statement = statements.get(sql);
    if (!statement) {
      statement = db.prepare(sql);
      statements.set(sql, statement);
    }
    return statement;
  };

  // data_version moves when another connection commits; total_changes when this one writes (a shared connection).
  const dataVersionStatement = db.prepare("PRAGMA data_version").pluck();
  const totalChangesStatement = db.prepare("SELECT total_changes()").pluck();
  const checkpointStatement = db.prepare(
    "SELECT chain_id, block_number, block_hash, block_timestamp, events_ingested, reorgs FROM checkpoint WHERE id = 1",
  );
  const marketTotalsStatement = db.prepare("SELECT * FROM market_totals WHERE id = 1");
  const currentTermsIdStatement = db.prepare("SELECT current_terms_id FROM market_totals WHERE id = 1").pluck();
  // market_totals counts provider pay as it is paid and GPU time when a job's clock stops. The API's volume and
  // GPU-hours sold are of finished jobs only, without cancel fees: these read what the counters hold beyond that,
  // from the jobs_state index (open jobs, and the cancelled ones that paid a fee).
  const openJobsPayStatement = db
    .prepare(`SELECT provider_paid FROM jobs WHERE state IN (${[...OPEN_JOB_STATES].map(() => "?").join(", ")}) AND provider_paid <> '0'`)
    .pluck();
  // Only while market_totals.cancel_fees is not known (an upgraded database before its writer's next batch).
  const cancelFeesOfJobs = createCancelFeesSum(db);
  const sumOf = (amounts: string[]) => amounts.reduce((sum, amount) => sum + BigInt(amount), 0n);
  const unfinishedGpuSecondsStatement = db
    .prepare(
      `SELECT coalesce(sum(gpus * min(max(0, ended_at - started_at), duration)), 0) FROM jobs
       WHERE state IN ('COMPLETED', 'DISPUTED') AND ended_at IS NOT NULL AND started_at IS NOT NULL AND earned IS NOT NULL AND earned <> '0'`,
    )
    .pluck();
  const unfinishedCarbonStatement = db.prepare(
    `SELECT j.gpu_model, coalesce(sum(j.gpus * min(max(0, j.ended_at - j.started_at), j.duration) * o.carbon_intensity), 0) AS carbon
     FROM jobs j JOIN offers o ON o.id = j.offer_id
     WHERE j.state IN ('COMPLETED', 'DISPUTED') AND j.ended_at IS NOT NULL AND j.started_at IS NOT NULL AND j.earned IS NOT NULL
       AND j.earned <> '0'
     GROUP BY j.gpu_model`,
  );
  const jobStateCountsStatement = db.prepare("SELECT state, count FROM job_state_counts");
  const termsStatement = db.prepare("SELECT * FROM terms ORDER BY terms_id");
  const activeProvidersStatement = db.prepare("SELECT count(*) AS n FROM providers WHERE active_offers > 0");
  const gpuModelsStatement = db.prepare("SELECT id, name, vram_gb, listed, listed_at FROM gpu_models ORDER BY name");
  const providersByAddressStatement = db.prepare(
    `SELECT ${PROVIDER_COLUMNS} FROM providers WHERE address IN (SELECT value FROM json_each(?))`,
  );
  const offersByIdStatement = db.prepare(`SELECT ${OFFER_COLUMNS} FROM offers WHERE id IN (SELECT value FROM json_each(?))`);
  const jobsByIdStatement = db.prepare(`SELECT ${JOB_COLUMNS} FROM jobs WHERE id IN (SELECT value FROM json_each(?))`);
  // A bucket can hold only an ask floor (offers changed in an interval without jobs): prices lists intervals with jobs.
  const priceBucketsStatement = db.prepare(
    `SELECT start, jobs, gpu_seconds, notional, open, high, low, close, ask_floor FROM price_buckets
     WHERE gpu_model = ? AND region = ? AND interval = ? AND start >= ? AND start <= ? AND jobs > 0 ORDER BY start`,
  );
  const signsOfLifeStatement = db
    .prepare(
      `SELECT at FROM (SELECT at FROM heartbeats WHERE provider = @provider AND at <= @from ORDER BY at DESC LIMIT 1)
       UNION ALL SELECT at FROM (SELECT at FROM heartbeats WHERE provider = @provider AND at > @from AND at <= @to ORDER BY at)`,
    )
    .pluck();
  const acceptedCountStatement = db
    .prepare("SELECT count(*) FROM jobs WHERE provider = ? AND started_at IS NOT NULL")
    .pluck();
  const secondsToAcceptStatement = db
    .prepare(
      `SELECT started_at - created_at AS seconds FROM jobs WHERE provider = ? AND started_at IS NOT NULL
       ORDER BY seconds LIMIT 1 OFFSET ?`,
    )
    .pluck();
  const rentableOffersStatement = db.prepare(rentableOffersSql("offers", "providers"));
  // From the capacity roll-up (CROSS JOIN keeps it the outer loop), one range of the offers (gpu_model, region,
  // state) index per pair: reads only the open offers of the pairs asked for.
  const openAsksStatement = db.prepare(
    `SELECT o.gpu_model, o.region, o.price_per_gpu_hour, o.gpus - o.gpus_leased AS gpus_free
     FROM capacity c CROSS JOIN offers o INDEXED BY offers_model_region_state
       ON o.gpu_model = c.gpu_model AND o.region = c.region AND o.state = 'OPEN'
     WHERE c.offers > 0 AND (@model IS NULL OR c.gpu_model = @model) AND (@region IS NULL OR c.region = @region)
       AND o.gpus > o.gpus_leased`,
  );
  const capacityStatements = Object.fromEntries(
    (["GPU_MODEL", "REGION", "GPU_MODEL_REGION"] as const).map((grouping) => {
      const model = grouping === "REGION" ? "NULL" : "gpu_model";
      const region = grouping === "GPU_MODEL" ? "NULL" : "region";
      const groupBy = grouping === "GPU_MODEL" ? "gpu_model" : grouping === "REGION" ? "region" : "gpu_model, region";
      const filter = "(@model IS NULL OR gpu_model = @model) AND (@region IS NULL OR region = @region)";
      const statement = db.prepare(
        `SELECT t.model, t.region, t.gpus_offered, t.gpus_leased, t.offers, coalesce(p.providers, 0) AS providers,
                coalesce(e.carbon_gpu_sum, 0) AS carbon_gpu_sum, coalesce(e.renewable_gpu_sum, 0) AS renewable_gpu_sum
         FROM (SELECT ${model} AS model, ${region} AS region, sum(gpus_offered) AS gpus_offered,
                      sum(gpus_leased) AS gpus_leased, sum(offers) AS offers
               FROM capacity WHERE offers > 0 AND ${filter} GROUP BY ${groupBy}) t
         LEFT JOIN (SELECT ${model} AS model, ${region} AS region, count(DISTINCT provider) AS providers
                    FROM capacity_providers WHERE offers > 0 AND ${filter} GROUP BY ${groupBy}) p
           ON p.model IS t.model AND p.region IS t.region
         LEFT JOIN (SELECT ${model} AS model, ${region} AS region, sum(gpus * carbon_intensity) AS carbon_gpu_sum,
                           sum(gpus * renewable_bps) AS renewable_gpu_sum
                    FROM offers WHERE state = 'OPEN' AND ${filter} GROUP BY ${groupBy}) e
           ON e.model IS t.model AND e.region IS t.region`,
      );
      return [grouping, statement];
    }),
  ) as Record<CapacityGrouping, Statement>;

  return {
    dataVersion() {
      return `${dataVersionStatement.get()}:${totalChangesStatement.get()}`;
    },
    writer() {
      try {
        return readWriter(db);
      } catch {
        return undefined;
      }
    },
    rentableOffers({ gpuModelId, region, at }) {
      return (rentableOffersStatement.all({ model: gpuModelId ?? null, region: region ?? null, at }) as RentableOfferRow[]).map(rentableOfferRecord);
    },
    signsOfLife(provider, from, to) {
      return signsOfLifeStatement.all({ provider, from, to }) as number[];
    },
    medianSecondsToAccept(provider) {
      const accepted = acceptedCountStatement.get(provider) as number;
      if (accepted === 0) return null;
      return secondsToAcceptStatement.get(provider, Math.floor((accepted - 1) / 2)) as number;
    },
    utilizationBuckets({ interval, from, to }) {
      try {
        // Prepared here: a database of schema version 7 or older has no such table.
        const rows = prepare(
          "SELECT start, gpu_seconds_offered, gpu_seconds_leased FROM utilization_buckets WHERE interval = ? AND start >= ? AND start <= ? ORDER BY start",
        ).all(interval, from, to) as Array<{ start: number; gpu_seconds_offered: number; gpu_seconds_leased: number }>;
        return rows.map((row) => ({ start: row.start, gpuSecondsOffered: row.gpu_seconds_offered, gpuSecondsLeased: row.gpu_seconds_leased }));
      } catch {
        return [];
      }
    },
    soldCarbonGpuSeconds() {
      const sold = new Map<string, bigint>();
      try {
        // Prepared here: a database of schema version 6 or older has no emissions table.
        for (const row of prepare("SELECT gpu_model, carbon_gpu_seconds FROM emissions").all() as Array<{ gpu_model: string; carbon_gpu_seconds: string }>) {
          sold.set(row.gpu_model, BigInt(row.carbon_gpu_seconds));
        }
      } catch {
        return sold;
      }
      // Like gpuSecondsSold: the counter holds jobs whose clock stopped; those not finished yet are taken out.
      for (const row of unfinishedCarbonStatement.all() as Array<{ gpu_model: string; carbon: number }>) {
        sold.set(row.gpu_model, (sold.get(row.gpu_model) ?? 0n) - BigInt(row.carbon));
      }
      return sold;
    },
    stakePerPaymentUnit() {
      try {
        // Prepared here: a database of schema version 5 or older has no such column.
        const value = prepare("SELECT stake_per_payment_unit FROM deployment_identity WHERE id = 1").pluck().get() as string | null | undefined;
        return value === null || value === undefined ? null : BigInt(value);
      } catch {
        return null;
      }
    },
    checkpoint() {
      const row = checkpointStatement.get() as
        | { chain_id: number; block_number: number; block_hash: string; block_timestamp: number; events_ingested: number; reorgs: number }
        | undefined;
      return (
        row && {
          chainId: row.chain_id,
          blockNumber: row.block_number,
          blockHash: row.block_hash,
          blockTimestamp: row.block_timestamp,
          eventsIngested: row.events_ingested,
          reorgs: row.reorgs,
        }
      );
    },
    marketTotals() {
      const row = marketTotalsStatement.get() as Record<string, string | number> | undefined;
      // Provider pay that is not volume: the claims of open jobs (counted once they finish) and cancel fees.
      const cancelFees = row?.cancel_fees === null ? cancelFeesOfJobs() : BigInt(row?.cancel_fees ?? "0");
      const notSold = sumOf(openJobsPayStatement.all(...OPEN_JOB_STATES) as string[]) + cancelFees;
      return {
        providers: Number(row?.providers ?? 0),
        totalStaked: String(row?.total_staked ?? "0"),
        totalLocked: String(row?.total_locked ?? "0"),
        totalUnbonding: String(row?.total_unbonding ?? "0"),
        totalSlashed: String(row?.total_slashed ?? "0"),
        escrowed: String(row?.escrowed ?? "0"),
        volume: (BigInt(row?.volume ?? "0") - notSold).toString(),
        feesCollected: String(row?.fees_collected ?? "0"),
        gpuSecondsSold: Number(row?.gpu_seconds_sold ?? 0) - (unfinishedGpuSecondsStatement.get() as number),
        gpusOffered: Number(row?.gpus_offered ?? 0),
        gpusLeased: Number(row?.gpus_leased ?? 0),
        disputeBondsHeld: String(row?.dispute_bonds_held ?? "0"),
        currentTermsId: Number(row?.current_terms_id ?? 0),
      };
    },
    currentTermsId() {
      return Number(currentTermsIdStatement.get() ?? 0);
    },
    jobStateCounts() {
      return jobStateCountsStatement.all() as Array<{ state: string; count: number }>;
    },
    activeProviderCount() {
      return (activeProvidersStatement.get() as { n: number }).n;
    },
    gpuModels() {
      return (gpuModelsStatement.all() as GpuModelRow[]).map((row) => ({
        id: row.id,
        name: row.name,
        vramGb: row.vram_gb,
        listed: row.listed !== 0,
        listedAt: row.listed_at,
      }));
    },
    providersByAddress(addresses) {
      return (providersByAddressStatement.all(JSON.stringify(addresses)) as ProviderReadRow[]).map(providerRecord);
    },
    offersById(ids) {
      return (offersByIdStatement.all(JSON.stringify(ids)) as OfferRow[]).map(offerRecord);
    },
    jobsById(ids) {
      return (jobsByIdStatement.all(JSON.stringify(ids)) as JobRow[]).map(jobRecord);
    },
    ...createPageReads(prepare),
    terms() {
      return (termsStatement.all() as Array<Record<string, number>>).map(termsRecord);
    },
    capacity(grouping, filter) {
      return (capacityStatements[grouping].all({ model: filter.gpuModelId ?? null, region: filter.region ?? null }) as CapacityReadRow[]).map(capacityRecord);
    },
    openAsks(filter) {
      return (openAsksStatement.all({ model: filter.gpuModelId ?? null, region: filter.region ?? null }) as OpenAskRow[]).map(openAskRecord);
    },
    priceBuckets(query) {
      const rows = priceBucketsStatement.all(query.gpuModelId, query.region, query.interval, query.from, query.to) as Array<{
        start: number;
        jobs: number;
        gpu_seconds: number;
        notional: string;
        open: string | null;
        high: string | null;
        low: string | null;
        close: string | null;
        ask_floor: string | null;
      }>;
      return rows.map((row) => ({
        start: row.start,
        jobs: row.jobs,
        gpuSeconds: row.gpu_seconds,
        notional: row.notional,
        open: row.open,
        high: row.high,
        low: row.low,
        close: row.close,
        askFloor: row.ask_floor,
      }));
    },
  };
}

/**
 * Where the page reads find a table's rows: the table's own name, or for time travel a subquery of its rows as of a
 * block, aliased as the table (src/store/history.ts).
 */
export type TableSource = (table: string) => string;

type PageReads = Pick<
  Reads,
  | "providers"
  | "countProviders"
  | "offers"
  | "countOffers"
  | "countOffersByParent"
  | "jobs"
  | "countJobs"
  | "countJobsByParent"
  | "stakeMovements"
  | "countStakeMovements"
  | "heartbeats"
  | "countHeartbeats"
>;

/** The keyset pages and counts of Reads over the tables `from` names; statements come from `prepare` (cached by text). */
export function createPageReads(prepare: (sql: string) => Statement, from: TableSource = (table) => table): PageReads {
  function page<Where, OrderBy extends string, Row, R>(
    spec: TableSpec<Where, OrderBy, Row, R>,
    query: PageQuery<Where, OrderBy>,
    parent?: { column: string; value: string | number },
    columns?: readonly string[],
  ): Array<KeyedRecord<R>> {
    const params: unknown[] = [];
    const conditions = spec.conditions(query.where, params, from);
    if (parent) conditions.push(`${parent.column} = ?`), params.push(parent.value);
    const keys = [...spec.order[query.orderBy], ...spec.id];
    if (query.after) {
      const operator = query.direction === "ASC" ? ">" : "<";
      conditions.push(`(${keys.map((key) => key.sql).join(", ")}) ${operator} (${keys.map(() => "?").join(", ")})`);
      params.push(...query.after);
    }
    const sql =
      `SELECT ${columns ? columns.join(", ") : COLUMNS[spec.table]}, ${keys.map((key, index) => `${key.sql} AS _k${index}`).join(", ")} ` +
      `FROM ${from(spec.table)}${conditions.length ? ` WHERE ${conditions.join(" AND ")}` : ""} ` +
      `ORDER BY ${keys.map((key) => `${key.sql} ${query.direction}`).join(", ")} LIMIT ?`;
    params.push(query.limit);
    return (prepare(sql).all(...params) as Array<Row & Record<string, string | number>>).map((row) => ({
      record: spec.map(row),
      key: keys.map((_, index) => row[`_k${index}`]),
    }));
  }

  function count<Where>(spec: TableSpec<Where, string, unknown, unknown>, where: Where): number {
    const params: unknown[] = [];
    const conditions = spec.conditions(where, params, from);
    const sql = `SELECT count(*) AS n FROM ${from(spec.table)}${conditions.length ? ` WHERE ${conditions.join(" AND ")}` : ""}`;
    return (prepare(sql).get(...params) as { n: number }).n;
  }

  function countByParent<Where, K extends string | number>(
    spec: TableSpec<Where, string, unknown, unknown>,
    where: Where,
    column: string,
    values: readonly K[],
  ): Map<K, number> {
    const params: unknown[] = [];
    const conditions = spec.conditions(where, params, from);
    conditions.push(`${column} IN (SELECT value FROM json_each(?))`);
    params.push(JSON.stringify(values));
    const sql = `SELECT ${column} AS parent, count(*) AS n FROM ${from(spec.table)} WHERE ${conditions.join(" AND ")} GROUP BY ${column}`;
    const rows = prepare(sql).all(...params) as Array<{ parent: K; n: number }>;
    return new Map(rows.map((row) => [row.parent, row.n]));
  }

  return {
    providers: (query) => page(PROVIDERS, query),
    countProviders: (where) => count(PROVIDERS, where),
    offers: (query, parent) => page(OFFERS, query, parent),
    countOffers: (where) => count(OFFERS, where),
    countOffersByParent: (where, column, values) => countByParent(OFFERS, where, column, values),
    jobs: (query, parent, columns) => page(JOBS, query, parent, columns),
    countJobs: (where) => count(JOBS, where),
    countJobsByParent: (where, column, values) => countByParent(JOBS, where, column, values),
    stakeMovements: (query) => page(STAKE_MOVEMENTS, query),
    countStakeMovements: (where) => count(STAKE_MOVEMENTS, where),
    heartbeats: (query) => page(HEARTBEATS, query),
    countHeartbeats: (where) => count(HEARTBEATS, where),
  };
}

import type { JobState } from "../protocol";

/**
 * Rows of the indexer's tables as better-sqlite3 returns them (see migrations/*.sql for their meaning).
 * Amounts are decimal strings; INTEGER columns are numbers (all stay far below 2^53). `offers.price_sort` is written
 * by the store and never read back into these rows. Job states are src/protocol's.
 */
export type OfferState = "OPEN" | "CLOSED" | "EXPIRED";

/** A sign of life of a provider: heartbeat() or a job action that counts as one. */
export type HeartbeatKind = "HEARTBEAT" | "ACCEPT" | "CLAIM" | "COMPLETE";

export type StakeMovementKind = "STAKE" | "UNSTAKE_REQUEST" | "WITHDRAW" | "LOCK" | "UNLOCK" | "SLASH";

export interface CheckpointRow {
  [column: string]: string | number | null;
  id: 1;
  chain_id: number;
  block_number: number;
  block_hash: string;
  block_timestamp: number;
  events_ingested: number;
  reorgs: number;
}

export interface GpuModelRow {
  [column: string]: string | number | null;
  id: string;
  name: string;
  vram_gb: number;
  listed: number;
  listed_at: number;
}

export interface ProviderRow {
  [column: string]: string | number | null;
  address: string;
  metadata_uri: string;
  registered_at: number;
  staked: string;
  locked: string;
  unbonding: string;
  unbonding_ready_at: number | null;
  slashed: string;
  earned: string;
  jobs_completed: number;
  jobs_disputed: number;
  active_offers: number;
  updated_at: number;
  last_heartbeat_at: number | null;
  jobs_accepted: number;
  jobs_declined: number;
  jobs_expired: number;
  jobs_dark: number;
  jobs_lost_disputes: number;
}

export interface OfferRow {
  [column: string]: string | number | null;
  id: number;
  provider: string;
  gpu_model: string;
  region: string;
  gpus: number;
  gpus_leased: number;
  price_per_gpu_hour: string;
  min_duration: number;
  max_duration: number;
  carbon_intensity: number;
  renewable_bps: number;
  expires_at: number;
  state: OfferState;
  created_at: number;
  created_block: number;
  updated_at: number;
}

export interface JobRow {
  [column: string]: string | number | null;
  id: number;
  offer_id: number;
  client: string;
  provider: string;
  payer: string;
  gpu_model: string;
  region: string;
  gpus: number;
  price_per_gpu_hour: string;
  duration: number;
  cost: string;
  escrow: string;
  spec_hash: string;
  state: JobState;
  created_at: number;
  created_block: number;
  accept_deadline: number;
  started_at: number | null;
  ended_at: number | null;
  completed_at: number | null;
  disputed_at: number | null;
  finalized_at: number | null;
  ended_early: number;
  collateral: string;
  claimed: string;
  earned: string | null;
  provider_paid: string;
  refunded: string;
  fee: string;
  cancel_fee: string;
  slashed: string;
  provider_share_bps: number | null;
  result_hash: string | null;
  reason_hash: string | null;
  terms_id: number;
  extensions: number;
  receipted_until: number | null;
  paid_until: number | null;
  bond: string;
  resolve_deadline: number | null;
  bond_to_provider: number | null;
  stale_finalized: number;
  /** GPU-seconds its stop counted in market_totals.gpu_seconds_sold (0 until the clock stops with pay). */
  gpu_seconds_sold: number;
}

export interface HeartbeatRow {
  [column: string]: string | number | null;
  block_number: number;
  log_index: number;
  provider: string;
  at: number;
  kind: HeartbeatKind;
  job_id: number | null;
}

/** One parameter snapshot: a column per src/protocol PARAMETER_NAMES entry (parameterColumn), plus published_at. */
export interface TermsRow {
  [column: string]: string | number | null;
  terms_id: number;
  published_at: number;
}

export interface StakeMovementRow {
  [column: string]: string | number | null;
  block_number: number;
  log_index: number;
  tx_hash: string;
  timestamp: number;
  provider: string;
  kind: StakeMovementKind;
  amount: string;
  job_id: number | null;
}

export interface CapacityRow {
  [column: string]: string | number | null;
  gpu_model: string;
  region: string;
  gpus_offered: number;
  gpus_leased: number;
  offers: number;
}

export interface CapacityProviderRow {
  [column: string]: string | number | null;
  gpu_model: string;
  region: string;
  provider: string;
  offers: number;
}

export type PriceInterval = "HOUR" | "DAY";

export interface PriceBucketRow {
  [column: string]: string | number | null;
  gpu_model: string;
  region: string;
  interval: PriceInterval;
  start: number;
  jobs: number;
  gpu_seconds: number;
  notional: string;
  open: string | null;
  high: string | null;
  low: string | null;
  close: string | null;
  ask_floor: string | null;
}

export interface MarketTotalsRow {
  [column: string]: string | number | null;
  id: 1;
  providers: number;
  total_staked: string;
  total_locked: string;
  total_unbonding: string;
  total_slashed: string;
  escrowed: string;
  volume: string;
  fees_collected: string;
  gpu_seconds_sold: number;
  gpus_offered: number;
  gpus_leased: number;
  dispute_bonds_held: string;
  current_terms_id: number;
  utilization_at: number | null;
  /** Sum of the cancel fees paid (migrations/011_cancel_fees.sql); null until known in an upgraded database. */
  cancel_fees: string | null;
}

export interface UtilizationBucketRow {
  [column: string]: string | number | null;
  interval: PriceInterval;
  start: number;
  gpu_seconds_offered: number;
  gpu_seconds_leased: number;
}

export interface EmissionsRow {
  [column: string]: string | number | null;
  gpu_model: string;
  carbon_gpu_seconds: string;
}

export interface JobStateCountRow {
  [column: string]: string | number | null;
  state: JobState;
  count: number;
}

export type { JobState };

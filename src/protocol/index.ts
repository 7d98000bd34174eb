/**
 * The protocol's vocabulary in TypeScript, in one place: job states, governance parameters and their defaults, the
 * fields of an offer, the money arithmetic of a job and the usage receipt's EIP-712 types. The order of each list is
 * the order of the Solidity enum it mirrors (contracts/types/Job.sol JobState, IJobMarket.Parameter,
 * contracts/types/Offer.sol OfferField); test/indexer/protocol.test.ts fails when they drift from the contracts.
 * The CLI, the simulator, the store and GraphQL import from here; error sentences live in src/cli/lib/revert.ts.
 */

/** JobState as the contracts number it (index = the enum's value). */
export const CHAIN_JOB_STATES = [
  "None",
  "Created",
  "Running",
  "Completed",
  "Disputed",
  "Settled",
  "Resolved",
  "Cancelled",
  "Reclaimed",
  "Declined",
  "Expired",
  "Dark",
] as const;
export type ChainJobState = (typeof CHAIN_JOB_STATES)[number];

/** The job states of the API and the store: the chain's names in upper case ("None" never appears). */
export type JobState = Uppercase<Exclude<ChainJobState, "None">>;
export const JOB_STATES = CHAIN_JOB_STATES.slice(1).map((name) => name.toUpperCase()) as JobState[];

/** The API name of a job state from its on-chain number. */
export function jobStateName(value: number): JobState {
  const name = CHAIN_JOB_STATES[value];
  if (name === undefined || name === "None") throw new RangeError(`no job state ${value}`);
  return name.toUpperCase() as JobState;
}

/** States in which a job still holds escrow and collateral. */
export const OPEN_JOB_STATES: ReadonlySet<JobState> = new Set<JobState>(["CREATED", "RUNNING", "COMPLETED", "DISPUTED"]);
/** States a job never leaves. */
export const TERMINAL_JOB_STATES: ReadonlySet<JobState> = new Set(JOB_STATES.filter((state) => !OPEN_JOB_STATES.has(state)));

/** IJobMarket.Parameter, in enum order, named as the Parameters struct's fields. */
export const PARAMETER_NAMES = [
  "protocolFeeBps",
  "cancelFeeBps",
  "collateralBps",
  "expirySlashBps",
  "acceptWindow",
  "disputeWindow",
  "abandonGrace",
  "darkSlashBps",
  "disputeBondBps",
  "livenessTimeout",
  "resolveWindow",
] as const;
export type ParameterName = (typeof PARAMETER_NAMES)[number];

/** IJobMarket.Parameters: rates in basis points, windows in seconds. */
export type MarketParameters = Record<ParameterName, number>;

/** What a deployment starts with; each is within the contract's hard bounds (JobMarket.parameterBounds). */
export const DEFAULT_PARAMETERS: MarketParameters = {
  protocolFeeBps: 250, // 2.5 % of what providers finally earn
  cancelFeeBps: 200, // 2 % of cost to the provider when a client cancels before acceptance
  collateralBps: 5_000, // half the job's cost locked from the provider's stake when the job is created
  expirySlashBps: 100, // 1 % of cost when the provider lets a job expire instead of declining it
  acceptWindow: 30 * 60,
  disputeWindow: 24 * 60 * 60,
  abandonGrace: 60 * 60,
  darkSlashBps: 1_000, // SLA credit: 10 % of the cost of the time a provider was dark
  disputeBondBps: 500, // a dispute costs a bond of 5 % of the job's cost, back unless the ruling is fully for the provider
  livenessTimeout: 15 * 60, // a running job's provider is dark after 15 minutes without a sign of life
  resolveWindow: 7 * 24 * 60 * 60, // the arbiter has a week; then anyone may finalize the dispute
};

/** The EIP-712 domain name and version of JobMarket's usage receipts; the chain id and contract address complete it. */
export const RECEIPT_DOMAIN = { name: "GPU Mesh JobMarket", version: "2" } as const;
export const USAGE_RECEIPT_TYPES = {
  UsageReceipt: [
    { name: "jobId", type: "uint256" },
    { name: "servedUntil", type: "uint64" },
  ],
} as const;

/** The snake_case column of a parameter in the store's `terms` table ("protocolFeeBps" -> "protocol_fee_bps"). */
export function parameterColumn(name: ParameterName): string {
  return name.replace(/[A-Z]/g, (letter) => `_${letter.toLowerCase()}`);
}

/** OfferField: the offer field named by JobMarketInvalidOffer, in enum order. */
export const OFFER_FIELDS = ["gpus", "pricePerGpuHour", "minDuration", "maxDuration", "renewableBps", "expiresAt"] as const;
export type OfferField = (typeof OFFER_FIELDS)[number];

// ---------------------------------------------------------------------------------------------------------------
// A job's money, as contracts/libraries/JobMath.sol and JobLib.sol compute it: charges round up, the rest goes back.
// ---------------------------------------------------------------------------------------------------------------

export const BPS = 10_000n;
const SECONDS_PER_HOUR = 3600n;

/** Price x gpus x seconds / 3600, rounded up. */
export function costUp(pricePerGpuHour: bigint, gpus: number | bigint, seconds: number | bigint): bigint {
  return (pricePerGpuHour * BigInt(gpus) * BigInt(seconds) + SECONDS_PER_HOUR - 1n) / SECONDS_PER_HOUR;
}

export function bpsUp(amount: bigint, bps: number | bigint): bigint {
  return (amount * BigInt(bps) + BPS - 1n) / BPS;
}

export function bpsDown(amount: bigint, bps: number | bigint): bigint {
  return (amount * BigInt(bps)) / BPS;
}

export interface JobMoney {
  cost: bigint;
  /** Cost plus the fee on cost: what the payer escrows. */
  escrow: bigint;
  /** Stake-token units locked from the provider's stake. */
  collateral: bigint;
  /** What a dispute of the job pulls from its client. */
  disputeBond: bigint;
}

/** Cost, escrow, collateral and dispute bond of `gpus` GPUs for `duration` seconds under `terms`. */
export function jobMoney(
  job: { pricePerGpuHour: bigint; gpus: number | bigint; duration: number | bigint },
  terms: Pick<MarketParameters, "protocolFeeBps" | "collateralBps" | "disputeBondBps">,
  stakePerPaymentUnit: bigint,
): JobMoney {
  const cost = costUp(job.pricePerGpuHour, job.gpus, job.duration);
  return {
    cost,
    escrow: cost + bpsUp(cost, terms.protocolFeeBps),
    collateral: bpsUp(cost, terms.collateralBps) * stakePerPaymentUnit,
    disputeBond: bpsUp(cost, terms.disputeBondBps),
  };
}

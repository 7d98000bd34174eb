/**
 * The protocol's vocabulary in TypeScript, in one place: job states, governance parameters and their defaults.
 * The order of each list is the order of the Solidity enum it mirrors (contracts/types/Job.sol JobState,
 * IJobMarket.Parameter); test/contracts/protocol.test.ts fails when they drift from the compiled contracts.
 * The CLI, the simulator, the store and GraphQL import from here.
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

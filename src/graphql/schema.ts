import { JOB_STATES, PARAMETER_NAMES } from "../protocol";

/**
 * The GraphQL schema: the public contract of /work/shared/API.md (names there are never renamed, only added to).
 * Amounts and prices are BigInt decimal strings, prices per GPU per hour in payment-token base units, times unix
 * seconds, addresses lowercase in results and any case in arguments. GPU counts and offer expiry times are uint32 on
 * chain but GraphQL Int is 32-bit signed: values above 2147483647 read as 2147483647. The JobState enum is
 * src/protocol's list of job states.
 */
export const typeDefs = /* GraphQL */ `
"""
An unsigned integer of any size (token amounts, prices), sent and accepted as a decimal string such as "2500000".
"""
scalar BigInt

type Query {
  """
  Indexing progress. With block (time travel), Meta.block is the block the argument resolves to, the one
  market(block: ...) and the others answer as of: e.g. which block an at names. Its errors are theirs.
  """
  _meta(block: BlockInput): Meta!
  "Network-wide totals, now (or as of block)."
  market(block: BlockInput): MarketStats!
  "Every GPU model of the catalog, listed or delisted, by name."
  gpuModels: [GpuModel!]!
  "One GPU model by name (as in the catalog, e.g. H100-SXM-80GB)."
  gpuModel(name: String!): GpuModel
  """
  Open capacity now (or as of block), grouped by GPU model, region or both. gpuModel (a model name) and region
  narrow the groups; an unknown model name is an error.
  """
  capacity(groupBy: CapacityGroup = GPU_MODEL, gpuModel: String, region: String, block: BlockInput): [CapacityBucket!]!
  """
  Realized prices of jobs created in each interval, oldest first; intervals in which no job was created are absent
  (their ask floor included).
  gpuModel is a model name (unknown names are an error); without region, all regions together.
  from/to (unix seconds) keep the buckets that overlap [from, to].
  """
  prices(gpuModel: String!, region: String, interval: Interval = HOUR, from: Int, to: Int): [PricePoint!]!
  """
  Utilization over time, network-wide: the open offers' GPU-hours and the leased ones in each interval, oldest first,
  up to the indexed block's time (the last interval is partial). Intervals with nothing offered are absent. from/to
  (unix seconds) keep the intervals that overlap [from, to].
  """
  utilization(interval: Interval = HOUR, from: Int, to: Int): [UtilizationPoint!]!
  """
  Can the request be filled now (at the indexed block's time), and the cheapest way: one leg per offer, each a
  createJob. gpuModel is a model name; duration in seconds; without region, any region. Only offers that take the
  duration, meet the limits and whose providers' unlocked stake can lock the collateral count. spreadAcross K > 1
  splits the GPUs as evenly as possible over K distinct providers (the cheapest for their share), so that one
  provider going dark takes at most its share. When the request cannot be filled, the plan holds what can be had and
  shortfall says which limit left too few GPUs.
  """
  quote(
    gpuModel: String!
    gpus: Int!
    duration: Int!
    region: String
    maxPricePerGpuHour: BigInt
    maxCarbonIntensity: Int
    minRenewableBps: Int
    "0..1, against Provider.reliability."
    minReliability: Float
    spreadAcross: Int = 1
    "Providers to leave out, e.g. one that went dark on this workload (client run --failover)."
    excludeProviders: [ID!]
  ): Quote!
  "A provider by address (as of block: null when it had not registered yet)."
  provider(id: ID!, block: BlockInput): Provider
  providers(where: ProviderFilter, orderBy: ProviderOrderBy = ADDRESS, orderDirection: OrderDirection = ASC, first: Int = 50, after: String): ProviderPage!
  "An offer by id (as of block: null when it did not exist yet)."
  offer(id: ID!, block: BlockInput): Offer
  offers(where: OfferFilter, orderBy: OfferOrderBy = ID, orderDirection: OrderDirection = ASC, first: Int = 50, after: String): OfferPage!
  "A job by id (as of block: null when it did not exist yet)."
  job(id: ID!, block: BlockInput): Job
  jobs(where: JobFilter, orderBy: JobOrderBy = ID, orderDirection: OrderDirection = ASC, first: Int = 50, after: String): JobPage!
  "Any address as a client or payer of jobs (and its provider record, if it is one)."
  account(id: ID!): Account!
  "Every parameter snapshot of the market, oldest first; jobs follow the one in force when they were created."
  terms: [Terms!]!
}

"""
Time travel: answer as of a block, like The Graph's time-travel queries. Exactly one of number (a block number, from
the deployment's start block to the indexed head) or at (unix seconds: the last indexed block whose timestamp is at or
before it; a time after the indexed head's answers as of the head). The whole answer is as of that block, nested
fields included, and what changes with the clock (expiry, rentable GPUs, job health, uptime) is computed at the
block's timestamp. A block the store cannot answer is an error naming block.number or block.at.
_meta(block: ...) reports the block an argument resolves to.
"""
input BlockInput {
  number: Int
  at: Int
}

type Meta {
  chainId: Int!
  """
  The last block whose events are fully applied (number 0 and a zero hash before the first one). With
  _meta(block: ...), the block it resolves to: its number; its hash when the indexer still keeps it (the indexed
  head, the blocks inside the unfinalized window, the deployment's start block), else "" (the hashes of finalized
  blocks are not stored); and the timestamp answers as of it are computed at, which is the block's own for every
  block the indexer applied (an at always resolves to one) and for a block it skipped (no GPU Mesh event, no
  clock change) the last applied block's before it (0 when there is none). The other fields stay the indexer's
  progress now.
  """
  block: BlockRef!
  "The chain head as last seen by the indexer running in this process; null when serving a database another process writes."
  headBlock: Int
  lagBlocks: Int
  reorgs: Int!
  eventsIngested: Int!
}

type BlockRef {
  number: Int!
  hash: String!
  timestamp: Int!
}

type MarketStats {
  "Registered providers."
  providers: Int!
  "Providers with at least one open offer."
  activeProviders: Int!
  totalStaked: BigInt!
  totalLocked: BigInt!
  totalUnbonding: BigInt!
  totalSlashed: BigInt!
  "Payment token held for jobs not yet finished."
  escrowed: BigInt!
  "Dispute bonds held for open disputes (payment token)."
  disputeBondsHeld: BigInt!
  """
  Provider pay for the GPU time of finished jobs (settled, resolved, dark or reclaimed), their claims included. Not
  counted: claims of jobs still running, completed or disputed (counted once they finish), cancel fees and dispute
  bonds (no GPU time was sold for them).
  """
  volume: BigInt!
  feesCollected: BigInt!
  """
  GPU-hours used by the same finished jobs: gpus x the time from the start until the clock stopped (for dark and
  reclaimed jobs, until the time paid for), of jobs that earned their provider something. volume / gpuHoursSold is
  the average realized price per GPU-hour.
  """
  gpuHoursSold: Float!
  """
  Estimated kg CO2e of the GPU-hours sold: GPU-hours x the model's board power (src/protocol/energy.ts: vendor
  maximums, so an upper bound) x the offer's carbon intensity.
  """
  estimatedEmissionsKg: Float!
  "Jobs in each state, every state listed (zero counts included)."
  jobsByState: [StateCount!]!
  jobs: Int!
  "GPUs of open offers."
  gpusOffered: Int!
  "GPUs of open offers held by jobs."
  gpusLeased: Int!
  gpusAvailable: Int!
  """
  Free GPUs the providers' unlocked stake can back now, each provider's stake shared by all its offers (so less than
  or equal to the sum over capacity buckets). Null until the indexer has recorded the deployment's stake rate.
  """
  gpusRentable: Int
  "gpusLeased / gpusOffered, 0..1 (0 when nothing is offered)."
  utilization: Float!
}

type StateCount {
  state: JobState!
  count: Int!
}

enum JobState {
  ${JOB_STATES.join("\n  ")}
}

enum OfferState {
  OPEN
  CLOSED
  EXPIRED
}

type GpuModel {
  "keccak256 of the name, as the catalog keys it."
  id: ID!
  name: String!
  vramGb: Int!
  listed: Boolean!
  listedAt: Int!
  "Open capacity of this model over all regions; null when nothing is offered."
  capacity: CapacityBucket
}

enum CapacityGroup {
  GPU_MODEL
  REGION
  GPU_MODEL_REGION
}

type CapacityBucket {
  "Model name; null when grouped by region only."
  gpuModel: String
  model: GpuModel
  "Null when grouped by model only."
  region: String
  gpusOffered: Int!
  gpusLeased: Int!
  gpusAvailable: Int!
  "gpusLeased / gpusOffered, 0..1."
  utilization: Float!
  providers: Int!
  offers: Int!
  "Lowest price of the open offers with free GPUs."
  askFloor: BigInt
  "GPU-weighted median price over the free GPUs of open offers (the lower median: an actual ask)."
  askMedian: BigInt
  """
  Free GPUs that can be rented now: each provider's unlocked stake backs the collateral of its offers' free GPUs at
  their minimum duration, the least collateral per GPU first; listed GPUs their stake cannot back are not counted.
  Null until the indexer has recorded the deployment's stake rate.
  """
  gpusRentable: Int
  "GPU-weighted average carbon intensity of the open offers (gCO2e per kWh); null when nothing is offered."
  avgCarbonIntensity: Float
  "GPU-weighted average renewable share of the open offers (basis points); null when nothing is offered."
  avgRenewableBps: Float
}

"Why a quote cannot be filled: the first limit that left too few GPUs."
enum QuoteShortfall {
  "No open offer of the model (in the region) has free GPUs."
  NO_OFFERS
  "No such offer takes a job of this duration (outside its minDuration..maxDuration)."
  DURATION
  "All of them ask more than maxPricePerGpuHour."
  PRICE
  "All of them emit more than maxCarbonIntensity."
  CARBON
  "None reaches minRenewableBps."
  RENEWABLE
  "No provider of them scores minReliability."
  RELIABILITY
  "Enough GPUs are free, but their providers' unlocked stake cannot lock the collateral of enough of them."
  STAKE
  "Fewer GPUs are free under the limits than requested."
  NOT_ENOUGH_GPUS
  "Fewer providers than spreadAcross can take an even share."
  NOT_ENOUGH_PROVIDERS
}

type Quote {
  "Every requested GPU is in the plan (and, with spreadAcross, over that many providers)."
  fillable: Boolean!
  shortfall: QuoteShortfall
  """
  A sentence: the plan, or what is missing and by how much. Amounts in it are exact, in the payment token and in
  base units ("2.50 USDC per GPU-hour (2500000 base units)"), or in base units only when the server was started
  without the deployment file that names the token (gpumesh serve without --deployment).
  """
  message: String!
  gpusRequested: Int!
  gpusPlanned: Int!
  "Seconds."
  duration: Int!
  "Distinct providers in the plan."
  providers: Int!
  "Cheapest first; each leg is one createJob at the offer's price."
  legs: [QuoteLeg!]!
  "Sums over the legs (payment token)."
  cost: BigInt!
  fee: BigInt!
  "cost + fee: what the client escrows (and approves or permits)."
  escrow: BigInt!
  "Stake-token units the legs lock from their providers."
  collateral: BigInt!
  "The indexed block's time the quote is as of."
  asOf: Int!
}

type QuoteLeg {
  offer: Offer!
  provider: Provider!
  gpus: Int!
  pricePerGpuHour: BigInt!
  cost: BigInt!
  "The protocol fee on cost, rounded up as JobMarket does."
  fee: BigInt!
  escrow: BigInt!
  collateral: BigInt!
}

enum Interval {
  HOUR
  DAY
}

type PricePoint {
  start: Int!
  "start + the interval's length."
  end: Int!
  jobs: Int!
  "GPU-hours bought by the jobs created in the bucket."
  gpuHours: Float!
  "Sum of price x gpus x duration (seconds) of those jobs."
  notional: BigInt!
  open: BigInt
  high: BigInt
  low: BigInt
  close: BigInt
  "Volume-weighted average price: notional / GPU-seconds, rounded down."
  vwap: BigInt
  "Lowest open ask at the bucket's end."
  askFloor: BigInt
}

type UtilizationPoint {
  start: Int!
  "start + the interval's length."
  end: Int!
  "GPU-hours of open offers in the interval (GPUs listed x time listed)."
  gpuHoursOffered: Float!
  "GPU-hours of those held by jobs (from creation to release, a job past its accept deadline released then)."
  gpuHoursLeased: Float!
  "gpuHoursLeased / gpuHoursOffered, 0..1."
  utilization: Float!
}

type PageInfo {
  hasNextPage: Boolean!
  "Pass as after to get the next page; null on an empty page."
  endCursor: String
}

enum OrderDirection {
  ASC
  DESC
}

input ProviderFilter {
  address: String
  "true: providers with open offers; false: without."
  active: Boolean
  "0..1: providers whose reliability is at least this."
  minReliability: Float
}

enum ProviderOrderBy {
  ADDRESS
  STAKED
  EARNED
  JOBS_COMPLETED
  REGISTERED_AT
  RELIABILITY
}

type Provider {
  "The provider's address."
  id: ID!
  address: String!
  metadataUri: String!
  registeredAt: Int!
  "Stake not unbonding, locked collateral included."
  staked: BigInt!
  "Same as staked."
  stake: BigInt!
  locked: BigInt!
  unbonding: BigInt!
  unbondingReadyAt: Int
  "Total taken by slashes."
  slashed: BigInt!
  "Payment token received: claims, settlements, resolutions, dark and reclaimed jobs' pay, cancel fees, dispute bonds won."
  earned: BigInt!
  "Jobs that reached SETTLED."
  jobsCompleted: Int!
  jobsDisputed: Int!
  jobsAccepted: Int!
  jobsDeclined: Int!
  jobsExpired: Int!
  "Jobs reported dark: the provider showed no sign of life for the job's liveness timeout."
  jobsDark: Int!
  "Disputes the arbiter ruled not fully for the provider (providerShareBps below 10000)."
  jobsLostDisputes: Int!
  """
  0..1, from its counts alone: (good + 1) / (good + bad + 2), where good is jobs declined in time plus jobs accepted
  that neither went dark nor lost a dispute, and bad is jobs left to expire, reported dark or lost in a dispute. A
  provider without history scores 0.5. Exact to 6 decimals.
  """
  reliability: Float!
  "jobsCompleted / jobsAccepted; null before the first acceptance."
  completionRate: Float
  "Lower median of startedAt - createdAt over its accepted jobs, seconds; null before the first."
  medianSecondsToAccept: Int
  """
  Share of the last window seconds (to the indexed block's time) covered by its signs of life, each covering the
  current liveness timeout after it: 1 means never as long as a timeout without one.
  """
  uptime(window: Int = 86400): Float!
  activeOffers: Int!
  "Block time of the provider's last change (stake, pay, counts, offers, metadata); signs of life are lastHeartbeatAt's."
  updatedAt: Int!
  "The provider's latest sign of life (heartbeat, accept, claim or completion), as JobMarket.lastHeartbeat."
  lastHeartbeatAt: Int
  "Every sign of life, oldest first by default."
  heartbeats(orderDirection: OrderDirection = ASC, first: Int = 50, after: String): HeartbeatPage!
  offers(where: OfferFilter, orderBy: OfferOrderBy = ID, orderDirection: OrderDirection = ASC, first: Int = 50, after: String): OfferPage!
  jobs(where: JobFilter, orderBy: JobOrderBy = ID, orderDirection: OrderDirection = ASC, first: Int = 50, after: String): JobPage!
  "Every change of stake, oldest first by default."
  stakeMovements(orderDirection: OrderDirection = ASC, first: Int = 50, after: String): StakeMovementPage!
}

type ProviderPage {
  items: [Provider!]!
  pageInfo: PageInfo!
  totalCount: Int!
}

input OfferFilter {
  provider: String
  "A model name."
  gpuModel: String
  region: String
  state: OfferState
  minGpusAvailable: Int
  maxPricePerGpuHour: BigInt
  "gCO2e per kWh: offers at or below it."
  maxCarbonIntensity: Int
  "Offers with at least this renewable share (basis points)."
  minRenewableBps: Int
  "0..1: offers of providers whose reliability is at least this."
  minProviderReliability: Float
}

enum OfferOrderBy {
  ID
  PRICE
  GPUS_AVAILABLE
  CREATED_AT
  CARBON_INTENSITY
  RENEWABLE_BPS
}

type Offer {
  id: ID!
  provider: Provider!
  "Model name."
  gpuModel: String!
  model: GpuModel!
  region: String!
  gpus: Int!
  gpusLeased: Int!
  gpusAvailable: Int!
  pricePerGpuHour: BigInt!
  "Same as pricePerGpuHour."
  price: BigInt!
  "Seconds."
  minDuration: Int!
  "Seconds."
  maxDuration: Int!
  "gCO2e per kWh."
  carbonIntensity: Int!
  renewableBps: Int!
  "Unix seconds; an offer that never expires (2^32 - 1 on chain) reads 2147483647."
  expiresAt: Int!
  """
  Free GPUs of this offer its provider's unlocked stake can lock the collateral of, for the offer's minimum duration
  (0 once closed or expired; null until the indexer has recorded the deployment's stake rate).
  """
  gpusRentable: Int
  state: OfferState!
  createdAt: Int!
  createdBlock: Int!
  updatedAt: Int!
  jobs(where: JobFilter, orderBy: JobOrderBy = ID, orderDirection: OrderDirection = ASC, first: Int = 50, after: String): JobPage!
}

type OfferPage {
  items: [Offer!]!
  pageInfo: PageInfo!
  totalCount: Int!
}

input JobFilter {
  client: String
  provider: String
  payer: String
  offer: ID
  state: JobState
  "A model name."
  gpuModel: String
  region: String
  "createdAt >= createdAfter"
  createdAfter: Int
  "createdAt < createdBefore"
  createdBefore: Int
}

enum JobOrderBy {
  ID
  CREATED_AT
  PRICE
}

type Job {
  id: ID!
  offer: Offer!
  client: Account!
  provider: Provider!
  "Who paid the escrow (the client or a sponsor)."
  payer: Account!
  "Model name."
  gpuModel: String!
  model: GpuModel!
  region: String!
  gpus: Int!
  pricePerGpuHour: BigInt!
  "Same as pricePerGpuHour."
  price: BigInt!
  "Seconds bought, extensions included."
  duration: Int!
  extensions: Int!
  "GPU-hours bought: gpus x duration / 3600."
  gpuHours: Float!
  cost: BigInt!
  "Cost plus the protocol fee, paid in at creation (and by extensions)."
  escrow: BigInt!
  specHash: String!
  state: JobState!
  createdAt: Int!
  createdBlock: Int!
  acceptDeadline: Int!
  startedAt: Int
  "startedAt + duration: when the bought time runs out."
  endsAt: Int
  "When the clock stopped: completion, early end, dispute from running, dark report, decline, cancel, expiry or reclaim."
  endedAt: Int
  completedAt: Int
  disputedAt: Int
  "Settled, resolved, declined, cancelled, expired, dark or reclaimed."
  finalizedAt: Int
  endedEarly: Boolean!
  "Stake-token units locked from the provider's stake when the job was created (and by extensions)."
  collateral: BigInt!
  "Streamed to the provider by claims."
  claimed: BigInt!
  "Provider earnings for the time used, known when the clock stops."
  earned: BigInt
  "Everything the provider received for this job: claims, final pay, cancel fee."
  paid: BigInt!
  "Same as paid."
  providerPaid: BigInt!
  refunded: BigInt!
  fee: BigInt!
  cancelFee: BigInt!
  "Stake taken from the provider for this job."
  slashed: BigInt!
  providerShareBps: Int
  resultHash: String
  "The dispute's reason hash; for a declined job, the provider's reason."
  reasonHash: String
  "The parameters the job follows, fixed at its creation."
  terms: Terms!
  "The time up to which the client acknowledged service with a usage receipt (its pay is final)."
  receiptedUntil: Int
  "Dark or reclaimed jobs: the provider earned up to here (its last sign of life, or the receipted time)."
  paidUntil: Int
  """
  A running job whose provider's liveness timeout has passed (at the indexed block's time) without a sign of life
  before the job's end: when it passed. Anyone may report the job dark.
  """
  darkSince: Int
  "What the provider has earned so far (at the indexed block's time for a running job); null before it starts."
  earnedSoFar: BigInt
  "JobMarket.claimable at the indexed block's time: the most the provider's claims may total now."
  claimable: BigInt!
  "A running job's seconds of bought time left at the indexed block's time."
  secondsLeft: Int
  "Dispute bond pulled from the client (payment token)."
  bond: BigInt!
  "After it, anyone may finalize the dispute without the arbiter."
  resolveDeadline: Int
  "Once the dispute is over: whether the bond went to the provider (a ruling fully for it)."
  bondToProvider: Boolean
  "Resolved by finalizeStaleDispute after the resolve window, not by the arbiter."
  staleFinalized: Boolean!
}

"IJobMarket.Parameters: rates in basis points, windows in seconds (src/protocol PARAMETER_NAMES)."
type Terms {
  id: ID!
  publishedAt: Int!
  ${PARAMETER_NAMES.map((name) => `${name}: Int!`).join("\n  ")}
}

enum HeartbeatKind {
  HEARTBEAT
  ACCEPT
  CLAIM
  COMPLETE
}

"A sign of life of a provider: heartbeat(), or accepting, claiming or completing a job."
type Heartbeat {
  "blockNumber-logIndex"
  id: ID!
  blockNumber: Int!
  logIndex: Int!
  at: Int!
  kind: HeartbeatKind!
  job: Job
}

type HeartbeatPage {
  items: [Heartbeat!]!
  pageInfo: PageInfo!
  totalCount: Int!
}

type JobPage {
  items: [Job!]!
  pageInfo: PageInfo!
  totalCount: Int!
}

type Account {
  id: ID!
  address: String!
  "The account's provider record, if it registered as one."
  provider: Provider
  "Jobs created by this account as client."
  jobs(where: JobFilter, orderBy: JobOrderBy = ID, orderDirection: OrderDirection = ASC, first: Int = 50, after: String): JobPage!
}

enum StakeMovementKind {
  STAKE
  UNSTAKE_REQUEST
  WITHDRAW
  LOCK
  UNLOCK
  SLASH
}

type StakeMovement {
  "blockNumber-logIndex"
  id: ID!
  blockNumber: Int!
  logIndex: Int!
  txHash: String!
  timestamp: Int!
  provider: Provider!
  kind: StakeMovementKind!
  amount: BigInt!
  job: Job
}

type StakeMovementPage {
  items: [StakeMovement!]!
  pageInfo: PageInfo!
  totalCount: Int!
}
`;

/**
 * A generated GPU Mesh market for the scale benchmark (scripts/bench-scale.ts): months of a busy protocol-v2 market as
 * the decoded events the indexer hands to the store's writer, block by block, without a chain. The generator keeps
 * the contracts' own state (offers' leased GPUs, jobs' money, providers' stake, locked collateral and last sign of
 * life, the parameter snapshots) and emits only what the contracts would: every event comes from a call that would
 * succeed at that block, with the amounts JobMarket, JobLib and ProviderStaking compute (src/protocol's money
 * arithmetic), in the contracts' event order.
 *
 * Providers register and stake, list one offer per (GPU model, region) they serve, reprice it every few days with its
 * utilization, close and relist, sometimes let it expire, and unstake now and then. Clients arrive as a Poisson process
 * with a daily cycle and rent the cheapest offer that fits among a sample; each job draws a fate from FATES (complete,
 * claim, claim with receipts, extend, end early, cancel, decline, let expire, dispute, abandon). Providers heartbeat
 * while they run jobs and have outages: their pending jobs expire, their clients report running jobs dark or reclaim
 * them. Governance raises the liveness timeout to an hour at the start and lowers the protocol fee halfway.
 *
 * Deterministic: the same options give the same events (src/sim/random.ts), with block numbers and timestamps of a
 * made-up rollup (2-second blocks) from 2025-01-01.
 */
import { keccak256, toHex, type Hex } from "viem";
import type { Deployment } from "../../src/chain/deployment";
import type { DecodedEvent, IndexedEvent } from "../../src/chain/events";
import { DEFAULT_PARAMETERS, PARAMETER_NAMES, bpsDown, bpsUp, costUp, type MarketParameters, type ParameterName } from "../../src/protocol";
import { GPU_PROFILES, JOB_DURATIONS, REGIONS, type GpuProfile, type RegionProfile } from "../../src/sim/profiles";
import { createRandom, type Random } from "../../src/sim/random";
import type { BlockToApply } from "../../src/store/writer";

export interface ScaleMarketOptions {
  seed: number;
  /** Events to generate: the generation ends with the block that reaches this many. */
  events: number;
  providers: number;
  clients: number;
  /** Days of history the clients' arrival rate is set for. */
  days: number;
}

export interface ScaleMarket {
  deployment: Deployment;
  /** Hash of the deployment's start block (the block of the first events). */
  startBlockHash: Hex;
  /** The next blocks with events, at least `targetEvents` of them unless the market is done; empty when done. */
  nextBatch(targetEvents: number): BlockToApply[];
  /** What the contracts hold now, for checking the store against (see checkAgainst in bench-scale.ts). */
  chainState(): ChainState;
  /** First occurrences of each event name, for checking them against the real decoder. */
  samples(): IndexedEvent[];
}

export interface ChainState {
  blockNumber: number;
  timestamp: number;
  events: number;
  providers: number;
  offers: number;
  jobs: number;
  /** Jobs whose client found no offer that fits (not created). */
  unmetRequests: number;
  /** Jobs per chain state (JobState names upper-cased as the store names them). */
  jobStates: Record<string, number>;
  /** Jobs still in Created whose accept deadline the last block passed (the store reads them as EXPIRED). */
  createdPastDeadline: number;
  totalStaked: bigint;
  totalLocked: bigint;
  totalUnbonding: bigint;
  /** Sum over open jobs (Created, Running, Completed, Disputed) of escrow - claimed. */
  escrowed: bigint;
  disputeBondsHeld: bigint;
  eventCounts: Record<string, number>;
}

// ------------------------------------------------------------------ the made-up chain and deployment
export const SCALE_CHAIN_ID = 845_300;
const BLOCK_SECONDS = 2;
const START_BLOCK = 12_000_000;
const START_TIME = 1_735_689_600; // 2025-01-01T00:00:00Z
export const SCALE_START_TIME = START_TIME;
const DAY = 86_400;
const HOUR = 3_600;
const MINUTE = 60;

const PAYMENT_UNIT = 1_000_000n; // USDC-like, 6 decimals
const STAKE_UNIT = 10n ** 18n; // MESH-like, 18 decimals
const STAKE_PER_PAYMENT_UNIT = STAKE_UNIT / PAYMENT_UNIT;
const MIN_STAKE = 100n * STAKE_UNIT;
const UNBONDING_SECONDS = 7 * DAY;

const address = (kind: number, index: number): Hex => `0x${kind.toString(16).padStart(2, "0")}${index.toString(16).padStart(38, "0")}`;
const CONTRACTS = {
  GpuCatalog: address(0x5c, 1),
  ProviderStaking: address(0x5c, 2),
  JobMarket: address(0x5c, 3),
} as const;
const TREASURY = address(0x7e, 1);
const GOVERNANCE = address(0x60, 1);
const SPONSORS = 20;

const blockHash = (number: number): Hex => `0x5ca1eb10c0${"0".repeat(38)}${number.toString(16).padStart(16, "0")}` as Hex;
const word = (prefix: string, value: number): Hex => `0x${prefix}${value.toString(16).padStart(64 - prefix.length, "0")}` as Hex;
const regionHex = (code: string): Hex => `0x${Buffer.from(code, "latin1").toString("hex").padEnd(32, "0")}` as Hex;

// ------------------------------------------------------------------ behaviour
/** Events per created job, heartbeats and offer traffic included: sets the arrival rate for `days` of history. */
const EVENTS_PER_JOB = 9.3;
/** Outages per provider per day for a provider of quality 0.5 (worse providers have more). */
const OUTAGES_PER_DAY = 1 / 30;
/** Offers a client compares before renting the cheapest that fits. */
const OFFERS_COMPARED = 16;

type Contract = DecodedEvent["contract"];
type NameOf<C extends Contract> = Extract<DecodedEvent, { contract: C }>["eventName"];
type ArgsOf<C extends Contract, N> = Extract<DecodedEvent, { contract: C; eventName: N }>["args"];

interface Provider {
  index: number;
  address: Hex;
  /** 0..1: how rarely it declines, goes offline or forgets a job. */
  quality: number;
  registered: boolean;
  staked: bigint;
  locked: bigint;
  unbonding: bigint;
  unbondingReadyAt: number;
  unbondRequests: Array<{ amount: bigint; readyAt: number }>;
  nextRequestId: number;
  /** JobMarket._lastHeartbeat: heartbeats, accepts, claims and completions. */
  lastHeartbeat: number;
  offlineUntil: number;
  running: Set<Job>;
  heartbeatScheduled: boolean;
  listings: Listing[];
}

interface Listing {
  provider: Provider;
  profile: GpuProfile;
  modelId: Hex;
  region: RegionProfile;
  gpus: number;
  minDuration: number;
  maxDuration: number;
  carbonIntensity: number;
  renewableBps: number;
  basePrice: bigint;
  offer: Offer | null;
}

interface Offer {
  id: number;
  listing: Listing;
  gpus: number;
  leased: number;
  price: bigint;
  expiresAt: number;
  closed: boolean;
  /** Position in openOffers of its model (-1 once closed). */
  slot: number;
}

type ChainJobState = "CREATED" | "RUNNING" | "COMPLETED" | "DISPUTED" | "SETTLED" | "RESOLVED" | "CANCELLED" | "RECLAIMED" | "DECLINED" | "EXPIRED" | "DARK";

interface Job {
  id: number;
  offer: Offer;
  provider: Provider;
  client: Hex;
  payer: Hex;
  gpus: number;
  price: bigint;
  duration: number;
  cost: bigint;
  escrow: bigint;
  collateral: bigint;
  terms: MarketParameters;
  state: ChainJobState;
  acceptDeadline: number;
  startedAt: number;
  endedAt: number;
  claimed: bigint;
  receiptedSeconds: number;
  bond: bigint;
  disputedAt: number;
  disputeLastLifeAt: number;
  fate: Fate;
}

interface Payout {
  providerPay: bigint;
  fee: bigint;
  refund: bigint;
  slashed: bigint;
}

/** What happens to a job; `first` is its step after creation, `afterAccept` plans the rest once it runs. */
interface FatePlan {
  weight: number;
  first?: "cancel" | "decline" | "ignore";
  afterAccept?: (job: Job, plan: Planner) => void;
}

interface Planner {
  random: Random;
  /** Step at a share of the job's duration after its start. */
  during(step: StepName, share: number): void;
  /** Step `seconds` after the job's end. */
  afterEnd(step: StepName, seconds: number): void;
}

const claimsFor = (job: Job) => Math.max(1, Math.min(4, Math.floor(job.duration / (6 * HOUR))));

const FATES = {
  complete: { weight: 52, afterAccept: (_job, p) => p.afterEnd("complete", p.random.uniform(0, 300)) },
  claimAndComplete: {
    weight: 12,
    afterAccept(job, p) {
      const claims = claimsFor(job);
      for (let i = 0; i < claims; i++) p.during("claim", (i + p.random.uniform(0.3, 0.9)) / claims);
      p.afterEnd("complete", p.random.uniform(0, 300));
    },
  },
  receipted: {
    weight: 9,
    afterAccept(job, p) {
      const claims = claimsFor(job);
      for (let i = 0; i < claims; i++) p.during("receiptClaim", (i + p.random.uniform(0.3, 0.9)) / claims);
      p.afterEnd("complete", p.random.uniform(0, 300));
    },
  },
  // The completion is planned by the extension, at the job's new end.
  extend: { weight: 4, afterAccept: (_job, p) => p.during("extend", p.random.uniform(0.3, 0.8)) },
  endEarly: { weight: 6, afterAccept: (_job, p) => p.during("endEarly", p.random.uniform(0.1, 0.9)) },
  disputeRunning: { weight: 1.2, afterAccept: (_job, p) => p.during("dispute", p.random.uniform(0.2, 0.9)) },
  // Disputed after completion, within the dispute window (planned by the completion).
  disputeCompleted: { weight: 0.8, afterAccept: (_job, p) => p.afterEnd("complete", p.random.uniform(0, 300)) },
  abandon: { weight: 0.5, afterAccept: (job, p) => p.afterEnd("reclaim", job.terms.abandonGrace + p.random.uniform(600, 7200)) },
  cancel: { weight: 3, first: "cancel" },
  ignore: { weight: 0.7, first: "ignore" },
  // Never drawn from the table: a provider declines by its quality (see createJob).
  decline: { weight: 0, first: "decline" },
} satisfies Record<string, FatePlan>;
type Fate = keyof typeof FATES;
/** The fates of jobs the provider does not decline (a provider declines by its quality: see createJob). */
const ACCEPTED_FATES = (Object.keys(FATES) as Fate[])
  .filter((fate) => (FATES[fate] as FatePlan).weight > 0)
  .map((fate) => [fate, (FATES[fate] as FatePlan).weight] as const);

type StepName =
  | "accept"
  | "decline"
  | "cancel"
  | "expire"
  | "claim"
  | "receiptClaim"
  | "extend"
  | "complete"
  | "endEarly"
  | "settle"
  | "dispute"
  | "resolve"
  | "finalizeStale"
  | "reportDark"
  | "reclaim";

// ------------------------------------------------------------------ the market
export function createScaleMarket(options: ScaleMarketOptions): ScaleMarket {
  const random = createRandom(options.seed);
  const models = GPU_PROFILES.map((profile) => ({ profile, id: keccak256(toHex(profile.name)).toLowerCase() as Hex }));
  const modelWeights = models.map((model) => [model, model.profile.weight] as const);
  const endTime = START_TIME + options.days * DAY;
  const arrivalsPerSecond = options.events / EVENTS_PER_JOB / (options.days * DAY);

  const deployment: Deployment = {
    chainId: SCALE_CHAIN_ID,
    network: "gpumesh-scale (generated)",
    startBlock: START_BLOCK,
    contracts: {
      GpuCatalog: { address: CONTRACTS.GpuCatalog, deployBlock: START_BLOCK },
      ProviderStaking: { address: CONTRACTS.ProviderStaking, deployBlock: START_BLOCK },
      JobMarket: { address: CONTRACTS.JobMarket, deployBlock: START_BLOCK },
    },
    tokens: {
      payment: { address: address(0x70, 1), symbol: "USDC", decimals: 6, dev: false },
      stake: { address: address(0x70, 2), symbol: "MESH", decimals: 18, dev: false },
    },
    roles: { governance: GOVERNANCE, treasury: TREASURY, arbiter: GOVERNANCE },
    stakePerPaymentUnit: STAKE_PER_PAYMENT_UNIT.toString(),
    parameters: DEFAULT_PARAMETERS,
    gpuModels: models.map((model) => ({ id: model.id, name: model.profile.name, vramGb: vramOf(model.profile.name) })),
  };

  // ---------------------------------------------------------------- chain state
  const terms: MarketParameters[] = [DEFAULT_PARAMETERS];
  const currentTerms = () => terms[terms.length - 1]!;
  const providers: Provider[] = [];
  const openOffers = new Map<string, Offer[]>(models.map((model) => [model.profile.name, []]));
  const liveJobs = new Map<number, Job>();
  let nextOfferId = 1;
  let nextJobId = 1;
  let bondsHeld = 0n;
  let unmetRequests = 0;
  const jobStates: Record<string, number> = {};
  const eventCounts: Record<string, number> = {};
  const samples: IndexedEvent[] = [];

  // ---------------------------------------------------------------- blocks and the calendar of actions
  const calendar = new Map<number, Array<() => void>>();
  let blockNumber = START_BLOCK - 1;
  let now = START_TIME - BLOCK_SECONDS;
  let block: BlockToApply | null = null;
  let txIndex = 0;
  let txHash: Hex = "0x";
  let eventsEmitted = 0;
  let done = false;

  const timeOf = (number: number) => START_TIME + (number - START_BLOCK) * BLOCK_SECONDS;
  /** Runs `action` in the first block at or after `at` (never the current block: its calls are being made). */
  const at = (time: number, action: () => void) => {
    const number = Math.max(blockNumber + 1, START_BLOCK + Math.ceil((time - START_TIME) / BLOCK_SECONDS));
    const list = calendar.get(number);
    if (list) list.push(action);
    else calendar.set(number, [action]);
  };

  /** Starts a transaction: the events that follow share its hash. */
  const transaction = () => {
    txIndex += 1;
    txHash = `0x${blockNumber.toString(16).padStart(16, "0")}${txIndex.toString(16).padStart(8, "0")}${"7a".repeat(20)}` as Hex;
  };
  function emit<C extends Contract, N extends NameOf<C>>(contract: C, eventName: N, args: ArgsOf<C, N>) {
    const event = {
      blockNumber,
      blockHash: block!.hash as Hex,
      blockTimestamp: now,
      logIndex: block!.events.length,
      transactionHash: txHash,
      event: { contract, eventName, args } as unknown as DecodedEvent,
    };
    block!.events.push(event);
    eventsEmitted += 1;
    const count = (eventCounts[eventName] ?? 0) + 1;
    eventCounts[eventName] = count;
    if (count === 1) samples.push(event);
  }

  const setState = (job: Job, state: ChainJobState) => {
    jobStates[job.state] = (jobStates[job.state] ?? 0) - 1;
    jobStates[state] = (jobStates[state] ?? 0) + 1;
    job.state = state;
  };

  // ---------------------------------------------------------------- money, as the contracts compute it
  const unlocked = (p: Provider) => p.staked - p.locked;
  const earnedAt = (job: Job, time: number) => costUp(job.price, job.gpus, Math.min(Math.max(0, time - job.startedAt), job.duration));
  const receiptedPay = (job: Job) => costUp(job.price, job.gpus, job.receiptedSeconds);
  const claimCap = (job: Job) => receiptedPay(job) + bpsUp(job.cost, job.terms.collateralBps);
  const endsAt = (job: Job) => job.startedAt + job.duration;
  const lastLifeAt = (job: Job) => Math.max(job.provider.lastHeartbeat, job.startedAt);
  /** JobLib.paidUntil. */
  const paidUntil = (job: Job, lifeAt: number) => Math.min(Math.max(job.startedAt + job.receiptedSeconds, lifeAt), endsAt(job));
  /** JobMarket._close: the split of the escrow when the provider's final pay is `earned`, and the stake to slash. */
  const close = (job: Job, earned: bigint, penalty: bigint): Payout => {
    const fee = bpsUp(earned, job.terms.protocolFeeBps);
    let providerPay = 0n;
    let refund: bigint;
    let clawback = 0n;
    if (earned >= job.claimed) {
      providerPay = earned - job.claimed;
      refund = job.escrow - earned - fee;
    } else {
      clawback = job.claimed - earned;
      refund = job.escrow - job.claimed - fee;
    }
    const slashed = clawback * STAKE_PER_PAYMENT_UNIT + penalty;
    return { providerPay, fee, refund, slashed: slashed > job.collateral ? job.collateral : slashed };
  };
  /** ProviderStaking.releaseCollateral: the job's collateral unlocked, `slash` of it to the client and the treasury. */
  const releaseCollateral = (job: Job, slash: bigint) => {
    const p = job.provider;
    p.locked -= job.collateral;
    emit("ProviderStaking", "CollateralUnlocked", { provider: p.address, jobId: BigInt(job.id), amount: job.collateral, locked: p.locked });
    if (slash === 0n) return;
    p.staked -= slash;
    const clientCap = job.cost * STAKE_PER_PAYMENT_UNIT;
    const toClient = slash < clientCap ? slash : clientCap;
    emit("ProviderStaking", "Slashed", {
      provider: p.address,
      jobId: BigInt(job.id),
      client: job.client,
      toClient,
      treasury: TREASURY,
      toTreasury: slash - toClient,
      staked: p.staked,
    });
    if (unlocked(p) * 10n < p.staked * 3n) topUp(p);
  };
  const releaseGpus = (job: Job) => {
    job.offer.leased -= job.gpus;
    job.provider.running.delete(job);
  };
  const finish = (job: Job, state: ChainJobState) => {
    setState(job, state);
    liveJobs.delete(job.id);
  };

  // ---------------------------------------------------------------- providers
  const providerOnline = (p: Provider) => now >= p.offlineUntil;
  const signOfLife = (p: Provider) => {
    p.lastHeartbeat = now;
  };

  const topUp = (p: Provider) => {
    const amount = (p.staked / 5n / STAKE_UNIT + 1n) * STAKE_UNIT;
    p.staked += amount;
    transaction();
    emit("ProviderStaking", "Staked", { provider: p.address, amount, staked: p.staked });
  };

  const register = (p: Provider) => {
    const gpus = p.listings.reduce((sum, listing) => sum + listing.gpus, 0);
    const amount = BigInt(Math.round(gpus * random.uniform(500, 1500))) * STAKE_UNIT;
    p.registered = true;
    p.staked = amount;
    transaction();
    emit("ProviderStaking", "ProviderRegistered", { provider: p.address, metadataURI: `https://provider-${p.index}.gpumesh.example/agent.json` });
    emit("ProviderStaking", "Staked", { provider: p.address, amount, staked: p.staked });
    for (const listing of p.listings) at(now + random.uniform(MINUTE, HOUR), () => maintain(listing));
    at(now + random.uniform(0, 1) * options.days * DAY, () => unstake(p));
    at(now + outageGap(p), () => outage(p));
  };

  const heartbeatGap = () => random.uniform(15, 25) * MINUTE;
  const ensureHeartbeat = (p: Provider) => {
    if (p.heartbeatScheduled) return;
    p.heartbeatScheduled = true;
    at(p.lastHeartbeat + heartbeatGap(), () => heartbeat(p));
  };
  const heartbeat = (p: Provider) => {
    p.heartbeatScheduled = false;
    // Offline, nothing happens until it is back (outageEnds restarts the heartbeats); idle agents stay quiet.
    if (!providerOnline(p) || p.running.size === 0) return;
    if (now - p.lastHeartbeat < 15 * MINUTE) return ensureHeartbeat(p);
    transaction();
    emit("JobMarket", "ProviderHeartbeat", { provider: p.address, at: BigInt(now) });
    signOfLife(p);
    ensureHeartbeat(p);
  };

  const outageGap = (p: Provider) => (-Math.log(1 - random.next()) * DAY) / (OUTAGES_PER_DAY * (0.3 + 1.4 * (1 - p.quality)));
  /** The provider goes silent: no heartbeats, accepts, claims or completions until it is back. */
  const outage = (p: Provider) => {
    const lengthSeconds = random.uniform(0.75, 8) * HOUR;
    p.offlineUntil = now + lengthSeconds;
    for (const job of p.running) {
      // Clients watch their jobs: most report a silent provider dark, some wait for the end and reclaim.
      const roll = random.next();
      if (roll < 0.6) at(lastLifeAt(job) + job.terms.livenessTimeout + random.uniform(30, 45 * MINUTE), () => step("reportDark", job));
      else if (roll < 0.85) at(endsAt(job) + job.terms.abandonGrace + random.uniform(5 * MINUTE, HOUR), () => step("reclaim", job));
    }
    at(p.offlineUntil, () => {
      if (p.running.size > 0) {
        transaction();
        emit("JobMarket", "ProviderHeartbeat", { provider: p.address, at: BigInt(now) });
        signOfLife(p);
        ensureHeartbeat(p);
      }
      at(now + outageGap(p), () => outage(p));
    });
  };

  const unstake = (p: Provider) => {
    if (!providerOnline(p) || random.next() > 0.15) return;
    const amount = ((unlocked(p) * 15n) / 100n / STAKE_UNIT) * STAKE_UNIT;
    if (amount === 0n || unlocked(p) - amount < p.staked / 2n || unlocked(p) - amount < MIN_STAKE) return;
    const readyAt = Math.max(now + UNBONDING_SECONDS, p.unbondingReadyAt);
    p.staked -= amount;
    p.unbonding += amount;
    p.unbondingReadyAt = readyAt;
    p.unbondRequests.push({ amount, readyAt });
    transaction();
    emit("ProviderStaking", "UnstakeRequested", {
      provider: p.address,
      amount,
      staked: p.staked,
      unbonding: p.unbonding,
      readyAt: BigInt(readyAt),
      requestId: BigInt(p.nextRequestId++),
    });
    at(readyAt + random.uniform(HOUR, 2 * DAY), () => withdrawStake(p));
  };
  const withdrawStake = (p: Provider) => {
    let amount = 0n;
    while (p.unbondRequests.length > 0 && p.unbondRequests[0]!.readyAt <= now) amount += p.unbondRequests.shift()!.amount;
    if (amount === 0n) return;
    p.unbonding -= amount;
    transaction();
    emit("ProviderStaking", "StakeWithdrawn", { provider: p.address, amount, unbonding: p.unbonding });
  };

  // ---------------------------------------------------------------- offers
  /** OfferBook._checkBacking: unlocked stake, at least minStake, covers renting the free GPUs for the minimum duration. */
  const backed = (p: Provider, freeGpus: number, price: bigint, minDuration: number) =>
    unlocked(p) >= MIN_STAKE && bpsUp(costUp(price, freeGpus, minDuration), currentTerms().collateralBps) * STAKE_PER_PAYMENT_UNIT <= unlocked(p);
  const roundPrice = (price: bigint) => (price < 1000n ? 1000n : (price / 1000n) * 1000n);
  const offerLifetime = () => Math.round(random.uniform(7, 30) * DAY);

  const listOpen = (offer: Offer) => {
    const list = openOffers.get(offer.listing.profile.name)!;
    offer.slot = list.length;
    list.push(offer);
  };
  const unlist = (offer: Offer) => {
    const list = openOffers.get(offer.listing.profile.name)!;
    const last = list.pop()!;
    if (last !== offer) {
      list[offer.slot] = last;
      last.slot = offer.slot;
    }
    offer.slot = -1;
  };

  const createOffer = (listing: Listing, price: bigint) => {
    const p = listing.provider;
    if (!backed(p, listing.gpus, price, listing.minDuration)) return;
    const offer: Offer = { id: nextOfferId++, listing, gpus: listing.gpus, leased: 0, price, expiresAt: now + offerLifetime(), closed: false, slot: -1 };
    listing.offer = offer;
    listOpen(offer);
    transaction();
    emit("JobMarket", "OfferCreated", {
      offerId: BigInt(offer.id),
      provider: p.address,
      gpuModel: listing.modelId,
      gpus: offer.gpus,
      pricePerGpuHour: price,
      minDuration: listing.minDuration,
      maxDuration: listing.maxDuration,
      region: regionHex(listing.region.code),
      carbonIntensity: listing.carbonIntensity,
      renewableBps: listing.renewableBps,
      expiresAt: offer.expiresAt,
    });
  };
  const closeOffer = (offer: Offer) => {
    offer.closed = true;
    unlist(offer);
    offer.listing.offer = null;
    transaction();
    emit("JobMarket", "OfferClosed", { offerId: BigInt(offer.id) });
  };
  /** Providers move their price with their utilization, within a band around their base price. */
  const repricedPrice = (offer: Offer): bigint => {
    const utilization = offer.gpus > 0 ? offer.leased / offer.gpus : 0;
    const change = utilization > 0.75 ? random.uniform(1.02, 1.08) : utilization < 0.25 ? random.uniform(0.92, 0.98) : random.uniform(0.98, 1.02);
    const base = Number(offer.listing.basePrice);
    const next = Math.min(base * 1.6, Math.max(base * 0.6, Number(offer.price) * change));
    return roundPrice(BigInt(Math.round(next)));
  };
  const updateOffer = (offer: Offer, price: bigint) => {
    const p = offer.listing.provider;
    if (!backed(p, offer.gpus - offer.leased, price, offer.listing.minDuration)) return;
    offer.price = price;
    offer.expiresAt = now + offerLifetime();
    transaction();
    emit("JobMarket", "OfferUpdated", { offerId: BigInt(offer.id), gpus: offer.gpus, pricePerGpuHour: price, expiresAt: offer.expiresAt });
  };
  /** A provider looks after one listing every few days: reprices, relists, reopens an expired offer or forgets it. */
  const maintain = (listing: Listing) => {
    const p = listing.provider;
    if (providerOnline(p)) {
      const offer = listing.offer;
      if (!offer) createOffer(listing, roundPrice(listing.basePrice));
      else if (offer.expiresAt <= now) {
        if (random.chance(0.5)) updateOffer(offer, repricedPrice(offer));
        else {
          closeOffer(offer);
          createOffer(listing, repricedPrice(offer));
        }
      } else {
        const roll = random.next();
        if (roll < 0.75) updateOffer(offer, repricedPrice(offer));
        else if (roll < 0.9) {
          closeOffer(offer);
          createOffer(listing, repricedPrice(offer));
        }
      }
    }
    at(now + random.uniform(2, 12) * DAY, () => maintain(listing));
  };

  // ---------------------------------------------------------------- jobs
  const clientAddress = (index: number) => address(0xc1, index + 1);
  const sponsorAddress = (index: number) => address(0x59, index + 1);

  /**
   * A client asks for GPUs: the cheapest of a sample of open offers of the model that fit and whose provider can lock
   * the collateral, in its home region when it has one and one there fits.
   */
  const arrive = () => {
    const clientIndex = Math.floor(options.clients * random.next() ** 2);
    const model = random.weighted(modelWeights);
    const gpus = random.pick(model.profile.jobSizes);
    const duration = random.weighted(JOB_DURATIONS);
    const homeRegion = random.chance(0.4) ? REGIONS[clientIndex % REGIONS.length]!.code : null;
    const list = openOffers.get(model.profile.name)!;
    const t = currentTerms();
    const best: Array<{ offer: Offer; collateral: bigint } | null> = [null, null];
    for (let i = 0; i < OFFERS_COMPARED && list.length > 0; i++) {
      const offer = list[Math.floor(random.next() * list.length)]!;
      const l = offer.listing;
      if (offer.expiresAt <= now || offer.gpus - offer.leased < gpus || duration < l.minDuration || duration > l.maxDuration) continue;
      const home = homeRegion !== null && l.region.code === homeRegion ? 1 : 0;
      const current = best[home];
      if (current && (offer.price > current.offer.price || (offer.price === current.offer.price && offer.id > current.offer.id))) continue;
      const collateral = bpsUp(costUp(offer.price, gpus, duration), t.collateralBps) * STAKE_PER_PAYMENT_UNIT;
      if (collateral > unlocked(l.provider)) continue;
      best[home] = { offer, collateral };
    }
    const chosen = best[1] ?? best[0];
    if (chosen) createJob(clientIndex, chosen.offer, gpus, duration, chosen.collateral);
    else unmetRequests += 1;
    at(now + nextArrivalSeconds(), arrive);
  };

  /** Arrivals follow the day (busiest mid-afternoon UTC) and grow over the months. */
  const nextArrivalSeconds = () => {
    const dayShare = ((now - START_TIME) % DAY) / DAY;
    const growth = 0.8 + 0.4 * Math.min(1, (now - START_TIME) / (endTime - START_TIME));
    const rate = arrivalsPerSecond * growth * (1 + 0.35 * Math.sin(2 * Math.PI * (dayShare - 0.375)));
    return -Math.log(1 - random.next()) / rate;
  };

  const createJob = (clientIndex: number, offer: Offer, gpus: number, duration: number, collateral: bigint) => {
    const p = offer.listing.provider;
    const t = currentTerms();
    const cost = costUp(offer.price, gpus, duration);
    const escrow = cost + bpsUp(cost, t.protocolFeeBps);
    const client = clientAddress(clientIndex);
    const payer = random.chance(0.08) ? sponsorAddress(clientIndex % SPONSORS) : client;
    const declineShare = 0.01 + 0.06 * (1 - p.quality);
    const fate: Fate = random.chance(declineShare) ? "decline" : random.weighted(ACCEPTED_FATES);
    const job: Job = {
      id: nextJobId++,
      offer,
      provider: p,
      client,
      payer,
      gpus,
      price: offer.price,
      duration,
      cost,
      escrow,
      collateral,
      terms: t,
      state: "CREATED",
      acceptDeadline: now + t.acceptWindow,
      startedAt: 0,
      endedAt: 0,
      claimed: 0n,
      receiptedSeconds: 0,
      bond: 0n,
      disputedAt: 0,
      disputeLastLifeAt: 0,
      fate,
    };
    jobStates.CREATED = (jobStates.CREATED ?? 0) + 1;
    liveJobs.set(job.id, job);
    offer.leased += gpus;
    p.locked += collateral;
    transaction();
    emit("JobMarket", "JobCreated", {
      jobId: BigInt(job.id),
      offerId: BigInt(offer.id),
      client,
      provider: p.address,
      payer,
      gpus,
      pricePerGpuHour: job.price,
      duration,
      cost,
      escrow,
      acceptDeadline: BigInt(job.acceptDeadline),
      specHash: word("5bec", job.id),
      collateral,
    });
    emit("ProviderStaking", "CollateralLocked", { provider: p.address, jobId: BigInt(job.id), amount: collateral, locked: p.locked });
    const first = (FATES[fate] as FatePlan).first;
    if (first === "cancel") at(now + random.uniform(20, 10 * MINUTE), () => step("cancel", job));
    else if (first === "decline") at(now + random.uniform(10, 5 * MINUTE), () => step("decline", job));
    else if (first === "ignore") at(job.acceptDeadline + random.uniform(MINUTE, 12 * HOUR), () => step("expire", job));
    else at(now + acceptDelaySeconds(), () => step("accept", job));
  };
  const acceptDelaySeconds = () => (random.chance(0.9) ? random.uniform(4, 90) : random.uniform(90, 15 * MINUTE));

  const planner = (job: Job): Planner => ({
    random,
    during: (name, share) => at(job.startedAt + Math.floor(share * job.duration), () => step(name, job)),
    afterEnd: (name, seconds) => at(endsAt(job) + seconds, () => step(name, job)),
  });

  /** The job's end, by its client or by anyone, after the dispute window: one payout. */
  const payOut = (job: Job, p: Payout) => releaseCollateral(job, p.slashed);

  /**
   * The steps of a job's life, one contract call each. A step finds the job where the chain left it and does nothing
   * when its call would revert (a job reported dark skips the rest of its plan). Provider steps wait for a provider
   * that is offline (a call it cannot make).
   */
  const steps: Record<StepName, (job: Job) => void> = {
    accept(job) {
      if (job.state !== "CREATED") return;
      if (now > job.acceptDeadline) {
        if (random.chance(0.9)) at(now + random.uniform(MINUTE, 12 * HOUR), () => step("expire", job));
        return;
      }
      job.startedAt = now;
      setState(job, "RUNNING");
      job.provider.running.add(job);
      transaction();
      emit("JobMarket", "JobAccepted", { jobId: BigInt(job.id), provider: job.provider.address, startedAt: BigInt(now) });
      signOfLife(job.provider);
      ensureHeartbeat(job.provider);
      (FATES[job.fate] as FatePlan).afterAccept?.(job, planner(job));
    },
    decline(job) {
      if (job.state !== "CREATED" || now > job.acceptDeadline) return steps.accept(job);
      releaseGpus(job);
      finish(job, "DECLINED");
      transaction();
      emit("JobMarket", "JobDeclined", { jobId: BigInt(job.id), provider: job.provider.address, refund: job.escrow, reason: word("dec1", job.id % 4) });
      releaseCollateral(job, 0n);
    },
    cancel(job) {
      if (job.state !== "CREATED") return;
      const cancelFee = bpsDown(job.cost, job.terms.cancelFeeBps);
      releaseGpus(job);
      finish(job, "CANCELLED");
      transaction();
      emit("JobMarket", "JobCancelled", { jobId: BigInt(job.id), refund: job.escrow - cancelFee, cancelFee });
      releaseCollateral(job, 0n);
    },
    expire(job) {
      if (job.state !== "CREATED" || now <= job.acceptDeadline) return;
      const maxSlash = bpsDown(job.cost, job.terms.expirySlashBps) * STAKE_PER_PAYMENT_UNIT;
      const slash = maxSlash > job.collateral ? job.collateral : maxSlash;
      releaseGpus(job);
      finish(job, "EXPIRED");
      transaction();
      emit("JobMarket", "JobExpired", { jobId: BigInt(job.id), refund: job.escrow, slashed: slash });
      releaseCollateral(job, slash);
    },
    claim(job) {
      if (job.state !== "RUNNING") return;
      const earned = earnedAt(job, now);
      const cap = claimCap(job);
      const total = earned < cap ? earned : cap;
      if (total <= job.claimed) return;
      recordClaim(job, total);
    },
    receiptClaim(job) {
      if (job.state !== "RUNNING") return;
      const until = Math.min(now, endsAt(job));
      const advanced = until - job.startedAt > job.receiptedSeconds;
      if (advanced) job.receiptedSeconds = until - job.startedAt;
      const earned = earnedAt(job, now);
      const cap = claimCap(job);
      let total = earned < cap ? earned : cap;
      if (total < job.claimed) total = job.claimed;
      if (total === job.claimed && !advanced) return;
      recordClaim(job, total);
    },
    extend(job) {
      if (job.state !== "RUNNING") return;
      const offer = job.offer;
      const extra = random.pick([HOUR, 2 * HOUR, 4 * HOUR]);
      const duration = job.duration + extra;
      if (now >= endsAt(job) || offer.closed || now >= offer.expiresAt || duration > offer.listing.maxDuration) {
        return planner(job).afterEnd("complete", random.uniform(0, 300));
      }
      const cost = costUp(job.price, job.gpus, duration);
      const escrow = cost + bpsUp(cost, job.terms.protocolFeeBps);
      const collateral = bpsUp(cost, job.terms.collateralBps) * STAKE_PER_PAYMENT_UNIT;
      const extraCollateral = collateral - job.collateral;
      if (extraCollateral > unlocked(job.provider)) return planner(job).afterEnd("complete", random.uniform(0, 300));
      const extraEscrow = escrow - job.escrow;
      Object.assign(job, { duration, cost, escrow, collateral });
      job.provider.locked += extraCollateral;
      transaction();
      emit("JobMarket", "JobExtended", { jobId: BigInt(job.id), duration, cost, escrow, extraEscrow, collateral });
      emit("ProviderStaking", "CollateralLocked", { provider: job.provider.address, jobId: BigInt(job.id), amount: extraCollateral, locked: job.provider.locked });
      planner(job).afterEnd("complete", random.uniform(0, 300));
    },
    complete(job) {
      if (job.state !== "RUNNING") return;
      stopClock(job);
      setState(job, "COMPLETED");
      signOfLife(job.provider);
      transaction();
      emit("JobMarket", "JobCompleted", { jobId: BigInt(job.id), endedAt: BigInt(now), earned: earnedAt(job, now), resultHash: word("2e5", job.id) });
      if (job.fate === "disputeCompleted") at(now + random.uniform(HOUR, 20 * HOUR), () => step("dispute", job));
      else planSettle(job);
    },
    endEarly(job) {
      if (job.state !== "RUNNING") return;
      stopClock(job);
      setState(job, "COMPLETED");
      transaction();
      emit("JobMarket", "JobEndedEarly", { jobId: BigInt(job.id), endedAt: BigInt(now), earned: earnedAt(job, now) });
      planSettle(job);
    },
    settle(job) {
      if (job.state !== "COMPLETED" || now <= job.endedAt + job.terms.disputeWindow) return;
      const p = close(job, earnedAt(job, job.endedAt), 0n);
      finish(job, "SETTLED");
      transaction();
      emit("JobMarket", "JobSettled", { jobId: BigInt(job.id), providerPay: p.providerPay, protocolFee: p.fee, refund: p.refund });
      payOut(job, p);
    },
    dispute(job) {
      let lifeAt: number;
      if (job.state === "RUNNING") {
        lifeAt = lastLifeAt(job);
        stopClock(job);
        setState(job, "DISPUTED");
      } else if (job.state === "COMPLETED" && now <= job.endedAt + job.terms.disputeWindow) {
        lifeAt = job.endedAt;
        setState(job, "DISPUTED");
      } else return;
      job.bond = bpsUp(job.cost, job.terms.disputeBondBps);
      job.disputedAt = now;
      job.disputeLastLifeAt = lifeAt;
      bondsHeld += job.bond;
      transaction();
      emit("JobMarket", "JobDisputed", {
        jobId: BigInt(job.id),
        endedAt: BigInt(job.endedAt),
        earned: earnedAt(job, job.endedAt),
        reasonHash: word("d15", job.id),
        bond: job.bond,
        resolveDeadline: BigInt(now + job.terms.resolveWindow),
      });
      if (random.chance(0.85)) at(now + random.uniform(2 * HOUR, 4 * DAY), () => step("resolve", job));
      else at(now + job.terms.resolveWindow + random.uniform(MINUTE, 2 * DAY), () => step("finalizeStale", job));
    },
    resolve(job) {
      if (job.state !== "DISPUTED" || now > job.disputedAt + job.terms.resolveWindow) return;
      const share = random.weighted([[10_000, 4], [5_000, 3], [0, 3]] as const);
      const receipted = receiptedPay(job);
      const earned = receipted + bpsDown(earnedAt(job, job.endedAt) - receipted, share);
      const clawback = job.claimed > earned ? (job.claimed - earned) * STAKE_PER_PAYMENT_UNIT : 0n;
      const available = job.collateral - clawback;
      const wanted = share === 0 ? bpsDown(job.cost, 1_000) * STAKE_PER_PAYMENT_UNIT : 0n;
      const penalty = wanted < available ? wanted : available;
      const p = close(job, earned, penalty);
      const bondToProvider = share === 10_000;
      finish(job, "RESOLVED");
      bondsHeld -= job.bond;
      transaction();
      emit("JobMarket", "JobResolved", {
        jobId: BigInt(job.id),
        providerShareBps: share,
        earned,
        providerPay: p.providerPay,
        protocolFee: p.fee,
        refund: p.refund,
        slashed: p.slashed,
        bondToProvider,
      });
      payOut(job, p);
    },
    finalizeStale(job) {
      if (job.state !== "DISPUTED" || now <= job.disputedAt + job.terms.resolveWindow) return;
      const earned = earnedAt(job, paidUntil(job, job.disputeLastLifeAt));
      const p = close(job, earned, 0n);
      finish(job, "RESOLVED");
      bondsHeld -= job.bond;
      transaction();
      emit("JobMarket", "JobDisputeFinalized", { jobId: BigInt(job.id), earned, providerPay: p.providerPay, protocolFee: p.fee, refund: p.refund });
      payOut(job, p);
    },
    reportDark(job) {
      if (job.state !== "RUNNING") return;
      const lifeAt = lastLifeAt(job);
      const end = endsAt(job);
      if (lifeAt >= end || now <= lifeAt + job.terms.livenessTimeout) return;
      const until = paidUntil(job, lifeAt);
      const earned = earnedAt(job, until);
      const darkCost = costUp(job.price, job.gpus, Math.min(now, end) - until);
      const credit = bpsDown(darkCost, job.terms.darkSlashBps) * STAKE_PER_PAYMENT_UNIT;
      stopClock(job);
      const p = close(job, earned, credit);
      finish(job, "DARK");
      transaction();
      emit("JobMarket", "JobDark", {
        jobId: BigInt(job.id),
        endedAt: BigInt(now),
        paidUntil: BigInt(until),
        earned,
        providerPay: p.providerPay,
        protocolFee: p.fee,
        refund: p.refund,
        slashed: p.slashed,
      });
      payOut(job, p);
    },
    reclaim(job) {
      if (job.state !== "RUNNING" || now <= endsAt(job) + job.terms.abandonGrace) return;
      const earned = earnedAt(job, paidUntil(job, lastLifeAt(job)));
      stopClock(job);
      const p = close(job, earned, 0n);
      finish(job, "RECLAIMED");
      transaction();
      emit("JobMarket", "JobReclaimed", { jobId: BigInt(job.id), endedAt: BigInt(now), earned, providerPay: p.providerPay, protocolFee: p.fee, refund: p.refund });
      payOut(job, p);
    },
  };
  const PROVIDER_STEPS: ReadonlySet<StepName> = new Set(["accept", "decline", "claim", "receiptClaim", "complete"]);

  const step = (name: StepName, job: Job) => {
    const p = job.provider;
    if (PROVIDER_STEPS.has(name) && !providerOnline(p)) {
      // Claims are skipped, the rest waits for the provider to be back.
      if (name !== "claim" && name !== "receiptClaim") at(p.offlineUntil + random.uniform(30, 10 * MINUTE), () => step(name, job));
      return;
    }
    steps[name](job);
  };

  const recordClaim = (job: Job, total: bigint) => {
    const amount = total - job.claimed;
    job.claimed = total;
    signOfLife(job.provider);
    transaction();
    emit("JobMarket", "JobClaimed", {
      jobId: BigInt(job.id),
      amount,
      claimed: total,
      receiptedUntil: job.receiptedSeconds === 0 ? 0n : BigInt(job.startedAt + job.receiptedSeconds),
    });
  };
  /** JobMarket._stopClock: the GPUs go back to the offer; the caller sets the state. */
  const stopClock = (job: Job) => {
    releaseGpus(job);
    job.endedAt = now;
  };
  const planSettle = (job: Job) => at(job.endedAt + job.terms.disputeWindow + random.uniform(MINUTE, 12 * HOUR), () => step("settle", job));

  // ---------------------------------------------------------------- governance and the population
  const setParameter = (name: ParameterName, value: number) => {
    const previous = currentTerms();
    terms.push({ ...previous, [name]: value });
    transaction();
    emit("JobMarket", "ParameterSet", {
      parameter: PARAMETER_NAMES.indexOf(name),
      oldValue: BigInt(previous[name]),
      newValue: BigInt(value),
      termsId: BigInt(terms.length),
    });
  };

  const deploy = () => {
    transaction();
    for (const model of models) emit("GpuCatalog", "GpuModelListed", { modelId: model.id, name: model.profile.name, vramGb: vramOf(model.profile.name) });
    transaction();
    PARAMETER_NAMES.forEach((name, parameter) =>
      emit("JobMarket", "ParameterSet", { parameter, oldValue: 0n, newValue: BigInt(DEFAULT_PARAMETERS[name]), termsId: 1n }),
    );
    // A busy market's agents heartbeat every half hour or so: an hour's timeout, as the simulator sets (src/sim).
    at(now + 10 * MINUTE, () => setParameter("livenessTimeout", HOUR));
    at(START_TIME + (options.days / 2) * DAY, () => setParameter("protocolFeeBps", 200));
    for (let index = 0; index < options.providers; index++) {
      const p = newProvider(index);
      providers.push(p);
      const joinsAt = random.chance(0.7) ? random.uniform(HOUR, DAY) : random.uniform(DAY, (options.days * 2 * DAY) / 3);
      at(START_TIME + joinsAt, () => register(p));
    }
    at(START_TIME + 2 * HOUR, arrive);
  };

  const newProvider = (index: number): Provider => {
    const p: Provider = {
      index,
      address: address(0xa0, index + 1),
      quality: 1 - random.next() ** 2.5,
      registered: false,
      staked: 0n,
      locked: 0n,
      unbonding: 0n,
      unbondingReadyAt: 0,
      unbondRequests: [],
      nextRequestId: 0,
      lastHeartbeat: 0,
      offlineUntil: 0,
      running: new Set(),
      heartbeatScheduled: false,
      listings: [],
    };
    const home = random.pick(REGIONS);
    const regions = random.chance(0.2) ? [home, random.pick(REGIONS)] : [home];
    const listings = random.weighted([[1, 45], [2, 35], [3, 20]] as const);
    for (let i = 0; i < listings; i++) {
      const model = random.weighted(modelWeights);
      const region = regions[i % regions.length]!;
      if (p.listings.some((l) => l.profile === model.profile && l.region === region)) continue;
      const usd = random.uniform(model.profile.priceLow, model.profile.priceHigh) * region.priceFactor;
      p.listings.push({
        provider: p,
        profile: model.profile,
        modelId: model.id,
        region,
        gpus: random.pick(model.profile.offerSizes),
        minDuration: random.pick([600, 1800, 3600]),
        maxDuration: random.pick([3, 7, 14, 30]) * DAY,
        carbonIntensity: Math.max(10, Math.round(region.carbon * random.uniform(0.6, 1.2))),
        renewableBps: Math.round(random.uniform(0, 1) ** 1.5 * 10_000),
        basePrice: roundPrice(BigInt(Math.round(usd * Number(PAYMENT_UNIT)))),
        offer: null,
      });
    }
    return p;
  };

  // ---------------------------------------------------------------- blocks
  const runBlock = (number: number, actions: Array<() => void>): BlockToApply | null => {
    blockNumber = number;
    now = timeOf(number);
    txIndex = 0;
    block = { number, hash: blockHash(number), parentHash: null, timestamp: now, events: [] };
    for (const action of actions) action();
    const result = block.events.length > 0 ? block : null;
    block = null;
    return result;
  };

  let cursor = START_BLOCK;
  const first = runBlock(START_BLOCK, [deploy]);
  let pending: BlockToApply | null = first;

  return {
    deployment,
    startBlockHash: blockHash(START_BLOCK),
    nextBatch(targetEvents) {
      const blocks: BlockToApply[] = [];
      let events = 0;
      if (pending) {
        blocks.push(pending);
        events += pending.events.length;
        pending = null;
      }
      while (!done && events < targetEvents) {
        cursor += 1;
        const actions = calendar.get(cursor);
        if (!actions) continue;
        calendar.delete(cursor);
        const produced = runBlock(cursor, actions);
        if (!produced) continue;
        blocks.push(produced);
        events += produced.events.length;
        if (eventsEmitted >= options.events) done = true;
      }
      // The indexer fetches the header of a batch's last block (its hash is the new checkpoint's parent link).
      if (blocks.length > 0) blocks[blocks.length - 1]!.parentHash = blockHash(blocks[blocks.length - 1]!.number - 1);
      return blocks;
    },
    chainState() {
      let totalStaked = 0n;
      let totalLocked = 0n;
      let totalUnbonding = 0n;
      let registered = 0;
      for (const p of providers) {
        if (!p.registered) continue;
        registered += 1;
        totalStaked += p.staked;
        totalLocked += p.locked;
        totalUnbonding += p.unbonding;
      }
      let escrowed = 0n;
      let createdPastDeadline = 0;
      for (const job of liveJobs.values()) {
        escrowed += job.escrow - job.claimed;
        if (job.state === "CREATED" && job.acceptDeadline < now) createdPastDeadline += 1;
      }
      return {
        blockNumber,
        timestamp: now,
        events: eventsEmitted,
        providers: registered,
        offers: nextOfferId - 1,
        jobs: nextJobId - 1,
        unmetRequests,
        jobStates: Object.fromEntries(Object.entries(jobStates).filter(([, count]) => count !== 0)),
        createdPastDeadline,
        totalStaked,
        totalLocked,
        totalUnbonding,
        escrowed,
        disputeBondsHeld: bondsHeld,
        eventCounts: { ...eventCounts },
      };
    },
    samples: () => [...samples],
  };
}

function vramOf(name: string): number {
  return Number(/-(\d+)GB$/.exec(name)?.[1] ?? 80);
}

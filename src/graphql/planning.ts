import { formatAmount, formatDuration, type TokenUnits } from "../protocol/units";
import { jobMoney, type MarketParameters } from "../protocol";
import type { RentableOfferRecord } from "../store/reads";

/** What renting costs and locks under the current terms. */
export interface PlanningTerms {
  parameters: Pick<MarketParameters, "protocolFeeBps" | "collateralBps" | "disputeBondBps">;
  stakePerPaymentUnit: bigint;
}

/**
 * The most GPUs of one offer that `unlocked` stake can back as collateral for a `seconds`-long job, at most `free`.
 * Collateral grows with the GPU count, so the answer is found by bisection with the contract's own rounding.
 */
export function backedGpus(pricePerGpuHour: bigint, free: number, seconds: number, unlocked: bigint, terms: PlanningTerms): number {
  const collateral = (gpus: number) => jobMoney({ pricePerGpuHour, gpus, duration: seconds }, terms.parameters, terms.stakePerPaymentUnit).collateral;
  if (free <= 0 || unlocked <= 0n) return 0;
  if (collateral(free) <= unlocked) return free;
  let low = 0;
  let high = free;
  while (high - low > 1) {
    const middle = (low + high) >> 1;
    if (collateral(middle) <= unlocked) low = middle;
    else high = middle;
  }
  return low;
}

/** Items by key, each list in the items' order. */
export function groupBy<T>(items: Iterable<T>, keyOf: (item: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const key = keyOf(item);
    const group = groups.get(key);
    if (group) group.push(item);
    else groups.set(key, [item]);
  }
  return groups;
}

/**
 * Rentable GPUs of a set of offers: each provider's unlocked stake is shared by its offers, and backs the GPUs that
 * need the least collateral first (cheapest price x minimum duration), as many as it can.
 */
export function rentableGpus(offers: readonly RentableOfferRecord[], terms: PlanningTerms): number {
  let total = 0;
  for (const list of groupBy(offers, (offer) => offer.provider).values()) {
    let unlocked = list[0].providerUnlocked;
    const cheapestFirst = [...list].sort((a, b) => {
      const [x, y] = [a.pricePerGpuHour * BigInt(a.minDuration), b.pricePerGpuHour * BigInt(b.minDuration)];
      return x < y ? -1 : x > y ? 1 : a.id - b.id;
    });
    for (const offer of cheapestFirst) {
      const gpus = backedGpus(offer.pricePerGpuHour, offer.gpusFree, offer.minDuration, unlocked, terms);
      if (gpus === 0) continue;
      unlocked -= jobMoney({ pricePerGpuHour: offer.pricePerGpuHour, gpus, duration: offer.minDuration }, terms.parameters, terms.stakePerPaymentUnit).collateral;
      total += gpus;
    }
  }
  return total;
}

export interface QuoteRequest {
  gpus: number;
  /** Seconds. */
  duration: number;
  maxPricePerGpuHour?: bigint;
  maxCarbonIntensity?: number;
  minRenewableBps?: number;
  /** 0..1000000. */
  minReliabilityPpm?: number;
  /** Distinct providers to split the GPUs over (1: cheapest wherever it is). */
  spreadAcross: number;
  /** What `offers` were chosen by, for the sentence when none is left: the model's name, the region, left-out providers. */
  scope?: { gpuModel: string; region?: string; excludedProviders?: number };
}

export interface QuoteLeg {
  offer: RentableOfferRecord;
  gpus: number;
  cost: bigint;
  fee: bigint;
  escrow: bigint;
  collateral: bigint;
}

/** Why a request cannot be filled now, the first limit that leaves too few GPUs. */
export type QuoteShortfall =
  | "NO_OFFERS"
  | "DURATION"
  | "PRICE"
  | "CARBON"
  | "RENEWABLE"
  | "RELIABILITY"
  | "STAKE"
  | "NOT_ENOUGH_GPUS"
  | "NOT_ENOUGH_PROVIDERS";

export interface Quote {
  fillable: boolean;
  shortfall: QuoteShortfall | null;
  /** A sentence for a person: what is missing and by how much. */
  message: string;
  gpusRequested: number;
  gpusPlanned: number;
  providers: number;
  legs: QuoteLeg[];
  cost: bigint;
  fee: bigint;
  escrow: bigint;
  collateral: bigint;
}

/** Cheapest first, then by offer id. */
export const byPrice = (a: RentableOfferRecord, b: RentableOfferRecord) =>
  a.pricePerGpuHour < b.pricePerGpuHour ? -1 : a.pricePerGpuHour > b.pricePerGpuHour ? 1 : a.id - b.id;

/** The cheapest legs for `need` GPUs from `offers` (price order), each provider's stake shared by its legs. */
function cheapestLegs(
  offers: readonly RentableOfferRecord[],
  need: number,
  duration: number,
  terms: PlanningTerms,
  unlocked: Map<string, bigint>,
): QuoteLeg[] {
  const legs: QuoteLeg[] = [];
  for (const offer of [...offers].sort(byPrice)) {
    if (need === 0) break;
    const left = unlocked.get(offer.provider) ?? offer.providerUnlocked;
    const gpus = Math.min(need, backedGpus(offer.pricePerGpuHour, offer.gpusFree, duration, left, terms));
    if (gpus === 0) continue;
    const money = jobMoney({ pricePerGpuHour: offer.pricePerGpuHour, gpus, duration }, terms.parameters, terms.stakePerPaymentUnit);
    unlocked.set(offer.provider, left - money.collateral);
    legs.push({ offer, gpus, cost: money.cost, fee: money.escrow - money.cost, escrow: money.escrow, collateral: money.collateral });
    need -= gpus;
  }
  return legs;
}

/** Splits `gpus` into `parts` shares as even as possible, larger first. */
const shares = (gpus: number, parts: number) =>
  Array.from({ length: parts }, (_, index) => Math.floor(gpus / parts) + (index < gpus % parts ? 1 : 0));

/**
 * The cheapest way to rent `request.gpus` GPUs now from `offers` (one GPU model, one region or all): one leg per offer
 * used, each a createJob. With spreadAcross K > 1 the GPUs are split as evenly as possible over K distinct providers,
 * the cheapest ones for their share (the provider's average price for it). When the request cannot be filled, the plan
 * holds what can be had and `shortfall` names the first limit that left too few GPUs. Amounts in `message` are in
 * `paymentToken`'s units and in base units, or in base units only when the token is not known.
 */
export function planQuote(offers: readonly RentableOfferRecord[], request: QuoteRequest, terms: PlanningTerms, paymentToken?: TokenUnits): Quote {
  const { gpus, duration } = request;
  const stages: Array<[QuoteShortfall, (offer: RentableOfferRecord) => boolean, (left: readonly RentableOfferRecord[]) => string]> = [
    [
      "DURATION",
      (o) => o.minDuration <= duration && duration <= o.maxDuration,
      (left) =>
        `no offer with free GPUs takes a ${duration}-second job: they take ${formatDuration(Math.min(...left.map((o) => o.minDuration)))} ` +
        `to ${formatDuration(Math.max(...left.map((o) => o.maxDuration)))}`,
    ],
    [
      "PRICE",
      (o) => request.maxPricePerGpuHour === undefined || o.pricePerGpuHour <= request.maxPricePerGpuHour,
      (left) => {
        // Exact both ways (bigint only): the token's units for a person, the base units the arguments are in.
        const cheapest = [...left].sort(byPrice)[0].pricePerGpuHour;
        const max = request.maxPricePerGpuHour!;
        const token = paymentToken;
        return token
          ? `the cheapest free GPUs ask ${formatAmount(cheapest, token)} per GPU-hour (${cheapest} base units), above maxPricePerGpuHour ${formatAmount(max, token)} (${max})`
          : `the cheapest free GPUs ask ${cheapest} base units per GPU-hour, above maxPricePerGpuHour ${max} base units`;
      },
    ],
    [
      "CARBON",
      (o) => request.maxCarbonIntensity === undefined || o.carbonIntensity <= request.maxCarbonIntensity,
      (left) => `the cleanest free GPUs emit ${Math.min(...left.map((o) => o.carbonIntensity))} gCO2e/kWh, above maxCarbonIntensity ${request.maxCarbonIntensity}`,
    ],
    [
      "RENEWABLE",
      (o) => request.minRenewableBps === undefined || o.renewableBps >= request.minRenewableBps,
      (left) => `the free GPUs reach at most ${Math.max(...left.map((o) => o.renewableBps))} bps renewable, below minRenewableBps ${request.minRenewableBps}`,
    ],
    [
      "RELIABILITY",
      (o) => request.minReliabilityPpm === undefined || o.providerReliabilityPpm >= request.minReliabilityPpm,
      (left) => `their providers score at most ${Math.max(...left.map((o) => o.providerReliabilityPpm)) / 1e6}, below minReliability ${request.minReliabilityPpm! / 1e6}`,
    ],
  ];
  const empty = (shortfall: QuoteShortfall, message: string): Quote => ({
    fillable: false,
    shortfall,
    message,
    gpusRequested: gpus,
    gpusPlanned: 0,
    providers: 0,
    legs: [],
    cost: 0n,
    fee: 0n,
    escrow: 0n,
    collateral: 0n,
  });
  if (offers.length === 0) {
    const scope = request.scope;
    const where = scope ? `of ${scope.gpuModel}${scope.region ? ` in ${scope.region}` : ""}` : "of this GPU model";
    const excluded = scope?.excludedProviders ? ` (${scope.excludedProviders} provider${scope.excludedProviders === 1 ? "" : "s"} left out)` : "";
    return empty("NO_OFFERS", `no open offer ${where} has free GPUs${excluded}`);
  }
  let candidates = offers;
  for (const [shortfall, keep, why] of stages) {
    const kept = candidates.filter(keep);
    if (kept.length === 0) return empty(shortfall, why(candidates));
    candidates = kept;
  }

  const unlocked = new Map<string, bigint>();
  let legs: QuoteLeg[];
  let shortfall: QuoteShortfall | null = null;
  let message = "";
  if (request.spreadAcross <= 1) {
    legs = cheapestLegs(candidates, gpus, duration, terms, unlocked);
  } else {
    // Each provider's best offer for each share size, then the cheapest providers take the shares, largest first.
    const wanted = shares(gpus, request.spreadAcross);
    const options = [...groupBy(candidates, (offer) => offer.provider).values()].map((list) => {
      const full = cheapestLegs(list, wanted[0], duration, terms, new Map());
      const supply = full.reduce((sum, leg) => sum + leg.gpus, 0);
      const cost = full.reduce((sum, leg) => sum + leg.cost, 0n);
      return { list, supply, averagePrice: supply === 0 ? 0n : cost / BigInt(supply) };
    });
    const able = options
      .filter((option) => option.supply >= wanted[wanted.length - 1] && option.supply > 0)
      .sort((a, b) => (a.averagePrice < b.averagePrice ? -1 : a.averagePrice > b.averagePrice ? 1 : b.supply - a.supply));
    legs = [];
    const used = new Set<number>();
    for (const share of wanted) {
      const index = able.findIndex((option, i) => !used.has(i) && option.supply >= share);
      if (index < 0) continue;
      used.add(index);
      legs.push(...cheapestLegs(able[index].list, share, duration, terms, unlocked));
    }
    if (used.size < request.spreadAcross) {
      shortfall = "NOT_ENOUGH_PROVIDERS";
      message = `only ${used.size} providers can take an even share (${wanted.join(", ")} GPUs) of the request; spreadAcross asks for ${request.spreadAcross}`;
    }
  }
  const planned = legs.reduce((sum, leg) => sum + leg.gpus, 0);
  if (shortfall === null && planned < gpus) {
    const free = candidates.reduce((sum, offer) => sum + offer.gpusFree, 0);
    shortfall = free >= gpus ? "STAKE" : "NOT_ENOUGH_GPUS";
    message =
      shortfall === "STAKE"
        ? `${free} GPUs are free under these limits, but their providers' unlocked stake backs only ${planned} for ${duration} seconds`
        : `only ${free} GPUs are free under these limits (${planned} rentable); ${gpus} requested`;
  }
  const sum = (pick: (leg: QuoteLeg) => bigint) => legs.reduce((total, leg) => total + pick(leg), 0n);
  return {
    fillable: shortfall === null,
    shortfall,
    message: shortfall === null ? `${gpus} GPUs from ${new Set(legs.map((l) => l.offer.provider)).size} providers in ${legs.length} jobs` : message,
    gpusRequested: gpus,
    gpusPlanned: planned,
    providers: new Set(legs.map((leg) => leg.offer.provider)).size,
    legs,
    cost: sum((leg) => leg.cost),
    fee: sum((leg) => leg.fee),
    escrow: sum((leg) => leg.escrow),
    collateral: sum((leg) => leg.collateral),
  };
}

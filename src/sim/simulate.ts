import {
  createPublicClient,
  createWalletClient,
  defineChain,
  erc20Abi,
  http,
  keccak256,
  parseEther,
  parseEventLogs,
  parseSignature,
  stringToHex,
  toHex,
  type Abi,
  type Account,
  type Address,
  type Chain,
  type Hex,
  type PublicClient,
  type Transport,
  type WalletClient,
} from "viem";
import { mnemonicToAccount } from "viem/accounts";
import { devStablecoinAbi, jobMarketAbi, providerStakingAbi } from "../chain/abis";
import type { Deployment } from "../chain/deployment";
import type { Logger } from "../internal/logger";
import { PERMIT_TYPES, erc20PermitAbi } from "../cli/lib/permit";
import { findRevert } from "../cli/lib/revert";
import {
  PARAMETER_NAMES,
  RECEIPT_DOMAIN,
  USAGE_RECEIPT_TYPES,
  jobMoney,
  jobStateName,
  type MarketParameters,
  type ParameterName,
} from "../protocol";
import { GPU_PROFILES, JOB_DURATIONS, REGIONS, type GpuProfile, type RegionProfile } from "./profiles";
import { createRandom, type Random } from "./random";

/**
 * A seeded market simulation against a real node: providers in several regions list a realistic GPU mix, clients
 * arrive at random and rent, providers reprice with their utilization, and every job path of protocol v2 happens at a
 * plausible rate: acceptance, declines, cancellation, expiry, streaming claims and claims with the client's usage
 * receipts, extensions, completion, early end, bonded disputes resolved by the arbiter (with slashes) or finalized by
 * anyone after the resolve window, abandonment and reclaim, and providers that go dark (an outage: no heartbeats, no
 * actions) whose running jobs their clients report. Providers send heartbeats while they run jobs. When the
 * simulation holds governance, it first tunes two windows for a busy local market (a one-hour liveness timeout, so
 * heartbeats every twenty minutes suffice, and a one-day resolve window, so stale disputes end within a run).
 *
 * Each job draws a fate from FATES when it is created; its steps are small handlers in a table (`steps`), scheduled
 * on a queue and run when the simulated clock reaches them. A step finds the job where the chain left it: a job
 * reported dark, say, skips the rest of its plan. The chain's clock moves with evm_increaseTime + evm_mine (Hardhat and
 * anvil), so hourly price buckets fill. The same seed on the same starting chain sends the same transactions in the
 * same order; only absolute timestamps (offer expiries, receipts' servedUntil) follow the chain's clock.
 */

export const TEST_MNEMONIC = "test test test test test test test test test test test junk";

export interface SimulationOptions {
  rpcUrl: string;
  deployment: Deployment;
  seed: number;
  providers: number;
  clients: number;
  /** Simulated hours of market activity. */
  hours: number;
  logger: Logger;
  /** Keys of the simulated accounts (default: the standard test mnemonic, funded on Hardhat and anvil). */
  mnemonic?: string;
  /** Mnemonic index of the first simulated account; index 0 funds the others with gas money. */
  accountOffset?: number;
  /** Jobs one client starts per hour on average (default 0.35). */
  jobsPerClientHour?: number;
  /** Step of the simulated clock (default 600 s). */
  tickSeconds?: number;
  /** Called once `hours` of history are on chain, before the live phase. */
  onHistoryDone?: (result: SimulationResult) => void;
  /**
   * After the history, keep the market going: one tick every `tickDelayMs` real milliseconds until `signal` aborts
   * (the current tick finishes first). The returned result then covers the live phase too.
   */
  live?: { tickDelayMs: number; signal: AbortSignal };
}

export interface SimulationAction {
  /** Simulated seconds since the start. */
  at: number;
  actor: string;
  action: string;
  args: Record<string, string | number | boolean>;
  ok: boolean;
  error?: string;
}

export interface SimulationResult {
  seed: number;
  transactions: number;
  failedActions: number;
  /** Every action in order: the replayable record of a seed. */
  actions: SimulationAction[];
  /** How often each transition happened (jobCreated, jobAccepted, ..., offerRepriced, unmetDemand). */
  transitions: Record<string, number>;
  /** Final state of the simulation's jobs, as the indexer names them (src/protocol JOB_STATES). */
  jobStates: Record<string, number>;
  offers: number;
  jobs: number;
  simulatedSeconds: number;
}

/** The governance windows the simulation sets when it can (see the header). */
const TUNED_PARAMETERS: Partial<Record<ParameterName, number>> = { livenessTimeout: 3600, resolveWindow: 86_400 };

interface Actor {
  name: string;
  address: Address;
  wallet: WalletClient<Transport, Chain, Account>;
}

interface SimProvider extends Actor {
  region: RegionProfile;
  offers: SimOffer[];
  /** Simulated time of the provider's latest sign of life (heartbeat, accept, claim, completion). */
  lastLifeAt: number;
  /** While set and in the future, the provider is dark: it sends nothing. */
  outageUntil: number | null;
}

interface SimClient extends Actor {
  region: RegionProfile;
}

interface SimOffer {
  id: bigint;
  provider: SimProvider;
  model: GpuProfile;
  modelId: Hex;
  region: RegionProfile;
  gpus: number;
  leased: number;
  price: bigint;
  minDuration: number;
  maxDuration: number;
  closed: boolean;
}

/** Where a job stands as far as the simulation knows ("over": a terminal state). */
type SimJobState = "created" | "running" | "completed" | "disputed" | "over";

interface SimJob {
  id: bigint;
  offer: SimOffer;
  client: SimClient;
  gpus: number;
  /** Seconds bought, extensions included. */
  duration: number;
  /** Per GPU-hour, fixed when the job was created. */
  price: bigint;
  fate: Fate;
  state: SimJobState;
  /** Simulated time of acceptance. */
  startedAt: number;
  /** GPUs still reserved on the offer (released when the clock stops). */
  holdsGpus: boolean;
}

type Step =
  | "accept"
  | "decline"
  | "cancel"
  | "expire"
  | "claim"
  | "receiptClaim"
  | "extend"
  | "complete"
  | "endEarly"
  | "dispute"
  | "resolve"
  | "finalize"
  | "settle"
  | "reclaim"
  | "outage";

interface Scheduled {
  at: number;
  seq: number;
  job: SimJob;
  step: Step;
}

/** What a fate does with a job's time: schedule steps relative to `start` (acceptance) and the job's `end`. */
interface FatePlan {
  weight: number;
  /** Before acceptance: "accept" (the default), or the step that ends the job first. */
  first?: "cancel" | "decline" | "expire";
  /** After acceptance: the steps of the job's life, at fractions of its duration or after its end. */
  afterAccept?(job: SimJob, plan: Planner): void;
}

/** Scheduling helpers handed to the fates. */
interface Planner {
  random: Random;
  terms: MarketParameters;
  /** `step` at `fraction` of the job's duration after its start. */
  during(step: Step, fraction: number): void;
  /** `step` `seconds` after the job's end. */
  afterEnd(step: Step, seconds: number): void;
}

/**
 * Every path a job can take, with how often clients and providers take it. Adding a path is one entry here (and a
 * step handler when it needs a new kind of transaction).
 */
const FATES = {
  complete: { weight: 40, afterAccept: (_job, p) => p.afterEnd("complete", p.random.uniform(0, 900)) },
  claimAndComplete: {
    weight: 12,
    afterAccept(_job, p) {
      // Without a receipt, claims stop at the collateral's worth of pay (protocol invariant 7): claim below it.
      const cap = Math.min(1, p.terms.collateralBps / 10_000);
      if (cap > 0) {
        p.during("claim", cap * p.random.uniform(0.3, 0.5));
        p.during("claim", cap * p.random.uniform(0.6, 0.95));
      }
      p.afterEnd("complete", p.random.uniform(0, 900));
    },
  },
  receipted: {
    weight: 10,
    afterAccept(_job, p) {
      p.during("receiptClaim", p.random.uniform(0.3, 0.45));
      p.during("receiptClaim", p.random.uniform(0.6, 0.9));
      p.afterEnd("complete", p.random.uniform(0, 900));
    },
  },
  // The completion is scheduled by the extension, at the job's new end.
  extend: { weight: 6, afterAccept: (_job, p) => p.during("extend", p.random.uniform(0.3, 0.7)) },
  endEarly: { weight: 10, afterAccept: (_job, p) => p.during("endEarly", p.random.uniform(0.2, 0.8)) },
  disputeRunning: { weight: 4, afterAccept: (_job, p) => p.during("dispute", p.random.uniform(0.2, 0.9)) },
  disputeCompleted: { weight: 3, afterAccept: (_job, p) => p.afterEnd("complete", p.random.uniform(0, 900)) },
  staleDispute: { weight: 3, afterAccept: (_job, p) => p.during("dispute", p.random.uniform(0.2, 0.6)) },
  cancel: { weight: 5, first: "cancel" },
  decline: { weight: 4, first: "decline" },
  expire: { weight: 3, first: "expire" },
  dark: { weight: 2, afterAccept: (_job, p) => p.during("outage", p.random.uniform(0.15, 0.4)) },
  abandonReclaim: { weight: 2, afterAccept: (_job, p) => p.afterEnd("reclaim", p.terms.abandonGrace + p.random.uniform(600, 7200)) },
  abandonDispute: { weight: 1, afterAccept: (_job, p) => p.afterEnd("dispute", p.terms.abandonGrace + p.random.uniform(600, 3600)) },
} satisfies Record<string, FatePlan>;
type Fate = keyof typeof FATES;
const FATE_NAMES = Object.keys(FATES) as Fate[];

const SECONDS_PER_HOUR = 3600;

export async function runSimulation(options: SimulationOptions): Promise<SimulationResult> {
  const { deployment, logger } = options;
  const random = createRandom(options.seed);
  const tickSeconds = options.tickSeconds ?? 600;
  const jobsPerClientHour = options.jobsPerClientHour ?? 0.35;
  const mnemonic = options.mnemonic ?? TEST_MNEMONIC;
  const accountOffset = options.accountOffset ?? 1;
  const market = deployment.contracts.JobMarket.address;
  const staking = deployment.contracts.ProviderStaking.address;
  const payment = deployment.tokens.payment;
  const stakeToken = deployment.tokens.stake;
  const paymentUnit = 10n ** BigInt(payment.decimals);
  const stakeUnit = 10n ** BigInt(stakeToken.decimals);

  const chain = defineChain({
    id: deployment.chainId,
    name: deployment.network || `chain ${deployment.chainId}`,
    nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 },
    rpcUrls: { default: { http: [options.rpcUrl] } },
  });
  const transport = http(options.rpcUrl, { retryCount: 2, timeout: 60_000 });
  const publicClient = createPublicClient({ chain, transport, pollingInterval: 50 }) as PublicClient<Transport, Chain>;
  const walletFor = (account: Account | Address) =>
    createWalletClient({ account, chain, transport, pollingInterval: 50 }) as WalletClient<Transport, Chain, Account>;
  const localActor = (name: string, index: number): Actor => {
    const account = mnemonicToAccount(mnemonic, { addressIndex: index });
    return { name, address: account.address, wallet: walletFor(account) };
  };

  const actions: SimulationAction[] = [];
  const transitions: Record<string, number> = {};
  const count = (name: string, by = 1) => {
    transitions[name] = (transitions[name] ?? 0) + by;
  };
  let simSeconds = 0;
  let transactions = 0;
  let failedActions = 0;
  let recordActions = true;
  const record = (action: SimulationAction) => {
    if (recordActions) actions.push(action);
  };

  const eventsAbi = [...jobMarketAbi, ...providerStakingAbi] as Abi;
  /** Sends one transaction; a revert is recorded (decoded) and the simulation goes on. */
  const send = async (
    actor: Actor,
    action: string,
    args: Record<string, string | number | boolean>,
    call: { address: Address; abi: Abi; functionName: string; args?: readonly unknown[] },
  ) => {
    const entry: SimulationAction = { at: simSeconds, actor: actor.name, action, args, ok: true };
    record(entry);
    try {
      const request = { ...call, args: call.args ?? [], account: actor.wallet.account } as never;
      const gas = withGasMargin(await publicClient.estimateContractGas(request));
      const hash = await actor.wallet.writeContract({ ...(request as object), chain, gas } as never);
      const receipt = await receiptOf(hash);
      transactions += 1;
      if (receipt.status !== "success") throw new Error(`tx ${hash} reverted`);
      logger.debug({ msg: "sim tx", at: simSeconds, actor: actor.name, action, hash });
      return parseEventLogs({ abi: eventsAbi, logs: receipt.logs }) as unknown as Array<{ eventName: string; args: Record<string, unknown> }>;
    } catch (error) {
      const revert = findRevert(error);
      entry.ok = false;
      entry.error = revert ? revert.errorName : error instanceof Error ? error.message.split("\n")[0] : String(error);
      failedActions += 1;
      logger.debug({ msg: "sim action failed", at: simSeconds, actor: actor.name, action, error: entry.error });
      return null;
    }
  };
  // Dev nodes mine on send: ask for the receipt at once and poll only when the node has not mined yet.
  const receiptOf = async (hash: Hex) =>
    (await publicClient.getTransactionReceipt({ hash }).catch(() => null)) ?? publicClient.waitForTransactionReceipt({ hash });
  const rpc = (method: string, params: unknown[]) => publicClient.request({ method: method as never, params: params as never });
  const advance = async (seconds: number) => {
    await rpc("evm_increaseTime", [seconds]);
    await rpc("evm_mine", []);
    simSeconds += seconds;
  };
  const chainNow = async () => Number((await publicClient.getBlock({ blockTag: "latest" })).timestamp);

  // ------------------------------------------------------------------ accounts and funds
  const funder = localActor("funder", 0);
  const providers: SimProvider[] = [];
  const clients: SimClient[] = [];
  const regionOrder = random.shuffle(REGIONS);
  for (let i = 0; i < options.providers; i++) {
    providers.push({
      ...localActor(`provider${i + 1}`, accountOffset + i),
      region: regionOrder[i % regionOrder.length]!,
      offers: [],
      lastLifeAt: 0,
      outageUntil: null,
    });
  }
  for (let i = 0; i < options.clients; i++) {
    clients.push({ ...localActor(`client${i + 1}`, accountOffset + options.providers + i), region: random.pick(REGIONS) });
  }
  const arbiter = await findArbiter();
  async function findArbiter(): Promise<Actor | null> {
    const wanted = deployment.roles.arbiter.toLowerCase();
    for (let index = 0; index < accountOffset + options.providers + options.clients + 10; index++) {
      const actor = localActor("arbiter", index);
      if (actor.address.toLowerCase() === wanted) return actor;
    }
    const nodeAccounts = (await rpc("eth_accounts", []).catch(() => [])) as string[];
    if (nodeAccounts.some((address) => address.toLowerCase() === wanted)) {
      return { name: "arbiter", address: deployment.roles.arbiter, wallet: walletFor(deployment.roles.arbiter) };
    }
    logger.warn({ msg: "the arbiter is not a simulated or unlocked account: disputes stay unresolved", arbiter: deployment.roles.arbiter });
    return null;
  }

  for (const actor of [...providers, ...clients, ...(arbiter ? [arbiter] : [])]) {
    if ((await publicClient.getBalance({ address: actor.address })) < parseEther("1")) {
      const hash = await funder.wallet.sendTransaction({ to: actor.address, value: parseEther("10"), chain, account: funder.wallet.account });
      await receiptOf(hash);
      transactions += 1;
    }
  }
  const mint = async (actor: Actor, token: typeof payment, amount: bigint) => {
    if (token.dev) {
      await send(actor, "mint", { token: token.symbol, amount: amount.toString() }, {
        address: token.address,
        abi: devStablecoinAbi,
        functionName: "mint",
        args: [actor.address, amount],
      });
    } else {
      const balance = await publicClient.readContract({ address: token.address, abi: erc20Abi, functionName: "balanceOf", args: [actor.address] });
      if (balance < amount) logger.warn({ msg: "simulated account holds less than planned (not a dev token)", actor: actor.name, token: token.symbol });
    }
  };

  // Governance tunes two windows for a local run (see the header); the jobs of the simulation follow the result.
  if (arbiter && arbiter.address.toLowerCase() === deployment.roles.governance.toLowerCase()) {
    const current = await publicClient.readContract({ address: market, abi: jobMarketAbi, functionName: "parameters" });
    for (const [name, value] of Object.entries(TUNED_PARAMETERS) as Array<[ParameterName, number]>) {
      if (current[name] === value) continue;
      const call = { address: market, abi: jobMarketAbi, functionName: "setParameter", args: [PARAMETER_NAMES.indexOf(name), BigInt(value)] };
      if (await send(arbiter, "setParameter", { parameter: name, value }, call)) count("parameterSet");
    }
  }
  const terms: MarketParameters = await publicClient.readContract({ address: market, abi: jobMarketAbi, functionName: "parameters" });
  const unbondingPeriod = Number(await publicClient.readContract({ address: staking, abi: providerStakingAbi, functionName: "unbondingPeriod" }));
  const permitDomain = await readPermitDomain(publicClient, payment.address, deployment.chainId);
  const listedModels = new Map(deployment.gpuModels.map((model) => [model.name, model.id as Hex]));
  const profiles = GPU_PROFILES.filter((profile) => listedModels.has(profile.name));
  if (profiles.length === 0) throw new Error("none of the simulated GPU models is listed in the deployment's catalog");

  const usd = (dollars: number) => (BigInt(Math.round(dollars * 100)) * paymentUnit) / 100n;
  const referencePrice = (model: GpuProfile, region: RegionProfile) => ((model.priceLow + model.priceHigh) / 2) * region.priceFactor;

  // ------------------------------------------------------------------ providers list capacity
  const listOffer = async (provider: SimProvider, model: GpuProfile) => {
    const gpus = random.pick(model.offerSizes);
    const dollars = random.uniform(model.priceLow, model.priceHigh) * provider.region.priceFactor;
    const price = usd(dollars);
    const minDuration = random.chance(0.3) ? 30 * 60 : SECONDS_PER_HOUR;
    const maxDuration = random.pick([24, 48, 72, 168]) * SECONDS_PER_HOUR;
    const carbonIntensity = Math.max(10, Math.round(provider.region.carbon * random.uniform(0.6, 1.2)));
    const renewableBps = random.integer(10, 95) * 100;
    const expiresAt = (await chainNow()) + 30 * 24 * SECONDS_PER_HOUR;
    const events = await send(
      provider,
      "createOffer",
      { model: model.name, gpus, price: price.toString(), region: provider.region.code, minDuration, maxDuration, carbonIntensity, renewableBps, expiresIn: "30d" },
      {
        address: market,
        abi: jobMarketAbi,
        functionName: "createOffer",
        args: [
          {
            gpuModel: listedModels.get(model.name)!,
            gpus,
            pricePerGpuHour: price,
            minDuration,
            maxDuration,
            region: stringToHex(provider.region.code, { size: 16 }),
            carbonIntensity,
            renewableBps,
            expiresAt,
          },
        ],
      },
    );
    const created = events?.find((event) => event.eventName === "OfferCreated");
    if (!created) return;
    count("offerCreated");
    provider.offers.push({
      id: created.args.offerId as bigint,
      provider,
      model,
      modelId: listedModels.get(model.name)!,
      region: provider.region,
      gpus,
      leased: 0,
      price,
      minDuration,
      maxDuration,
      closed: false,
    });
  };

  for (const provider of providers) {
    await mint(provider, stakeToken, 200_000n * stakeUnit);
    await mint(provider, payment, 1_000n * paymentUnit);
    await send(provider, "register", {}, {
      address: staking,
      abi: providerStakingAbi,
      functionName: "register",
      args: [`https://${provider.name}.${provider.region.code}.gpumesh.example/metadata.json`],
    });
    const stakeAmount = BigInt(random.integer(40, 150)) * 1_000n * stakeUnit;
    await send(provider, "approve", { token: stakeToken.symbol, amount: stakeAmount.toString() }, {
      address: stakeToken.address,
      abi: erc20Abi,
      functionName: "approve",
      args: [staking, stakeAmount],
    });
    if (await send(provider, "stake", { amount: stakeAmount.toString() }, { address: staking, abi: providerStakingAbi, functionName: "stake", args: [stakeAmount] })) {
      count("staked");
    }
    const offerCount = random.integer(1, 3);
    for (let i = 0; i < offerCount; i++) await listOffer(provider, random.weighted(profiles.map((p) => [p, p.weight] as const)));
  }
  for (const client of clients) await mint(client, payment, 500_000n * paymentUnit);

  // ------------------------------------------------------------------ jobs
  const jobs: SimJob[] = [];
  const queue: Scheduled[] = [];
  let seq = 0;
  const schedule = (job: SimJob, step: Step, at: number) => queue.push({ at: Math.ceil(at), seq: seq++, job, step });
  // The first jobs take every path once, so that even a short run shows each state; later ones follow the weights.
  // The paths that take longest to end (a day's dispute or resolve window) go first; the outage goes last, as it
  // turns its provider's pending jobs into expiries and its running ones into dark reports.
  const SLOW_FATES: readonly Fate[] = ["staleDispute", "complete", "disputeCompleted", "endEarly"];
  const coverage = [...SLOW_FATES, ...random.shuffle(FATE_NAMES.filter((fate) => !SLOW_FATES.includes(fate) && fate !== "dark")), "dark" as const];
  const fateWeights = FATE_NAMES.map((fate) => [fate, FATES[fate].weight] as const);
  const stakePerPaymentUnit = BigInt(deployment.stakePerPaymentUnit);
  const releaseGpus = (job: SimJob) => {
    if (job.holdsGpus) {
      job.offer.leased -= job.gpus;
      job.holdsGpus = false;
    }
  };
  const end = (job: SimJob, state: SimJobState) => {
    job.state = state;
    if (state !== "running" && state !== "created") releaseGpus(job);
  };
  /** The job's cost, escrow, collateral and bond at its own price and duration (a later reprice does not reach it). */
  const money = (job: SimJob, duration = job.duration) =>
    jobMoney({ pricePerGpuHour: job.price, gpus: job.gpus, duration }, terms, stakePerPaymentUnit);
  const inOutage = (provider: SimProvider) => provider.outageUntil !== null && simSeconds < provider.outageUntil;
  const alive = (provider: SimProvider) => {
    provider.lastLifeAt = simSeconds;
  };
  const planner = (job: SimJob): Planner => ({
    random,
    terms,
    during: (step, fraction) => schedule(job, step, job.startedAt + job.duration * fraction),
    afterEnd: (step, seconds) => schedule(job, step, job.startedAt + job.duration + seconds),
  });

  const jobArgs = (job: SimJob) => ({ job: job.id.toString() });
  const market$ = (functionName: string, args: readonly unknown[]) => ({ address: market, abi: jobMarketAbi as Abi, functionName, args });
  const approvePayment = (actor: Actor, amount: bigint) =>
    send(actor, "approve", { token: payment.symbol, amount: amount.toString() }, { address: payment.address, abi: erc20Abi, functionName: "approve", args: [market, amount] });

  /**
   * A delay for a step that must come before the accept deadline: a step runs at the first tick at or after its time,
   * and the chain's clock runs a little ahead of the simulated one, so a tick is kept in hand.
   */
  const withinAcceptWindow = (fraction: number) => random.uniform(30, Math.max(60, terms.acceptWindow * fraction - tickSeconds));

  const startJob = async (client: SimClient) => {
    const model = random.weighted(profiles.map((p) => [p, p.weight] as const));
    const gpus = random.pick(model.jobSizes);
    const duration = random.weighted(JOB_DURATIONS);
    const maxPrice = usd(referencePrice(model, client.region) * random.uniform(0.95, 1.4));
    const candidates = providers
      .flatMap((provider) => provider.offers)
      .filter(
        (offer) =>
          !offer.closed &&
          offer.model === model &&
          offer.gpus - offer.leased >= gpus &&
          offer.minDuration <= duration &&
          duration <= offer.maxDuration &&
          offer.price <= maxPrice,
      )
      .sort((a, b) => (a.price === b.price ? Number(a.id - b.id) : a.price < b.price ? -1 : 1));
    const local = candidates.filter((offer) => offer.region === client.region);
    const offer = random.chance(0.5) && local.length > 0 ? local[0] : candidates[0];
    if (!offer) {
      count("unmetDemand");
      record({ at: simSeconds, actor: client.name, action: "noMatchingOffer", args: { model: model.name, gpus, duration, maxPrice: maxPrice.toString() }, ok: true });
      return;
    }
    const fate: Fate = jobs.length < coverage.length ? coverage[jobs.length]! : random.weighted(fateWeights);
    const specHash = keccak256(toHex(`spec:${client.name}:${jobs.length}`));
    const [, , escrow] = await publicClient.readContract({ address: market, abi: jobMarketAbi, functionName: "quote", args: [offer.id, gpus, duration] });
    const usePermit = permitDomain !== null && random.chance(0.7);
    const logArgs = { offer: offer.id.toString(), gpus, duration, maxPrice: maxPrice.toString(), permit: usePermit };
    let events;
    if (usePermit) {
      const nonce = await publicClient.readContract({ address: payment.address, abi: erc20PermitAbi, functionName: "nonces", args: [client.address] });
      const deadline = BigInt((await chainNow()) + SECONDS_PER_HOUR);
      const signature = await client.wallet.account.signTypedData!({
        domain: permitDomain!,
        types: PERMIT_TYPES,
        primaryType: "Permit",
        message: { owner: client.address, spender: market, value: escrow, nonce, deadline },
      });
      const { r, s, v, yParity } = parseSignature(signature);
      events = await send(client, "createJobWithPermit", logArgs, {
        address: market,
        abi: jobMarketAbi,
        functionName: "createJobWithPermit",
        args: [client.address, offer.id, gpus, duration, maxPrice, escrow, specHash, { value: escrow, deadline, v: Number(v ?? BigInt(yParity + 27)), r, s }],
      });
    } else {
      await approvePayment(client, escrow);
      events = await send(client, "createJob", logArgs, market$("createJob", [offer.id, gpus, duration, maxPrice, escrow, specHash]));
    }
    const created = events?.find((event) => event.eventName === "JobCreated");
    if (!created) return;
    count("jobCreated");
    offer.leased += gpus;
    const job: SimJob = {
      id: created.args.jobId as bigint,
      offer,
      client,
      gpus,
      duration,
      price: created.args.pricePerGpuHour as bigint,
      fate,
      state: "created",
      startedAt: 0,
      holdsGpus: true,
    };
    jobs.push(job);
    const first = (FATES[fate] as FatePlan).first;
    if (first === "cancel") schedule(job, "cancel", simSeconds + random.uniform(60, terms.acceptWindow * 0.6));
    else if (first === "decline") schedule(job, "decline", simSeconds + withinAcceptWindow(0.5));
    else if (first === "expire") schedule(job, "expire", simSeconds + terms.acceptWindow + random.uniform(300, 3600));
    else schedule(job, "accept", simSeconds + withinAcceptWindow(0.6));
  };

  /** A provider in an outage sends nothing: its accepts and declines become expiries, its completions wait. */
  const providerAway = (job: SimJob, step: Step): boolean => {
    const provider = job.offer.provider;
    if (!inOutage(provider)) return false;
    if (step === "accept" || step === "decline") {
      job.fate = "expire";
      schedule(job, "expire", simSeconds + terms.acceptWindow + random.uniform(300, 1800));
    } else if (step === "complete") {
      schedule(job, "complete", provider.outageUntil! + random.uniform(60, 900));
    }
    return true;
  };

  /** The client's EIP-712 usage receipt for the time served so far. */
  const signReceipt = async (job: SimJob, servedUntil: bigint) =>
    job.client.wallet.account.signTypedData!({
      domain: { ...RECEIPT_DOMAIN, chainId: deployment.chainId, verifyingContract: market },
      types: USAGE_RECEIPT_TYPES,
      primaryType: "UsageReceipt",
      message: { jobId: job.id, servedUntil },
    });

  /** One small handler per kind of step; `from` is the state the job must be in (else the step is moot and skipped). */
  const steps: Record<Step, { from: readonly SimJobState[]; provider?: boolean; run(job: SimJob): Promise<void> }> = {
    accept: {
      from: ["created"],
      provider: true,
      async run(job) {
        const events = await send(job.offer.provider, "acceptJob", jobArgs(job), market$("acceptJob", [job.id]));
        if (!events) return;
        count("jobAccepted");
        alive(job.offer.provider);
        job.state = "running";
        job.startedAt = simSeconds;
        (FATES[job.fate] as FatePlan).afterAccept?.(job, planner(job));
      },
    },
    decline: {
      from: ["created"],
      provider: true,
      async run(job) {
        const reason = keccak256(toHex(`decline:${job.id}`));
        if (await send(job.offer.provider, "declineJob", { ...jobArgs(job), reason }, market$("declineJob", [job.id, reason]))) {
          count("jobDeclined");
          end(job, "over");
        }
      },
    },
    cancel: {
      from: ["created"],
      async run(job) {
        if (await send(job.client, "cancelJob", jobArgs(job), market$("cancelJob", [job.id]))) {
          count("jobCancelled");
          end(job, "over");
        }
      },
    },
    expire: {
      from: ["created"],
      async run(job) {
        if (await send(job.client, "expireJob", jobArgs(job), market$("expireJob", [job.id]))) {
          count("jobExpired");
          end(job, "over");
        }
      },
    },
    claim: {
      from: ["running"],
      provider: true,
      async run(job) {
        // A provider claims only what is claimable: near the collateral cap, or twice in one block, there is nothing.
        const [claimable, onChain] = await Promise.all([
          publicClient.readContract({ address: market, abi: jobMarketAbi, functionName: "claimable", args: [job.id] }),
          publicClient.readContract({ address: market, abi: jobMarketAbi, functionName: "getJob", args: [job.id] }),
        ]);
        if (claimable <= onChain.claimed) return;
        if (await send(job.offer.provider, "claim", jobArgs(job), market$("claim", [job.id]))) {
          count("jobClaimed");
          alive(job.offer.provider);
        }
      },
    },
    receiptClaim: {
      from: ["running"],
      provider: true,
      async run(job) {
        const servedUntil = BigInt(await chainNow());
        const signature = await signReceipt(job, servedUntil);
        count("receiptSigned");
        // servedUntil is the chain's time: left out of the record, which must be the same for a seed on any chain.
        if (await send(job.offer.provider, "claimWithReceipt", jobArgs(job), market$("claimWithReceipt", [job.id, servedUntil, signature]))) {
          count("jobClaimedWithReceipt");
          alive(job.offer.provider);
        }
      },
    },
    extend: {
      from: ["running"],
      async run(job) {
        const extra = random.pick([SECONDS_PER_HOUR, 2 * SECONDS_PER_HOUR]);
        // An extension needs an open offer that takes jobs this long, before the job's end (the chain's clock, a few
        // minutes ahead); otherwise the job just runs out.
        const onChain = await publicClient.readContract({ address: market, abi: jobMarketAbi, functionName: "getJob", args: [job.id] });
        const endsAt = onChain.startedAt + onChain.duration;
        if (job.offer.closed || job.duration + extra > job.offer.maxDuration || (await chainNow()) + 300 >= endsAt) {
          schedule(job, "complete", job.startedAt + job.duration + random.uniform(0, 900));
          return;
        }
        const extraEscrow = money(job, job.duration + extra).escrow - money(job).escrow;
        await approvePayment(job.client, extraEscrow);
        if (await send(job.client, "extendJob", { ...jobArgs(job), extraSeconds: extra }, market$("extendJob", [job.id, extra, extraEscrow]))) {
          count("jobExtended");
          job.duration += extra;
        }
        schedule(job, "complete", job.startedAt + job.duration + random.uniform(0, 900));
      },
    },
    complete: {
      from: ["running"],
      provider: true,
      async run(job) {
        if (!(await send(job.offer.provider, "completeJob", jobArgs(job), market$("completeJob", [job.id, keccak256(toHex(`result:${job.id}`))])))) return;
        count("jobCompleted");
        alive(job.offer.provider);
        end(job, "completed");
        if (job.fate === "disputeCompleted") schedule(job, "dispute", simSeconds + random.uniform(600, terms.disputeWindow * 0.5));
        else schedule(job, "settle", simSeconds + terms.disputeWindow + random.uniform(300, 3 * SECONDS_PER_HOUR));
      },
    },
    endEarly: {
      from: ["running"],
      async run(job) {
        if (await send(job.client, "endJobEarly", jobArgs(job), market$("endJobEarly", [job.id]))) {
          count("jobEndedEarly");
          end(job, "completed");
          schedule(job, "settle", simSeconds + terms.disputeWindow + random.uniform(300, 3 * SECONDS_PER_HOUR));
        }
      },
    },
    dispute: {
      from: ["running", "completed"],
      async run(job) {
        // The bond: disputeBondBps of the job's cost, back unless the arbiter rules fully for the provider.
        const { disputeBond } = money(job);
        if (disputeBond > 0n) await approvePayment(job.client, disputeBond);
        const reason = keccak256(toHex(`reason:${job.fate}:${job.id}`));
        if (!(await send(job.client, "disputeJob", { ...jobArgs(job), bond: disputeBond.toString() }, market$("disputeJob", [job.id, reason])))) return;
        count("jobDisputed");
        end(job, "disputed");
        if (job.fate === "staleDispute" || !arbiter) {
          // Nobody rules: after the resolve window anyone may finalize (here, another client).
          schedule(job, "finalize", simSeconds + terms.resolveWindow + random.uniform(600, 3600));
        } else {
          schedule(job, "resolve", simSeconds + random.uniform(SECONDS_PER_HOUR, 6 * SECONDS_PER_HOUR));
        }
      },
    },
    resolve: {
      from: ["disputed"],
      async run(job) {
        const abandoned = job.fate === "abandonDispute";
        const shareBps = abandoned ? 0 : random.weighted([[0, 2], [2500, 2], [5000, 3], [7500, 2], [10000, 3]] as const);
        // Disputed jobs stream no pay without a receipt, so the whole collateral is there to slash.
        const { collateral } = money(job);
        const slash = abandoned ? collateral : shareBps <= 5000 && random.chance(0.35) ? collateral / 2n : 0n;
        const args = { ...jobArgs(job), shareBps, slash: slash.toString() };
        if (await send(arbiter!, "resolveDispute", args, market$("resolveDispute", [job.id, shareBps, slash]))) {
          count("jobResolved");
          if (slash > 0n) count("providerSlashed");
          end(job, "over");
        }
      },
    },
    finalize: {
      from: ["disputed"],
      async run(job) {
        const anyone = random.pick(clients);
        if (await send(anyone, "finalizeStaleDispute", jobArgs(job), market$("finalizeStaleDispute", [job.id]))) {
          count("jobDisputeFinalized");
          end(job, "over");
        }
      },
    },
    settle: {
      from: ["completed"],
      async run(job) {
        const provider = job.offer.provider;
        const settler = random.chance(0.8) && !inOutage(provider) ? provider : job.client;
        if (await send(settler, "settleJob", jobArgs(job), market$("settleJob", [job.id]))) {
          count("jobSettled");
          end(job, "over");
        }
      },
    },
    reclaim: {
      from: ["running"],
      async run(job) {
        if (await send(job.client, "reclaimAbandoned", jobArgs(job), market$("reclaimAbandoned", [job.id]))) {
          count("jobReclaimed");
          end(job, "over");
        }
      },
    },
    outage: {
      from: ["running"],
      async run(job) {
        const provider = job.offer.provider;
        if (inOutage(provider)) return;
        // Dark for longer than the liveness timeout: its clients will see it and report its running jobs.
        provider.outageUntil = simSeconds + terms.livenessTimeout + random.uniform(SECONDS_PER_HOUR, 3 * SECONDS_PER_HOUR);
        count("providerOutage");
        record({ at: simSeconds, actor: provider.name, action: "outage", args: { until: provider.outageUntil }, ok: true });
      },
    },
  };

  const runStep = async (item: Scheduled) => {
    const handler = steps[item.step];
    if (!handler.from.includes(item.job.state)) return;
    if (handler.provider && providerAway(item.job, item.step)) return;
    await handler.run(item.job);
  };

  /** Clients of running jobs whose provider is in an outage report them once the chain says it is dark. */
  const reportDarkJobs = async () => {
    const watched = jobs.filter((job) => job.state === "running" && job.offer.provider.outageUntil !== null);
    if (watched.length === 0) return;
    const now = await chainNow();
    for (const job of watched) {
      const darkAt = Number(await publicClient.readContract({ address: market, abi: jobMarketAbi, functionName: "darkAt", args: [job.id] }));
      if (darkAt === 0 || now <= darkAt) continue;
      if (await send(job.client, "reportDark", jobArgs(job), market$("reportDark", [job.id]))) {
        count("jobReportedDark");
        end(job, "over");
      }
    }
  };

  /** Providers running jobs prove they are alive well within the liveness timeout (a third of it), unless dark. */
  const sendHeartbeats = async () => {
    for (const provider of providers) {
      if (inOutage(provider)) continue;
      if (provider.outageUntil !== null) provider.outageUntil = null;
      if (simSeconds - provider.lastLifeAt < terms.livenessTimeout / 3) continue;
      if (!jobs.some((job) => job.offer.provider === provider && job.state === "running")) continue;
      if (await send(provider, "heartbeat", {}, market$("heartbeat", []))) {
        count("heartbeat");
        alive(provider);
      }
    }
  };

  // ------------------------------------------------------------------ providers adapt
  const adjustOffers = async () => {
    for (const provider of providers) {
      if (inOutage(provider)) continue;
      for (const offer of provider.offers) {
        if (offer.closed) continue;
        const utilization = offer.leased / offer.gpus;
        let price = offer.price;
        // Providers look at their books every hour but change a price only now and then, as real ones do.
        if (utilization >= 0.75 && random.chance(0.5)) {
          price = usd((Number(offer.price) / Number(paymentUnit)) * random.uniform(1.03, 1.1));
          const cap = usd(offer.model.priceHigh * offer.region.priceFactor * 1.5);
          if (price > cap) price = cap;
        } else if (utilization <= 0.25 && random.chance(0.12)) {
          price = usd((Number(offer.price) / Number(paymentUnit)) * random.uniform(0.94, 0.98));
          const floor = usd(offer.model.priceLow * offer.region.priceFactor * 0.7);
          if (price < floor) price = floor;
        }
        let gpus = offer.gpus;
        if (random.chance(0.03)) gpus = Math.max(offer.leased, offer.gpus + random.pick([-4, 4, 8]), 1);
        if (price === offer.price && gpus === offer.gpus) {
          if (offer.leased === 0 && random.chance(0.01)) {
            if (await send(provider, "closeOffer", { offer: offer.id.toString() }, market$("closeOffer", [offer.id]))) {
              count("offerClosed");
              offer.closed = true;
              await listOffer(provider, random.weighted(profiles.map((p) => [p, p.weight] as const)));
            }
          }
          continue;
        }
        const expiresAt = (await chainNow()) + 30 * 24 * SECONDS_PER_HOUR;
        const events = await send(
          provider,
          "updateOffer",
          { offer: offer.id.toString(), gpus, price: price.toString(), utilization: Math.round(utilization * 100), expiresIn: "30d" },
          market$("updateOffer", [offer.id, gpus, price, expiresAt]),
        );
        if (events) {
          count(price !== offer.price ? "offerRepriced" : "offerResized");
          offer.price = price;
          offer.gpus = gpus;
        }
      }
    }
  };

  // ------------------------------------------------------------------ the clock
  const totalSeconds = Math.round(options.hours * SECONDS_PER_HOUR);
  const arrivalsPerTick = (options.clients * jobsPerClientHour * tickSeconds) / SECONDS_PER_HOUR;
  let unstakeAt: number | null = null;
  /** One step of the simulated clock: due job steps, new clients, hourly repricing, then time moves on. */
  const tick = async () => {
    queue.sort((a, b) => a.at - b.at || a.seq - b.seq);
    while (queue.length > 0 && queue[0]!.at <= simSeconds) {
      await runStep(queue.shift()!);
      // A step can schedule another one that is due at once.
      queue.sort((a, b) => a.at - b.at || a.seq - b.seq);
    }
    await reportDarkJobs();
    await sendHeartbeats();
    const arrivals = random.poisson(arrivalsPerTick);
    for (let i = 0; i < arrivals; i++) await startJob(random.pick(clients));
    if (simSeconds % SECONDS_PER_HOUR === 0 && simSeconds > 0) {
      await adjustOffers();
      if (simSeconds % (24 * SECONDS_PER_HOUR) === 0 && arbiter) {
        const fees = await publicClient.readContract({ address: market, abi: jobMarketAbi, functionName: "feesAccrued" });
        if (fees > 0n && (await send(arbiter, "withdrawFees", { fees: fees.toString() }, market$("withdrawFees", [])))) count("feesWithdrawn");
      }
    }
    // Halfway, one provider scales down: it unstakes part of its free stake and withdraws it after unbonding.
    if (unstakeAt === null && simSeconds >= totalSeconds / 2 && providers.length > 0) {
      const provider = providers[0]!;
      const unlocked = await publicClient.readContract({ address: staking, abi: providerStakingAbi, functionName: "unlockedStake", args: [provider.address] });
      const amount = unlocked / 20n;
      if (amount > 0n && (await send(provider, "requestUnstake", { amount: amount.toString() }, { address: staking, abi: providerStakingAbi, functionName: "requestUnstake", args: [amount] }))) {
        count("unstakeRequested");
      }
      unstakeAt = simSeconds;
    }
    if (unstakeAt !== null && unstakeAt >= 0 && simSeconds >= unstakeAt + unbondingPeriod + SECONDS_PER_HOUR) {
      if (await send(providers[0]!, "withdrawStake", {}, { address: staking, abi: providerStakingAbi, functionName: "withdrawStake" })) count("stakeWithdrawn");
      unstakeAt = -1;
    }
    if (simSeconds % (6 * SECONDS_PER_HOUR) === 0) {
      logger.info({ msg: "simulation progress", hour: simSeconds / SECONDS_PER_HOUR, jobs: jobs.length, transactions, failedActions });
    }
    await advance(tickSeconds);
  };

  const summarize = async (): Promise<SimulationResult> => {
    const jobStates: Record<string, number> = {};
    for (const job of jobs) {
      const onChain = await publicClient.readContract({ address: market, abi: jobMarketAbi, functionName: "getJob", args: [job.id] });
      const state = jobStateName(onChain.state);
      jobStates[state] = (jobStates[state] ?? 0) + 1;
    }
    return {
      seed: options.seed,
      transactions,
      failedActions,
      actions: [...actions],
      transitions: { ...transitions },
      jobStates,
      offers: providers.reduce((sum, provider) => sum + provider.offers.length, 0),
      jobs: jobs.length,
      simulatedSeconds: simSeconds,
    };
  };

  logger.info({ msg: "simulation started", seed: options.seed, providers: options.providers, clients: options.clients, hours: options.hours });
  while (simSeconds < totalSeconds) await tick();
  let result = await summarize();
  logger.info({ msg: "simulation history done", seed: options.seed, jobs: result.jobs, transactions, failedActions, jobStates: result.jobStates });
  options.onHistoryDone?.(result);

  const live = options.live;
  if (live) {
    // Live, the record of actions stops growing (a market left running for days would fill memory); counts go on.
    recordActions = false;
    while (!live.signal.aborted) {
      await tick();
      await sleepUnlessAborted(live.tickDelayMs, live.signal);
    }
    result = await summarize();
  }
  logger.info({ msg: "simulation finished", seed: options.seed, jobs: result.jobs, transactions, failedActions, jobStates: result.jobStates, transitions });
  return result;
}

/**
 * Gas for a transaction estimated at the latest block: a fifth more, because it is mined one block later, where a
 * storage write the estimate saw as a no-op (a heartbeat already at this second) costs thousands of gas more.
 */
function withGasMargin(estimate: bigint): bigint {
  return estimate + estimate / 5n + 10_000n;
}

/** Waits, or returns early when the signal aborts (at once when it already has). */
export function sleepUnlessAborted(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
    function done() {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
  });
}

/** The payment token's EIP-712 domain when it supports EIP-2612 (checked against its DOMAIN_SEPARATOR), else null. */
async function readPermitDomain(publicClient: PublicClient<Transport, Chain>, token: Address, chainId: number) {
  try {
    const { domain, fields } = await publicClient.getEip712Domain({ address: token });
    const flags = Number(fields);
    // EIP-5267 flags which fields are part of the domain; viem fills them all.
    const filtered = {
      ...(flags & 0x01 ? { name: domain.name } : {}),
      ...(flags & 0x02 ? { version: domain.version } : {}),
      ...(flags & 0x04 ? { chainId: domain.chainId ?? chainId } : {}),
      ...(flags & 0x08 ? { verifyingContract: domain.verifyingContract } : {}),
    };
    await publicClient.readContract({ address: token, abi: erc20PermitAbi, functionName: "nonces", args: [token] });
    return filtered;
  } catch {
    return null;
  }
}

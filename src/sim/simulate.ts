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
import { GPU_PROFILES, JOB_DURATIONS, REGIONS, type GpuProfile, type RegionProfile } from "./profiles";
import { createRandom, type Random } from "./random";

/**
 * A seeded market simulation against a real node: providers in several regions list a realistic GPU mix, clients
 * arrive at random and rent, providers reprice with their utilization, and every job path happens at a plausible
 * rate (completion, streaming claims, early end, disputes and arbiter resolutions with slashes, cancellation,
 * expiry, abandonment and reclaim). The chain's clock is moved with evm_increaseTime + evm_mine (Hardhat and anvil),
 * so hourly price buckets fill. The same seed on the same starting chain sends the same transactions in the same
 * order; only absolute timestamps (offer expiries) follow the chain's clock.
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
  /** Final state of the simulation's jobs, as the indexer names them (expired jobs apart from cancelled ones). */
  jobStates: Record<string, number>;
  offers: number;
  jobs: number;
  simulatedSeconds: number;
}

type Fate =
  | "complete"
  | "claimAndComplete"
  | "endEarly"
  | "disputeRunning"
  | "disputeCompleted"
  | "cancel"
  | "expire"
  | "abandonReclaim"
  | "abandonDispute";

const FATE_WEIGHTS: ReadonlyArray<readonly [Fate, number]> = [
  ["complete", 50],
  ["claimAndComplete", 14],
  ["endEarly", 12],
  ["disputeRunning", 4],
  ["disputeCompleted", 4],
  ["cancel", 6],
  ["expire", 5],
  ["abandonReclaim", 3],
  ["abandonDispute", 2],
];

interface Actor {
  name: string;
  address: Address;
  wallet: WalletClient<Transport, Chain, Account>;
}

interface SimProvider extends Actor {
  region: RegionProfile;
  offers: SimOffer[];
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

interface SimJob {
  id: bigint;
  offer: SimOffer;
  client: SimClient;
  gpus: number;
  duration: number;
  fate: Fate;
  collateral: bigint;
  /** GPUs still reserved on the offer (released when the clock stops). */
  holdsGpus: boolean;
  expired: boolean;
}

interface Scheduled {
  at: number;
  seq: number;
  job: SimJob;
  step: "accept" | "cancel" | "expire" | "claim" | "complete" | "endEarly" | "dispute" | "resolve" | "settle" | "reclaim";
}

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
      const hash = await actor.wallet.writeContract({ ...call, args: call.args ?? [], chain, account: actor.wallet.account } as never);
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
    providers.push({ ...localActor(`provider${i + 1}`, accountOffset + i), region: regionOrder[i % regionOrder.length]!, offers: [] });
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

  const parameters = await publicClient.readContract({ address: market, abi: jobMarketAbi, functionName: "parameters" });
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
  const schedule = (job: SimJob, step: Scheduled["step"], at: number) => queue.push({ at: Math.ceil(at), seq: seq++, job, step });
  // The first jobs take every path once, so that even a short run shows each state; later ones follow the rates.
  const coverage = random.shuffle(FATE_WEIGHTS.map(([fate]) => fate));
  const releaseGpus = (job: SimJob) => {
    if (job.holdsGpus) {
      job.offer.leased -= job.gpus;
      job.holdsGpus = false;
    }
  };

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
    const fate = jobs.length < coverage.length ? coverage[jobs.length]! : random.weighted(FATE_WEIGHTS);
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
        args: [client.address, offer.id, gpus, duration, maxPrice, specHash, { value: escrow, deadline, v: Number(v ?? BigInt(yParity + 27)), r, s }],
      });
    } else {
      await send(client, "approve", { token: payment.symbol, amount: escrow.toString() }, {
        address: payment.address,
        abi: erc20Abi,
        functionName: "approve",
        args: [market, escrow],
      });
      events = await send(client, "createJob", logArgs, {
        address: market,
        abi: jobMarketAbi,
        functionName: "createJob",
        args: [offer.id, gpus, duration, maxPrice, specHash],
      });
    }
    const created = events?.find((event) => event.eventName === "JobCreated");
    if (!created) return;
    count("jobCreated");
    offer.leased += gpus;
    const job: SimJob = { id: created.args.jobId as bigint, offer, client, gpus, duration, fate, collateral: 0n, holdsGpus: true, expired: false };
    jobs.push(job);
    const acceptWindow = parameters.acceptWindow;
    if (fate === "cancel") schedule(job, "cancel", simSeconds + random.uniform(60, acceptWindow * 0.6));
    else if (fate === "expire") schedule(job, "expire", simSeconds + acceptWindow + random.uniform(300, 3600));
    else schedule(job, "accept", simSeconds + random.uniform(30, acceptWindow * 0.6));
  };

  const jobArgs = (job: SimJob) => ({ job: job.id.toString() });
  const market$ = (functionName: string, args: readonly unknown[]) => ({ address: market, abi: jobMarketAbi as Abi, functionName, args });

  const runStep = async (item: Scheduled) => {
    const { job } = item;
    const provider = job.offer.provider;
    switch (item.step) {
      case "accept": {
        const events = await send(provider, "acceptJob", jobArgs(job), market$("acceptJob", [job.id]));
        const accepted = events?.find((event) => event.eventName === "JobAccepted");
        if (!accepted) {
          // Not enough unlocked stake (or another refusal): the job will expire.
          job.fate = "expire";
          schedule(job, "expire", simSeconds + parameters.acceptWindow + random.uniform(300, 1800));
          return;
        }
        count("jobAccepted");
        job.collateral = accepted.args.collateral as bigint;
        const end = simSeconds + job.duration;
        switch (job.fate) {
          case "complete":
          case "disputeCompleted":
            schedule(job, "complete", end + random.uniform(0, 900));
            break;
          case "claimAndComplete":
            schedule(job, "claim", simSeconds + job.duration * random.uniform(0.25, 0.5));
            schedule(job, "claim", simSeconds + job.duration * random.uniform(0.55, 0.85));
            schedule(job, "complete", end + random.uniform(0, 900));
            break;
          case "endEarly":
            schedule(job, "endEarly", simSeconds + job.duration * random.uniform(0.2, 0.8));
            break;
          case "disputeRunning":
            schedule(job, "dispute", simSeconds + job.duration * random.uniform(0.2, 0.9));
            break;
          case "abandonReclaim":
            schedule(job, "reclaim", end + parameters.abandonGrace + random.uniform(600, 7200));
            break;
          case "abandonDispute":
            schedule(job, "dispute", end + parameters.abandonGrace + random.uniform(600, 3600));
            break;
        }
        return;
      }
      case "cancel":
        if (await send(job.client, "cancelJob", jobArgs(job), market$("cancelJob", [job.id]))) {
          count("jobCancelled");
          releaseGpus(job);
        }
        return;
      case "expire":
        if (await send(job.client, "expireJob", jobArgs(job), market$("expireJob", [job.id]))) {
          count("jobExpired");
          job.expired = true;
          releaseGpus(job);
        }
        return;
      case "claim":
        if (await send(provider, "claim", jobArgs(job), market$("claim", [job.id]))) count("jobClaimed");
        return;
      case "complete":
        if (await send(provider, "completeJob", jobArgs(job), market$("completeJob", [job.id, keccak256(toHex(`result:${job.id}`))]))) {
          count("jobCompleted");
          releaseGpus(job);
          if (job.fate === "disputeCompleted") schedule(job, "dispute", simSeconds + random.uniform(600, parameters.disputeWindow * 0.5));
          else schedule(job, "settle", simSeconds + parameters.disputeWindow + random.uniform(300, 3 * SECONDS_PER_HOUR));
        }
        return;
      case "endEarly":
        if (await send(job.client, "endJobEarly", jobArgs(job), market$("endJobEarly", [job.id]))) {
          count("jobEndedEarly");
          releaseGpus(job);
          schedule(job, "settle", simSeconds + parameters.disputeWindow + random.uniform(300, 3 * SECONDS_PER_HOUR));
        }
        return;
      case "dispute":
        if (await send(job.client, "disputeJob", jobArgs(job), market$("disputeJob", [job.id, keccak256(toHex(`reason:${job.fate}:${job.id}`))]))) {
          count("jobDisputed");
          releaseGpus(job);
          if (arbiter) schedule(job, "resolve", simSeconds + random.uniform(SECONDS_PER_HOUR, 6 * SECONDS_PER_HOUR));
        }
        return;
      case "resolve": {
        const abandoned = job.fate === "abandonDispute";
        const shareBps = abandoned ? 0 : random.weighted([[0, 2], [2500, 2], [5000, 3], [7500, 2], [10000, 3]] as const);
        const slash = abandoned ? job.collateral : shareBps <= 5000 && random.chance(0.35) ? job.collateral / 2n : 0n;
        const events = await send(arbiter!, "resolveDispute", { ...jobArgs(job), shareBps, slash: slash.toString() }, market$("resolveDispute", [job.id, shareBps, slash]));
        if (events) {
          count("jobResolved");
          if (slash > 0n) count("providerSlashed");
        }
        return;
      }
      case "settle": {
        const settler = random.chance(0.8) ? provider : job.client;
        if (await send(settler, "settleJob", jobArgs(job), market$("settleJob", [job.id]))) count("jobSettled");
        return;
      }
      case "reclaim":
        if (await send(job.client, "reclaimAbandoned", jobArgs(job), market$("reclaimAbandoned", [job.id]))) {
          count("jobReclaimed");
          releaseGpus(job);
        }
        return;
    }
  };

  // ------------------------------------------------------------------ providers adapt
  const adjustOffers = async () => {
    for (const provider of providers) {
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
    while (queue.length > 0 && queue[0]!.at <= simSeconds) await runStep(queue.shift()!);
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
      const state = job.expired ? "EXPIRED" : JOB_STATE_NAMES[onChain.state]!;
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
      await sleep(live.tickDelayMs, live.signal);
    }
    result = await summarize();
  }
  logger.info({ msg: "simulation finished", seed: options.seed, jobs: result.jobs, transactions, failedActions, jobStates: result.jobStates, transitions });
  return result;
}

/** Waits, or returns early when the signal aborts. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
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

const JOB_STATE_NAMES = ["NONE", "CREATED", "RUNNING", "COMPLETED", "DISPUTED", "SETTLED", "RESOLVED", "CANCELLED", "RECLAIMED"];

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

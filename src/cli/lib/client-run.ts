import fs from "node:fs";
import path from "node:path";
import { getAddress, parseAbiItem, type Address, type Hex } from "viem";
import { jobMarketAbi, providerStakingAbi } from "../../chain/abis";
import { AgentApiError, createAgentClient, type AgentClient, type VerifiedResult } from "../../agent/client";
import { isSafeRelativePath, type JobSpec } from "../../agent/spec";
import { planQuote } from "../../graphql/planning";
import type { RentableOfferRecord } from "../../store/reads";
import type { SignerContext } from "./context";
import { CliError } from "./errors";
import { ApiUnavailableError, graphqlRequest } from "./graphql";
import { createJobOnChain } from "./jobs";
import type { Output } from "./output";
import { readAllOffers, readJob, type GpuModelView, type JobView } from "./reads";
import { eventOf, sendContractTransaction } from "./tx";
import { formatAmount, formatDuration, formatTime } from "../../protocol/units";

/**
 * `gpumesh client run`: quote, create the job(s) with permit, deliver the spec to each provider's agent, stream its
 * logs, sign usage receipts while the job is healthy, and download and verify the result. With failover, a job whose
 * provider goes dark is reported (the chain refunds the dark time and slashes the SLA credit to the client) and the
 * work left is placed on the next offer without that provider; a declined or unaccepted job is placed again too.
 */

export interface ClientRunOptions {
  spec: JobSpec;
  specHash: Hex;
  model: GpuModelView;
  gpus: number;
  /** Seconds. */
  duration: number;
  maxPrice: bigint;
  region?: string;
  spread: number;
  failover: boolean;
  /** The GraphQL API to quote from; undefined: plan from the chain. */
  apiUrl?: string;
  /** The agent to talk to instead of the one the provider's metadata names. */
  agentUrl?: string;
  outDir: string;
  receiptEverySeconds: number;
  pollMs: number;
  usePermit: boolean;
  /** Where the workload's output goes. */
  writeLog: (text: string) => void;
  /** Asked before the escrow is paid; false cancels. */
  confirmPlan: (text: string) => Promise<boolean>;
}

/** One placement: a request for GPUs over some time, from one provider's offer. */
interface PlannedLeg {
  offerId: bigint;
  provider: Address;
  gpus: number;
  pricePerGpuHour: bigint;
  escrow: bigint;
}

export type JobOutcome =
  | { kind: "completed"; result: VerifiedResult; dir: string; exitCode: number | null }
  | { kind: "dark"; paidUntil: number; refund: bigint; slashed: bigint; secondsLeft: number }
  | { kind: "not-started"; reason: string; refund: bigint }
  | { kind: "stopped"; earned: bigint };

export interface JobRecord {
  jobId: bigint;
  offerId: bigint;
  provider: Address;
  gpus: number;
  duration: number;
  agent: string | null;
  secondsToAccept: number | null;
  outcome: JobOutcome;
}

export interface ClientRunResult {
  specHash: Hex;
  jobs: JobRecord[];
  /** Every share of the request has a verified result. */
  completed: boolean;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const QUOTE_QUERY = /* GraphQL */ `
  query ClientRunQuote(
    $gpuModel: String!
    $gpus: Int!
    $duration: Int!
    $region: String
    $maxPrice: BigInt
    $spread: Int
    $exclude: [ID!]
  ) {
    quote(
      gpuModel: $gpuModel
      gpus: $gpus
      duration: $duration
      region: $region
      maxPricePerGpuHour: $maxPrice
      spreadAcross: $spread
      excludeProviders: $exclude
    ) {
      fillable
      shortfall
      message
      legs { offer { id } provider { address } gpus pricePerGpuHour escrow }
    }
  }
`;

interface PlanRequest {
  gpus: number;
  duration: number;
  spread: number;
  exclude: ReadonlySet<string>;
}

/** The chain's view of the same plan the API makes, for when no API answers: planQuote over the offers as read. */
async function planFromChain(context: SignerContext, options: ClientRunOptions, request: PlanRequest) {
  const now = Number(await context.now());
  const offers = (await readAllOffers(context)).filter(
    (offer) =>
      offer.state === "OPEN" &&
      offer.expiresAt > now &&
      offer.gpusAvailable > 0 &&
      offer.gpuModelId.toLowerCase() === options.model.id.toLowerCase() &&
      (!options.region || offer.region === options.region) &&
      !request.exclude.has(offer.provider.toLowerCase()) &&
      offer.provider.toLowerCase() !== context.account.address.toLowerCase(),
  );
  const providers = [...new Set(offers.map((offer) => offer.provider))];
  const [parameters, ...unlocked] = await Promise.all([
    context.publicClient.readContract({ address: context.market, abi: jobMarketAbi, functionName: "parameters" }),
    ...providers.map((provider) => context.publicClient.readContract({ address: context.staking, abi: providerStakingAbi, functionName: "unlockedStake", args: [provider] })),
  ]);
  const unlockedOf = new Map(providers.map((provider, index) => [provider, unlocked[index] as bigint]));
  const records: RentableOfferRecord[] = offers.map((offer) => ({
    id: Number(offer.id),
    provider: offer.provider,
    gpuModelId: offer.gpuModelId,
    region: offer.region,
    gpusFree: offer.gpusAvailable,
    pricePerGpuHour: offer.pricePerGpuHour,
    minDuration: offer.minDuration,
    maxDuration: offer.maxDuration,
    carbonIntensity: offer.carbonIntensity,
    renewableBps: offer.renewableBps,
    providerUnlocked: unlockedOf.get(offer.provider) ?? 0n,
    providerReliabilityPpm: 0,
  }));
  const quote = planQuote(
    records,
    { gpus: request.gpus, duration: request.duration, spreadAcross: request.spread, maxPricePerGpuHour: options.maxPrice },
    { parameters: parameters as { protocolFeeBps: number; collateralBps: number; disputeBondBps: number }, stakePerPaymentUnit: BigInt(context.deployment.stakePerPaymentUnit) },
    context.deployment.tokens.payment,
  );
  return {
    fillable: quote.fillable,
    shortfall: quote.shortfall,
    message: quote.message,
    legs: quote.legs.map((leg) => ({
      offerId: BigInt(leg.offer.id),
      provider: getAddress(leg.offer.provider),
      gpus: leg.gpus,
      pricePerGpuHour: leg.offer.pricePerGpuHour,
      escrow: leg.escrow,
    })),
  };
}

interface ApiQuote {
  quote: {
    fillable: boolean;
    shortfall: string | null;
    message: string;
    legs: Array<{ offer: { id: string }; provider: { address: string }; gpus: number; pricePerGpuHour: string; escrow: string }>;
  };
}

/** The cheapest plan for a request: from the API when it answers, else from the chain. */
async function plan(context: SignerContext, options: ClientRunOptions, request: PlanRequest, say: (text: string) => void): Promise<PlannedLeg[]> {
  let planned: { fillable: boolean; shortfall: string | null; message: string; legs: PlannedLeg[] } | undefined;
  if (options.apiUrl) {
    try {
      const { quote } = await graphqlRequest<ApiQuote>(options.apiUrl, QUOTE_QUERY, {
        gpuModel: options.model.name,
        gpus: request.gpus,
        duration: request.duration,
        region: options.region ?? null,
        maxPrice: options.maxPrice.toString(),
        spread: request.spread,
        exclude: [...request.exclude],
      });
      planned = {
        ...quote,
        legs: quote.legs.map((leg) => ({
          offerId: BigInt(leg.offer.id),
          provider: getAddress(leg.provider.address),
          gpus: leg.gpus,
          pricePerGpuHour: BigInt(leg.pricePerGpuHour),
          escrow: BigInt(leg.escrow),
        })),
      };
    } catch (error) {
      if (!(error instanceof ApiUnavailableError)) throw error;
      say(`${error.message}; planning from the chain instead`);
    }
  }
  planned ??= await planFromChain(context, options, request);
  if (!planned.fillable) {
    throw new CliError(`no plan for ${request.gpus} x ${options.model.name} for ${formatDuration(request.duration)}: ${planned.shortfall}: ${planned.message}`);
  }
  return planned.legs;
}

/** The agent's base URL from the provider's metadata document (AGENT.md: its `endpoint`). */
export async function agentEndpoint(context: SignerContext, provider: Address): Promise<string> {
  const uri = await context.publicClient.readContract({ address: context.staking, abi: providerStakingAbi, functionName: "metadataURI", args: [provider] });
  if (!/^https?:\/\//i.test(uri)) {
    throw new CliError(`provider ${provider}'s metadataURI ${JSON.stringify(uri)} is not an http(s) URL, so it names no agent to hand the workload to (pass --agent URL)`);
  }
  let document: { endpoint?: unknown };
  try {
    const response = await fetch(uri, { headers: { accept: "application/json" }, signal: AbortSignal.timeout(10_000) });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    document = (await response.json()) as typeof document;
  } catch (error) {
    throw new CliError(`cannot read provider ${provider}'s metadata at ${uri}: ${(error as Error).message}`, error);
  }
  if (typeof document.endpoint !== "string" || !/^https?:\/\//i.test(document.endpoint)) {
    throw new CliError(`provider ${provider}'s metadata at ${uri} has no http(s) "endpoint" for its agent`);
  }
  return document.endpoint.replace(/\/$/, "");
}

/** Writes the verified result's files under `dir`, refusing any path that would land outside it. */
export function writeResult(dir: string, result: VerifiedResult): void {
  fs.mkdirSync(dir, { recursive: true });
  for (const file of result.files) {
    if (!isSafeRelativePath(file.path)) throw new CliError(`the result holds a file named ${JSON.stringify(file.path)} outside its directory: refused`);
    const target = path.join(dir, file.path);
    fs.mkdirSync(path.dirname(target), { recursive: true });
    fs.writeFileSync(target, file.data);
  }
  fs.writeFileSync(path.join(dir, "exit.json"), JSON.stringify(result.exit, null, 2) + "\n");
}

export const eventArgs = async (context: SignerContext, signature: string, jobId: bigint) => {
  const logs = await context.publicClient.getLogs({ address: context.market, event: parseAbiItem(signature) as never, args: { jobId } as never, fromBlock: 0n, toBlock: "latest" });
  return (logs[0] as unknown as { args: Record<string, unknown> } | undefined)?.args;
};

/** Runs one serial queue of transactions: the legs share one wallet, and so one nonce sequence. */
function serialQueue() {
  let tail: Promise<unknown> = Promise.resolve();
  return <T>(task: () => Promise<T>): Promise<T> => {
    const run = tail.then(task, task);
    tail = run.catch(() => undefined);
    return run;
  };
}

/** A dark job's outcome from its JobDark event: what was paid and refunded, and the time its provider left unserved. */
function darkOutcome(job: JobView, event: Record<string, unknown>): Extract<JobOutcome, { kind: "dark" }> {
  const paidUntil = Number(event.paidUntil);
  return { kind: "dark", paidUntil, refund: event.refund as bigint, slashed: event.slashed as bigint, secondsLeft: Math.max(0, job.startedAt + job.duration - paidUntil) };
}

export interface ClientRun {
  done: Promise<ClientRunResult>;
  /** Ctrl-C: ends the running jobs early (paid for the time used) and cancels the unaccepted ones. */
  stop(): void;
}

export function startClientRun(context: SignerContext, out: Output, options: ClientRunOptions): ClientRun {
  const say = (text: string) => process.stderr.write(`${text}\n`);
  const serial = serialQueue();
  const pay = (value: bigint) => formatAmount(value, context.payment);
  let stopping = false;
  const records: JobRecord[] = [];
  const excluded = new Set<string>();

  async function send(label: string, functionName: "expireJob" | "reportDark" | "endJobEarly" | "cancelJob", jobId: bigint, eventName: string) {
    const sent = await serial(() => sendContractTransaction(context, out, { label, address: context.market, abi: jobMarketAbi, functionName, args: [jobId] }));
    return eventOf(sent, eventName);
  }

  /** Follows one job from its creation to its outcome. */
  async function follow(jobId: bigint, agent: AgentClient | null, tag: string, startedAtMs: number, record: JobRecord): Promise<JobOutcome> {
    const log = (text: string) => options.writeLog(tag ? text.replace(/^(?=.)/gm, `[${tag}] `) : text);
    let delivered = false;
    let refusal = "";
    let logOffset = 0;
    let lastReceipt = 0;
    const drainLogs = async () => {
      if (!agent) return;
      try {
        const { text, nextOffset } = await agent.logs(jobId, logOffset);
        if (text) log(text);
        logOffset = nextOffset;
      } catch {
        // The agent may be down; the chain decides whether the job is dark.
      }
    };
    for (;;) {
      const job: JobView = await readJob(context, jobId);
      const now = Number(await context.now());
      if (stopping && (job.state === "Created" || job.state === "Running")) {
        if (job.state === "Created") {
          const event = await send(`cancel job #${jobId}`, "cancelJob", jobId, "JobCancelled");
          return { kind: "not-started", reason: "cancelled", refund: event.refund as bigint };
        }
        await drainLogs();
        const event = await send(`end job #${jobId} early`, "endJobEarly", jobId, "JobEndedEarly");
        return { kind: "stopped", earned: event.earned as bigint };
      }
      switch (job.state) {
        case "Created": {
          if (agent && !delivered) {
            try {
              await agent.deliverSpec(jobId, options.spec);
              delivered = true;
              say(`job #${jobId}: spec delivered to ${record.agent}`);
            } catch (error) {
              // 404: the agent has not seen the job yet; 5xx or no answer: try again. A refusal is final: the agent
              // declines the job, or it expires and is refunded.
              if (error instanceof AgentApiError && error.status !== 404 && error.status < 500) {
                if (!refusal) say(`job #${jobId}: the agent refused the spec (${error.message}); waiting for it to decline`);
                refusal = error.message;
                delivered = true;
              }
            }
          }
          if (now > job.acceptDeadline) {
            const event = await send(`expire job #${jobId}`, "expireJob", jobId, "JobExpired");
            return { kind: "not-started", reason: `not accepted by ${formatTime(job.acceptDeadline)}${refusal ? ` (${refusal})` : ""}`, refund: event.refund as bigint };
          }
          break;
        }
        case "Declined": {
          const event = await eventArgs(context, "event JobDeclined(uint256 indexed jobId, address indexed provider, uint256 refund, bytes32 reason)", jobId);
          return { kind: "not-started", reason: `declined${refusal ? ` (${refusal})` : ""}`, refund: (event?.refund as bigint) ?? 0n };
        }
        case "Cancelled":
        case "Expired":
          return { kind: "not-started", reason: job.state.toLowerCase(), refund: 0n };
        case "Running": {
          if (record.secondsToAccept === null) {
            record.secondsToAccept = (Date.now() - startedAtMs) / 1000;
            say(`job #${jobId}: accepted after ${record.secondsToAccept.toFixed(1)} s; runs until ${formatTime(job.startedAt + job.duration)}`);
          }
          await drainLogs();
          const darkAt = Number(await context.publicClient.readContract({ address: context.market, abi: jobMarketAbi, functionName: "darkAt", args: [jobId] }));
          if (darkAt > 0 && now > darkAt) {
            say(`job #${jobId}: no sign of life from provider ${job.provider} since ${formatTime(darkAt - job.terms.livenessTimeout)}: reporting it dark`);
            const event = await send(`report job #${jobId} dark`, "reportDark", jobId, "JobDark");
            const outcome = darkOutcome(job, event);
            say(
              `job #${jobId}: dark; paid until ${formatTime(outcome.paidUntil)}, refund ${pay(outcome.refund)}, SLA credit ${formatAmount(outcome.slashed, context.stake)} slashed from its stake, paid to you`,
            );
            return outcome;
          }
          const servedUntil = Math.min(now, job.startedAt + job.duration);
          if (agent && servedUntil - lastReceipt >= options.receiptEverySeconds && servedUntil > job.startedAt) {
            // A receipt only while the job is healthy: the agent says it runs the workload.
            const status = await agent.status(jobId).catch(() => undefined);
            if (status?.status === "running") {
              await agent.sendReceipt(jobId, BigInt(servedUntil)).then(
                () => (lastReceipt = servedUntil),
                (error: Error) => say(`job #${jobId}: the receipt until ${servedUntil} was not taken: ${error.message}`),
              );
            }
          }
          break;
        }
        case "Dark": {
          const event = await eventArgs(
            context,
            "event JobDark(uint256 indexed jobId, uint64 at, uint64 paidUntil, uint256 earned, uint256 providerPay, uint256 protocolFee, uint256 refund, uint256 slashed)",
            jobId,
          );
          return darkOutcome(job, event ?? { paidUntil: job.endedAt, refund: 0n, slashed: 0n });
        }
        default: {
          // Completed (then perhaps disputed or settled): the result, if the provider completed it.
          const completed = await eventArgs(context, "event JobCompleted(uint256 indexed jobId, uint64 endedAt, uint256 earned, bytes32 resultHash)", jobId);
          if (!completed) {
            const ended = await eventArgs(context, "event JobEndedEarly(uint256 indexed jobId, uint64 endedAt, uint256 earned)", jobId);
            return { kind: "stopped", earned: (ended?.earned as bigint) ?? 0n };
          }
          await drainLogs();
          if (!agent) throw new CliError(`job #${jobId} completed, but no agent is known to fetch its result from`);
          const result = await agent.fetchResult(jobId, completed.resultHash as Hex);
          const dir = path.join(options.outDir, `job-${jobId}`);
          writeResult(dir, result);
          const exitCode = typeof result.exit?.exitCode === "number" ? result.exit.exitCode : null;
          say(`job #${jobId}: completed; result ${result.resultHash} verified against the chain, ${result.files.length} file(s) in ${dir} (exit code ${exitCode ?? "?"})`);
          return { kind: "completed", result, dir, exitCode };
        }
      }
      await sleep(options.pollMs);
    }
  }

  /** Places one share of the request, and with failover places what is left again until it completes. */
  async function runShare(leg: PlannedLeg, duration: number, tag: string): Promise<boolean> {
    let current: PlannedLeg | undefined = leg;
    let seconds = duration;
    while (current) {
      const startedAtMs = Date.now();
      const created = await serial(() =>
        createJobOnChain(context, out, { offerId: current!.offerId, gpus: current!.gpus, duration: seconds, maxPrice: options.maxPrice, specHash: options.specHash, usePermit: options.usePermit }),
      );
      say(`job #${created.jobId}: ${current.gpus} GPU(s) on offer #${current.offerId} of ${current.provider} for ${formatDuration(seconds)}, ${pay(created.escrow)} in escrow`);
      let agentUrl: string | null = null;
      let agent: AgentClient | null = null;
      try {
        agentUrl = options.agentUrl ?? (await agentEndpoint(context, current.provider));
        agent = createAgentClient({ apiUrl: agentUrl, account: context.account, chainId: context.chain.id, market: context.market });
      } catch (error) {
        say(`job #${created.jobId}: ${(error as Error).message}; it will expire unaccepted and be refunded`);
      }
      const record: JobRecord = {
        jobId: created.jobId,
        offerId: current.offerId,
        provider: current.provider,
        gpus: current.gpus,
        duration: seconds,
        agent: agentUrl,
        secondsToAccept: null,
        outcome: { kind: "stopped", earned: 0n },
      };
      records.push(record);
      record.outcome = await follow(created.jobId, agent, tag, startedAtMs, record);
      const outcome = record.outcome;
      if (outcome.kind === "completed") return true;
      if (outcome.kind === "stopped" || stopping) return false;
      if (outcome.kind === "not-started") say(`job #${created.jobId}: ${outcome.reason}; refund ${pay(outcome.refund)}`);
      if (!options.failover) return false;
      if (outcome.kind === "dark") seconds = outcome.secondsLeft;
      if (seconds <= 0) return false;
      excluded.add(current.provider.toLowerCase());
      const [next]: PlannedLeg[] = await plan(context, options, { gpus: current.gpus, duration: seconds, spread: 1, exclude: excluded }, say);
      say(`failover: ${formatDuration(seconds)} of ${current.gpus} GPU(s) go to offer #${next!.offerId} of ${next!.provider}`);
      current = next;
    }
    return false;
  }

  const done = (async (): Promise<ClientRunResult> => {
    const legs = await plan(context, options, { gpus: options.gpus, duration: options.duration, spread: options.spread, exclude: excluded }, say);
    const total = legs.reduce((sum, leg) => sum + leg.escrow, 0n);
    const lines = legs.map(
      (leg) => `  offer #${leg.offerId} of ${leg.provider}: ${leg.gpus} x ${options.model.name} at ${pay(leg.pricePerGpuHour)} per GPU-hour, ${pay(leg.escrow)} escrow`,
    );
    const summary = [`plan for ${options.gpus} x ${options.model.name} for ${formatDuration(options.duration)} (spec ${options.specHash}):`, ...lines, `  total escrow ${pay(total)}; unused time is refunded`].join("\n");
    say(summary);
    if (!(await options.confirmPlan(`pay ${pay(total)} into escrow?`))) throw new CliError("cancelled: no job was created");
    const results = await Promise.all(legs.map((leg, index) => runShare(leg, options.duration, legs.length > 1 ? `share ${index + 1}/${legs.length}` : "")));
    return { specHash: options.specHash, jobs: records, completed: results.every(Boolean) };
  })();

  return {
    done,
    stop() {
      stopping = true;
    },
  };
}

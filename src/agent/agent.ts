import fs from "node:fs";
import path from "node:path";
import { fetchInput } from "./inputs";
import { repricedPrice } from "./repricing";
import { readAllOffers } from "../cli/lib/reads";
import { keccak256, toHex, type AbiEvent, type Address, type Hex } from "viem";
import { jobMarketAbi } from "../chain/abis";
import { createSignerContext, type SignerContext } from "../cli/lib/context";
import type { Output } from "../cli/lib/output";
import { describeError } from "../cli/lib/revert";
import { sendContractTransaction, type ContractCall, type SentTransaction } from "../cli/lib/tx";
import type { Logger } from "../internal/logger";
import { CHAIN_JOB_STATES, costUp, type ChainJobState } from "../protocol";
import { buildTar, collectOutputs, sha256Hex } from "./archive";
import type { AgentConfig, GpuDevice } from "./config";
import { createAgentMetrics, type AgentMetrics } from "./metrics";
import { createDockerRunner } from "./docker-runner";
import { createProcessRunner, jobPaths, type ExitSummary, type RunHandle, type Runner } from "./runner";
import type { JobSpec } from "./spec";
import { openAgentState, type AgentJobRow, type AgentState } from "./state";

/**
 * The provider agent's loop (AGENT.md "The agent's loop"): one tick at a time, never two at once. Each tick scans new
 * JobCreated logs for the provider's offers, then moves every open job one step, reading the job's state on chain
 * before any transaction so that a restart never repeats one (and agent_txs refuses an action sent before).
 */

const jobCreatedEvent = jobMarketAbi.find((item) => item.type === "event" && item.name === "JobCreated") as AbiEvent;
/** How long one input download may take. */
const INPUT_TIMEOUT_MS = 120_000;
/** Blocks per getLogs call: what public nodes accept. */
const MAX_LOG_RANGE = 5_000n;

export interface Agent {
  config: AgentConfig;
  state: AgentState;
  context: SignerContext;
  metrics: AgentMetrics;
  inventory: GpuDevice[];
  provider: Address;
  /** Runs ticks until stop(). */
  start(): void;
  stop(): Promise<void>;
  /** One pass; exposed for tests and `agent status`. */
  tick(): Promise<void>;
  /** Checks a spec against the policy: null when allowed, else the reason. */
  policyRefusal(spec: JobSpec): string | null;
}

export interface AgentOptions {
  config: AgentConfig;
  log: Logger;
  inventory: GpuDevice[];
  runner?: Runner;
}

type RawJob = {
  client: Address;
  claimed: bigint;
  offerId: number;
  gpus: number;
  termsId: number;
  pricePerGpuHour: bigint;
  duration: number;
  acceptDeadline: number;
  startedAt: number;
  endedAt: number;
  state: number;
};

export async function createAgent(options: AgentOptions): Promise<Agent> {
  const { config, log, inventory } = options;
  const runner = options.runner ?? (config.runner.kind === "docker" ? createDockerRunner() : createProcessRunner());
  const context = await createSignerContext({ rpcUrl: config.rpcUrl, deploymentFile: config.deploymentFile }, config.wallet);
  const provider = context.account.address;
  fs.mkdirSync(path.join(config.stateDir, "jobs"), { recursive: true });
  const state = openAgentState({ file: path.join(config.stateDir, "agent.db") });
  const owner = state.getMeta("provider");
  if (owner && owner.toLowerCase() !== provider.toLowerCase()) {
    state.close();
    throw new Error(`agent state in ${config.stateDir} belongs to provider ${owner}, not ${provider}: use another stateDir`);
  }
  state.setMeta("provider", provider);
  const metrics = createAgentMetrics();
  const inventoryIndexes = inventory.map((gpu) => gpu.index);
  const handles = new Map<string, RunHandle>();
  let lastSignOfLifeMs = 0;
  // The same in chain time: a dev chain whose clock is moved ahead (evm_increaseTime) judges liveness by its clock.
  let lastSignOfLifeChain = 0;
  let tickChainNow = 0;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let heartbeatTimer: NodeJS.Timeout | undefined;
  let heartbeating: Promise<void> | null = null;
  let txTail: Promise<unknown> = Promise.resolve();
  const inTxLock = <T>(task: () => Promise<T>): Promise<T> => {
    const run = txTail.then(task, task);
    txTail = run.catch(() => undefined);
    return run;
  };
  let running: Promise<void> | null = null;

  const jobDir = (jobId: string) => path.join(config.stateDir, "jobs", jobId);
  const readJob = (jobId: string) =>
    context.publicClient.readContract({ address: context.market, abi: jobMarketAbi, functionName: "getJob", args: [BigInt(jobId)] }) as Promise<RawJob>;
  const chainState = (job: RawJob): ChainJobState => CHAIN_JOB_STATES[job.state] ?? "None";

  /** Sends one action of a job at most once; null when it was sent before or failed (logged). */
  async function send(jobId: string, action: string, call: Omit<ContractCall, "address" | "abi" | "label">): Promise<SentTransaction | null> {
    if (!state.beginTx(jobId, action)) {
      const previous = state.txOf(jobId, action);
      log.warn({ msg: "transaction already sent, not sending again", jobId, action, hash: previous?.hash, status: previous?.status });
      if (previous?.hash && previous.status === "sent") {
        const receipt = await context.publicClient.waitForTransactionReceipt({ hash: previous.hash as Hex, timeout: 60_000 }).catch(() => null);
        if (receipt) state.finishTx(jobId, action, { status: receipt.status === "success" ? "mined" : "reverted" });
      }
      return null;
    }
    let hash: string | undefined;
    const out: Output = {
      json: false,
      line: () => undefined,
      table: () => undefined,
      result: () => undefined,
      tx(label, sentHash) {
        hash = sentHash;
        state.finishTx(jobId, action, { hash: sentHash, status: "sent" });
        log.info({ msg: "transaction sent", jobId: jobId || undefined, action, label, hash: sentHash });
      },
    };
    try {
      // One transaction at a time: the heartbeat timer and the job loop share the wallet's nonce sequence.
      const sent = await inTxLock(() => sendContractTransaction(context, out, { ...call, label: action, address: context.market, abi: jobMarketAbi }));
      state.finishTx(jobId, action, { status: "mined" });
      metrics.transactions.inc({ action, status: "mined" });
      lastSignOfLifeMs = Date.now();
      lastSignOfLifeChain = tickChainNow;
      return sent;
    } catch (error) {
      const message = describeError(error, context.errorContext);
      state.finishTx(jobId, action, { status: hash ? "reverted" : "failed", error: message });
      metrics.transactions.inc({ action, status: hash ? "reverted" : "failed" });
      log.error({ msg: "transaction failed", jobId: jobId || undefined, action, hash, error: message });
      return null;
    }
  }

  async function decline(job: AgentJobRow, reason: string): Promise<void> {
    const reasonHash = keccak256(toHex(reason));
    log.info({ msg: "declining job", jobId: job.job_id, reason, reasonHash });
    const sent = await send(job.job_id, "decline", { functionName: "declineJob", args: [BigInt(job.job_id), reasonHash] });
    state.releaseGpus(job.job_id);
    const chain = chainState(await readJob(job.job_id));
    if (sent || chain !== "Created") state.updateJob(job.job_id, { status: chain === "Declined" ? "declined" : "gone", reason });
  }

  /** Scans JobCreated logs since the last scanned block; inserts the jobs on the provider's offers. */
  async function discover(): Promise<void> {
    const head = await context.publicClient.getBlockNumber();
    let from = BigInt(state.getMeta("lastScannedBlock") ?? String(context.deployment.startBlock - 1)) + 1n;
    while (from <= head) {
      const to = from + MAX_LOG_RANGE - 1n < head ? from + MAX_LOG_RANGE - 1n : head;
      const logs = (await context.publicClient.getLogs({ address: context.market, event: jobCreatedEvent, fromBlock: from, toBlock: to })) as unknown as Array<{
        blockNumber: bigint;
        args: { jobId: bigint; offerId: bigint; client: Address; provider: Address; gpus: number; pricePerGpuHour: bigint; duration: number; acceptDeadline: bigint; specHash: Hex };
      }>;
      for (const entry of logs) {
        const args = entry.args;
        if (args.provider.toLowerCase() !== provider.toLowerCase()) continue;
        if (config.offers && !config.offers.includes(args.offerId)) continue;
        const raw = await readJob(args.jobId.toString());
        const terms = await context.publicClient.readContract({ address: context.market, abi: jobMarketAbi, functionName: "terms", args: [BigInt(raw.termsId)] });
        const inserted = state.insertJob({
          job_id: args.jobId.toString(),
          offer_id: args.offerId.toString(),
          client: args.client,
          gpus: Number(args.gpus),
          price_per_gpu_hour: args.pricePerGpuHour.toString(),
          duration_seconds: Number(args.duration),
          accept_deadline: Number(args.acceptDeadline),
          spec_hash: args.specHash.toLowerCase(),
          liveness_timeout_seconds: Number(terms.livenessTimeout),
          dispute_window_seconds: Number(terms.disputeWindow),
          status: "waiting_spec",
          reason: null,
          created_block: Number(entry.blockNumber),
        });
        if (inserted) log.info({ msg: "job found", jobId: args.jobId.toString(), offerId: args.offerId.toString(), client: args.client, gpus: Number(args.gpus) });
      }
      state.setMeta("lastScannedBlock", to.toString());
      from = to + 1n;
    }
  }

  function policyRefusal(spec: JobSpec): string | null {
    if (spec.command) {
      if (config.runner.kind !== "process") return "this agent runs images, not commands";
      if (!config.policy.allowedCommands.includes(spec.command[0]!)) return `command ${spec.command[0]} is not allowed here`;
    }
    if (spec.image) {
      if (config.runner.kind !== "docker") return "this agent runs commands, not images";
      if (!config.policy.allowedImages.includes(spec.image)) return `image ${spec.image} is not allowed here`;
    }
    return null;
  }

  function startWorkload(job: AgentJobRow, acceptedAt: number): void {
    const spec = JSON.parse(job.spec_json!) as JobSpec;
    const gpus = state.gpusOf(job.job_id);
    const runtimeSeconds = Math.min(job.duration_seconds, spec.maxRuntimeSeconds ?? job.duration_seconds);
    const startedAtMs = Date.now();
    const handle = runner.start({
      jobDir: jobDir(job.job_id),
      argv: spec.command ? [...spec.command, ...(spec.args ?? [])] : (spec.args ?? []),
      image: spec.image,
      env: spec.env ?? {},
      gpuIndexes: gpus,
      deadlineMs: startedAtMs + runtimeSeconds * 1000,
      maxOutputBytes: config.runner.maxOutputBytes,
    });
    state.updateJob(job.job_id, { status: "running", accepted_at: acceptedAt, started_at_ms: startedAtMs, pid: handle.pid });
    log.info({ msg: "workload started", jobId: job.job_id, pid: handle.pid, gpus, runtimeLimitSeconds: runtimeSeconds });
    follow(job.job_id, handle);
  }

  /** Follows a workload an earlier agent process started (its pid and start are in the state). */
  function reattachWorkload(job: AgentJobRow, deadlineMs: number): void {
    follow(job.job_id, runner.reattach(job.pid!, { jobDir: jobDir(job.job_id), deadlineMs, maxOutputBytes: config.runner.maxOutputBytes }, job.started_at_ms!));
  }

  function follow(jobId: string, handle: RunHandle): void {
    handles.set(jobId, handle);
    handle.exited.then((exit) => {
      handles.delete(jobId);
      if (!state.store.db.open) return;
      try {
        finishWorkload(jobId, exit);
      } catch (error) {
        // The next agent process collects it again: the job stays running in the state until then.
        log.error({ msg: "cannot record the workload's end", jobId, error: (error as Error).message });
      }
    });
  }

  /** Collects and hashes the outputs: the archive's sha256 becomes the job's resultHash. */
  function finishWorkload(jobId: string, exit: ExitSummary): void {
    const job = state.job(jobId)!;
    const spec = JSON.parse(job.spec_json!) as JobSpec;
    const paths = jobPaths(jobDir(jobId));
    let archive: Buffer;
    try {
      // exit.json is the agent's summary: a workload file of that name cannot stand in for it.
      const entries = collectOutputs(paths.work, spec.outputs ?? []).filter((entry) => entry.path !== "exit.json");
      entries.push({ path: "exit.json", data: Buffer.from(JSON.stringify(exit) + "\n") });
      archive = buildTar(entries);
    } catch (error) {
      log.error({ msg: "cannot collect outputs", jobId, error: (error as Error).message });
      archive = buildTar([{ path: "exit.json", data: Buffer.from(JSON.stringify({ ...exit, note: `outputs not collected: ${(error as Error).message}` }) + "\n") }]);
    }
    fs.writeFileSync(paths.archive, archive);
    const resultHash = `0x${sha256Hex(archive)}`;
    state.releaseGpus(jobId);
    state.updateJob(jobId, {
      status: exit.reason === "vanished" ? "failed" : "finished",
      reason: exit.reason === "exited" ? null : exit.reason,
      finished_at_ms: Date.now(),
      exit_json: JSON.stringify(exit),
      result_hash: resultHash,
      archive_bytes: archive.length,
    });
    log[exit.reason === "vanished" ? "warn" : "info"]({ msg: exit.reason === "vanished" ? "workload vanished" : "workload ended", jobId, ...exit, resultHash });
  }

  /**
   * Claims with the client's latest receipt when that pays at least claims.minAmount: receipted pay is final (no
   * dispute can take it back), and a smaller claim would cost more gas than it is worth.
   */
  async function claimIfWorthIt(job: AgentJobRow, raw: RawJob, onChain: ChainJobState, chainNow: number): Promise<void> {
    const servedUntil = job.receipt_served_until;
    if (servedUntil === null || !job.receipt_signature || servedUntil <= (job.claimed_served_until ?? 0) || !raw.startedAt) return;
    if (onChain !== "Running" && onChain !== "Completed" && onChain !== "Disputed") return;
    const clockEnd = onChain === "Running" ? chainNow : raw.endedAt;
    const until = Math.min(servedUntil, clockEnd, raw.startedAt + raw.duration);
    const claimable = costUp(raw.pricePerGpuHour, raw.gpus, Math.max(0, until - raw.startedAt)) - raw.claimed;
    if (claimable < config.claims.minAmount) return;
    const sent = await send(job.job_id, `claim:${servedUntil}`, {
      functionName: "claimWithReceipt",
      args: [BigInt(job.job_id), BigInt(servedUntil), job.receipt_signature as Hex],
    });
    state.updateJob(job.job_id, { claimed_served_until: servedUntil });
    if (sent) log.info({ msg: "claimed with receipt", jobId: job.job_id, servedUntil, claimable: claimable.toString() });
  }

  /**
   * Fetches the spec's inputs into work/inputs/<sha256> before the job is accepted (billing starts only once the
   * workload can run); an input already there with the right hash is kept, so a restart fetches nothing twice.
   * Returns why an input cannot be had, or null.
   */
  async function fetchInputs(job: AgentJobRow, spec: JobSpec): Promise<string | null> {
    const dir = path.join(jobPaths(jobDir(job.job_id)).work, "inputs");
    for (const [position, input] of (spec.inputs ?? []).entries()) {
      const target = path.join(dir, input.sha256);
      if (fs.existsSync(target) && sha256Hex(fs.readFileSync(target)) === input.sha256) continue;
      let data: Buffer;
      try {
        data = await fetchInput(input.url, { allowPrivate: config.policy.allowPrivateInputs, maxBytes: config.runner.maxOutputBytes, timeoutMs: INPUT_TIMEOUT_MS });
      } catch (error) {
        return `input ${position} cannot be fetched: ${(error as Error).message}`;
      }
      if (data.length > config.runner.maxOutputBytes) return `input ${position} is larger than runner.maxOutputBytes`;
      if (sha256Hex(data) !== input.sha256) return `input ${position} does not match its sha256`;
      fs.mkdirSync(dir, { recursive: true });
      fs.writeFileSync(target, data);
      log.info({ msg: "input fetched", jobId: job.job_id, position, bytes: data.length, sha256: input.sha256 });
    }
    return null;
  }

  /** One step of one job, by its local status; the chain's state is read first. */
  async function step(job: AgentJobRow, chainNow: number): Promise<void> {
    const raw = await readJob(job.job_id);
    const onChain = chainState(raw);
    if (job.status === "running" || job.status === "finished" || job.status === "failed") await claimIfWorthIt(job, raw, onChain, chainNow);
    switch (job.status) {
      case "waiting_spec": {
        if (onChain !== "Created") return adoptChainState(job, raw, onChain);
        if (config.policy.denyClients.some((address) => address.toLowerCase() === job.client.toLowerCase())) return decline(job, "client refused by policy");
        if (BigInt(job.price_per_gpu_hour) < config.policy.minPricePerGpuHour) return decline(job, "price below the provider's minimum");
        if (job.gpus > inventoryIndexes.length) return decline(job, `asks ${job.gpus} GPUs; this machine has ${inventoryIndexes.length}`);
        if (!state.assignGpus(job.job_id, job.gpus, inventoryIndexes)) return decline(job, "no free GPUs");
        if (job.spec_json) {
          const refusal = policyRefusal(JSON.parse(job.spec_json) as JobSpec);
          if (refusal) return decline(job, refusal);
          state.updateJob(job.job_id, { status: "preparing" });
          return step(state.job(job.job_id)!, chainNow);
        }
        if (chainNow >= job.accept_deadline - config.timing.specWaitMarginSeconds) return decline(job, "spec not delivered before the accept deadline");
        return;
      }
      case "preparing": {
        if (onChain !== "Created") return adoptChainState(job, raw, onChain);
        fs.mkdirSync(jobPaths(jobDir(job.job_id)).work, { recursive: true });
        const inputFailure = await fetchInputs(job, JSON.parse(job.spec_json!) as JobSpec);
        if (inputFailure) return decline(job, inputFailure);
        const sent = await send(job.job_id, "accept", { functionName: "acceptJob", args: [BigInt(job.job_id)] });
        const after = await readJob(job.job_id);
        if (chainState(after) === "Running") {
          log.info({ msg: "job accepted", jobId: job.job_id, startedAt: after.startedAt, byThisProcess: Boolean(sent) });
          return startWorkload(job, after.startedAt);
        }
        return adoptChainState(job, after, chainState(after));
      }
      case "running": {
        if (onChain !== "Running") {
          log.warn({ msg: "job ended on chain while its workload ran", jobId: job.job_id, state: onChain });
          if (!handles.has(job.job_id)) {
            // Ended while no agent ran (reported dark, say): without a handle nothing would ever stop the workload,
            // free its GPUs or stop its heartbeats. Reattach to stop it, or leave the job at once if it is gone.
            if (job.pid === null || job.started_at_ms === null) return adoptChainState(job, raw, onChain);
            reattachWorkload(job, Date.now());
          }
          handles.get(job.job_id)?.stop("stopped");
          return;
        }
        // The workload may have ended while this step read the chain: then its end is recorded already.
        if (!handles.has(job.job_id) && state.job(job.job_id)?.status === "running") {
          // Restarted: await the workload an earlier agent process started (or learn that it vanished).
          if (job.pid === null || job.started_at_ms === null) return startWorkload(job, raw.startedAt);
          const spec = JSON.parse(job.spec_json!) as JobSpec;
          const runtimeSeconds = Math.min(job.duration_seconds, spec.maxRuntimeSeconds ?? job.duration_seconds);
          log.info({ msg: "reattaching to workload", jobId: job.job_id, pid: job.pid });
          reattachWorkload(job, job.started_at_ms + runtimeSeconds * 1000);
        }
        return;
      }
      case "finished":
      case "failed": {
        if (job.completed_at === null) {
          if (onChain === "Running") {
            const sent = await send(job.job_id, "complete", { functionName: "completeJob", args: [BigInt(job.job_id), job.result_hash as Hex] });
            if (sent) log.info({ msg: "job completed", jobId: job.job_id, resultHash: job.result_hash });
            const after = await readJob(job.job_id);
            if (after.endedAt) state.updateJob(job.job_id, { completed_at: after.endedAt });
            return;
          }
          if (raw.endedAt) state.updateJob(job.job_id, { completed_at: raw.endedAt });
          if (onChain !== "Completed") return adoptChainState(job, raw, onChain);
          return;
        }
        if (onChain === "Completed" && chainNow > job.completed_at + job.dispute_window_seconds) {
          await send(job.job_id, "settle", { functionName: "settleJob", args: [BigInt(job.job_id)] });
          const after = chainState(await readJob(job.job_id));
          if (after !== "Completed") state.updateJob(job.job_id, { status: after === "Settled" ? "settled" : "gone", reason: after === "Settled" ? job.reason : `ended ${after}` });
          return;
        }
        if (onChain !== "Completed") state.updateJob(job.job_id, { status: onChain === "Settled" ? "settled" : "gone", reason: onChain === "Settled" ? job.reason : `ended ${onChain}` });
        return;
      }
      default:
        return;
    }
  }

  /** The chain moved on without this process (a restart, the client, a dark report): follow it, never repeat an action. */
  function adoptChainState(job: AgentJobRow, raw: RawJob, onChain: ChainJobState): void {
    if (onChain === "Running" && job.spec_json) {
      log.warn({ msg: "job already running on chain", jobId: job.job_id });
      if (!state.assignGpus(job.job_id, job.gpus, inventoryIndexes)) {
        log.error({ msg: "job running on chain but its GPUs are taken", jobId: job.job_id });
        return;
      }
      return startWorkload(job, raw.startedAt);
    }
    state.releaseGpus(job.job_id);
    const status = onChain === "Declined" ? "declined" : "gone";
    state.updateJob(job.job_id, { status, reason: job.reason ?? `ended ${onChain}` });
    log.info({ msg: "job left", jobId: job.job_id, state: onChain });
  }

  async function heartbeatIfDue(): Promise<void> {
    const live = state.jobs(["running", "finished", "failed"]).filter((job) => job.completed_at === null && job.accepted_at !== null);
    if (live.length === 0) return;
    const intervalSeconds = config.timing.heartbeatIntervalSeconds ?? Math.max(1, Math.floor(Math.min(...live.map((job) => job.liveness_timeout_seconds)) / 3));
    // Due after the interval by the wall clock or by the chain's: the chain's clock decides darkness, and it can run ahead.
    if (Date.now() - lastSignOfLifeMs < intervalSeconds * 1000 && tickChainNow - lastSignOfLifeChain < intervalSeconds) return;
    const sent = await send("", "heartbeat", { functionName: "heartbeat" });
    if (sent) {
      metrics.heartbeats.inc();
      log.info({ msg: "heartbeat", runningJobs: live.length, intervalSeconds });
    }
  }

  let lastRepricedAt = 0;
  /** config.repricing: moves the open offers' prices with their utilization, within the bounds, once per interval. */
  async function repriceIfDue(chainNow: number): Promise<void> {
    const rules = config.repricing;
    if (!rules || chainNow - lastRepricedAt < rules.intervalSeconds) return;
    lastRepricedAt = chainNow;
    const offers = (await readAllOffers(context)).filter(
      (offer) => offer.provider.toLowerCase() === provider.toLowerCase() && offer.state === "OPEN" && (!config.offers || config.offers.includes(offer.id)),
    );
    for (const offer of offers) {
      const price = repricedPrice(offer.pricePerGpuHour, offer.gpus, offer.gpusLeased, rules);
      if (price === null) continue;
      const sent = await send("", `reprice:${offer.id}:${chainNow}`, { functionName: "updateOffer", args: [offer.id, offer.gpus, price, offer.expiresAt] });
      if (sent) log.info({ msg: "offer repriced", offerId: offer.id.toString(), from: offer.pricePerGpuHour.toString(), to: price.toString(), gpus: offer.gpus, leased: offer.gpusLeased });
    }
  }

  async function tick(): Promise<void> {
    await discover();
    const chainNow = Number(await context.now());
    tickChainNow = chainNow;
    for (const listed of state.jobs(["waiting_spec", "preparing", "running", "finished", "failed"])) {
      // Read again: an earlier step of this tick awaited the chain, and meanwhile a workload may have ended and
      // moved its job on (a stale "running" row would take the ended workload for one that vanished).
      const job = state.job(listed.job_id);
      if (!job || job.status !== listed.status) continue;
      try {
        await step(job, chainNow);
      } catch (error) {
        log.error({ msg: "job step failed", jobId: job.job_id, status: job.status, error: describeError(error, context.errorContext) });
      }
    }
    await repriceIfDue(chainNow);
    metrics.observe(state, inventoryIndexes);
  }

  const loop = () => {
    if (stopped) return;
    running = tick()
      .catch((error) => log.error({ msg: "tick failed", error: describeError(error, context.errorContext), retryable: true }))
      .finally(() => {
        running = null;
        if (!stopped) timer = setTimeout(loop, config.timing.pollIntervalMs);
      });
  };

  // A restarted agent has shown no sign of life yet in this process: the first tick sends a heartbeat if jobs run.
  return {
    config,
    state,
    context,
    metrics,
    inventory,
    provider,
    start() {
      loop();
      // Heartbeats on their own timer: a job step that waits (an input download, a receipt) never delays them.
      heartbeatTimer = setInterval(() => {
        if (stopped || heartbeating) return;
        heartbeating = heartbeatIfDue()
          .catch((error) => log.error({ msg: "heartbeat failed", error: describeError(error, context.errorContext), retryable: true }))
          .finally(() => (heartbeating = null));
      }, Math.min(config.timing.pollIntervalMs, 1000));
    },
    async stop() {
      stopped = true;
      clearTimeout(timer);
      clearInterval(heartbeatTimer);
      if (heartbeating) await heartbeating;
      if (running) await running;
      // Workloads keep running: the next agent process reattaches to them.
      state.close();
    },
    tick,
    policyRefusal,
  };
}

import { erc20Abi } from "viem";
import { jobMarketAbi, providerStakingAbi } from "../../chain/abis";
import { SIGNER_OPTIONS, requireOption, signerHelp } from "../lib/args";
import { parseOrHelp, type Command, type Subcommand } from "../lib/command";
import { MAX_JOB_DURATION_SECONDS, MAX_OFFER_GPUS, hashOrText, parseExpiry, parseTimestamp, signerFromValues } from "../lib/common";
import type { SignerContext } from "../lib/context";
import { CliError } from "../lib/errors";
import { UsageError } from "../../internal/errors";
import { JOB_HEADERS, OFFER_HEADERS, jobJson, jobRow, offerJson, offerRow } from "../lib/format";
import { jobSubcommand, type JobCommandAction } from "../lib/job-command";
import { createOutput, type Output } from "../lib/output";
import { authorizePull } from "../lib/permit";
import {
  getEventLogs,
  readAllJobs,
  readAllOffers,
  readCatalog,
  readEarned,
  readJob,
  readOffer,
  regionToBytes16,
  resolveModel,
} from "../lib/reads";
import { CHAIN_JOB_STATES, OPEN_JOB_STATES, type JobState } from "../../protocol";
import { eventOf, sendContractTransaction } from "../lib/tx";
import {
  formatAmount,
  formatDuration,
  formatRelative,
  formatTime,
  parseDuration,
  parseId,
  parseInteger,
  parsePercentBps,
  parsePositiveAmount,
} from "../../protocol/units";


const MAX_UINT16 = 2 ** 16 - 1;

async function printProviderState(context: SignerContext, out: Output): Promise<void> {
  const account = await context.publicClient.readContract({
    address: context.staking,
    abi: providerStakingAbi,
    functionName: "account",
    args: [context.account.address],
  });
  out.line(
    `stake: ${formatAmount(account.staked, context.stake)} staked (${formatAmount(account.locked, context.stake)} locked), ` +
      `${formatAmount(account.unbonding, context.stake)} unbonding`,
  );
}

// ------------------------------------------------------------------ staking
const registerHelp = signerHelp("usage: gpumesh provider register --metadata URI [options]", "Registers the wallet as a provider; the URI describes the endpoint and hardware.");
const register: Subcommand = {
  summary: "register as a provider with a metadata URI",
  help: registerHelp,
  async run(argv) {
    const parsed = parseOrHelp(argv, { ...SIGNER_OPTIONS, metadata: { type: "string" } }, registerHelp);
    if (!parsed) return 0;
    const metadataURI = requireOption(parsed.values.metadata, "--metadata");
    const context = await signerFromValues(parsed.values);
    const out = createOutput(Boolean(parsed.values.json));
    const sent = await sendContractTransaction(context, out, {
      label: "register",
      address: context.staking,
      abi: providerStakingAbi,
      functionName: "register",
      args: [metadataURI],
    });
    eventOf(sent, "ProviderRegistered");
    out.line(`registered ${context.account.address} with metadata ${metadataURI}`);
    out.result({ provider: context.account.address, metadataURI, block: sent.receipt.blockNumber });
  },
};

const updateMetadataHelp = signerHelp("usage: gpumesh provider update-metadata --metadata URI [options]");
const updateMetadata: Subcommand = {
  summary: "change the provider's metadata URI",
  help: updateMetadataHelp,
  async run(argv) {
    const parsed = parseOrHelp(argv, { ...SIGNER_OPTIONS, metadata: { type: "string" } }, updateMetadataHelp);
    if (!parsed) return 0;
    const metadataURI = requireOption(parsed.values.metadata, "--metadata");
    const context = await signerFromValues(parsed.values);
    const out = createOutput(Boolean(parsed.values.json));
    await sendContractTransaction(context, out, {
      label: "update metadata",
      address: context.staking,
      abi: providerStakingAbi,
      functionName: "updateMetadata",
      args: [metadataURI],
    });
    out.line(`metadata ${metadataURI}`);
    out.result({ provider: context.account.address, metadataURI });
  },
};

const stakeHelp = signerHelp(
  "usage: gpumesh provider stake AMOUNT [--no-permit] [options]",
  "Stakes AMOUNT of the stake token (e.g. 1000). Uses an EIP-2612 permit when the token supports it (one",
  "transaction), else approve + stake.",
  "  --no-permit           approve + stake even when the token supports permit",
);
const stake: Subcommand = {
  summary: "stake collateral (permit or approve)",
  help: stakeHelp,
  async run(argv) {
    const parsed = parseOrHelp(argv, { ...SIGNER_OPTIONS, "no-permit": { type: "boolean" } }, stakeHelp, 1);
    if (!parsed) return 0;
    const context = await signerFromValues(parsed.values);
    const amount = parsePositiveAmount(parsed.positionals[0]!, context.stake, "AMOUNT");
    const out = createOutput(Boolean(parsed.values.json));
    const balance = await context.publicClient.readContract({
      address: context.stake.address,
      abi: erc20Abi,
      functionName: "balanceOf",
      args: [context.account.address],
    });
    if (balance < amount) {
      throw new CliError(
        `balance ${formatAmount(balance, context.stake)} of ${context.account.address} is below the ${formatAmount(amount, context.stake)} needed`,
      );
    }
    const permit = await authorizePull(context, out, context.stake, context.staking, amount, !parsed.values["no-permit"]);
    const sent = await sendContractTransaction(context, out, {
      label: permit ? "stake with permit" : "stake",
      address: context.staking,
      abi: providerStakingAbi,
      functionName: permit ? "stakeWithPermit" : "stake",
      args: permit ? [amount, permit] : [amount],
      token: context.stake,
    });
    const staked = eventOf(sent, "Staked");
    out.line(`staked ${formatAmount(amount, context.stake)}; total staked ${formatAmount(staked.staked as bigint, context.stake)}`);
    out.result({ provider: context.account.address, amount, staked: staked.staked, permit: Boolean(permit) });
  },
};

const unstakeHelp = signerHelp(
  "usage: gpumesh provider unstake AMOUNT [options]",
  "Moves AMOUNT of unlocked stake into unbonding (requestUnstake); `provider withdraw` after the unbonding period.",
);
const unstake: Subcommand = {
  summary: "request to unstake (starts the unbonding period)",
  help: unstakeHelp,
  async run(argv) {
    const parsed = parseOrHelp(argv, SIGNER_OPTIONS, unstakeHelp, 1);
    if (!parsed) return 0;
    const context = await signerFromValues(parsed.values);
    const amount = parsePositiveAmount(parsed.positionals[0]!, context.stake, "AMOUNT");
    const out = createOutput(Boolean(parsed.values.json));
    const sent = await sendContractTransaction(context, out, {
      label: "request unstake",
      address: context.staking,
      abi: providerStakingAbi,
      functionName: "requestUnstake",
      args: [amount],
    });
    const event = eventOf(sent, "UnstakeRequested");
    const readyAt = event.readyAt as bigint;
    const now = await context.now();
    out.line(
      `unbonding ${formatAmount(event.unbonding as bigint, context.stake)}, withdrawable at ${formatTime(readyAt)} (${formatRelative(readyAt, now)}); ` +
        `still staked ${formatAmount(event.staked as bigint, context.stake)}`,
    );
    out.result({ provider: context.account.address, amount, staked: event.staked, unbonding: event.unbonding, readyAt });
  },
};

const withdrawHelp = signerHelp("usage: gpumesh provider withdraw [options]", "Withdraws all unbonding stake once the unbonding period has passed.");
const withdraw: Subcommand = {
  summary: "withdraw unbonded stake",
  help: withdrawHelp,
  async run(argv) {
    const parsed = parseOrHelp(argv, SIGNER_OPTIONS, withdrawHelp);
    if (!parsed) return 0;
    const context = await signerFromValues(parsed.values);
    const out = createOutput(Boolean(parsed.values.json));
    const sent = await sendContractTransaction(context, out, {
      label: "withdraw stake",
      address: context.staking,
      abi: providerStakingAbi,
      functionName: "withdrawStake",
    });
    const amount = eventOf(sent, "StakeWithdrawn").amount as bigint;
    out.line(`withdrew ${formatAmount(amount, context.stake)}`);
    await printProviderState(context, out);
    out.result({ provider: context.account.address, amount });
  },
};

// ------------------------------------------------------------------ offers
const offerCreateHelp = signerHelp(
  "usage: gpumesh provider offer create --model NAME --gpus N --price PRICE --region CODE [options]",
  "Lists GPU capacity. PRICE is per GPU-hour in the payment token (e.g. 2.35).",
  "  --model NAME          catalog GPU model (e.g. H100-SXM-80GB; a unique prefix like h100 works)",
  "  --gpus N              number of GPUs",
  "  --price PRICE         price per GPU-hour, e.g. 2.35",
  "  --region CODE         region code, e.g. eu-west",
  "  --min-duration D      shortest job (default 1h); durations like 90s, 30m, 2h, 7d",
  "  --max-duration D      longest job (default 7d)",
  "  --carbon G            carbon intensity, gCO2e/kWh (default 0: unknown)",
  "  --renewable P         share of renewable power, e.g. 80% (default 0%)",
  "  --expires D|DATE      offer lifetime from now (default 30d) or an ISO date",
);
const offerCreate: Subcommand = {
  summary: "list GPU capacity at a price per GPU-hour",
  help: offerCreateHelp,
  async run(argv) {
    const parsed = parseOrHelp(
      argv,
      {
        ...SIGNER_OPTIONS,
        model: { type: "string" },
        gpus: { type: "string" },
        price: { type: "string" },
        region: { type: "string" },
        "min-duration": { type: "string" },
        "max-duration": { type: "string" },
        carbon: { type: "string" },
        renewable: { type: "string" },
        expires: { type: "string" },
      },
      offerCreateHelp,
    );
    if (!parsed) return 0;
    const { values } = parsed;
    const modelName = requireOption(values.model, "--model");
    const gpus = parseInteger(requireOption(values.gpus, "--gpus"), "--gpus", { min: 1, max: MAX_OFFER_GPUS });
    const priceText = requireOption(values.price, "--price");
    const region = regionToBytes16(requireOption(values.region, "--region"));
    const minDuration = parseDuration(values["min-duration"] ?? "1h", "--min-duration");
    const maxDuration = parseDuration(values["max-duration"] ?? "7d", "--max-duration");
    if (minDuration === 0) throw new UsageError("--min-duration: must be more than 0");
    if (minDuration > maxDuration) throw new UsageError("--min-duration: must not exceed --max-duration");
    if (maxDuration > MAX_JOB_DURATION_SECONDS) throw new UsageError("--max-duration: at most 365d");
    const carbonIntensity = values.carbon === undefined ? 0 : parseInteger(values.carbon, "--carbon", { max: MAX_UINT16 });
    const renewableBps = values.renewable === undefined ? 0 : parsePercentBps(values.renewable, "--renewable");

    const context = await signerFromValues(values);
    const price = parsePositiveAmount(priceText, context.payment, "--price");
    const catalog = await readCatalog(context);
    const model = resolveModel(catalog, modelName);
    const expiresAt = parseExpiry(values.expires ?? "30d", await context.now());
    const out = createOutput(Boolean(values.json));
    const sent = await sendContractTransaction(context, out, {
      label: "create offer",
      address: context.market,
      abi: jobMarketAbi,
      functionName: "createOffer",
      args: [
        {
          gpuModel: model.id,
          gpus,
          pricePerGpuHour: price,
          minDuration,
          maxDuration,
          region,
          carbonIntensity,
          renewableBps,
          expiresAt,
        },
      ],
    });
    const offerId = eventOf(sent, "OfferCreated").offerId as bigint;
    const offer = await readOffer(context, offerId, catalog);
    out.line(
      `offer #${offerId}: ${gpus} x ${model.name} in ${values.region} at ${formatAmount(price, context.payment)} per GPU-hour, ` +
        `jobs ${formatDuration(minDuration)}..${formatDuration(maxDuration)}, expires ${formatTime(expiresAt)}; state ${offer.state.toLowerCase()}`,
    );
    out.result({ offerId, offer: offerJson(context, offer) });
  },
};

const offerUpdateHelp = signerHelp(
  "usage: gpumesh provider offer update OFFER [--gpus N] [--price PRICE] [--expires D|DATE] [options]",
  "Reprices, resizes (never below leased GPUs) or extends an offer; running jobs keep their terms.",
);
const offerUpdate: Subcommand = {
  summary: "reprice, resize or extend an offer",
  help: offerUpdateHelp,
  async run(argv) {
    const parsed = parseOrHelp(
      argv,
      { ...SIGNER_OPTIONS, gpus: { type: "string" }, price: { type: "string" }, expires: { type: "string" } },
      offerUpdateHelp,
      1,
    );
    if (!parsed) return 0;
    const { values } = parsed;
    const offerId = parseId(parsed.positionals[0], "offer");
    if (values.gpus === undefined && values.price === undefined && values.expires === undefined) {
      throw new UsageError("nothing to update: give --gpus, --price or --expires");
    }
    const gpusArg = values.gpus === undefined ? undefined : parseInteger(values.gpus, "--gpus", { min: 1, max: MAX_OFFER_GPUS });
    const context = await signerFromValues(values);
    const priceArg = values.price === undefined ? undefined : parsePositiveAmount(values.price, context.payment, "--price");
    const current = await readOffer(context, offerId);
    const expiresAt = values.expires === undefined ? current.expiresAt : parseExpiry(values.expires, await context.now());
    const out = createOutput(Boolean(values.json));
    const gpus = gpusArg ?? current.gpus;
    const price = priceArg ?? current.pricePerGpuHour;
    await sendContractTransaction(context, out, {
      label: "update offer",
      address: context.market,
      abi: jobMarketAbi,
      functionName: "updateOffer",
      args: [offerId, gpus, price, expiresAt],
    });
    const offer = await readOffer(context, offerId);
    out.line(
      `offer #${offerId}: ${offer.gpus} GPUs (${offer.gpusLeased} leased) at ${formatAmount(offer.pricePerGpuHour, context.payment)} per GPU-hour` +
        `${price !== current.pricePerGpuHour ? ` (was ${formatAmount(current.pricePerGpuHour, context.payment)})` : ""}, expires ${formatTime(offer.expiresAt)}`,
    );
    out.result({ offerId, offer: offerJson(context, offer) });
  },
};

const offerCloseHelp = signerHelp("usage: gpumesh provider offer close OFFER [options]", "Closes an offer to new jobs; running jobs go on.");
const offerClose: Subcommand = {
  summary: "close an offer to new jobs",
  help: offerCloseHelp,
  async run(argv) {
    const parsed = parseOrHelp(argv, SIGNER_OPTIONS, offerCloseHelp, 1);
    if (!parsed) return 0;
    const offerId = parseId(parsed.positionals[0], "offer");
    const context = await signerFromValues(parsed.values);
    const out = createOutput(Boolean(parsed.values.json));
    await sendContractTransaction(context, out, {
      label: "close offer",
      address: context.market,
      abi: jobMarketAbi,
      functionName: "closeOffer",
      args: [offerId],
    });
    const offer = await readOffer(context, offerId);
    out.line(`offer #${offerId} is ${offer.state.toLowerCase()} (${offer.gpusLeased} GPUs still leased by running jobs)`);
    out.result({ offerId, offer: offerJson(context, offer) });
  },
};

const offerListHelp = signerHelp("usage: gpumesh provider offer list [--all] [options]", "The wallet's offers (open ones unless --all).", "  --all                 closed and expired offers too");
const offerList: Subcommand = {
  summary: "list the provider's offers",
  help: offerListHelp,
  async run(argv) {
    const parsed = parseOrHelp(argv, { ...SIGNER_OPTIONS, all: { type: "boolean" } }, offerListHelp);
    if (!parsed) return 0;
    const context = await signerFromValues(parsed.values);
    const me = context.account.address.toLowerCase();
    const offers = (await readAllOffers(context)).filter(
      (offer) => offer.provider.toLowerCase() === me && (parsed.values.all || offer.state === "OPEN"),
    );
    const now = await context.now();
    const out = createOutput(Boolean(parsed.values.json));
    out.table(OFFER_HEADERS.slice(0, -1), offers.map((offer) => offerRow(context, offer, now).slice(0, -1)));
    out.result(offers.map((offer) => offerJson(context, offer)));
  },
};

// ------------------------------------------------------------------ jobs
const JOB_STATE_NAMES = CHAIN_JOB_STATES.slice(1).join(", ").toLowerCase();
const jobsHelp = signerHelp(
  "usage: gpumesh provider jobs [--state STATE] [options]",
  "The provider's jobs, read from the chain.",
  `  --state STATE         only jobs in this state (${JOB_STATE_NAMES})`,
);
const jobs: Subcommand = {
  summary: "list the provider's jobs",
  help: jobsHelp,
  async run(argv) {
    const parsed = parseOrHelp(argv, { ...SIGNER_OPTIONS, state: { type: "string" } }, jobsHelp);
    if (!parsed) return 0;
    const wanted = parsed.values.state?.toLowerCase();
    if (wanted && !CHAIN_JOB_STATES.slice(1).some((state) => state.toLowerCase() === wanted)) {
      throw new UsageError(`--state: "${parsed.values.state}" is not a job state (${JOB_STATE_NAMES})`);
    }
    const context = await signerFromValues(parsed.values);
    const me = context.account.address.toLowerCase();
    const list = await readAllJobs(
      context,
      (job) => job.provider.toLowerCase() === me && (!wanted || job.state.toLowerCase() === wanted),
    );
    const now = await context.now();
    const out = createOutput(Boolean(parsed.values.json));
    out.table(JOB_HEADERS, list.map((job) => jobRow(context, job, now)));
    out.result(list.map((job) => jobJson(context, job)));
  },
};

function jobCommand(
  name: string,
  summaryText: string,
  extraHelp: string[],
  extraOptions: Record<string, { type: "string" } | { type: "boolean" }>,
  perform: JobCommandAction,
): Subcommand {
  const text = signerHelp(`usage: gpumesh provider ${name} JOB ${Object.keys(extraOptions).map((o) => `[--${o} ...]`).join(" ")} [options]`.replace(/ +/g, " "), ...extraHelp);
  return jobSubcommand(summaryText, text, extraOptions, perform);
}

const accept = jobCommand("accept", "accept a job (starts the clock)", ["Accepts a created job before its accept deadline; its collateral is locked since its creation."], {}, async (context, out, jobId) => {
  const sent = await sendContractTransaction(context, out, {
    label: "accept job",
    address: context.market,
    abi: jobMarketAbi,
    functionName: "acceptJob",
    args: [jobId],
  });
  const event = eventOf(sent, "JobAccepted");
  const job = await readJob(context, jobId);
  const startedAt = Number(event.startedAt);
  out.line(
    `started ${formatTime(startedAt)}, runs until ${formatTime(startedAt + job.duration)}; collateral locked ${formatAmount(job.collateral, context.stake)}; ` +
      `show a sign of life (\`provider heartbeat\`, a claim) at least every ${formatDuration(job.terms.livenessTimeout)} or anyone can report the job dark`,
  );
  return { startedAt, collateral: job.collateral };
});

const decline = jobCommand(
  "decline",
  "turn a job down before accepting it (full refund, no slash)",
  [
    "Declines a created job before its accept deadline: the payer gets the whole escrow back, the collateral is",
    "released, nothing is slashed (letting it expire instead costs a slash).",
    "  --reason TEXT|HASH    why (text to hash, or a 0x bytes32)",
  ],
  { reason: { type: "string" } },
  async (context, out, jobId, values) => {
    const sent = await sendContractTransaction(context, out, {
      label: "decline job",
      address: context.market,
      abi: jobMarketAbi,
      functionName: "declineJob",
      args: [jobId, hashOrText(values.reason as string | undefined)],
    });
    const event = eventOf(sent, "JobDeclined");
    out.line(`declined: refund ${formatAmount(event.refund as bigint, context.payment)} to the payer; collateral released`);
    return { refund: event.refund, reason: event.reason };
  },
);

const claim = jobCommand(
  "claim",
  "draw pay for the time a job has used (with the client's usage receipt: final)",
  [
    "Streams the pay earned so far on a running job. Without a receipt, total claims stop at what the job's",
    "collateral could take back; with the client's receipt (`client receipt JOB`) the receipted time is paid in full",
    "and final, also once the job is completed or disputed.",
    "  --receipt SIG         the client's UsageReceipt signature (0x...)",
    "  --served-until TIME   the receipt's servedUntil: unix seconds or an ISO date (needed with --receipt)",
  ],
  { receipt: { type: "string" }, "served-until": { type: "string" } },
  async (context, out, jobId, values) => {
    const signature = values.receipt as string | undefined;
    const servedUntilText = values["served-until"] as string | undefined;
    if (signature === undefined && servedUntilText !== undefined) throw new UsageError("--served-until needs --receipt");
    if (signature !== undefined && !/^0x[0-9a-fA-F]+$/.test(signature)) throw new UsageError(`--receipt: "${signature}" is not a 0x signature`);
    const servedUntil = signature === undefined ? undefined : BigInt(parseTimestamp(requireOption(servedUntilText, "--served-until"), "--served-until"));
    const sent = await sendContractTransaction(context, out, {
      label: servedUntil === undefined ? "claim" : "claim with receipt",
      address: context.market,
      abi: jobMarketAbi,
      functionName: servedUntil === undefined ? "claim" : "claimWithReceipt",
      args: servedUntil === undefined ? [jobId] : [jobId, servedUntil, signature],
    });
    const event = eventOf(sent, "JobClaimed");
    const receiptedUntil = Number(event.receiptedUntil);
    out.line(
      `claimed ${formatAmount(event.amount as bigint, context.payment)}; ${formatAmount(event.claimed as bigint, context.payment)} claimed in total` +
        (receiptedUntil ? `; pay up to ${formatTime(receiptedUntil)} is receipted (final)` : ""),
    );
    return { amount: event.amount, claimed: event.claimed, receiptedUntil: receiptedUntil || null };
  },
);

const heartbeatHelp = signerHelp(
  "usage: gpumesh provider heartbeat [options]",
  "One sign of life for all the provider's running jobs (accepting, claiming and completing count too). Send it",
  "well within each job's liveness timeout, or anyone can report the job dark: it then ends at once, paid only up to",
  "the last sign of life, with an SLA credit slashed to the client.",
);
const heartbeat: Subcommand = {
  summary: "prove the provider is alive (covers all its running jobs)",
  help: heartbeatHelp,
  async run(argv) {
    const parsed = parseOrHelp(argv, SIGNER_OPTIONS, heartbeatHelp);
    if (!parsed) return 0;
    const context = await signerFromValues(parsed.values);
    const out = createOutput(Boolean(parsed.values.json));
    const sent = await sendContractTransaction(context, out, {
      label: "heartbeat",
      address: context.market,
      abi: jobMarketAbi,
      functionName: "heartbeat",
    });
    const at = Number(eventOf(sent, "ProviderHeartbeat").at);
    const running = await readAllJobs(context, (job) => job.provider.toLowerCase() === context.account.address.toLowerCase() && job.state === "Running");
    const timeout = running.length ? Math.min(...running.map((job) => job.terms.livenessTimeout)) : null;
    out.line(
      `alive at ${formatTime(at)}` +
        (timeout === null ? "; no running jobs" : `; ${running.length} running job${running.length === 1 ? "" : "s"}: next sign of life due by ${formatTime(at + timeout)}`),
    );
    out.result({ provider: context.account.address, at, runningJobs: running.map((job) => job.id), nextDueAt: timeout === null ? null : at + timeout });
  },
};

const complete = jobCommand(
  "complete",
  "mark a running job done (earns the time used)",
  ["  --result HASH|TEXT    result hash (0x + 64 hex digits) or text to hash (keccak256)"],
  { result: { type: "string" } },
  async (context, out, jobId, values) => {
    const resultHash = hashOrText(values.result as string | undefined);
    const sent = await sendContractTransaction(context, out, {
      label: "complete job",
      address: context.market,
      abi: jobMarketAbi,
      functionName: "completeJob",
      args: [jobId, resultHash],
    });
    const event = eventOf(sent, "JobCompleted");
    const job = await readJob(context, jobId);
    const endedAt = Number(event.endedAt);
    out.line(
      `earned ${formatAmount(event.earned as bigint, context.payment)}; disputable until ${formatTime(endedAt + job.terms.disputeWindow)}, then anyone can settle`,
    );
    return { endedAt, earned: event.earned, resultHash };
  },
);

// ------------------------------------------------------------------ status
const statusHelp = signerHelp("usage: gpumesh provider status [options]", "Stake, locked collateral, unbonding (with time left), earnings, credits and jobs.");
const status: Subcommand = {
  summary: "stake, locked, unbonding, earnings, credits",
  help: statusHelp,
  async run(argv) {
    const parsed = parseOrHelp(argv, SIGNER_OPTIONS, statusHelp);
    if (!parsed) return 0;
    const context = await signerFromValues(parsed.values);
    const me = context.account.address;
    const read = context.publicClient;
    const [account, metadataURI, minStake, stakeBalance, paymentBalance, marketCredit, stakingCredit, now] = await Promise.all([
      read.readContract({ address: context.staking, abi: providerStakingAbi, functionName: "account", args: [me] }),
      read.readContract({ address: context.staking, abi: providerStakingAbi, functionName: "metadataURI", args: [me] }),
      read.readContract({ address: context.staking, abi: providerStakingAbi, functionName: "minStake" }),
      read.readContract({ address: context.stake.address, abi: erc20Abi, functionName: "balanceOf", args: [me] }),
      read.readContract({ address: context.payment.address, abi: erc20Abi, functionName: "balanceOf", args: [me] }),
      read.readContract({ address: context.market, abi: jobMarketAbi, functionName: "balanceOf", args: [me] }),
      read.readContract({ address: context.staking, abi: providerStakingAbi, functionName: "credit", args: [me] }),
      context.now(),
    ]);
    const myJobs = await readAllJobs(context, (job) => job.provider.toLowerCase() === me.toLowerCase());
    const earnings = await readEarnings(context, new Set(myJobs.map((job) => job.id)));
    let pending = 0n;
    for (const job of myJobs) {
      if (OPEN_JOB_STATES.has(job.state.toUpperCase() as JobState) && job.state !== "Created") {
        pending += (await readEarned(context, job.id)) - job.claimed;
      }
    }
    const lastHeartbeat = Number(await read.readContract({ address: context.market, abi: jobMarketAbi, functionName: "lastHeartbeat", args: [me] }));
    const byState: Record<string, number> = {};
    for (const job of myJobs) byState[job.state] = (byState[job.state] ?? 0) + 1;
    const offers = (await readAllOffers(context)).filter((offer) => offer.provider.toLowerCase() === me.toLowerCase());
    const openOffers = offers.filter((offer) => offer.state === "OPEN");

    const stakeAmount = (value: bigint) => formatAmount(value, context.stake);
    const pay = (value: bigint) => formatAmount(value, context.payment);
    const out = createOutput(Boolean(parsed.values.json));
    out.line(`provider    ${me}${account.registered ? "" : "  (not registered: run `gpumesh provider register`)"}`);
    if (account.registered) out.line(`metadata    ${metadataURI}`);
    out.line(`staked      ${stakeAmount(account.staked)}  (locked ${stakeAmount(account.locked)}, unlocked ${stakeAmount(account.staked - account.locked)}; offers need ${stakeAmount(minStake)} unlocked)`);
    if (account.unbonding > 0n) {
      const ready = BigInt(account.unbondingReadyAt);
      out.line(
        `unbonding   ${stakeAmount(account.unbonding)}  ${ready <= now ? "ready to withdraw now" : `withdrawable at ${formatTime(ready)} (${formatDuration(Number(ready - now))} left)`}`,
      );
    } else {
      out.line(`unbonding   ${stakeAmount(0n)}`);
    }
    out.line(`earnings    ${pay(earnings.total)} received (claims ${pay(earnings.claimed)}, settlements ${pay(earnings.settled)}, resolutions ${pay(earnings.resolved)}, dark and reclaimed jobs ${pay(earnings.ended)}, cancel fees ${pay(earnings.cancelFees)}); ${pay(pending)} earned, not yet paid`);
    out.line(`alive       ${lastHeartbeat ? `last sign of life ${formatTime(lastHeartbeat)} (${formatRelative(lastHeartbeat, now)})` : "no sign of life yet"}`);
    out.line(`credits     ${pay(marketCredit)} in the market, ${stakeAmount(stakingCredit)} in staking`);
    out.line(`wallet      ${pay(paymentBalance)}, ${stakeAmount(stakeBalance)}`);
    out.line(`offers      ${openOffers.length} open (${openOffers.reduce((sum, o) => sum + o.gpusLeased, 0)}/${openOffers.reduce((sum, o) => sum + o.gpus, 0)} GPUs leased), ${offers.length} in total`);
    out.line(`jobs        ${myJobs.length === 0 ? "none" : Object.entries(byState).map(([state, count]) => `${count} ${state.toLowerCase()}`).join(", ")}`);
    out.result({
      provider: me,
      registered: account.registered,
      metadataURI,
      staked: account.staked,
      locked: account.locked,
      unlocked: account.staked - account.locked,
      unbonding: account.unbonding,
      unbondingReadyAt: account.unbondingReadyAt,
      unbondingSecondsLeft: account.unbonding > 0n && BigInt(account.unbondingReadyAt) > now ? Number(BigInt(account.unbondingReadyAt) - now) : 0,
      minStake,
      earnings: { ...earnings, pending },
      lastHeartbeatAt: lastHeartbeat || null,
      credits: { market: marketCredit, staking: stakingCredit },
      balances: { payment: paymentBalance, stake: stakeBalance },
      offers: { open: openOffers.length, total: offers.length },
      jobs: byState,
    });
  },
};

/** Pay the provider has received for its jobs, from the market's events. */
async function readEarnings(context: SignerContext, jobIds: Set<bigint>) {
  const sum = async (eventName: string, field: string) => {
    if (jobIds.size === 0) return 0n;
    const logs = (await getEventLogs(context, eventName)) as unknown as Array<{ args: Record<string, unknown> }>;
    return logs.filter((log) => jobIds.has(log.args.jobId as bigint)).reduce((total, log) => total + (log.args[field] as bigint), 0n);
  };
  const [claimed, settled, resolvedByArbiter, finalized, dark, reclaimed, cancelFees] = await Promise.all([
    sum("JobClaimed", "amount"),
    sum("JobSettled", "providerPay"),
    sum("JobResolved", "providerPay"),
    sum("JobDisputeFinalized", "providerPay"),
    sum("JobDark", "providerPay"),
    sum("JobReclaimed", "providerPay"),
    sum("JobCancelled", "cancelFee"),
  ]);
  const resolved = resolvedByArbiter + finalized;
  const ended = dark + reclaimed;
  return { claimed, settled, resolved, ended, cancelFees, total: claimed + settled + resolved + ended + cancelFees };
}

const subcommands: Record<string, Subcommand> = {
  register,
  "update-metadata": updateMetadata,
  stake,
  unstake,
  withdraw,
  offer: {
    summary: "create, update, close and list offers",
    help: "usage: gpumesh provider offer <create|update|close|list> [options]",
    subcommands: { create: offerCreate, update: offerUpdate, close: offerClose, list: offerList },
  },
  jobs,
  accept,
  decline,
  heartbeat,
  claim,
  complete,
  status,
};

export const command: Command = { help: "", subcommands };

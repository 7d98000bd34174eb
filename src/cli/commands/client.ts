import { hashTypedData, isAddress, type Address, type Hex } from "viem";
import { jobMarketAbi, providerStakingAbi } from "../../chain/abis";
import { loadDeployment, type Deployment } from "../../chain/deployment";
import { CHAIN_OPTIONS, CHAIN_OPTIONS_HELP, SIGNER_OPTIONS, requireOption, resolveApiUrl, resolveChainOptions, signerHelp } from "../lib/args";
import { parseOrHelp, runCommand, type Command, type Subcommand } from "../lib/command";
import { hashOrText, parseHours, parseTimestamp, signerFromValues } from "../lib/common";
import { createChainContext, type ChainContext, type SignerContext } from "../lib/context";
import { CliError } from "../lib/errors";
import { UsageError } from "../../internal/errors";
import { JOB_HEADERS, OFFER_HEADERS, describeJob, jobJson, jobRow, offerJson, offerRow } from "../lib/format";
import { OPEN_JOB_STATES, RECEIPT_DOMAIN, USAGE_RECEIPT_TYPES, jobMoney, type JobState } from "../../protocol";
import { graphqlRequest } from "../lib/graphql";
import { jobSubcommand } from "../lib/job-command";
import { createOutput, type Output } from "../lib/output";
import { checkOffer, createJobOnChain, quoteOnChain } from "../lib/jobs";
import { sendMarketPull } from "../lib/permit";
import {
  readAllJobs,
  readAllOffers,
  readCatalog,
  readDispute,
  readEarned,
  readJob,
  readOffer,
  resolveModel,
  type OfferView,
} from "../lib/reads";
import { describeRevert } from "../lib/revert";
import { eventOf, readOrExplain, sendContractTransaction } from "../lib/tx";
import {
  formatAmount,
  formatBps,
  formatDuration,
  formatTime,
  parseDuration,
  parseId,
  parseInteger,
  parsePositiveAmount,
} from "../../protocol/units";
import { confirm } from "../lib/wallet";


const MAX_UINT32 = 2 ** 32 - 1;

// ------------------------------------------------------------------ offers
const offersHelp = [
  "usage: gpumesh client offers [--model NAME] [--region CODE] [--max-price PRICE] [--gpus N] [--duration D] [options]",
  "Open offers, cheapest first, from the GraphQL API when it answers, else scanned on-chain.",
  "  --model NAME          GPU model (a unique prefix like h100 works)",
  "  --region CODE         region code, e.g. eu-west",
  "  --max-price PRICE     highest price per GPU-hour, e.g. 2.50",
  "  --gpus N              at least N GPUs free (default 1)",
  "  --duration D          offers that take a job this long (e.g. 2h)",
  "  --api URL             GraphQL API (env GPUMESH_API_URL, default http://127.0.0.1:4000/graphql)",
  "  --chain               skip the API and read the chain",
  ...CHAIN_OPTIONS_HELP,
].join("\n");

const OFFERS_QUERY = /* GraphQL */ `
  query ClientOffers($where: OfferFilter) {
    gpuModels { id name listed vramGb }
    offers(where: $where, orderBy: PRICE, orderDirection: ASC, first: 1000) {
      totalCount
      items {
        id provider { address } gpuModel region gpus gpusLeased gpusAvailable pricePerGpuHour
        minDuration maxDuration carbonIntensity renewableBps expiresAt state
      }
    }
  }
`;

interface ApiOffer {
  id: string;
  provider: { address: string };
  gpuModel: string;
  region: string;
  gpus: number;
  gpusLeased: number;
  gpusAvailable: number;
  pricePerGpuHour: string;
  minDuration: number;
  maxDuration: number;
  carbonIntensity: number;
  renewableBps: number;
  expiresAt: number;
  state: OfferView["state"];
}

interface OfferQuery {
  model?: string;
  region?: string;
  maxPrice?: bigint;
  gpus: number;
  duration?: number;
}

async function offersFromApi(apiUrl: string, query: OfferQuery): Promise<OfferView[]> {
  const catalog = await graphqlRequest<{ gpuModels: Array<{ id: Hex; name: string; listed: boolean; vramGb: number }> }>(
    apiUrl,
    "query { gpuModels { id name listed vramGb } }",
  );
  const model = query.model ? resolveModel(catalog.gpuModels, query.model) : undefined;
  const where: Record<string, unknown> = { state: "OPEN", minGpusAvailable: query.gpus };
  if (model) where.gpuModel = model.name;
  if (query.region) where.region = query.region;
  if (query.maxPrice !== undefined) where.maxPricePerGpuHour = query.maxPrice.toString();
  const data = await graphqlRequest<{ offers: { items: ApiOffer[] } }>(apiUrl, OFFERS_QUERY, { where });
  const ids = new Map(catalog.gpuModels.map((m) => [m.name, m.id]));
  return data.offers.items.map((offer) => ({
    id: BigInt(offer.id),
    provider: offer.provider.address as Address,
    gpuModelId: ids.get(offer.gpuModel) ?? ("0x" as Hex),
    gpuModel: offer.gpuModel,
    region: offer.region,
    gpus: offer.gpus,
    gpusLeased: offer.gpusLeased,
    gpusAvailable: offer.gpusAvailable,
    pricePerGpuHour: BigInt(offer.pricePerGpuHour),
    minDuration: offer.minDuration,
    maxDuration: offer.maxDuration,
    carbonIntensity: offer.carbonIntensity,
    renewableBps: offer.renewableBps,
    expiresAt: offer.expiresAt,
    closed: offer.state === "CLOSED",
    state: offer.state,
  }));
}

async function offersFromChain(context: ChainContext, query: OfferQuery): Promise<OfferView[]> {
  const catalog = await readCatalog(context);
  const model = query.model ? resolveModel(catalog, query.model) : undefined;
  return (await readAllOffers(context, catalog)).filter(
    (offer) =>
      offer.state === "OPEN" &&
      offer.gpusAvailable >= query.gpus &&
      (!model || offer.gpuModelId.toLowerCase() === model.id.toLowerCase()) &&
      (!query.region || offer.region === query.region) &&
      (query.maxPrice === undefined || offer.pricePerGpuHour <= query.maxPrice),
  );
}

const offers: Subcommand = {
  summary: "find open offers (GraphQL API, else on-chain)",
  help: offersHelp,
  async run(argv) {
    const parsed = parseOrHelp(
      argv,
      {
        ...CHAIN_OPTIONS,
        model: { type: "string" },
        region: { type: "string" },
        "max-price": { type: "string" },
        gpus: { type: "string" },
        duration: { type: "string" },
        api: { type: "string" },
        chain: { type: "boolean" },
      },
      offersHelp,
    );
    if (!parsed) return 0;
    const { values } = parsed;
    const chainOptions = resolveChainOptions(values);
    const deployment: Deployment = loadDeployment(chainOptions.deploymentFile);
    const query: OfferQuery = {
      model: values.model,
      region: values.region,
      maxPrice: values["max-price"] === undefined ? undefined : parsePositiveAmount(values["max-price"], deployment.tokens.payment, "--max-price"),
      gpus: values.gpus === undefined ? 1 : parseInteger(values.gpus, "--gpus", { min: 1, max: MAX_UINT32 }),
      duration: values.duration === undefined ? undefined : parseDuration(values.duration, "--duration"),
    };
    const out = createOutput(Boolean(values.json));
    let source = "api";
    let list: OfferView[] | undefined;
    let context: ChainContext | undefined;
    if (!values.chain) {
      try {
        list = await offersFromApi(resolveApiUrl(values), query);
      } catch (error) {
        // Any API failure (down, lagging schema, server error) falls back to the chain; bad flags do not.
        if (!(error instanceof CliError)) throw error;
        process.stderr.write(`${error.message}; reading offers from the chain instead\n`);
      }
    }
    if (!list) {
      source = "chain";
      context = await createChainContext(chainOptions);
      list = await offersFromChain(context, query);
    }
    if (query.duration !== undefined) {
      list = list.filter((offer) => offer.minDuration <= query.duration! && query.duration! <= offer.maxDuration);
    }
    list.sort((a, b) => (a.pricePerGpuHour === b.pricePerGpuHour ? Number(a.id - b.id) : a.pricePerGpuHour < b.pricePerGpuHour ? -1 : 1));
    const units = { payment: deployment.tokens.payment } as ChainContext;
    const now = context ? await context.now() : BigInt(Math.floor(Date.now() / 1000));
    out.table(OFFER_HEADERS, list.map((offer) => offerRow(units, offer, now)));
    out.line(`${list.length} offer${list.length === 1 ? "" : "s"} (from the ${source === "api" ? "GraphQL API" : "chain"})`);
    out.result({ source, offers: list.map((offer) => offerJson(units, offer)) });
  },
};

// ------------------------------------------------------------------ create-job
const createJobHelp = signerHelp(
  "usage: gpumesh client create-job --offer ID --gpus N --duration D --max-price PRICE [--max-escrow AMOUNT] [--spec TEXT] [--yes] [options]",
  "Rents GPUs of an offer: shows cost + fee = escrow and the provider's collateral, and asks to confirm on a terminal;",
  "pays with an EIP-2612 permit when the token supports it (one transaction), else approve + createJob. Unused time",
  "is refunded to the wallet that pays.",
  "  --offer ID            offer to rent from",
  "  --gpus N              GPUs to rent",
  "  --duration D          rental time, e.g. 2h (you pay only for the time used)",
  "  --max-price PRICE     highest price per GPU-hour you accept (protects against a reprice), e.g. 2.50",
  "  --max-escrow AMOUNT   most you agree to escrow in total (default: the quote's escrow, so a fee change reverts)",
  "  --spec TEXT|HASH      job specification: text to hash, or a 0x bytes32",
  "  --yes                 do not ask for confirmation",
  "  --no-permit           approve + createJob even when the token supports permit",
);

const createJob: Subcommand = {
  summary: "rent GPUs of an offer (escrows cost + fee)",
  help: createJobHelp,
  async run(argv) {
    const parsed = parseOrHelp(
      argv,
      {
        ...SIGNER_OPTIONS,
        offer: { type: "string" },
        gpus: { type: "string" },
        duration: { type: "string" },
        "max-price": { type: "string" },
        "max-escrow": { type: "string" },
        spec: { type: "string" },
        yes: { type: "boolean", short: "y" },
        "no-permit": { type: "boolean" },
      },
      createJobHelp,
    );
    if (!parsed) return 0;
    const { values } = parsed;
    const offerId = parseId(requireOption(values.offer, "--offer"), "--offer");
    const gpus = parseInteger(requireOption(values.gpus, "--gpus"), "--gpus", { min: 1, max: MAX_UINT32 });
    const duration = parseDuration(requireOption(values.duration, "--duration"), "--duration");
    if (duration === 0) throw new UsageError("--duration: must be more than 0");
    const maxPriceText = requireOption(values["max-price"], "--max-price");
    const specHash = hashOrText(values.spec);

    const context = await signerFromValues(values);
    const maxPrice = parsePositiveAmount(maxPriceText, context.payment, "--max-price");
    const pay = (value: bigint) => formatAmount(value, context.payment);
    const [offer, now] = await Promise.all([readOffer(context, offerId), context.now()]);
    checkOffer(context, offer, gpus, duration, maxPrice, now);
    const { cost, fee, escrow, collateral } = await quoteOnChain(context, offerId, gpus, duration);
    const maxEscrow = values["max-escrow"] === undefined ? escrow : parsePositiveAmount(values["max-escrow"], context.payment, "--max-escrow");
    if (maxEscrow < escrow) throw new CliError(describeRevert("JobMarketEscrowAboveMax", [escrow, maxEscrow], context.errorContext));
    const out = createOutput(Boolean(values.json));
    out.line(
      `offer #${offerId}: ${gpus} x ${offer.gpuModel} in ${offer.region || "?"} for ${formatDuration(duration)} at ${pay(offer.pricePerGpuHour)} per GPU-hour (your maximum ${pay(maxPrice)})`,
    );
    out.line(`cost ${pay(cost)} + fee ${pay(fee)} = ${pay(escrow)} held in escrow; unused time is refunded`);
    out.line(`the provider locks ${formatAmount(collateral, context.stake)} of its stake as collateral for the job`);
    if (!values.yes && process.stdin.isTTY && !values.json) {
      if (!(await confirm(`pay ${pay(escrow)} into escrow?`))) throw new CliError("cancelled: no job was created");
    }
    const created = await createJobOnChain(context, out, { offerId, gpus, duration, maxPrice, maxEscrow, specHash, usePermit: !values["no-permit"] });
    const { jobId, acceptDeadline } = created;
    out.line(`job #${jobId} created: ${pay(created.escrow)} in escrow; the provider must accept by ${formatTime(acceptDeadline)}`);
    out.result({
      jobId,
      state: "Created",
      offerId,
      gpus,
      duration,
      pricePerGpuHour: created.pricePerGpuHour,
      cost: created.cost,
      fee: created.escrow - created.cost,
      escrow: created.escrow,
      maxEscrow,
      collateral: created.collateral,
      acceptDeadline,
      specHash,
      permit: created.permit,
    });
  },
};

// ------------------------------------------------------------------ status and jobs
const statusHelp = [
  "usage: gpumesh client status JOB [options]",
  "A job's state, money and deadlines, and what can happen next.",
  ...CHAIN_OPTIONS_HELP,
].join("\n");
const status: Subcommand = {
  summary: "show a job",
  help: statusHelp,
  async run(argv) {
    const parsed = parseOrHelp(argv, CHAIN_OPTIONS, statusHelp, 1);
    if (!parsed) return 0;
    const jobId = parseId(parsed.positionals[0], "job");
    const context = await createChainContext(resolveChainOptions(parsed.values));
    const job = await readJob(context, jobId);
    const [earned, darkAt, dispute, now] = await Promise.all([
      readEarned(context, jobId),
      context.publicClient.readContract({ address: context.market, abi: jobMarketAbi, functionName: "darkAt", args: [jobId] }),
      readDispute(context, jobId),
      context.now(),
    ]);
    const out = createOutput(Boolean(parsed.values.json));
    for (const line of describeJob(context, job, { earned, now, darkAt: Number(darkAt), dispute })) out.line(line);
    out.result(
      jobJson(context, job, {
        earned,
        darkAt: Number(darkAt) || null,
        bond: dispute.bond,
        disputeDeadline: job.state === "Completed" ? job.endedAt + job.terms.disputeWindow : null,
        resolveDeadline: job.state === "Disputed" ? dispute.disputedAt + job.terms.resolveWindow : null,
        reclaimableAt: job.startedAt ? job.startedAt + job.duration + job.terms.abandonGrace : null,
      }),
    );
  },
};

const jobsHelp = signerHelp("usage: gpumesh client jobs [--all] [options]", "The wallet's jobs as client (unfinished ones unless --all).", "  --all                 finished jobs too");
const jobs: Subcommand = {
  summary: "list your jobs",
  help: jobsHelp,
  async run(argv) {
    const parsed = parseOrHelp(argv, { ...SIGNER_OPTIONS, all: { type: "boolean" } }, jobsHelp);
    if (!parsed) return 0;
    const context = await signerFromValues(parsed.values);
    const me = context.account.address.toLowerCase();
    const list = await readAllJobs(
      context,
      (job) => job.client.toLowerCase() === me && (Boolean(parsed.values.all) || OPEN_JOB_STATES.has(job.state.toUpperCase() as JobState)),
    );
    const now = await context.now();
    const out = createOutput(Boolean(parsed.values.json));
    out.table(JOB_HEADERS.slice(0, -1), list.map((job) => jobRow(context, job, now).slice(0, -1)));
    out.result(list.map((job) => jobJson(context, job)));
  },
};

// ------------------------------------------------------------------ job actions
function jobAction(
  name: string,
  summaryText: string,
  description: string,
  functionName: "endJobEarly" | "settleJob" | "cancelJob" | "expireJob" | "reclaimAbandoned" | "reportDark",
  report: (context: SignerContext, out: Output, event: Record<string, unknown>) => Promise<Record<string, unknown>>,
  eventName: string,
): Subcommand {
  const text = signerHelp(`usage: gpumesh client ${name} JOB [options]`, description);
  return jobSubcommand(summaryText, text, {}, async (context, out, jobId) => {
    const sent = await sendContractTransaction(context, out, {
      label: name.replace("-", " ") + " job",
      address: context.market,
      abi: jobMarketAbi,
      functionName,
      args: [jobId],
    });
    return report(context, out, eventOf(sent, eventName));
  });
}

const pay = (context: SignerContext, value: unknown) => formatAmount(value as bigint, context.payment);
const stakeAmount = (context: SignerContext, value: unknown) => formatAmount(value as bigint, context.stake);

const endEarly = jobAction(
  "end-early",
  "stop a running job now (pay only for the time used)",
  "Stops a running job: the provider earns the time used, the rest is refunded to the payer at settlement.",
  "endJobEarly",
  async (context, out, event) => {
    const job = await readJob(context, event.jobId as bigint);
    out.line(`ended at ${formatTime(Number(event.endedAt))}; provider earned ${pay(context, event.earned)}; disputable until ${formatTime(Number(event.endedAt) + job.terms.disputeWindow)}`);
    return { endedAt: event.endedAt, earned: event.earned };
  },
  "JobEndedEarly",
);

const disputeHelp = signerHelp(
  "usage: gpumesh client dispute JOB [--reason TEXT|HASH] [--no-permit] [options]",
  "Disputes a running job (its clock stops), or a completed one within its dispute window. Posts a bond of",
  "disputeBondBps of the job's cost (with a permit, in the same transaction): it comes back unless the arbiter rules",
  "fully for the provider. The arbiter splits the pay after the latest usage receipt; if it does not rule within the",
  "resolve window, anyone can finalize the dispute (paid to the last sign of life, bond back, no slash).",
  "  --reason TEXT|HASH    why (text to hash, or a 0x bytes32); keep the text for the arbiter",
  "  --no-permit           approve + disputeJob even when the token supports permit",
);
const dispute = jobSubcommand(
  "dispute a running or completed job, posting the bond (the arbiter decides)",
  disputeHelp,
  { reason: { type: "string" }, "no-permit": { type: "boolean" } },
  async (context, out, jobId, values) => {
    const job = await readJob(context, jobId);
    const { disputeBond } = jobMoney(job, job.terms, BigInt(context.deployment.stakePerPaymentUnit));
    out.line(`bond ${pay(context, disputeBond)} (${formatBps(job.terms.disputeBondBps)} of the cost ${pay(context, job.cost)}): back to you unless the arbiter rules fully for the provider`);
    const sent = await sendMarketPull(
      context,
      out,
      { label: "dispute job", functionName: "disputeJob", args: [jobId, hashOrText(values.reason as string | undefined)] },
      disputeBond,
      !values["no-permit"],
    );
    const event = eventOf(sent, "JobDisputed");
    const resolveDeadline = Number(event.resolveDeadline);
    out.line(
      `disputed: clock stopped at ${formatTime(Number(event.endedAt))}, provider earned ${pay(context, event.earned)} so far; bond ${pay(context, event.bond)} held; ` +
        `waiting for the arbiter until ${formatTime(resolveDeadline)}, then anyone can finalize it`,
    );
    return { endedAt: event.endedAt, earned: event.earned, reasonHash: event.reasonHash, bond: event.bond, resolveDeadline };
  },
);

const settle = jobAction(
  "settle",
  "settle a completed job after its dispute window (anyone)",
  "Pays the provider, the fee and the payer's refund of a completed job whose dispute window has passed.",
  "settleJob",
  async (context, out, event) => {
    out.line(`settled: provider ${pay(context, event.providerPay)}, fee ${pay(context, event.protocolFee)}, refund ${pay(context, event.refund)}`);
    return { providerPay: event.providerPay, protocolFee: event.protocolFee, refund: event.refund };
  },
  "JobSettled",
);

const cancel = jobAction(
  "cancel",
  "cancel a job the provider has not accepted (cancellation fee)",
  "Cancels a job before acceptance: refund to the payer less the cancellation fee, which goes to the provider.",
  "cancelJob",
  async (context, out, event) => {
    out.line(`cancelled: refund ${pay(context, event.refund)}, cancellation fee ${pay(context, event.cancelFee)}`);
    return { refund: event.refund, cancelFee: event.cancelFee };
  },
  "JobCancelled",
);

const expire = jobAction(
  "expire",
  "expire a job whose accept window passed (full refund; anyone)",
  "Expires a job the provider neither accepted nor declined in time: full refund to the payer; part of the job's collateral is slashed to the client.",
  "expireJob",
  async (context, out, event) => {
    out.line(`expired: refund ${pay(context, event.refund)}, provider slashed ${stakeAmount(context, event.slashed)}`);
    return { refund: event.refund, slashed: event.slashed };
  },
  "JobExpired",
);

const reclaim = jobAction(
  "reclaim",
  "reclaim an abandoned job's escrow (after its end + grace)",
  "Ends a job the provider left running past its end and the grace period: the provider is paid up to its last sign of life, the rest is refunded.",
  "reclaimAbandoned",
  async (context, out, event) => {
    out.line(`reclaimed: provider earned ${pay(context, event.earned)} (paid ${pay(context, event.providerPay)} now), fee ${pay(context, event.protocolFee)}, refund ${pay(context, event.refund)}`);
    return { earned: event.earned, providerPay: event.providerPay, refund: event.refund, protocolFee: event.protocolFee };
  },
  "JobReclaimed",
);

const reportDark = jobAction(
  "report-dark",
  "end a running job whose provider went dark (anyone; automatic refund)",
  "Ends a running job whose provider showed no sign of life for the job's liveness timeout: it is paid up to its last\n" +
    "sign of life (or the receipted time), the payer gets the rest back, and an SLA credit is slashed to the client.",
  "reportDark",
  async (context, out, event) => {
    out.line(
      `reported dark: provider paid until ${formatTime(Number(event.paidUntil))} (earned ${pay(context, event.earned)}), ` +
        `refund ${pay(context, event.refund)}, SLA credit ${stakeAmount(context, event.slashed)} slashed to the client`,
    );
    return { paidUntil: event.paidUntil, earned: event.earned, providerPay: event.providerPay, refund: event.refund, slashed: event.slashed };
  },
  "JobDark",
);

const extendHelp = signerHelp(
  "usage: gpumesh client extend JOB --hours H [--max-escrow AMOUNT] [--no-permit] [options]",
  "Buys H more hours of a running job at its price and terms (payer only, before the job's end, within the offer's",
  "maximum duration); the provider locks more collateral. Pays with a permit in the same transaction when the token",
  "supports it, else approve + extendJob.",
  "  --hours H             extra hours, e.g. 2 or 1.5",
  "  --max-escrow AMOUNT   most you agree to pay for the extension (default: its cost + fee at the job's terms)",
  "  --no-permit           approve + extendJob even when the token supports permit",
);
const extend = jobSubcommand(
  "buy more time for a running job",
  extendHelp,
  { hours: { type: "string" }, "max-escrow": { type: "string" }, "no-permit": { type: "boolean" } },
  async (context, out, jobId, values) => {
    const extraSeconds = parseHours(requireOption(values.hours as string | undefined, "--hours"), "--hours");
    const job = await readJob(context, jobId);
    if (job.payer.toLowerCase() !== context.account.address.toLowerCase()) {
      throw new CliError(describeRevert("JobMarketNotPayer", [jobId, context.account.address], context.errorContext));
    }
    const extended = jobMoney({ ...job, duration: job.duration + extraSeconds }, job.terms, BigInt(context.deployment.stakePerPaymentUnit));
    const extraEscrow = extended.escrow - job.escrow;
    const maxEscrow =
      values["max-escrow"] === undefined ? extraEscrow : parsePositiveAmount(values["max-escrow"] as string, context.payment, "--max-escrow");
    out.line(
      `job #${jobId}: ${formatDuration(job.duration)} + ${formatDuration(extraSeconds)} = ${formatDuration(job.duration + extraSeconds)}; ` +
        `pays ${pay(context, extraEscrow)} more into escrow (at most ${pay(context, maxEscrow)}); the provider locks ${stakeAmount(context, extended.collateral - job.collateral)} more`,
    );
    const sent = await sendMarketPull(
      context,
      out,
      { label: "extend job", functionName: "extendJob", args: [jobId, extraSeconds, maxEscrow] },
      extraEscrow,
      !values["no-permit"],
    );
    const event = eventOf(sent, "JobExtended");
    out.line(`extended: runs until ${formatTime(job.startedAt + Number(event.duration))}; escrow ${pay(context, event.escrow)} in total`);
    return { duration: event.duration, cost: event.cost, escrow: event.escrow, extraEscrow: event.extraEscrow, collateral: event.collateral };
  },
);

const receiptHelp = signerHelp(
  "usage: gpumesh client receipt JOB [--until TIME] [options]",
  "Signs a usage receipt (EIP-712 UsageReceipt(jobId, servedUntil)) with the client's key and prints the signature:",
  "it says the job served you up to TIME, so the provider can claim that pay with `provider claim JOB --receipt SIG",
  "--served-until TIME`, and a dispute can no longer take it back. Sends nothing.",
  "  --until TIME          unix seconds or an ISO date (default: the chain's time now)",
);
const receipt = jobSubcommand(
  "sign a usage receipt for the time a job has served you",
  receiptHelp,
  { until: { type: "string" } },
  async (context, out, jobId, values) => {
    const job = await readJob(context, jobId);
    if (job.client.toLowerCase() !== context.account.address.toLowerCase()) {
      throw new CliError(describeRevert("JobMarketNotClient", [jobId, context.account.address], context.errorContext));
    }
    const servedUntil = BigInt(values.until === undefined ? await context.now() : parseTimestamp(values.until as string, "--until"));
    const typedData = {
      domain: { ...RECEIPT_DOMAIN, chainId: context.chain.id, verifyingContract: context.market },
      types: USAGE_RECEIPT_TYPES,
      primaryType: "UsageReceipt",
      message: { jobId, servedUntil },
    } as const;
    // The contract's own digest: a signature over any other domain would be refused on-chain.
    const digest = await readOrExplain(context, "receipt digest", () =>
      context.publicClient.readContract({ address: context.market, abi: jobMarketAbi, functionName: "receiptDigest", args: [jobId, servedUntil] }),
    );
    if (hashTypedData(typedData).toLowerCase() !== digest.toLowerCase()) {
      throw new CliError(`the market at ${context.market} signs receipts over another EIP-712 domain than ${RECEIPT_DOMAIN.name} v${RECEIPT_DOMAIN.version}`);
    }
    const signature = await context.account.signTypedData(typedData);
    out.line(`usage receipt for job #${jobId}, served until ${formatTime(servedUntil)} (${servedUntil}):`);
    out.line(signature);
    out.line(`the provider claims with: gpumesh provider claim ${jobId} --receipt ${signature} --served-until ${servedUntil}`);
    return { servedUntil, signature, digest };
  },
);

const withdrawHelp = signerHelp(
  "usage: gpumesh client withdraw [--to ADDRESS] [options]",
  "Withdraws credited balances: payouts the market could not push, and slash payouts held by staking.",
  "  --to ADDRESS          where to send them (default: the wallet)",
);
const withdraw: Subcommand = {
  summary: "withdraw credited balances",
  help: withdrawHelp,
  async run(argv) {
    const parsed = parseOrHelp(argv, { ...SIGNER_OPTIONS, to: { type: "string" } }, withdrawHelp);
    if (!parsed) return 0;
    const to = parsed.values.to;
    if (to !== undefined && !isAddress(to, { strict: false })) throw new UsageError(`--to: "${to}" is not an address`);
    const context = await signerFromValues(parsed.values);
    const recipient = (to ?? context.account.address) as Address;
    const me = context.account.address;
    const [marketCredit, stakingCredit] = await Promise.all([
      context.publicClient.readContract({ address: context.market, abi: jobMarketAbi, functionName: "balanceOf", args: [me] }),
      context.publicClient.readContract({ address: context.staking, abi: providerStakingAbi, functionName: "credit", args: [me] }),
    ]);
    if (marketCredit === 0n && stakingCredit === 0n) throw new CliError(`nothing to withdraw: ${me} has no credited balance`);
    const out = createOutput(Boolean(parsed.values.json));
    if (marketCredit > 0n) {
      await sendContractTransaction(context, out, { label: "withdraw market balance", address: context.market, abi: jobMarketAbi, functionName: "withdrawBalance", args: [recipient] });
      out.line(`withdrew ${formatAmount(marketCredit, context.payment)} to ${recipient}`);
    }
    if (stakingCredit > 0n) {
      await sendContractTransaction(context, out, { label: "withdraw staking credit", address: context.staking, abi: providerStakingAbi, functionName: "withdrawCredit", args: [recipient] });
      out.line(`withdrew ${formatAmount(stakingCredit, context.stake)} to ${recipient}`);
    }
    out.result({ to: recipient, market: marketCredit, staking: stakingCredit });
  },
};

/** The delivery commands load the agent's client, the planner and the spec code only when they run. */
const delivery = (name: "run" | "spec" | "logs" | "result", summary: string): Subcommand => ({
  summary,
  help: "",
  run: async (argv) => runCommand(`client ${name}`, (await import("./client-run"))[name], argv),
});

const subcommands: Record<string, Subcommand> = {
  offers,
  run: delivery("run", "run a workload on rented GPUs and get its verified result (with --failover)"),
  spec: delivery("spec", "check a job spec file and print its specHash"),
  logs: delivery("logs", "print a job's workload output from its agent"),
  result: delivery("result", "download and verify a completed job's result"),
  "create-job": createJob,
  status,
  jobs,
  "end-early": endEarly,
  extend,
  receipt,
  "report-dark": reportDark,
  dispute,
  settle,
  cancel,
  expire,
  reclaim,
  withdraw,
};

export const command: Command = { help: "", subcommands };

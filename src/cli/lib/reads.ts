import { hexToString, stringToHex, type AbiEvent, type Address, type Hex, type Log } from "viem";
import { gpuCatalogAbi, jobMarketAbi } from "../../chain/abis";
import type { ChainContext } from "./context";
import { CliError } from "./errors";
import { UsageError } from "../../internal/errors";
import { CHAIN_JOB_STATES, type ChainJobState, type MarketParameters } from "../../protocol";
import { readOrExplain } from "./tx";

/** Reads of the contracts that the CLI shows: the catalog, offers (with their region from OfferCreated), jobs. */

export interface GpuModelView {
  id: Hex;
  name: string;
  vramGb: number;
  listed: boolean;
}

export interface OfferView {
  id: bigint;
  provider: Address;
  gpuModelId: Hex;
  gpuModel: string;
  region: string;
  gpus: number;
  gpusLeased: number;
  gpusAvailable: number;
  pricePerGpuHour: bigint;
  minDuration: number;
  maxDuration: number;
  carbonIntensity: number;
  renewableBps: number;
  expiresAt: number;
  closed: boolean;
  state: "OPEN" | "CLOSED" | "EXPIRED";
}

export interface JobView {
  id: bigint;
  /** The chain's name of the job's state ("Running"). */
  state: ChainJobState;
  client: Address;
  /** Who funded the escrow and receives the refunds (the client unless sponsored). */
  payer: Address;
  provider: Address;
  offerId: bigint;
  gpus: number;
  pricePerGpuHour: bigint;
  /** Seconds bought, extensions included. */
  duration: number;
  acceptDeadline: number;
  startedAt: number;
  endedAt: number;
  cost: bigint;
  escrow: bigint;
  /** Stake-token units locked from the provider's stake for the job. */
  collateral: bigint;
  claimed: bigint;
  /** GPU time from the start that the client acknowledged with a usage receipt. */
  receiptedSeconds: number;
  termsId: number;
  /** The parameters the job follows, fixed at its creation. */
  terms: MarketParameters;
}

const REGION_PATTERN = /^[a-z][a-z0-9-]{1,15}$/;

/** A region code as the contract stores it: left-aligned ASCII in bytes16. */
export function regionToBytes16(region: string, flag = "--region"): Hex {
  if (!REGION_PATTERN.test(region)) {
    throw new UsageError(`${flag}: "${region}" is not a region code (2 to 16 characters of a-z, 0-9 and -, starting with a letter, like eu-west)`);
  }
  return stringToHex(region, { size: 16 });
}

export function bytes16ToRegion(region: Hex): string {
  return hexToString(region, { size: 16 }).replace(/\0+$/, "");
}

export async function readCatalog(context: ChainContext): Promise<GpuModelView[]> {
  const ids = await readOrExplain(context, "reading the GPU catalog", () =>
    context.publicClient.readContract({ address: context.catalog, abi: gpuCatalogAbi, functionName: "modelIds" }),
  );
  const models = await Promise.all(
    ids.map((id) =>
      context.publicClient.readContract({ address: context.catalog, abi: gpuCatalogAbi, functionName: "getModel", args: [id] }),
    ),
  );
  return models.map((model, index) => ({ id: ids[index]!, name: model.name, vramGb: model.vramGb, listed: model.listed }));
}

/**
 * A listed model by name: exact (any case), else the one listed model the name starts ("h100" -> "H100-SXM-80GB").
 */
export function resolveModel(catalog: GpuModelView[], name: string, flag = "--model"): GpuModelView {
  const listed = catalog.filter((model) => model.listed);
  const wanted = name.trim().toUpperCase();
  const exact = listed.find((model) => model.name === wanted);
  if (exact) return exact;
  const prefixed = listed.filter((model) => model.name.startsWith(wanted));
  if (prefixed.length === 1) return prefixed[0]!;
  const known = listed.map((model) => model.name).join(", ");
  if (prefixed.length > 1) throw new UsageError(`${flag}: "${name}" matches several models: ${prefixed.map((m) => m.name).join(", ")}`);
  throw new UsageError(`${flag}: "${name}" is not a listed GPU model (listed: ${known || "none"})`);
}

export function modelName(catalog: GpuModelView[], id: Hex): string {
  return catalog.find((model) => model.id.toLowerCase() === id.toLowerCase())?.name ?? id;
}

/** Logs of one event from the deployment block on, in chunks that public nodes accept. */
export async function getEventLogs(
  context: ChainContext,
  eventName: string,
  args?: Record<string, unknown>,
  chunkBlocks = 50_000n,
): Promise<Log[]> {
  const event = jobMarketAbi.find((item) => item.type === "event" && item.name === eventName) as AbiEvent | undefined;
  if (!event) throw new Error(`unknown event ${eventName}`);
  const head = await context.publicClient.getBlockNumber();
  const logs: Log[] = [];
  for (let from = BigInt(context.deployment.startBlock); from <= head; from += chunkBlocks) {
    const to = from + chunkBlocks - 1n < head ? from + chunkBlocks - 1n : head;
    logs.push(
      ...((await context.publicClient.getLogs({ address: context.market, event, args: args as never, fromBlock: from, toBlock: to })) as Log[]),
    );
  }
  return logs;
}

/** Regions of offers, from OfferCreated (the contract does not store them). */
export async function readOfferRegions(context: ChainContext, offerId?: bigint): Promise<Map<bigint, string>> {
  const logs = await getEventLogs(context, "OfferCreated", offerId === undefined ? undefined : { offerId });
  const regions = new Map<bigint, string>();
  for (const log of logs as Array<Log & { args: { offerId: bigint; region: Hex } }>) {
    regions.set(log.args.offerId, bytes16ToRegion(log.args.region));
  }
  return regions;
}

type RawOffer = Awaited<ReturnType<typeof readRawOffer>>;

function readRawOffer(context: ChainContext, offerId: bigint) {
  return context.publicClient.readContract({ address: context.market, abi: jobMarketAbi, functionName: "getOffer", args: [offerId] });
}

function toOfferView(id: bigint, offer: RawOffer, region: string, catalog: GpuModelView[], now: bigint): OfferView {
  const state = offer.closed ? "CLOSED" : BigInt(offer.expiresAt) <= now ? "EXPIRED" : "OPEN";
  return {
    id,
    provider: offer.provider,
    gpuModelId: offer.gpuModel,
    gpuModel: modelName(catalog, offer.gpuModel),
    region,
    gpus: offer.gpus,
    gpusLeased: offer.gpusLeased,
    gpusAvailable: offer.gpus - offer.gpusLeased,
    pricePerGpuHour: offer.pricePerGpuHour,
    minDuration: offer.minDuration,
    maxDuration: offer.maxDuration,
    carbonIntensity: offer.carbonIntensity,
    renewableBps: offer.renewableBps,
    expiresAt: offer.expiresAt,
    closed: offer.closed,
    state,
  };
}

export async function readOffer(context: ChainContext, offerId: bigint, catalog?: GpuModelView[]): Promise<OfferView> {
  const [offer, regions, models, now] = await Promise.all([
    readOrExplain(context, `reading offer #${offerId}`, () => readRawOffer(context, offerId)),
    readOfferRegions(context, offerId),
    catalog ? Promise.resolve(catalog) : readCatalog(context),
    context.now(),
  ]);
  if (offer.provider === "0x0000000000000000000000000000000000000000") throw new CliError(`offer #${offerId} does not exist`);
  return toOfferView(offerId, offer, regions.get(offerId) ?? "", models, now);
}

/** Every offer on chain (ids 1 .. nextOfferId-1), for when the GraphQL API is not reachable. */
export async function readAllOffers(context: ChainContext, catalog?: GpuModelView[]): Promise<OfferView[]> {
  const [nextOfferId, regions, models, now] = await Promise.all([
    readOrExplain(context, "reading offers", () =>
      context.publicClient.readContract({ address: context.market, abi: jobMarketAbi, functionName: "nextOfferId" }),
    ),
    readOfferRegions(context),
    catalog ? Promise.resolve(catalog) : readCatalog(context),
    context.now(),
  ]);
  const ids = Array.from({ length: Number(nextOfferId) - 1 }, (_, index) => BigInt(index + 1));
  const offers = await Promise.all(ids.map((id) => readRawOffer(context, id)));
  return offers.map((offer, index) => toOfferView(ids[index]!, offer, regions.get(ids[index]!) ?? "", models, now));
}

type RawJob = Awaited<ReturnType<typeof readRawJob>>;

function readRawJob(context: ChainContext, jobId: bigint) {
  return context.publicClient.readContract({ address: context.market, abi: jobMarketAbi, functionName: "getJob", args: [jobId] });
}

/** What getJob no longer stores: the amounts (they follow from the terms), the payer and the terms themselves. */
async function readJobExtras(context: ChainContext, jobId: bigint, job: RawJob, termsCache: Map<number, Promise<MarketParameters>>) {
  const read = <T>(functionName: "jobAmounts" | "payerOf") =>
    context.publicClient.readContract({ address: context.market, abi: jobMarketAbi, functionName, args: [jobId] }) as Promise<T>;
  let terms = termsCache.get(job.termsId);
  if (!terms) {
    terms = context.publicClient.readContract({ address: context.market, abi: jobMarketAbi, functionName: "terms", args: [BigInt(job.termsId)] });
    termsCache.set(job.termsId, terms);
  }
  const [[cost, escrow, collateral], payer, parameters] = await Promise.all([
    read<readonly [bigint, bigint, bigint]>("jobAmounts"),
    job.sponsored ? read<Address>("payerOf") : Promise.resolve(job.client),
    terms,
  ]);
  return { cost, escrow, collateral, payer, terms: parameters };
}

function toJobView(id: bigint, job: RawJob, provider: Address, extras: Awaited<ReturnType<typeof readJobExtras>>): JobView {
  return {
    id,
    state: CHAIN_JOB_STATES[job.state] ?? "None",
    client: job.client,
    payer: extras.payer,
    provider,
    offerId: BigInt(job.offerId),
    gpus: job.gpus,
    pricePerGpuHour: job.pricePerGpuHour,
    duration: job.duration,
    acceptDeadline: job.acceptDeadline,
    startedAt: job.startedAt,
    endedAt: job.endedAt,
    cost: extras.cost,
    escrow: extras.escrow,
    collateral: extras.collateral,
    claimed: job.claimed,
    receiptedSeconds: job.receiptedSeconds,
    termsId: job.termsId,
    terms: extras.terms,
  };
}

export async function readJob(context: ChainContext, jobId: bigint): Promise<JobView> {
  const job = await readOrExplain(context, `reading job #${jobId}`, () => readRawJob(context, jobId));
  if (job.state === 0) throw new CliError(`job #${jobId} does not exist`);
  const [offer, extras] = await Promise.all([readRawOffer(context, BigInt(job.offerId)), readJobExtras(context, jobId, job, new Map())]);
  return toJobView(jobId, job, offer.provider, extras);
}

/** Every job on chain (ids 1 .. nextJobId-1) that passes `keep`. */
export async function readAllJobs(context: ChainContext, keep: (job: JobView) => boolean): Promise<JobView[]> {
  const nextJobId = await readOrExplain(context, "reading jobs", () =>
    context.publicClient.readContract({ address: context.market, abi: jobMarketAbi, functionName: "nextJobId" }),
  );
  const ids = Array.from({ length: Number(nextJobId) - 1 }, (_, index) => BigInt(index + 1));
  const jobs = await Promise.all(ids.map((id) => readRawJob(context, id)));
  const providers = new Map<number, Address>();
  for (const offerId of new Set(jobs.map((job) => job.offerId))) {
    providers.set(offerId, (await readRawOffer(context, BigInt(offerId))).provider);
  }
  const terms = new Map<number, Promise<MarketParameters>>();
  const extras = await Promise.all(jobs.map((job, index) => readJobExtras(context, ids[index]!, job, terms)));
  return jobs.map((job, index) => toJobView(ids[index]!, job, providers.get(job.offerId)!, extras[index]!)).filter(keep);
}

/** What the provider has earned on a job so far (0 before it starts). */
export async function readEarned(context: ChainContext, jobId: bigint): Promise<bigint> {
  return context.publicClient.readContract({ address: context.market, abi: jobMarketAbi, functionName: "earned", args: [jobId] });
}

/** A job's dispute: when, the provider's last sign of life then, and the bond (zeros when never disputed). */
export async function readDispute(context: ChainContext, jobId: bigint) {
  return context.publicClient.readContract({ address: context.market, abi: jobMarketAbi, functionName: "getDispute", args: [jobId] });
}

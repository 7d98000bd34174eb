import { erc20Abi, type Hex } from "viem";
import { jobMarketAbi } from "../../chain/abis";
import type { SignerContext } from "./context";
import { CliError } from "./errors";
import type { Output } from "./output";
import { authorizePull } from "./permit";
import type { OfferView } from "./reads";
import { describeRevert } from "./revert";
import { eventOf, readOrExplain, sendContractTransaction } from "./tx";

/** Creating a job, shared by `client create-job` and `client run`. */

export interface JobRequest {
  offerId: bigint;
  gpus: number;
  /** Seconds. */
  duration: number;
  maxPrice: bigint;
  specHash: Hex;
  /** Most escrow agreed to; the quote's escrow when undefined, so that a fee change reverts. */
  maxEscrow?: bigint;
  usePermit: boolean;
}

export interface CreatedJob {
  jobId: bigint;
  acceptDeadline: number;
  pricePerGpuHour: bigint;
  cost: bigint;
  escrow: bigint;
  collateral: bigint;
  maxEscrow: bigint;
  permit: boolean;
}

/** The checks createJob makes, done before signing anything, in the contract's words. */
export function checkOffer(context: SignerContext, offer: OfferView, gpus: number, duration: number, maxPrice: bigint, now: bigint): void {
  const fail = (errorName: string, args: unknown[]) => {
    throw new CliError(describeRevert(errorName, args, context.errorContext));
  };
  if (offer.closed) fail("JobMarketOfferClosed", [offer.id]);
  if (BigInt(offer.expiresAt) <= now) fail("JobMarketOfferExpired", [offer.id, BigInt(offer.expiresAt)]);
  if (offer.provider.toLowerCase() === context.account.address.toLowerCase()) fail("JobMarketSelfDealing", [context.account.address]);
  if (gpus > offer.gpusAvailable) fail("JobMarketInsufficientCapacity", [gpus, offer.gpusAvailable]);
  if (duration < offer.minDuration || duration > offer.maxDuration) fail("JobMarketDurationOutOfRange", [duration, offer.minDuration, offer.maxDuration]);
  if (offer.pricePerGpuHour > maxPrice) fail("JobMarketPriceAboveMax", [offer.pricePerGpuHour, maxPrice]);
}

/** JobMarket.quote: cost, fee, escrow and collateral of a job on an offer now. */
export async function quoteOnChain(context: SignerContext, offerId: bigint, gpus: number, duration: number) {
  const [cost, fee, escrow, collateral] = await readOrExplain(context, "quote", () =>
    context.publicClient.readContract({ address: context.market, abi: jobMarketAbi, functionName: "quote", args: [offerId, gpus, duration] }),
  );
  return { cost, fee, escrow, collateral };
}

/**
 * Pays the escrow (with an EIP-2612 permit when the token supports it, in the same transaction, else approve +
 * createJob) and creates the job. The wallet's balance is checked first, so a shortfall is said in the token's units.
 */
export async function createJobOnChain(context: SignerContext, out: Output, request: JobRequest): Promise<CreatedJob> {
  const { escrow } = await quoteOnChain(context, request.offerId, request.gpus, request.duration);
  const maxEscrow = request.maxEscrow ?? escrow;
  if (maxEscrow < escrow) throw new CliError(describeRevert("JobMarketEscrowAboveMax", [escrow, maxEscrow], context.errorContext));
  const balance = await context.publicClient.readContract({ address: context.payment.address, abi: erc20Abi, functionName: "balanceOf", args: [context.account.address] });
  if (balance < escrow) {
    throw new CliError(describeRevert("ERC20InsufficientBalance", [context.account.address, balance, escrow], { ...context.errorContext, token: context.payment }));
  }
  const permit = await authorizePull(context, out, context.payment, context.market, maxEscrow, request.usePermit);
  const { offerId, gpus, duration, maxPrice, specHash } = request;
  const sent = await sendContractTransaction(context, out, {
    label: permit ? "create job with permit" : "create job",
    address: context.market,
    abi: jobMarketAbi,
    functionName: permit ? "createJobWithPermit" : "createJob",
    args: permit ? [context.account.address, offerId, gpus, duration, maxPrice, maxEscrow, specHash, permit] : [offerId, gpus, duration, maxPrice, maxEscrow, specHash],
    token: context.payment,
  });
  const event = eventOf(sent, "JobCreated");
  return {
    jobId: event.jobId as bigint,
    acceptDeadline: Number(event.acceptDeadline),
    pricePerGpuHour: event.pricePerGpuHour as bigint,
    cost: event.cost as bigint,
    escrow: event.escrow as bigint,
    collateral: event.collateral as bigint,
    maxEscrow,
    permit: Boolean(permit),
  };
}

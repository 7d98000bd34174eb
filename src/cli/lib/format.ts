import type { ChainContext } from "./context";
import type { JobView, OfferView } from "./reads";
import { formatAmount, formatBps, formatDuration, formatRelative, formatTime } from "../../protocol/units";

/** Offers and jobs as table rows, detail lines and JSON, in the deployment's token units. */

export const OFFER_HEADERS = ["id", "model", "region", "gpus free/total", "price/GPU-h", "duration", "energy", "expires", "state", "provider"];

export function offerRow(context: ChainContext, offer: OfferView, now: bigint): string[] {
  return [
    String(offer.id),
    offer.gpuModel,
    offer.region || "-",
    `${offer.gpusAvailable}/${offer.gpus}`,
    formatAmount(offer.pricePerGpuHour, context.payment),
    `${formatDuration(offer.minDuration)}..${formatDuration(offer.maxDuration)}`,
    `${offer.carbonIntensity}g ${formatBps(offer.renewableBps)}`,
    formatRelative(offer.expiresAt, now),
    offer.state.toLowerCase(),
    offer.provider,
  ];
}

export function offerJson(context: ChainContext, offer: OfferView) {
  return {
    ...offer,
    price: formatAmount(offer.pricePerGpuHour, context.payment),
  };
}

export const JOB_HEADERS = ["id", "state", "offer", "gpus", "price/GPU-h", "duration", "escrow", "started", "ends/ended", "client"];

export function jobRow(context: ChainContext, job: JobView, now: bigint): string[] {
  const end = job.endedAt ? job.endedAt : job.startedAt ? job.startedAt + job.duration : 0;
  return [
    String(job.id),
    job.state.toLowerCase(),
    String(job.offerId),
    String(job.gpus),
    formatAmount(job.pricePerGpuHour, context.payment),
    formatDuration(job.duration),
    formatAmount(job.escrow, context.payment),
    job.startedAt ? formatRelative(job.startedAt, now) : "-",
    end ? formatRelative(end, now) : "-",
    job.client,
  ];
}

export function jobJson(context: ChainContext, job: JobView, extra: Record<string, unknown> = {}) {
  return {
    ...job,
    price: formatAmount(job.pricePerGpuHour, context.payment),
    escrowText: formatAmount(job.escrow, context.payment),
    ...extra,
  };
}

/** What a job's details add to its stored fields: read from the chain at the moment they are shown. */
export interface JobLiveFacts {
  earned: bigint;
  now: bigint;
  /** JobMarket.darkAt: when the running job's provider is dark without a further sign of life (0: it cannot be). */
  darkAt: number;
  dispute: { disputedAt: number; bond: bigint };
}

/** A job's details and what can happen next, as lines for humans; windows are the job's own terms. */
export function describeJob(context: ChainContext, job: JobView, facts: JobLiveFacts): string[] {
  const pay = (value: bigint) => formatAmount(value, context.payment);
  const { now } = facts;
  const { terms } = job;
  const lines = [
    `job #${job.id}  ${job.state}`,
    `  offer      #${job.offerId}  provider ${job.provider}`,
    `  client     ${job.client}${job.payer.toLowerCase() === job.client.toLowerCase() ? "" : `  (paid by ${job.payer}, who gets the refunds)`}`,
    `  rental     ${job.gpus} GPU x ${formatDuration(job.duration)} at ${pay(job.pricePerGpuHour)} per GPU-hour`,
    `  escrow     ${pay(job.escrow)}  (cost ${pay(job.cost)}; claimed by provider ${pay(job.claimed)}, earned ${pay(facts.earned)})`,
    `  collateral ${formatAmount(job.collateral, context.stake)} of the provider's stake`,
  ];
  const at = (time: number) => `${formatTime(time)} (${formatRelative(time, now)})`;
  if (job.startedAt) lines.push(`  started    ${at(job.startedAt)}`);
  if (job.receiptedSeconds) lines.push(`  receipted  until ${at(job.startedAt + job.receiptedSeconds)} (that pay is final)`);
  switch (job.state) {
    case "Created":
      lines.push(`  accept by  ${at(job.acceptDeadline)}`);
      lines.push(
        BigInt(job.acceptDeadline) < now
          ? "  next       the accept window has passed: anyone can `expire` it for a full refund"
          : `  next       waiting for the provider to accept or decline; the client can \`cancel\` (fee ${formatBps(terms.cancelFeeBps)} of the cost)`,
      );
      break;
    case "Running": {
      const end = job.startedAt + job.duration;
      lines.push(`  ends       ${at(end)}`);
      if (facts.darkAt) {
        lines.push(
          BigInt(facts.darkAt) < now
            ? `  dark       since ${at(facts.darkAt)}: anyone can \`report-dark\` it (paid to the last sign of life, the rest refunded)`
            : `  liveness   the provider is dark after ${at(facts.darkAt)} without a sign of life`,
        );
      }
      lines.push(`  reclaim    after ${at(end + terms.abandonGrace)} if the provider never completes it`);
      lines.push("  next       provider `claim`s or `complete`s; client can `extend`, `receipt`, `end-early` or `dispute`");
      break;
    }
    case "Completed": {
      const deadline = job.endedAt + terms.disputeWindow;
      lines.push(`  ended      ${at(job.endedAt)}`);
      lines.push(`  disputable until ${at(deadline)} (bond ${formatBps(terms.disputeBondBps)} of the cost); then anyone can \`settle\` it`);
      break;
    }
    case "Disputed": {
      const deadline = facts.dispute.disputedAt + terms.resolveWindow;
      lines.push(`  ended      ${at(job.endedAt)}`);
      lines.push(`  bond       ${pay(facts.dispute.bond)} posted by the client`);
      lines.push(
        BigInt(deadline) < now
          ? `  next       the arbiter did not resolve it by ${at(deadline)}: anyone can \`finalize\` it`
          : `  next       waiting for the arbiter's resolution (until ${at(deadline)}; then anyone can finalize it)`,
      );
      break;
    }
    default:
      if (job.endedAt) lines.push(`  ended      ${at(job.endedAt)}`);
  }
  return lines;
}

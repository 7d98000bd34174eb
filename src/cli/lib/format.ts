import type { ChainContext } from "./context";
import type { JobView, OfferView } from "./reads";
import { formatAmount, formatBps, formatDuration, formatRelative, formatTime } from "./units";

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

export interface JobTimes {
  disputeWindow: number;
  abandonGrace: number;
}

/** A job's details and what can happen next, as lines for humans. */
export function describeJob(context: ChainContext, job: JobView, earned: bigint, now: bigint, times: JobTimes): string[] {
  const pay = (value: bigint) => formatAmount(value, context.payment);
  const lines = [
    `job #${job.id}  ${job.state}`,
    `  offer      #${job.offerId}  provider ${job.provider}`,
    `  client     ${job.client}`,
    `  rental     ${job.gpus} GPU x ${formatDuration(job.duration)} at ${pay(job.pricePerGpuHour)} per GPU-hour`,
    `  escrow     ${pay(job.escrow)}  (claimed by provider ${pay(job.claimed)}, earned ${pay(earned)})`,
  ];
  const at = (time: number) => `${formatTime(time)} (${formatRelative(time, now)})`;
  if (job.startedAt) lines.push(`  started    ${at(job.startedAt)}`);
  switch (job.state) {
    case "Created":
      lines.push(`  accept by  ${at(job.acceptDeadline)}`);
      lines.push(
        BigInt(job.acceptDeadline) < now
          ? "  next       the accept window has passed: anyone can `expire` it for a full refund"
          : `  next       waiting for the provider to accept; the client can \`cancel\` (fee ${formatBps(job.cancelFeeBps)} of the cost)`,
      );
      break;
    case "Running": {
      const end = job.startedAt + job.duration;
      lines.push(`  ends       ${at(end)}`);
      lines.push(`  reclaim    after ${at(end + times.abandonGrace)} if the provider never completes it`);
      lines.push("  next       provider `claim`s or `complete`s; client can `end-early` or `dispute`");
      break;
    }
    case "Completed": {
      const deadline = job.endedAt + times.disputeWindow;
      lines.push(`  ended      ${at(job.endedAt)}`);
      lines.push(`  disputable until ${at(deadline)}; then anyone can \`settle\` it`);
      break;
    }
    case "Disputed":
      lines.push(`  ended      ${at(job.endedAt)}`);
      lines.push("  next       waiting for the arbiter's resolution");
      break;
    default:
      if (job.endedAt) lines.push(`  ended      ${at(job.endedAt)}`);
  }
  return lines;
}

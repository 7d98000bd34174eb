/**
 * Optional repricing of the provider's offers from their utilization (config `repricing`). Once per interval, each
 * open offer whose share of leased GPUs is at or above the target is raised by `stepBps`, and one below it is lowered
 * by `stepBps`, never outside [minPricePerGpuHour, maxPricePerGpuHour]. Running jobs keep their price (the contract
 * fixes it at creation); a price already at its bound is left alone, so a quiet market sends no transaction.
 */

export interface RepricingRules {
  minPricePerGpuHour: bigint;
  maxPricePerGpuHour: bigint;
  /** Leased / listed GPUs, in basis points, at which the price starts to rise. */
  targetUtilizationBps: number;
  stepBps: number;
  intervalSeconds: number;
}

/** The offer's next price under the rules, or null when it stays as it is. */
export function repricedPrice(price: bigint, gpus: number, leased: number, rules: RepricingRules): bigint | null {
  if (gpus <= 0) return null;
  const utilizationBps = Math.floor((leased * 10_000) / gpus);
  const step = (price * BigInt(rules.stepBps)) / 10_000n;
  const moved = utilizationBps >= rules.targetUtilizationBps ? price + (step > 0n ? step : 1n) : price - step;
  const bounded = moved < rules.minPricePerGpuHour ? rules.minPricePerGpuHour : moved > rules.maxPricePerGpuHour ? rules.maxPricePerGpuHour : moved;
  return bounded === price ? null : bounded;
}

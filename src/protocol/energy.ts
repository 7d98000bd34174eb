/**
 * Board power of the catalog's GPU models, in watts: the vendors' maximum (TDP or TBP) figures, used to estimate the
 * emissions of sold GPU-hours (GPU-hours x power x the offer's carbon intensity). A GPU rarely draws its maximum for
 * a whole job, so the estimate is an upper bound. Models missing here count at DEFAULT_GPU_POWER_WATTS.
 */
export const GPU_POWER_WATTS: Readonly<Record<string, number>> = {
  "H100-SXM-80GB": 700, // NVIDIA H100 SXM5 datasheet: up to 700 W
  "H200-SXM-141GB": 700, // NVIDIA H200 SXM datasheet: up to 700 W
  "A100-SXM-80GB": 400, // NVIDIA A100 SXM4 datasheet: 400 W
  "L40S-48GB": 350, // NVIDIA L40S datasheet: 350 W
  "RTX-4090-24GB": 450, // NVIDIA GeForce RTX 4090: 450 W total board power
  "B200-192GB": 1000, // NVIDIA B200 (HGX B200): up to 1000 W
  "MI300X-192GB": 750, // AMD Instinct MI300X datasheet: 750 W
};

export const DEFAULT_GPU_POWER_WATTS = 500;

export function gpuPowerWatts(modelName: string): number {
  return GPU_POWER_WATTS[modelName] ?? DEFAULT_GPU_POWER_WATTS;
}

/** kg CO2e of `carbonGpuSeconds` (sum of GPU-seconds x gCO2e/kWh) at `watts`: W x s / 3.6e6 = kWh, g / 1000 = kg. */
export function emissionsKg(carbonGpuSeconds: bigint, watts: number): number {
  return (Number(carbonGpuSeconds) * watts) / 3.6e9;
}

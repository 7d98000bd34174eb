/**
 * What the simulated market looks like: GPU models with their going rates (USD per GPU-hour, 2025-26 cloud and
 * marketplace prices), how common each is, how big a node is, and regions with their price level and grid carbon.
 */
export interface GpuProfile {
  name: string;
  /** Typical ask range, USD per GPU-hour. */
  priceLow: number;
  priceHigh: number;
  /** Share of listings. */
  weight: number;
  /** GPUs per offer a provider of this model lists. */
  offerSizes: readonly number[];
  /** GPUs per job clients ask for. */
  jobSizes: readonly number[];
}

export const GPU_PROFILES: readonly GpuProfile[] = [
  { name: "H100-SXM-80GB", priceLow: 2.0, priceHigh: 3.0, weight: 30, offerSizes: [8, 8, 16, 32], jobSizes: [1, 2, 4, 8, 8] },
  { name: "H200-SXM-141GB", priceLow: 3.0, priceHigh: 4.0, weight: 10, offerSizes: [8, 16], jobSizes: [1, 4, 8] },
  { name: "A100-SXM-80GB", priceLow: 1.0, priceHigh: 1.5, weight: 25, offerSizes: [4, 8, 16], jobSizes: [1, 1, 2, 4, 8] },
  { name: "L40S-48GB", priceLow: 0.8, priceHigh: 1.1, weight: 15, offerSizes: [4, 8], jobSizes: [1, 1, 2, 4] },
  { name: "RTX-4090-24GB", priceLow: 0.3, priceHigh: 0.5, weight: 15, offerSizes: [2, 4, 8], jobSizes: [1, 1, 1, 2] },
  { name: "B200-192GB", priceLow: 4.5, priceHigh: 6.0, weight: 3, offerSizes: [8], jobSizes: [1, 8] },
  { name: "MI300X-192GB", priceLow: 2.0, priceHigh: 2.8, weight: 2, offerSizes: [8], jobSizes: [1, 4, 8] },
];

export interface RegionProfile {
  code: string;
  /** Price level relative to us-east. */
  priceFactor: number;
  /** Typical grid carbon intensity, gCO2e/kWh. */
  carbon: number;
}

export const REGIONS: readonly RegionProfile[] = [
  { code: "us-east", priceFactor: 1.0, carbon: 380 },
  { code: "us-west", priceFactor: 1.03, carbon: 230 },
  { code: "eu-west", priceFactor: 1.06, carbon: 250 },
  { code: "eu-north", priceFactor: 0.97, carbon: 40 },
  { code: "ap-southeast", priceFactor: 1.1, carbon: 480 },
  { code: "ap-northeast", priceFactor: 1.12, carbon: 450 },
];

/** Job lengths clients ask for, seconds, with weights: mostly short runs, some long training jobs. */
export const JOB_DURATIONS: ReadonlyArray<readonly [number, number]> = [
  [30 * 60, 4],
  [3600, 20],
  [2 * 3600, 18],
  [3 * 3600, 12],
  [4 * 3600, 10],
  [6 * 3600, 8],
  [8 * 3600, 6],
  [12 * 3600, 5],
  [24 * 3600, 3],
];

import { ConfigError } from "../internal/errors";

/**
 * Per-chain defaults. finalityDepth is how deep a reorg can be before the indexer refuses it (and how long it keeps
 * undo records); confirmations is how far behind the head it indexes (0 is fine: reorgs are rolled back).
 */
interface ChainDefaults {
  confirmations: number;
  finalityDepth: number;
  pollIntervalMs: number;
  /**
   * Polls at one head before the watchdog recreates the RPC clients; null: no watchdog. A dev chain (Hardhat, anvil)
   * mines only when it is sent a transaction, so a head that stands still there is the normal case, not a stuck node.
   */
  stallPolls: number | null;
}

const LOCAL: ChainDefaults = { confirmations: 0, finalityDepth: 12, pollIntervalMs: 1000, stallPolls: null };
// Ethereum finalizes after two epochs (64 slots).
const ETHEREUM: ChainDefaults = { confirmations: 2, finalityDepth: 64, pollIntervalMs: 6000, stallPolls: 30 };
// Rollups: blocks every 0.25-2 s and finality through L1, so a deeper window in blocks.
const ROLLUP: ChainDefaults = { confirmations: 0, finalityDepth: 300, pollIntervalMs: 2000, stallPolls: 30 };
// Polygon PoS has seen reorgs of over a hundred blocks.
const POLYGON: ChainDefaults = { confirmations: 5, finalityDepth: 256, pollIntervalMs: 2000, stallPolls: 30 };
const UNKNOWN: ChainDefaults = { confirmations: 2, finalityDepth: 128, pollIntervalMs: 4000, stallPolls: 30 };

const CHAIN_DEFAULTS: Record<number, ChainDefaults> = {
  1: ETHEREUM,
  11155111: ETHEREUM,
  17000: ETHEREUM,
  10: ROLLUP,
  8453: ROLLUP,
  84532: ROLLUP,
  11155420: ROLLUP,
  42161: ROLLUP,
  421614: ROLLUP,
  137: POLYGON,
  31337: LOCAL,
  1337: LOCAL,
};

export function chainDefaults(chainId: number): ChainDefaults {
  return CHAIN_DEFAULTS[chainId] ?? UNKNOWN;
}

export interface SyncOptionsInput {
  confirmations?: number;
  finalityDepth?: number;
  pollIntervalMs?: number;
  maxBlockRange?: number;
  initialBlockRange?: number;
  targetLogsPerBatch?: number;
  stallPolls?: number;
  maxHeapMb?: number;
}

export interface SyncOptions {
  confirmations: number;
  finalityDepth: number;
  pollIntervalMs: number;
  /** Largest eth_getLogs block range asked for. */
  maxBlockRange: number;
  initialBlockRange: number;
  /** The range adapts so that one eth_getLogs returns about this many logs (bounds memory per batch). */
  targetLogsPerBatch: number;
  /** Polls without a new head before the watchdog recreates the RPC clients; null: no watchdog (dev chains). */
  stallPolls: number | null;
  /** Heap size past which garbage is collected between batches (0: leave it to V8). See createHeapBudget. */
  maxHeapMb: number;
}

function integer(name: string, value: number | undefined, fallback: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new ConfigError(`${name} must be an integer between ${min} and ${max}, got ${value}`);
  }
  return value;
}

/** Validates sync options once, at start-up, filling in the chain's defaults. */
export function resolveSyncOptions(chainId: number, input: SyncOptionsInput): SyncOptions {
  const defaults = chainDefaults(chainId);
  const confirmations = integer("confirmations", input.confirmations, defaults.confirmations, 0, 10_000);
  const finalityDepth = integer("finalityDepth", input.finalityDepth, Math.max(defaults.finalityDepth, confirmations), 1, 100_000);
  if (finalityDepth < confirmations) {
    throw new ConfigError(`finalityDepth (${finalityDepth}) must be at least confirmations (${confirmations})`);
  }
  const maxBlockRange = integer("maxBlockRange", input.maxBlockRange, 10_000, 1, 10_000_000);
  return {
    confirmations,
    finalityDepth,
    pollIntervalMs: integer("pollIntervalMs", input.pollIntervalMs, defaults.pollIntervalMs, 10, 3_600_000),
    maxBlockRange,
    // Small at first: the log density is unknown, and the range grows fourfold per batch while it is sparse.
    initialBlockRange: integer("initialBlockRange", input.initialBlockRange, Math.min(10, maxBlockRange), 1, maxBlockRange),
    targetLogsPerBatch: integer("targetLogsPerBatch", input.targetLogsPerBatch, 5_000, 1, 1_000_000),
    stallPolls: input.stallPolls === undefined ? defaults.stallPolls : integer("stallPolls", input.stallPolls, 30, 1, 1_000_000),
    maxHeapMb: integer("maxHeapMb", input.maxHeapMb, 96, 0, 1_000_000),
  };
}

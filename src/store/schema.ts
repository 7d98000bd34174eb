import type { Db } from "./db";
import { createTable, type DerivedColumn, type Journal, type Row, type Table } from "./tables";
import type {
  CapacityProviderRow,
  CapacityRow,
  EmissionsRow,
  GpuModelRow,
  HeartbeatRow,
  JobRow,
  JobStateCountRow,
  MarketTotalsRow,
  OfferRow,
  PriceBucketRow,
  ProviderRow,
  StakeMovementRow,
  TermsRow,
  UtilizationBucketRow,
} from "./rows";

/** Largest value of a signed 64-bit INTEGER: offers.price_sort saturates here. */
export const MAX_PRICE_SORT = (1n << 63n) - 1n;

/** Columns that the store computes when writing a row (never read back into memory). */
export const DERIVED_COLUMNS: Record<string, Record<string, DerivedColumn>> = {
  offers: {
    price_sort: {
      sources: ["price_per_gpu_hour"],
      compute: (row) => {
        const price = BigInt(row.price_per_gpu_hour as string);
        return price > MAX_PRICE_SORT ? MAX_PRICE_SORT : price;
      },
    },
  },
};

/**
 * The tables whose every version is kept (time travel, migrations/009_time_travel.sql): the entities the API answers
 * from; market and capacity as of a block are aggregates over them.
 */
export const HISTORY_TABLES: Record<string, string> = {
  gpu_models: "gpu_models_history",
  providers: "providers_history",
  offers: "offers_history",
  jobs: "jobs_history",
  terms: "terms_history",
};

/**
 * Columns of a table with history that its history table does not keep, each with the SQL of its value as of a block
 * (over the current row, `c`, and the block, `n`: a number or a parameter). Changing one of them alone writes no
 * version. A provider's latest sign of life is one: a version per heartbeat would be most of the history (7.8M of the
 * versions of a 10M-event store), and the heartbeats table has every one with its block.
 */
export const UNVERSIONED_COLUMNS: Record<string, Record<string, (n: number | string) => string>> = {
  providers: {
    // handlers.ts keeps providers.last_heartbeat_at the largest `at` of the address's signs of life so far.
    last_heartbeat_at: (n) => `(SELECT at FROM heartbeats WHERE provider = c.address AND block_number <= ${n} ORDER BY at DESC LIMIT 1)`,
  },
};

export interface Tables {
  gpuModels: Table<GpuModelRow>;
  providers: Table<ProviderRow>;
  offers: Table<OfferRow>;
  jobs: Table<JobRow>;
  stakeMovements: Table<StakeMovementRow>;
  heartbeats: Table<HeartbeatRow>;
  terms: Table<TermsRow>;
  capacity: Table<CapacityRow>;
  capacityProviders: Table<CapacityProviderRow>;
  priceBuckets: Table<PriceBucketRow>;
  marketTotals: Table<MarketTotalsRow>;
  jobStateCounts: Table<JobStateCountRow>;
  emissions: Table<EmissionsRow>;
  utilizationBuckets: Table<UtilizationBucketRow>;
}

/** Tables derived from events: everything but checkpoint, blocks, block_times, history_start and undo_log. */
export const ENTITY_TABLES = [
  "gpu_models",
  "providers",
  "offers",
  "jobs",
  "stake_movements",
  "heartbeats",
  "terms",
  "capacity",
  "capacity_providers",
  "price_buckets",
  "market_totals",
  "job_state_counts",
  "emissions",
  "utilization_buckets",
  ...Object.values(HISTORY_TABLES),
] as const;

export function createTables(db: Db, journal: Journal): Tables & { all: Table<Row>[] } {
  const tables: Tables = {
    gpuModels: createTable(db, "gpu_models", journal, { history: HISTORY_TABLES.gpu_models }),
    providers: createTable(db, "providers", journal, { history: HISTORY_TABLES.providers, unversioned: Object.keys(UNVERSIONED_COLUMNS.providers) }),
    offers: createTable(db, "offers", journal, { derived: DERIVED_COLUMNS.offers, history: HISTORY_TABLES.offers }),
    jobs: createTable(db, "jobs", journal, { history: HISTORY_TABLES.jobs }),
    // Append-only: nothing reads a movement back, so none stays in memory after a flush.
    stakeMovements: createTable(db, "stake_movements", journal, { maxCachedRows: 0, appendOnly: true }),
    heartbeats: createTable(db, "heartbeats", journal, { maxCachedRows: 0, appendOnly: true }),
    terms: createTable(db, "terms", journal, { history: HISTORY_TABLES.terms }),
    capacity: createTable(db, "capacity", journal),
    capacityProviders: createTable(db, "capacity_providers", journal),
    priceBuckets: createTable(db, "price_buckets", journal, { maxCachedRows: 5_000 }),
    marketTotals: createTable(db, "market_totals", journal),
    jobStateCounts: createTable(db, "job_state_counts", journal),
    emissions: createTable(db, "emissions", journal),
    utilizationBuckets: createTable(db, "utilization_buckets", journal, { maxCachedRows: 1_000 }),
  };
  return { ...tables, all: Object.values(tables) as unknown as Table<Row>[] };
}

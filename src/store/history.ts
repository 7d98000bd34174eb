import type { Database, Statement } from "better-sqlite3";
import { OPEN_JOB_STATES } from "../protocol";
import type { JobRow, OfferRow } from "./rows";
import { HISTORY_TABLES, UNVERSIONED_COLUMNS } from "./schema";
import { historyColumns } from "./tables";
import {
  createPageReads,
  capacityRecord,
  jobRecord,
  openAskRecord,
  JOB_COLUMNS,
  offerRecord,
  OFFER_COLUMNS,
  providerRecord,
  PROVIDER_COLUMNS,
  rentableOfferRecord,
  rentableOffersSql,
  termsRecord,
  type CapacityGrouping,
  type ProviderReadRow,
  type Reads,
  type RentableOfferRow,
  type TableSource,
  type CapacityReadRow,
  type OpenAskRow,
} from "./reads";

/**
 * Time travel's read side (README "Time travel"): which blocks the store can answer as of, and Reads whose every
 * answer is as of one of them, from the history tables (migrations/009_time_travel.sql). Market and capacity are
 * aggregates over the rows alive at the block; heartbeats and stake movements are the rows of blocks up to it.
 */

/** A block to answer as of, and the clock of the answer: its timestamp, or the last applied block's before it. */
export interface BlockAsOf {
  number: number;
  timestamp: number;
}

export type BlockLookup =
  | { found: true; block: BlockAsOf }
  /** The database has no history tables (indexed by a version before time travel and served read-only). */
  | { found: false; reason: "NO_HISTORY" }
  | { found: false; reason: "NOT_INDEXED"; indexedBlock: number | null }
  | { found: false; reason: "BEFORE_START"; startBlock: number }
  /**
   * Before history_start: where a database indexed before time travel was upgraded (historyBlocks null), or where an
   * indexer run with --history-blocks pruned it (src/store/retention.ts).
   */
  | { found: false; reason: "BEFORE_HISTORY"; historyStart: number; historyBlocks: number | null }
  /** An `at` before the first applied block's timestamp. */
  | { found: false; reason: "NO_BLOCK_AT"; first: BlockAsOf | null };

export interface History {
  byNumber(number: number): BlockLookup;
  /** The last applied block whose timestamp is at or before `at`. */
  byTime(at: number): BlockLookup;
  /** Reads as of `block` (one from byNumber or byTime); what has no history (prices, utilization) is the current one. */
  at(block: BlockAsOf): Reads;
  /**
   * The hash of block `number` when the store has it: the indexed head's, those of the blocks inside the unfinalized
   * window and the deployment's start block's; null for the rest (block_times keeps no hashes).
   */
  blockHash(number: number): string | null;
}

const HISTORY = HISTORY_TABLES;
/**
 * Columns that lists by parent filter on (a provider's offers and jobs, an offer's jobs, a client's): they never
 * change, and taken from the current row their conditions use its indexes, even where a history keeps them too.
 */
const PARENT_COLUMNS = new Set(["provider", "offer_id", "client"]);
/** Tables of one row per event, with the block it came in. */
const PER_EVENT = new Set(["heartbeats", "stake_movements"]);

/** The versions of `table` alive at the block @n, only the columns its history keeps: for sums over them. */
const keptAt = (table: string) =>
  `(SELECT * FROM ${HISTORY[table]} WHERE valid_from_block <= @n AND (valid_to_block IS NULL OR valid_to_block > @n))`;

const MAX_CACHED_STATEMENTS = 500;

/** What the market's figures need from the jobs alive at a block. */
interface JobTotals {
  byState: Map<string, number>;
  escrowed: bigint;
  bonds: bigint;
  fees: bigint;
  volume: bigint;
  gpuSecondsSold: number;
  /** GPU-seconds sold by the finished jobs of each offer. */
  soldByOffer: Map<number, number>;
}

/** The jobs' decimal amounts the market sums. */
const MONEY = ["escrow", "claimed", "provider_paid", "fee", "bond"] as const;
type Money = (typeof MONEY)[number];
const CHUNK_DIGITS = 9;
const CHUNKS = 2;
/** SQL: the sums of `column`'s 9-digit chunks, lowest first (substr with a start left of the text gives what is there). */
const chunkSums = (column: Money) =>
  Array.from({ length: CHUNKS }, (_, chunk) => `sum(CAST(substr(${column}, ${-CHUNK_DIGITS * (chunk + 1)}, ${CHUNK_DIGITS}) AS INTEGER)) AS ${column}_${chunk}`).join(", ");
const joinChunks = (row: Record<string, number>, column: Money): bigint =>
  Array.from({ length: CHUNKS }, (_, chunk) => BigInt(row[`${column}_${chunk}`]) * 10n ** BigInt(CHUNK_DIGITS * chunk)).reduce((a, b) => a + b, 0n);

type JobGroupRow = Pick<JobRow, "offer_id" | "state" | "gpu_seconds_sold"> & { unfinalized: number; jobs: number; longest: number } & Record<string, number>;

/**
 * Where a database's answers can start: the deployment's start block (0 when not recorded), and history_start, the
 * first block with history of an upgraded or a pruned database (null: all of it from the start block).
 */
export function historyBounds(db: Database) {
  const startBlockStatement = db.prepare("SELECT start_block FROM deployment_identity WHERE id = 1").pluck();
  const historyStartStatement = db.prepare("SELECT block_number FROM history_start WHERE id = 1").pluck();
  const startBlock = () => (startBlockStatement.get() as number | undefined) ?? 0;
  const historyStart = () => (historyStartStatement.get() as number | undefined) ?? null;
  return {
    startBlock,
    historyStart,
    /** The first block answered as of: history_start, else the start block. */
    firstAnswered: () => historyStart() ?? startBlock(),
  };
}

export function createHistory(db: Database, base: Reads): History {
  const hasHistory =
    (db.prepare("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN ('block_times', 'history_start')").pluck().get() as number) === 2;
  if (!hasHistory) {
    const none = (): BlockLookup => ({ found: false, reason: "NO_HISTORY" });
    return {
      byNumber: none,
      byTime: none,
      at: () => {
        throw new Error("this database has no history");
      },
      blockHash: () => null,
    };
  }

  // Page queries name the block in their text (one statement per block and shape): a bounded cache of them.
  const statements = new Map<string, Statement>();
  const prepare = (sql: string): Statement => {
    let statement = statements.get(sql);
    if (!statement) {
      if (statements.size >= MAX_CACHED_STATEMENTS) statements.clear();
      statement = db.prepare(sql);
      statements.set(sql, statement);
    }
    return statement;
  };

  /**
   * Each table's columns as a version has them: what its history keeps from the version (h), the rest from the current
   * row (c), which keeps what a row was created with (src/store/tables.ts refuses to change it). The current row's key
   * and parent columns (a job's provider, offer and client) let conditions on them use its indexes.
   */
  const versionColumns = Object.fromEntries(
    Object.entries(HISTORY).map(([table, history]) => {
      const kept = new Set(historyColumns(db, history, table));
      // Read from elsewhere as of the block (schema.ts), unless an older database's history still keeps them.
      const asOf = UNVERSIONED_COLUMNS[table] ?? {};
      const info = db.pragma(`table_info(${table})`) as Array<{ name: string; pk: number }>;
      const columns = (n: number | string) =>
        info
          .map(({ name, pk }) =>
            kept.has(name) && pk === 0 && !PARENT_COLUMNS.has(name)
              ? `h.${name} AS ${name}`
              : name in asOf
                ? `${asOf[name](n)} AS ${name}`
                : `c.${name} AS ${name}`,
          )
          .join(", ");
      const key = info.find((column) => column.pk === 1)!.name;
      return [table, { columns, key }];
    }),
  );
  /** The whole rows of a table with history as of block `n` (an integer, or a parameter such as @n): a subquery. */
  const versionsAt = (table: string, n: number | string): string => {
    const { key } = versionColumns[table];
    const columns = versionColumns[table].columns(n);
    const alive = `h.valid_from_block <= ${n} AND (h.valid_to_block IS NULL OR h.valid_to_block > ${n})`;
    // CROSS JOIN keeps the current table the outer loop: its indexes, then each row's versions by key.
    return `(SELECT ${columns} FROM ${table} AS c CROSS JOIN ${HISTORY[table]} AS h ON h.${key} = c.${key} WHERE ${alive})`;
  };
  /** Any table's rows as of block `n`, as a FROM term named like the table. */
  const rowsAt = (table: string, n: number | string): string => {
    if (table in HISTORY) return `${versionsAt(table, n)} AS ${table}`;
    if (PER_EVENT.has(table)) return `(SELECT * FROM ${table} WHERE block_number <= ${n}) AS ${table}`;
    return table;
  };

  const { historyStart, startBlock } = historyBounds(db);
  // A database of version 11 or older served read-only has no history_blocks (migrations/012_history_retention.sql).
  const retention = (db.pragma("table_info(history_start)") as Array<{ name: string }>).some((column) => column.name === "history_blocks")
    ? db.prepare("SELECT history_blocks FROM history_start WHERE id = 1").pluck()
    : null;
  const blockAtOrBefore = db.prepare<[number], BlockAsOf>(
    "SELECT number, timestamp FROM block_times WHERE number <= ? ORDER BY number DESC LIMIT 1",
  );
  const firstBlock = db.prepare<[], BlockAsOf>("SELECT number, timestamp FROM block_times ORDER BY number LIMIT 1");
  const storedHash = db.prepare<[number], string>("SELECT hash FROM blocks WHERE number = ?").pluck();
  const startBlockHash = db.prepare<[number], string>("SELECT start_block_hash FROM deployment_identity WHERE id = 1 AND start_block = ?").pluck();

  /** The version alive at @n of each key in @keys (a JSON array): the latest at or before it, if it was not replaced. */
  const latest = (table: string, columns: string) => {
    const { key } = versionColumns[table];
    const versioned = versionColumns[table].columns("@n");
    const history = HISTORY[table];
    return db.prepare(
      `SELECT ${columns} FROM (SELECT ${versioned} FROM json_each(@keys) AS k CROSS JOIN ${table} AS c ON c.${key} = k.value
         CROSS JOIN ${history} AS h ON h.${key} = c.${key} AND h.valid_from_block =
           (SELECT max(valid_from_block) FROM ${history} WHERE ${key} = c.${key} AND valid_from_block <= @n)
       WHERE h.valid_to_block IS NULL OR h.valid_to_block > @n) AS ${table}`,
    );
  };
  const providersByAddress = latest("providers", PROVIDER_COLUMNS);
  const offersById = latest("offers", OFFER_COLUMNS);
  const jobsById = latest("jobs", JOB_COLUMNS);

  const providerRows = db.prepare(`SELECT staked, locked, unbonding, slashed, active_offers FROM ${keptAt("providers")}`);
  // The jobs' money summed in SQL, exactly: per group, each amount as two sums of 9-digit chunks (each fits in 64 bits
  // over a billion rows); a group with an amount of more than 18 digits (10^12 of a 6-decimal token) is summed in JS
  // from its rows.
  const jobGroups = db.prepare(
    `SELECT offer_id, state, finalized_at IS NULL AS unfinalized, count(*) AS jobs, sum(gpu_seconds_sold) AS gpu_seconds_sold,
            ${MONEY.map((column) => chunkSums(column)).join(", ")},
            max(${MONEY.map((column) => `length(${column})`).join(", ")}) AS longest
     FROM ${keptAt("jobs")} GROUP BY offer_id, state, unfinalized`,
  );
  const jobGroupRows = db.prepare(
    `SELECT ${MONEY.join(", ")} FROM ${keptAt("jobs")}
     WHERE offer_id = @offer AND state = @state AND (finalized_at IS NULL) = @unfinalized`,
  );
  const offeredGpus = db.prepare(
    `SELECT coalesce(sum(gpus), 0) AS offered, coalesce(sum(gpus_leased), 0) AS leased FROM ${keptAt("offers")} WHERE state = 'OPEN'`,
  );
  const currentTermsId = db.prepare(`SELECT coalesce(max(terms_id), 0) FROM ${keptAt("terms")}`).pluck();
  const gpuModels = db.prepare(`SELECT id, name, vram_gb, listed, listed_at FROM ${keptAt("gpu_models")} ORDER BY name`);
  const terms = db.prepare(`SELECT * FROM ${keptAt("terms")} ORDER BY terms_id`);
  const rentableOffers = db.prepare(rentableOffersSql(versionsAt("offers", "@n"), versionsAt("providers", "@n")));
  const openAsks = db.prepare(
    `SELECT gpu_model, region, price_per_gpu_hour, gpus - gpus_leased AS gpus_free FROM ${rowsAt("offers", "@n")}
     WHERE state = 'OPEN' AND gpus > gpus_leased AND (@model IS NULL OR gpu_model = @model) AND (@region IS NULL OR region = @region)`,
  );
  // The capacity roll-ups (capacity, capacity_providers) are sums over the OPEN offers: here, over those alive at @n.
  const capacity = Object.fromEntries(
    (["GPU_MODEL", "REGION", "GPU_MODEL_REGION"] as const).map((grouping) => {
      const model = grouping === "REGION" ? "NULL" : "gpu_model";
      const region = grouping === "GPU_MODEL" ? "NULL" : "region";
      const groupBy = grouping === "GPU_MODEL" ? "gpu_model" : grouping === "REGION" ? "region" : "gpu_model, region";
      const statement = db.prepare(
        `SELECT ${model} AS model, ${region} AS region, sum(gpus) AS gpus_offered, sum(gpus_leased) AS gpus_leased,
                count(*) AS offers, count(DISTINCT provider) AS providers, sum(gpus * carbon_intensity) AS carbon_gpu_sum,
                sum(gpus * renewable_bps) AS renewable_gpu_sum
         FROM ${rowsAt("offers", "@n")} WHERE state = 'OPEN' AND (@model IS NULL OR gpu_model = @model) AND (@region IS NULL OR region = @region)
         GROUP BY ${groupBy}`,
      );
      return [grouping, statement];
    }),
  ) as Record<CapacityGrouping, Statement>;
  const signsOfLife = db
    .prepare(
      `SELECT at FROM (SELECT at FROM heartbeats WHERE provider = @provider AND at <= @from AND block_number <= @n ORDER BY at DESC LIMIT 1)
       UNION ALL SELECT at FROM (SELECT at FROM heartbeats WHERE provider = @provider AND at > @from AND at <= @to AND block_number <= @n ORDER BY at)`,
    )
    .pluck();
  const acceptedCount = db.prepare(`SELECT count(*) FROM ${rowsAt("jobs", "@n")} WHERE provider = @provider AND started_at IS NOT NULL`).pluck();
  const secondsToAccept = db
    .prepare(
      `SELECT started_at - created_at AS seconds FROM ${rowsAt("jobs", "@n")} WHERE provider = @provider AND started_at IS NOT NULL
       ORDER BY seconds LIMIT 1 OFFSET @offset`,
    )
    .pluck();
  // A job's model is its offer's, and an offer's carbon intensity never changes: the current rows have both.
  const offerCarbon = db.prepare(`SELECT id, gpu_model, carbon_intensity FROM offers WHERE id IN (SELECT value FROM json_each(?))`);

  const beforeHistory = (since: number): BlockLookup => ({
    found: false,
    reason: "BEFORE_HISTORY",
    historyStart: since,
    historyBlocks: (retention?.get() as number | null | undefined) ?? null,
  });

  /** Checks that `number` (at most the head) has history; the block and the clock of the answer. */
  const answerable = (number: number, indexedBlock: number): BlockLookup => {
    const start = startBlock();
    if (number < start) return { found: false, reason: "BEFORE_START", startBlock: start };
    const since = historyStart();
    if (since !== null && number < since) return beforeHistory(since);
    // Before the first applied block nothing had happened: no row is alive, and the clock reads nothing.
    const clock = number === indexedBlock ? base.checkpoint()!.blockTimestamp : (blockAtOrBefore.get(number)?.timestamp ?? 0);
    return { found: true, block: { number, timestamp: clock } };
  };

  const readsAt = (block: BlockAsOf): Reads => {
    const n = block.number;
    const from: TableSource = (table) => rowsAt(table, n);
    const keysAt = (keys: readonly unknown[]) => ({ keys: JSON.stringify(keys), n });
    let jobTotals: JobTotals | undefined;
    /** One pass over the jobs alive at the block, for the market's figures (computed once per block and request). */
    const jobs = (): JobTotals => {
      if (jobTotals) return jobTotals;
      const totals: JobTotals = { byState: new Map(), escrowed: 0n, bonds: 0n, fees: 0n, volume: 0n, gpuSecondsSold: 0, soldByOffer: new Map() };
      for (const group of jobGroups.all({ n }) as JobGroupRow[]) {
        const money = (column: Money): bigint => {
          if (group.longest <= CHUNK_DIGITS * CHUNKS) return joinChunks(group, column);
          const rows = jobGroupRows.all({ n, offer: group.offer_id, state: group.state, unfinalized: group.unfinalized }) as Array<Record<Money, string>>;
          return rows.reduce((sum, row) => sum + BigInt(row[column]), 0n);
        };
        totals.byState.set(group.state, (totals.byState.get(group.state) ?? 0) + group.jobs);
        // As market_totals counts them: escrow until the job is finalized, bonds while disputed, fees when charged,
        // and (API.md) the pay and GPU time of finished jobs only, cancel fees left out.
        if (group.unfinalized) totals.escrowed += money("escrow") - money("claimed");
        if (group.state === "DISPUTED") totals.bonds += money("bond");
        totals.fees += money("fee");
        if (!OPEN_JOB_STATES.has(group.state)) {
          if (group.state !== "CANCELLED") totals.volume += money("provider_paid");
          if (group.gpu_seconds_sold > 0) {
            totals.gpuSecondsSold += group.gpu_seconds_sold;
            totals.soldByOffer.set(group.offer_id, (totals.soldByOffer.get(group.offer_id) ?? 0) + group.gpu_seconds_sold);
          }
        }
      }
      return (jobTotals = totals);
    };
    return {
      ...base,
      ...createPageReads(prepare, from),
      marketTotals() {
        let providers = 0;
        const sums = { staked: 0n, locked: 0n, unbonding: 0n, slashed: 0n };
        for (const row of providerRows.all({ n }) as Array<{ staked: string; locked: string; unbonding: string; slashed: string }>) {
          providers += 1;
          sums.staked += BigInt(row.staked);
          sums.locked += BigInt(row.locked);
          sums.unbonding += BigInt(row.unbonding);
          sums.slashed += BigInt(row.slashed);
        }
        const { escrowed, bonds, fees, volume, gpuSecondsSold } = jobs();
        const gpus = offeredGpus.get({ n }) as { offered: number; leased: number };
        return {
          providers,
          totalStaked: sums.staked.toString(),
          totalLocked: sums.locked.toString(),
          totalUnbonding: sums.unbonding.toString(),
          totalSlashed: sums.slashed.toString(),
          escrowed: escrowed.toString(),
          volume: volume.toString(),
          feesCollected: fees.toString(),
          gpuSecondsSold,
          gpusOffered: gpus.offered,
          gpusLeased: gpus.leased,
          disputeBondsHeld: bonds.toString(),
          currentTermsId: currentTermsId.get({ n }) as number,
        };
      },
      jobStateCounts: () => [...jobs().byState].map(([state, count]) => ({ state, count })),
      activeProviderCount: () => (providerRows.all({ n }) as Array<{ active_offers: number }>).filter((row) => row.active_offers > 0).length,
      gpuModels: () =>
        (gpuModels.all({ n }) as Array<{ id: string; name: string; vram_gb: number; listed: number; listed_at: number }>).map((row) => ({
          id: row.id,
          name: row.name,
          vramGb: row.vram_gb,
          listed: row.listed !== 0,
          listedAt: row.listed_at,
        })),
      providersByAddress: (addresses) => (providersByAddress.all(keysAt(addresses)) as ProviderReadRow[]).map(providerRecord),
      offersById: (ids) => (offersById.all(keysAt(ids)) as OfferRow[]).map(offerRecord),
      jobsById: (ids) => (jobsById.all(keysAt(ids)) as JobRow[]).map(jobRecord),
      terms: () => (terms.all({ n }) as Array<Record<string, number>>).map(termsRecord),
      capacity(grouping, filter) {
        return (capacity[grouping].all({ n, model: filter.gpuModelId ?? null, region: filter.region ?? null }) as CapacityReadRow[]).map(capacityRecord);
      },
      openAsks(filter) {
        return (openAsks.all({ n, model: filter.gpuModelId ?? null, region: filter.region ?? null }) as OpenAskRow[]).map(openAskRecord);
      },
      rentableOffers: ({ gpuModelId, region, at }) =>
        (rentableOffers.all({ n, model: gpuModelId ?? null, region: region ?? null, at }) as RentableOfferRow[]).map(rentableOfferRecord),
      signsOfLife: (provider, from, to) => signsOfLife.all({ n, provider, from, to }) as number[],
      medianSecondsToAccept(provider) {
        const accepted = acceptedCount.get({ n, provider }) as number;
        if (accepted === 0) return null;
        return secondsToAccept.get({ n, provider, offset: Math.floor((accepted - 1) / 2) }) as number;
      },
      soldCarbonGpuSeconds() {
        const { soldByOffer } = jobs();
        const sold = new Map<string, bigint>();
        const offers = offerCarbon.all(JSON.stringify([...soldByOffer.keys()])) as Array<{ id: number; gpu_model: string; carbon_intensity: number }>;
        for (const offer of offers) {
          const carbon = BigInt(soldByOffer.get(offer.id)!) * BigInt(offer.carbon_intensity);
          sold.set(offer.gpu_model, (sold.get(offer.gpu_model) ?? 0n) + carbon);
        }
        return sold;
      },
    };
  };

  return {
    byNumber(number) {
      const checkpoint = base.checkpoint();
      if (!checkpoint || number > checkpoint.blockNumber) return { found: false, reason: "NOT_INDEXED", indexedBlock: checkpoint?.blockNumber ?? null };
      return answerable(number, checkpoint.blockNumber);
    },
    byTime(at) {
      const checkpoint = base.checkpoint();
      if (!checkpoint) return { found: false, reason: "NOT_INDEXED", indexedBlock: null };
      const first = firstBlock.get() ?? null;
      if (first === null || first.timestamp > at) {
        // The block times before the history are not all kept: a time before them is before the history.
        const since = historyStart();
        return since !== null && first !== null ? beforeHistory(since) : { found: false, reason: "NO_BLOCK_AT", first };
      }
      // Timestamps never decrease with the number: bisect the numbers for the last applied block at or before `at`.
      let low = first.number;
      let high = checkpoint.blockNumber;
      while (low < high) {
        const middle = Math.ceil((low + high) / 2);
        if (blockAtOrBefore.get(middle)!.timestamp <= at) low = middle;
        else high = middle - 1;
      }
      return answerable(blockAtOrBefore.get(low)!.number, checkpoint.blockNumber);
    },
    at: readsAt,
    blockHash(number) {
      const checkpoint = base.checkpoint();
      if (checkpoint?.blockNumber === number) return checkpoint.blockHash;
      return storedHash.get(number) ?? startBlockHash.get(number) ?? null;
    },
  };
}

import type { IndexedEvent } from "../chain/events";
import { GpuMeshError } from "../internal/errors";
import type { Db } from "./db";
import { createCancelFeesSum } from "./reads";
import { PARAMETER_NAMES, parameterColumn, type JobState } from "../protocol";
import type { HeartbeatKind, JobRow, MarketTotalsRow, OfferRow, PriceInterval, ProviderRow, StakeMovementKind, TermsRow } from "./rows";
import { MAX_PRICE_SORT, type Tables } from "./schema";
import type { Journal } from "./tables";

export interface BlockContext {
  number: number;
  timestamp: number;
  /** Whether writes in this block are journaled for rollback (above the finalized block). */
  journaled: boolean;
}

export interface EventHandlers {
  /**
   * Runs before a batch's first block: fills in the totals an upgraded database does not know yet (the cancel fees'
   * sum, migrations/011_cancel_fees.sql), from the rows as of the checkpoint.
   */
  beginBatch(): void;
  /** Runs before a block's events: offers whose expiry the block's timestamp reached become EXPIRED. */
  beginBlock(block: BlockContext): void;
  apply(indexed: IndexedEvent, block: BlockContext): void;
  /** Runs after a block's events: a journaled block leaves its ask floors written. */
  endBlock(block: BlockContext): void;
  /** Writes the ask floors still pending (call before flushing the tables). */
  endBatch(): void;
  /**
   * The earliest moment at or before `until` at which the clock changes something (an offer's expiry, a job's accept
   * deadline passing), or null when nothing changes by then: the writer applies the first block that reaches it.
   */
  clockChangeDue(until: number): number | null;
  /** Forgets in-memory state after a failed transaction or a rollback. */
  reset(): void;
}

const INTERVAL_SECONDS: Record<PriceInterval, number> = { HOUR: 3600, DAY: 86400 };
const INTERVALS = Object.keys(INTERVAL_SECONDS) as PriceInterval[];

/** A (model, region) whose ask floor must be written into one price bucket; region '' is all regions. */
interface PendingFloor {
  model: string;
  region: string;
  interval: PriceInterval;
  start: number;
  /** Timestamp and block of the last offer/job event of this (model, region) in the bucket. */
  asOf: number;
  blockNumber: number;
  journaled: boolean;
}

const add = (a: string, b: string | bigint): string => (BigInt(a) + BigInt(b)).toString();
const sub = (a: string, b: string | bigint): string => (BigInt(a) - BigInt(b)).toString();
const text = (value: bigint | number): string => value.toString();
const min = (a: bigint, b: bigint): bigint => (a < b ? a : b);

/** bytes16 region code (lowercase ASCII, zero-padded on the right) to its string. */
export function decodeRegion(hex: string): string {
  return Buffer.from(hex.slice(2), "hex").toString("latin1").replace(/\0+$/, "");
}

function inconsistent(what: string): never {
  throw new GpuMeshError(`store is inconsistent with the chain: ${what}`, { code: "STORE_INCONSISTENT" });
}

/**
 * Applies decoded events to the tables, keeping every roll-up current: capacity and capacity_providers over OPEN
 * offers, price buckets, market totals, job state counts, providers' active offers, job counters and signs of life.
 *
 * Ask floors: a bucket's ask_floor is the lowest price among open offers with free GPUs after the last offer/job
 * event of its (model, region) in the bucket. Computing it after every event would cost a query per event, so the
 * computation waits until the (model, region) has an event in a later bucket or the batch ends. Only that
 * (model, region)'s own events and clock changes (applyClock) change its floor, and the query asks which offers were
 * open at the moment of the change (not closed, expires_at after it); so the deferred value equals the eager one
 * whatever the batch boundaries, which keeps a resumed index equal to a fresh one. The wait spans finalized blocks
 * only: a rollback can stop after any journaled block, so each journaled block writes its floors before it ends (and
 * floors deferred from finalized blocks are written before it starts). Every journaled block then leaves the buckets
 * exactly as they were after it, and the undo journal does not depend on where batches begin and end.
 */
export function createEventHandlers(db: Db, tables: Tables, journal: Journal): EventHandlers {
  const floorByRegion = db.prepare<[string, string, number], { price: string }>(
    `SELECT price_per_gpu_hour AS price FROM offers
     WHERE gpu_model = ? AND region = ? AND state <> 'CLOSED' AND expires_at > ? AND gpus_leased < gpus
     ORDER BY price_sort LIMIT 1`,
  );
  const floorByModel = db.prepare<[string, number], { price: string }>(
    `SELECT price_per_gpu_hour AS price FROM offers
     WHERE gpu_model = ? AND state <> 'CLOSED' AND expires_at > ? AND gpus_leased < gpus
     ORDER BY price_sort LIMIT 1`,
  );
  // Prices that saturate the 63-bit sort key are compared exactly here.
  const saturatedPrices = db
    .prepare<[string, string, string, number, bigint]>(
      `SELECT price_per_gpu_hour FROM offers
       WHERE gpu_model = ? AND (? = '' OR region = ?) AND state <> 'CLOSED' AND expires_at > ? AND gpus_leased < gpus
         AND price_sort = ?`,
    )
    .pluck();
  const cancelFeesOfJobs = createCancelFeesSum(db);
  const latestHeartbeat = db.prepare<[string]>(`SELECT MAX(at) FROM heartbeats WHERE provider = ?`).pluck();
  const offersDue = db.prepare<[number], { id: number; at: number }>(
    `SELECT id, expires_at AS at FROM offers WHERE state = 'OPEN' AND expires_at <= ?`,
  );
  // A job can be accepted up to and including its deadline second; one second later it can only expire.
  const jobsDue = db.prepare<[number], { id: number; at: number }>(
    `SELECT id, accept_deadline + 1 AS at FROM jobs WHERE state = 'CREATED' AND accept_deadline < ?`,
  );
  const earliestClockChange = db
    .prepare(
      `SELECT MIN(at) FROM (SELECT MIN(expires_at) AS at FROM offers WHERE state = 'OPEN'
                             UNION ALL SELECT MIN(accept_deadline) + 1 FROM jobs WHERE state = 'CREATED')`,
    )
    .pluck();

  const pendingFloors = new Map<string, PendingFloor>();
  /**
   * Earliest moment the clock changes something (an OPEN offer's expires_at, a CREATED job's accept deadline + 1): a
   * lower bound; undefined until read from the database.
   */
  let nextClockChangeAt: number | null | undefined;

  // ------------------------------------------------------------------ roll-up helpers
  const totals = (): MarketTotalsRow => tables.marketTotals.get(1) ?? inconsistent("market_totals row is missing");
  const updateTotals = (change: (row: MarketTotalsRow) => Partial<MarketTotalsRow>) =>
    tables.marketTotals.update(1, change(totals()));

  const provider = (address: string, block: BlockContext): ProviderRow =>
    tables.providers.get(address) ??
    tables.providers.put({ address, registered_at: block.timestamp, updated_at: block.timestamp });

  const updateProvider = (address: string, block: BlockContext, change: (row: ProviderRow) => Partial<ProviderRow>) => {
    const row = provider(address, block);
    tables.providers.update(address, { ...change(row), updated_at: block.timestamp });
  };

  const countState = (state: JobState, delta: number) => {
    const row = tables.jobStateCounts.get(state);
    if (row) tables.jobStateCounts.update(state, { count: row.count + delta });
    else tables.jobStateCounts.put({ state, count: delta });
  };

  const setJobState = (job: JobRow, state: JobState, changes: Partial<JobRow>) => {
    countState(job.state, -1);
    countState(state, 1);
    tables.jobs.update(job.id, { ...changes, state });
  };

  const job = (id: bigint): JobRow => tables.jobs.get(Number(id)) ?? inconsistent(`event for unknown job ${id}`);
  const offer = (id: bigint | number): OfferRow => tables.offers.get(Number(id)) ?? inconsistent(`event for unknown offer ${id}`);

  /** Adds (sign 1) or removes (sign -1) an OPEN offer's share of the capacity roll-ups. */
  const contribute = (row: OfferRow, sign: 1 | -1) => {
    const capacityKey = [row.gpu_model, row.region];
    const capacity = tables.capacity.get(capacityKey);
    const offers = (capacity?.offers ?? 0) + sign;
    if (offers === 0) tables.capacity.delete(capacityKey);
    else
      tables.capacity.put({
        gpu_model: row.gpu_model,
        region: row.region,
        gpus_offered: (capacity?.gpus_offered ?? 0) + sign * row.gpus,
        gpus_leased: (capacity?.gpus_leased ?? 0) + sign * row.gpus_leased,
        offers,
      });
    const providerKey = [row.gpu_model, row.region, row.provider];
    const providerOffers = (tables.capacityProviders.get(providerKey)?.offers ?? 0) + sign;
    if (providerOffers === 0) tables.capacityProviders.delete(providerKey);
    else tables.capacityProviders.put({ gpu_model: row.gpu_model, region: row.region, provider: row.provider, offers: providerOffers });
    updateTotals((t) => ({
      gpus_offered: t.gpus_offered + sign * row.gpus,
      gpus_leased: t.gpus_leased + sign * row.gpus_leased,
    }));
    const providerRow = tables.providers.get(row.provider) ?? inconsistent(`offer ${row.id} of unknown provider`);
    tables.providers.update(row.provider, { active_offers: providerRow.active_offers + sign });
  };

  /**
   * Changes an offer, moving its share of the roll-ups when it is (or becomes) OPEN. An open offer that stays open
   * with the same GPUs in the same bucket (a job taking or giving back GPUs: most events) moves only its leased
   * GPUs, which leaves the rows that count offers and providers unwritten.
   */
  const changeOffer = (row: OfferRow, changes: Partial<OfferRow>) => {
    const stillOpen =
      row.state === "OPEN" &&
      (changes.state === undefined || changes.state === "OPEN") &&
      (changes.gpus === undefined || changes.gpus === row.gpus) &&
      changes.gpu_model === undefined &&
      changes.region === undefined &&
      changes.provider === undefined;
    if (stillOpen) {
      const leasedBefore = row.gpus_leased;
      const updated = tables.offers.update(row.id, changes);
      const delta = updated.gpus_leased - leasedBefore;
      if (delta === 0) return;
      const capacityKey = [updated.gpu_model, updated.region];
      const capacity = tables.capacity.get(capacityKey) ?? inconsistent(`open offer ${updated.id} outside capacity`);
      tables.capacity.update(capacityKey, { gpus_leased: capacity.gpus_leased + delta });
      updateTotals((t) => ({ gpus_leased: t.gpus_leased + delta }));
      return;
    }
    if (row.state === "OPEN") contribute(row, -1);
    const updated = tables.offers.update(row.id, changes);
    if (updated.state === "OPEN") contribute(updated, 1);
  };

  const releaseGpus = (jobRow: JobRow, block: BlockContext) => {
    const offerRow = offer(jobRow.offer_id);
    touchFloor(offerRow.gpu_model, offerRow.region, block);
    changeOffer(offerRow, { gpus_leased: offerRow.gpus_leased - jobRow.gpus, updated_at: block.timestamp });
  };

  /** Seconds of GPU time a stopped job used, times its GPUs. */
  const gpuSecondsUsed = (jobRow: JobRow, endedAt: number) =>
    jobRow.gpus * Math.min(Math.max(0, endedAt - (jobRow.started_at ?? endedAt)), jobRow.duration);

  /**
   * Where a reclaimed job's pay stops, as JobLib.paidUntil computes it: the provider's last sign of life (never
   * before the start) or the receipted time, whichever is later, never past the job's end. last_heartbeat_at equals
   * JobMarket.lastHeartbeat(provider), which is what the contract read.
   */
  const reclaimPaidUntil = (jobRow: JobRow): number => {
    const startedAt = jobRow.started_at ?? inconsistent(`job ${jobRow.id} reclaimed before it started`);
    const lastLifeAt = Math.max(tables.providers.get(jobRow.provider)?.last_heartbeat_at ?? 0, startedAt);
    return Math.min(Math.max(lastLifeAt, jobRow.receipted_until ?? startedAt), startedAt + jobRow.duration);
  };

  const stakeMovement = (indexed: IndexedEvent, block: BlockContext, providerAddress: string, kind: StakeMovementKind, amount: bigint, jobId?: bigint) =>
    tables.stakeMovements.put({
      block_number: indexed.blockNumber,
      log_index: indexed.logIndex,
      tx_hash: indexed.transactionHash,
      timestamp: block.timestamp,
      provider: providerAddress,
      kind,
      amount: text(amount),
      job_id: jobId === undefined ? null : Number(jobId),
    });

  /** Provider pay leaves escrow: providers.earned, jobs.provider_paid and market volume move together. */
  const payProvider = (jobRow: JobRow, amount: bigint, block: BlockContext): string => {
    if (amount !== 0n) {
      updateProvider(jobRow.provider, block, (p) => ({ earned: add(p.earned, amount) }));
      updateTotals((t) => ({ volume: add(t.volume, amount) }));
    }
    return add(jobRow.provider_paid, amount);
  };

  /**
   * A sign of life of `address` (JobMarket.lastHeartbeat): every one is kept in `heartbeats`; a registered provider's
   * latest is providers.last_heartbeat_at (an address that heartbeats before registering gets it at registration).
   * It is not a change of the provider's record (updated_at), and makes no version of it (schema.ts,
   * UNVERSIONED_COLUMNS): as of a block it is read from the heartbeats.
   */
  const signOfLife = (indexed: IndexedEvent, address: string, at: number, kind: HeartbeatKind, jobId?: bigint) => {
    tables.heartbeats.put({
      block_number: indexed.blockNumber,
      log_index: indexed.logIndex,
      provider: address,
      at,
      kind,
      job_id: jobId === undefined ? null : Number(jobId),
    });
    const row = tables.providers.get(address);
    if (row && (row.last_heartbeat_at ?? 0) < at) tables.providers.update(address, { last_heartbeat_at: at });
  };

  const countProviderJob = (address: string, block: BlockContext, column: "jobs_accepted" | "jobs_declined" | "jobs_expired" | "jobs_dark" | "jobs_disputed" | "jobs_completed") =>
    updateProvider(address, block, (p) => ({ [column]: p[column] + 1 }));

  /** The job's whole remaining escrow leaves the market (its end): escrowed falls by escrow - claimed. */
  const releaseEscrow = (jobRow: JobRow, protocolFee: bigint) =>
    updateTotals((t) => ({
      escrowed: sub(t.escrowed, sub(jobRow.escrow, jobRow.claimed)),
      fees_collected: add(t.fees_collected, protocolFee),
    }));

  const countGpuSecondsSold = (jobRow: JobRow, usedUntil: number, earned: bigint) => {
    if (earned <= 0n) return;
    const gpuSeconds = gpuSecondsUsed(jobRow, usedUntil);
    updateTotals((t) => ({ gpu_seconds_sold: t.gpu_seconds_sold + gpuSeconds }));
    // A job's clock stops once: what it counted, for the GPU-hours sold as of any block.
    tables.jobs.update(jobRow.id, { gpu_seconds_sold: gpuSeconds });
    const carbon = BigInt(gpuSeconds) * BigInt(offer(jobRow.offer_id).carbon_intensity);
    const row = tables.emissions.get(jobRow.gpu_model);
    if (row) tables.emissions.update(jobRow.gpu_model, { carbon_gpu_seconds: add(row.carbon_gpu_seconds, carbon) });
    else tables.emissions.put({ gpu_model: jobRow.gpu_model, carbon_gpu_seconds: carbon.toString() });
  };

  /** A dispute's bond leaves the market: to the provider (counted in its earnings) or back to the client. */
  const returnBond = (jobRow: JobRow, toProvider: boolean, block: BlockContext) => {
    const bond = BigInt(jobRow.bond);
    if (bond === 0n) return;
    updateTotals((t) => ({ dispute_bonds_held: sub(t.dispute_bonds_held, bond) }));
    if (toProvider) updateProvider(jobRow.provider, block, (p) => ({ earned: add(p.earned, bond) }));
  };

  /** ParameterSet: snapshot `termsId` is the previous one with `parameter` set (the constructor publishes id 1 whole). */
  const setParameter = (parameter: number, value: bigint, termsId: number, block: BlockContext) => {
    const name = PARAMETER_NAMES[parameter] ?? inconsistent(`ParameterSet of unknown parameter ${parameter}`);
    if (!tables.terms.get(termsId)) {
      const previous = tables.terms.get(termsId - 1);
      const copy: Partial<TermsRow> = {};
      if (previous) for (const other of PARAMETER_NAMES) copy[parameterColumn(other)] = previous[parameterColumn(other)];
      tables.terms.put({ ...copy, terms_id: termsId, published_at: block.timestamp });
    }
    tables.terms.update(termsId, { [parameterColumn(name)]: Number(value) });
    updateTotals((t) => ({ current_terms_id: Math.max(t.current_terms_id, termsId) }));
  };

  // ------------------------------------------------------------------ ask floors and price buckets
  const bucketKey = (model: string, region: string, interval: PriceInterval, start: number) => [model, region, interval, start];

  const priceBucket = (model: string, region: string, interval: PriceInterval, start: number) =>
    tables.priceBuckets.get(bucketKey(model, region, interval, start)) ??
    tables.priceBuckets.put({ gpu_model: model, region, interval, start });

  const askFloor = (model: string, region: string, asOf: number): string | null => {
    const row = region === "" ? floorByModel.get(model, asOf) : floorByRegion.get(model, region, asOf);
    if (!row) return null;
    if (BigInt(row.price) < MAX_PRICE_SORT) return row.price;
    const prices = saturatedPrices.all(model, region, region, asOf, MAX_PRICE_SORT) as string[];
    return prices.map(BigInt).reduce(min).toString();
  };

  const writeFloor = (pending: PendingFloor) => {
    const saved = journal.blockNumber;
    // The write belongs to the block of the event it follows, so that a rollback past that block undoes it.
    journal.blockNumber = pending.journaled ? pending.blockNumber : null;
    try {
      const floor = askFloor(pending.model, pending.region, pending.asOf);
      priceBucket(pending.model, pending.region, pending.interval, pending.start);
      tables.priceBuckets.update(bucketKey(pending.model, pending.region, pending.interval, pending.start), { ask_floor: floor });
    } finally {
      journal.blockNumber = saved;
    }
  };

  const flushPendingFloors = (pendings: PendingFloor[]) => {
    if (pendings.length === 0) return;
    // The floor query reads offers from SQLite: write the cached changes first.
    if (tables.offers.dirtyCount > 0) tables.offers.flush();
    for (const pending of pendings) writeFloor(pending);
  };

  /** Call at the start of every event that can change the open asks of (model, region). */
  function touchFloor(model: string, region: string, block: BlockContext) {
    const stale: PendingFloor[] = [];
    for (const key of region === "" ? [""] : [region, ""]) {
      for (const interval of INTERVALS) {
        const start = Math.floor(block.timestamp / INTERVAL_SECONDS[interval]) * INTERVAL_SECONDS[interval];
        const id = `${model}|${key}|${interval}`;
        const pending = pendingFloors.get(id);
        if (pending && pending.start !== start) stale.push(pending);
        pendingFloors.set(id, {
          model,
          region: key,
          interval,
          start,
          asOf: block.timestamp,
          blockNumber: block.number,
          journaled: block.journaled,
        });
      }
    }
    flushPendingFloors(stale);
  }

  /**
   * Counts a new job (or, with `extraSeconds`, an extension of one) in the price buckets of its creation time: the
   * buckets hold what the jobs created in them bought, extensions included.
   */
  const recordJobPrice = (jobRow: JobRow, extraSeconds?: number) => {
    const price = BigInt(jobRow.price_per_gpu_hour);
    const seconds = extraSeconds ?? jobRow.duration;
    const gpuSeconds = jobRow.gpus * seconds;
    const notional = price * BigInt(jobRow.gpus) * BigInt(seconds);
    for (const region of [jobRow.region, ""]) {
      for (const interval of INTERVALS) {
        const start = Math.floor(jobRow.created_at / INTERVAL_SECONDS[interval]) * INTERVAL_SECONDS[interval];
        const bucket = priceBucket(jobRow.gpu_model, region, interval, start);
        if (extraSeconds !== undefined) {
          tables.priceBuckets.update(bucketKey(jobRow.gpu_model, region, interval, start), {
            gpu_seconds: bucket.gpu_seconds + gpuSeconds,
            notional: add(bucket.notional, notional),
          });
          continue;
        }
        tables.priceBuckets.update(bucketKey(jobRow.gpu_model, region, interval, start), {
          jobs: bucket.jobs + 1,
          gpu_seconds: bucket.gpu_seconds + gpuSeconds,
          notional: add(bucket.notional, notional),
          open: bucket.open ?? jobRow.price_per_gpu_hour,
          close: jobRow.price_per_gpu_hour,
          high: bucket.high === null || BigInt(bucket.high) < price ? jobRow.price_per_gpu_hour : bucket.high,
          low: bucket.low === null || BigInt(bucket.low) > price ? jobRow.price_per_gpu_hour : bucket.low,
        });
      }
    }
  };

  // ------------------------------------------------------------------ events
  const apply = (indexed: IndexedEvent, block: BlockContext) => {
    const { event } = indexed;
    const ts = block.timestamp;
    switch (event.contract) {
      case "GpuCatalog": {
        switch (event.eventName) {
          case "GpuModelListed": {
            const { modelId, name, vramGb } = event.args;
            tables.gpuModels.put({ id: modelId.toLowerCase(), name, vram_gb: vramGb, listed: 1, listed_at: ts });
            return;
          }
          case "GpuModelDelisted": {
            const id = event.args.modelId.toLowerCase();
            if (!tables.gpuModels.get(id)) inconsistent(`delisting of unknown model ${id}`);
            tables.gpuModels.update(id, { listed: 0 });
            return;
          }
          default:
            return;
        }
      }
      case "ProviderStaking": {
        switch (event.eventName) {
          case "ProviderRegistered": {
            const address = event.args.provider.toLowerCase();
            if (!tables.providers.get(address)) updateTotals((t) => ({ providers: t.providers + 1 }));
            // heartbeat() is open to any address: signs of life sent before registering still count on chain.
            tables.heartbeats.flush();
            const lastHeartbeatAt = (latestHeartbeat.get(address) as number | null) ?? null;
            updateProvider(address, block, () => ({ metadata_uri: event.args.metadataURI, registered_at: ts, last_heartbeat_at: lastHeartbeatAt }));
            return;
          }
          case "ProviderMetadataUpdated":
            updateProvider(event.args.provider.toLowerCase(), block, () => ({ metadata_uri: event.args.metadataURI }));
            return;
          case "Staked": {
            const { amount, staked } = event.args;
            const address = event.args.provider.toLowerCase();
            updateProvider(address, block, () => ({ staked: text(staked) }));
            updateTotals((t) => ({ total_staked: add(t.total_staked, amount) }));
            stakeMovement(indexed, block, address, "STAKE", amount);
            return;
          }
          case "UnstakeRequested": {
            const { amount, staked, unbonding, readyAt } = event.args;
            const address = event.args.provider.toLowerCase();
            updateProvider(address, block, () => ({ staked: text(staked), unbonding: text(unbonding), unbonding_ready_at: Number(readyAt) }));
            updateTotals((t) => ({ total_staked: sub(t.total_staked, amount), total_unbonding: add(t.total_unbonding, amount) }));
            stakeMovement(indexed, block, address, "UNSTAKE_REQUEST", amount);
            return;
          }
          case "StakeWithdrawn": {
            const { amount, unbonding } = event.args;
            const address = event.args.provider.toLowerCase();
            // unbonding_ready_at is when the latest request matures: it stays while requests are pending.
            updateProvider(address, block, (p) => ({
              unbonding: text(unbonding),
              unbonding_ready_at: unbonding === 0n ? null : p.unbonding_ready_at,
            }));
            updateTotals((t) => ({ total_unbonding: sub(t.total_unbonding, amount) }));
            stakeMovement(indexed, block, address, "WITHDRAW", amount);
            return;
          }
          case "CollateralLocked":
          case "CollateralUnlocked": {
            const { amount, locked, jobId } = event.args;
            const address = event.args.provider.toLowerCase();
            const sign = event.eventName === "CollateralLocked" ? 1n : -1n;
            updateProvider(address, block, () => ({ locked: text(locked) }));
            updateTotals((t) => ({ total_locked: add(t.total_locked, sign * amount) }));
            stakeMovement(indexed, block, address, sign > 0n ? "LOCK" : "UNLOCK", amount, jobId);
            return;
          }
          case "Slashed": {
            // Only a job's own collateral, part of staked, is ever slashed (never unbonding stake).
            const { jobId, toClient, toTreasury, staked } = event.args;
            const address = event.args.provider.toLowerCase();
            const amount = toClient + toTreasury;
            updateProvider(address, block, (p) => ({ staked: text(staked), slashed: add(p.slashed, amount) }));
            updateTotals((t) => ({
              total_staked: sub(t.total_staked, amount),
              total_slashed: add(t.total_slashed, amount),
            }));
            stakeMovement(indexed, block, address, "SLASH", amount, jobId);
            return;
          }
          default:
            // PayoutCredited, CreditWithdrawn and governance settings have no table.
            return;
        }
      }
      case "JobMarket": {
        switch (event.eventName) {
          case "OfferCreated": {
            const a = event.args;
            const model = a.gpuModel.toLowerCase();
            const region = decodeRegion(a.region);
            touchFloor(model, region, block);
            const row = tables.offers.insert({
              id: Number(a.offerId),
              provider: a.provider.toLowerCase(),
              gpu_model: model,
              region,
              gpus: a.gpus,
              gpus_leased: 0,
              price_per_gpu_hour: text(a.pricePerGpuHour),
              min_duration: a.minDuration,
              max_duration: a.maxDuration,
              carbon_intensity: a.carbonIntensity,
              renewable_bps: a.renewableBps,
              expires_at: a.expiresAt,
              // The contract refuses an expiry at or before the block's timestamp.
              state: "OPEN",
              created_at: ts,
              created_block: block.number,
              updated_at: ts,
            });
            contribute(row, 1);
            noteClockChange(a.expiresAt);
            return;
          }
          case "OfferUpdated": {
            const { offerId, gpus, pricePerGpuHour, expiresAt } = event.args;
            const row = offer(offerId);
            touchFloor(row.gpu_model, row.region, block);
            // updateOffer needs an expiry after the block and an offer not closed: an expired offer reopens.
            changeOffer(row, {
              gpus,
              price_per_gpu_hour: text(pricePerGpuHour),
              expires_at: expiresAt,
              state: "OPEN",
              updated_at: ts,
            });
            noteClockChange(expiresAt);
            return;
          }
          case "OfferClosed": {
            const row = offer(event.args.offerId);
            touchFloor(row.gpu_model, row.region, block);
            changeOffer(row, { state: "CLOSED", updated_at: ts });
            return;
          }
          case "JobCreated": {
            const a = event.args;
            const offerRow = offer(a.offerId);
            touchFloor(offerRow.gpu_model, offerRow.region, block);
            const row = tables.jobs.insert({
              id: Number(a.jobId),
              offer_id: Number(a.offerId),
              client: a.client.toLowerCase(),
              provider: a.provider.toLowerCase(),
              payer: a.payer.toLowerCase(),
              gpu_model: offerRow.gpu_model,
              region: offerRow.region,
              gpus: a.gpus,
              price_per_gpu_hour: text(a.pricePerGpuHour),
              duration: a.duration,
              cost: text(a.cost),
              escrow: text(a.escrow),
              collateral: text(a.collateral),
              spec_hash: a.specHash.toLowerCase(),
              state: "CREATED",
              created_at: ts,
              created_block: block.number,
              accept_deadline: Number(a.acceptDeadline),
              terms_id: totals().current_terms_id,
            });
            countState("CREATED", 1);
            changeOffer(offerRow, { gpus_leased: offerRow.gpus_leased + a.gpus, updated_at: ts });
            updateTotals((t) => ({ escrowed: add(t.escrowed, a.escrow) }));
            recordJobPrice(row);
            noteClockChange(Number(a.acceptDeadline) + 1);
            return;
          }
          case "JobAccepted": {
            const row = job(event.args.jobId);
            const startedAt = Number(event.args.startedAt);
            setJobState(row, "RUNNING", { started_at: startedAt });
            countProviderJob(row.provider, block, "jobs_accepted");
            signOfLife(indexed, row.provider, startedAt, "ACCEPT", event.args.jobId);
            return;
          }
          case "JobDeclined": {
            const { refund, reason } = event.args;
            const row = job(event.args.jobId);
            releaseGpus(row, block);
            setJobState(row, "DECLINED", { ended_at: ts, finalized_at: ts, earned: "0", refunded: text(refund), reason_hash: reason.toLowerCase() });
            countProviderJob(row.provider, block, "jobs_declined");
            releaseEscrow(row, 0n);
            return;
          }
          case "JobCancelled": {
            const { refund, cancelFee } = event.args;
            const row = job(event.args.jobId);
            // A client may still cancel a job the clock has expired: its GPUs are free already.
            if (row.state !== "EXPIRED") releaseGpus(row, block);
            const providerPaid = payProvider(row, cancelFee, block);
            // Known here: beginBatch filled it in before the batch's first block.
            if (cancelFee !== 0n) updateTotals((t) => ({ cancel_fees: add(t.cancel_fees ?? inconsistent("market_totals.cancel_fees is not known"), cancelFee) }));
            setJobState(row, "CANCELLED", {
              ended_at: ts,
              finalized_at: ts,
              earned: "0",
              refunded: text(refund),
              cancel_fee: text(cancelFee),
              provider_paid: providerPaid,
            });
            releaseEscrow(row, 0n);
            return;
          }
          case "JobExpired": {
            const { refund, slashed } = event.args;
            const row = job(event.args.jobId);
            const changes: Partial<JobRow> = { ended_at: ts, finalized_at: ts, earned: "0", refunded: text(refund), slashed: text(slashed) };
            // Usually the clock has expired it already (applyClock): then only the money is new.
            if (row.state === "EXPIRED") {
              tables.jobs.update(row.id, changes);
            } else {
              releaseGpus(row, block);
              setJobState(row, "EXPIRED", changes);
              countProviderJob(row.provider, block, "jobs_expired");
            }
            releaseEscrow(row, 0n);
            return;
          }
          case "ProviderHeartbeat":
            signOfLife(indexed, event.args.provider.toLowerCase(), Number(event.args.at), "HEARTBEAT");
            return;
          case "JobClaimed": {
            const { amount, claimed, receiptedUntil } = event.args;
            const row = job(event.args.jobId);
            const changes: Partial<JobRow> = { claimed: text(claimed), provider_paid: payProvider(row, amount, block) };
            if (receiptedUntil !== 0n) changes.receipted_until = Number(receiptedUntil);
            tables.jobs.update(row.id, changes);
            updateTotals((t) => ({ escrowed: sub(t.escrowed, amount) }));
            signOfLife(indexed, row.provider, ts, "CLAIM", event.args.jobId);
            return;
          }
          case "JobExtended": {
            const { duration, cost, escrow, extraEscrow, collateral } = event.args;
            const row = job(event.args.jobId);
            const extraSeconds = duration - row.duration;
            tables.jobs.update(row.id, {
              duration,
              cost: text(cost),
              escrow: text(escrow),
              collateral: text(collateral),
              extensions: row.extensions + 1,
            });
            updateTotals((t) => ({ escrowed: add(t.escrowed, extraEscrow) }));
            recordJobPrice(row, extraSeconds);
            return;
          }
          case "JobCompleted":
          case "JobEndedEarly": {
            const { endedAt, earned } = event.args;
            const row = job(event.args.jobId);
            releaseGpus(row, block);
            const changes: Partial<JobRow> = { ended_at: Number(endedAt), completed_at: ts, earned: text(earned) };
            if (event.eventName === "JobCompleted") changes.result_hash = event.args.resultHash.toLowerCase();
            else changes.ended_early = 1;
            setJobState(row, "COMPLETED", changes);
            countGpuSecondsSold(row, Number(endedAt), earned);
            if (event.eventName === "JobCompleted") signOfLife(indexed, row.provider, ts, "COMPLETE", event.args.jobId);
            return;
          }
          case "JobDark": {
            const { endedAt, paidUntil, earned, providerPay, protocolFee, refund, slashed } = event.args;
            const row = job(event.args.jobId);
            releaseGpus(row, block);
            setJobState(row, "DARK", {
              ended_at: Number(endedAt),
              finalized_at: ts,
              paid_until: Number(paidUntil),
              earned: text(earned),
              provider_paid: payProvider(row, providerPay, block),
              refunded: text(refund),
              fee: text(protocolFee),
              slashed: text(slashed),
            });
            countProviderJob(row.provider, block, "jobs_dark");
            countGpuSecondsSold(row, Number(paidUntil), earned);
            releaseEscrow(row, protocolFee);
            return;
          }
          case "JobDisputed": {
            const { endedAt, earned, reasonHash, bond, resolveDeadline } = event.args;
            const row = job(event.args.jobId);
            const changes: Partial<JobRow> = {
              disputed_at: ts,
              earned: text(earned),
              reason_hash: reasonHash.toLowerCase(),
              bond: text(bond),
              resolve_deadline: Number(resolveDeadline),
            };
            if (row.state === "RUNNING") {
              // Disputing a running job stops its clock and frees its GPUs.
              releaseGpus(row, block);
              changes.ended_at = Number(endedAt);
              countGpuSecondsSold(row, Number(endedAt), earned);
            }
            setJobState(row, "DISPUTED", changes);
            countProviderJob(row.provider, block, "jobs_disputed");
            updateTotals((t) => ({ dispute_bonds_held: add(t.dispute_bonds_held, bond) }));
            return;
          }
          case "JobSettled": {
            const { providerPay, protocolFee, refund } = event.args;
            const row = job(event.args.jobId);
            const providerPaid = payProvider(row, providerPay, block);
            setJobState(row, "SETTLED", { finalized_at: ts, provider_paid: providerPaid, refunded: text(refund), fee: text(protocolFee) });
            countProviderJob(row.provider, block, "jobs_completed");
            releaseEscrow(row, protocolFee);
            return;
          }
          case "JobResolved": {
            const { providerShareBps, earned, providerPay, protocolFee, refund, slashed, bondToProvider } = event.args;
            const row = job(event.args.jobId);
            setJobState(row, "RESOLVED", {
              finalized_at: ts,
              provider_share_bps: providerShareBps,
              earned: text(earned),
              provider_paid: payProvider(row, providerPay, block),
              refunded: text(refund),
              fee: text(protocolFee),
              slashed: add(row.slashed, slashed),
              bond_to_provider: bondToProvider ? 1 : 0,
            });
            if (providerShareBps < 10_000) updateProvider(row.provider, block, (p) => ({ jobs_lost_disputes: p.jobs_lost_disputes + 1 }));
            returnBond(row, bondToProvider, block);
            releaseEscrow(row, protocolFee);
            return;
          }
          case "JobDisputeFinalized": {
            const { earned, providerPay, protocolFee, refund } = event.args;
            const row = job(event.args.jobId);
            setJobState(row, "RESOLVED", {
              finalized_at: ts,
              earned: text(earned),
              provider_paid: payProvider(row, providerPay, block),
              refunded: text(refund),
              fee: text(protocolFee),
              bond_to_provider: 0,
              stale_finalized: 1,
            });
            returnBond(row, false, block);
            releaseEscrow(row, protocolFee);
            return;
          }
          case "JobReclaimed": {
            const { endedAt, earned, providerPay, protocolFee, refund } = event.args;
            const row = job(event.args.jobId);
            releaseGpus(row, block);
            const paidUntil = reclaimPaidUntil(row);
            setJobState(row, "RECLAIMED", {
              ended_at: Number(endedAt),
              finalized_at: ts,
              paid_until: paidUntil,
              earned: text(earned),
              provider_paid: payProvider(row, providerPay, block),
              refunded: text(refund),
              fee: text(protocolFee),
            });
            countGpuSecondsSold(row, paidUntil, earned);
            releaseEscrow(row, protocolFee);
            return;
          }
          case "ParameterSet":
            setParameter(event.args.parameter, event.args.newValue, Number(event.args.termsId), block);
            return;
          default:
            // PayoutCredited, BalanceWithdrawn, FeesWithdrawn, TreasurySet, role and pause events.
            return;
        }
      }
    }
  };

  function noteClockChange(at: number) {
    if (nextClockChangeAt !== undefined && (nextClockChangeAt === null || at < nextClockChangeAt)) nextClockChangeAt = at;
  }

  const flushAllPendingFloors = () => {
    flushPendingFloors([...pendingFloors.values()]);
    pendingFloors.clear();
  };

  /**
   * Counts the open offers' GPUs and the leased ones, as market_totals holds them now, from utilization_at to `until`
   * into the hour and day buckets they overlap. The totals only change at events and at the clock's changes, which
   * both accrue first: the integral is the same whichever blocks a batch fetched.
   */
  const accrueUtilization = (until: number) => {
    const t = totals();
    const from = t.utilization_at;
    if (from !== null && until > from && (t.gpus_offered > 0 || t.gpus_leased > 0)) {
      for (const interval of INTERVALS) {
        const length = INTERVAL_SECONDS[interval];
        for (let start = Math.floor(from / length) * length; start < until; start += length) {
          const seconds = Math.min(until, start + length) - Math.max(from, start);
          const key = [interval, start];
          const row = tables.utilizationBuckets.get(key) ?? tables.utilizationBuckets.put({ interval, start });
          tables.utilizationBuckets.update(key, {
            gpu_seconds_offered: row.gpu_seconds_offered + t.gpus_offered * seconds,
            gpu_seconds_leased: row.gpu_seconds_leased + t.gpus_leased * seconds,
          });
        }
      }
    }
    if (from === null || until > from) updateTotals(() => ({ utilization_at: until }));
  };

  /**
   * What the clock changed by the block's timestamp, with no event: offers past expires_at become EXPIRED, and jobs
   * past their accept deadline become EXPIRED and free their GPUs (on chain they stay Created until someone calls
   * expireJob, whose JobExpired then only moves the money). Each change is dated at its own moment, not when a block
   * noticed it, and applied in time order: the same whichever blocks a batch fetched.
   */
  const applyClock = (block: BlockContext) => {
    tables.offers.flush();
    tables.jobs.flush();
    const due = [
      ...offersDue.all(block.timestamp).map((row) => ({ ...row, kind: 0 })),
      ...jobsDue.all(block.timestamp).map((row) => ({ ...row, kind: 1 })),
    ].sort((a, b) => a.at - b.at || a.kind - b.kind || a.id - b.id);
    for (const change of due) {
      accrueUtilization(change.at);
      const moment: BlockContext = { ...block, timestamp: change.at };
      if (change.kind === 0) {
        const row = offer(change.id);
        touchFloor(row.gpu_model, row.region, moment);
        changeOffer(row, { state: "EXPIRED", updated_at: change.at });
      } else {
        const row = job(BigInt(change.id));
        releaseGpus(row, moment);
        setJobState(row, "EXPIRED", {});
        countProviderJob(row.provider, moment, "jobs_expired");
      }
    }
    tables.offers.flush();
    tables.jobs.flush();
  };

  const beginBlock = (block: BlockContext) => {
    if (block.journaled && pendingFloors.size > 0) flushAllPendingFloors();
    if (nextClockChangeAt === undefined) {
      tables.offers.flush();
      tables.jobs.flush();
      nextClockChangeAt = earliestClockChange.get() as number | null;
    }
    if (nextClockChangeAt !== null && block.timestamp >= nextClockChangeAt) {
      applyClock(block);
      nextClockChangeAt = earliestClockChange.get() as number | null;
    }
    accrueUtilization(block.timestamp);
  };

  return {
    beginBatch() {
      if (totals().cancel_fees !== null) return;
      tables.marketTotals.update(1, { cancel_fees: cancelFeesOfJobs().toString() });
    },
    beginBlock,
    apply,
    endBlock(block) {
      if (block.journaled && pendingFloors.size > 0) flushAllPendingFloors();
    },
    endBatch: flushAllPendingFloors,
    clockChangeDue(until) {
      if (nextClockChangeAt === null || (nextClockChangeAt !== undefined && nextClockChangeAt > until)) return null;
      // The bound may be below the truth (an offer closed since): read the exact moment.
      tables.offers.flush();
      tables.jobs.flush();
      nextClockChangeAt = earliestClockChange.get() as number | null;
      return nextClockChangeAt !== null && nextClockChangeAt <= until ? nextClockChangeAt : null;
    },
    reset() {
      pendingFloors.clear();
      nextClockChangeAt = undefined;
    },
  };
}

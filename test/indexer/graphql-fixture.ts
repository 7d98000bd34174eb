import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import Database from "better-sqlite3";
import { keccak256, toHex } from "viem";

/**
 * A real SQLite store built by the migrations and filled with a small market whose every figure the GraphQL tests
 * know in advance. The rows are what the event handlers would have written; the roll-ups agree with them.
 */

export const MIGRATIONS_DIR = path.join(__dirname, "..", "..", "src", "store", "migrations");

export const modelId = (name: string): string => keccak256(toHex(name));
export const H100 = "H100-SXM-80GB";
export const A100 = "A100-80GB";
export const RTX = "RTX-4090";

export const P1 = "0x1111111111111111111111111111111111111111";
export const P2 = "0x2222222222222222222222222222222222222222";
export const P3 = "0x3333333333333333333333333333333333333333";
export const C1 = "0xc1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1";
export const C2 = "0xc2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2";
export const C3 = "0xc3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3";
export const SPONSOR = "0x5900000000000000000000000000000000000005";

/** A price above 2^63 - 1: stored with a saturated price_sort, still ordered and filtered exactly. */
export const HUGE_PRICE = "100000000000000000000000";
export const HOUR_START = 1699999200; // floor(1700000000 / 3600) * 3600
export const DAY_START = 1699920000; // floor(1700000000 / 86400) * 86400

export interface Fixture {
  dir: string;
  file: string;
  /** Blocks, writes: the writer connection (tests that change data use it). */
  writer: Database.Database;
  close(): void;
}

export function createMigratedDatabase(file: string): Database.Database {
  const db = new Database(file);
  db.pragma("journal_mode = WAL");
  for (const name of fs.readdirSync(MIGRATIONS_DIR).filter((n) => n.endsWith(".sql")).sort()) {
    db.exec(fs.readFileSync(path.join(MIGRATIONS_DIR, name), "utf8"));
  }
  return db;
}

function insert(db: Database.Database, table: string, rows: Array<Record<string, unknown>>): void {
  for (const row of rows) {
    const columns = Object.keys(row);
    db.prepare(`INSERT INTO ${table} (${columns.join(", ")}) VALUES (${columns.map((c) => "@" + c).join(", ")})`).run(row);
  }
}

export const OFFERS = [
  { id: 1, provider: P1, model: H100, region: "eu-west", gpus: 8, gpus_leased: 2, price: "2500000", state: "OPEN", created_at: 1699990000 },
  { id: 2, provider: P1, model: H100, region: "us-east", gpus: 4, gpus_leased: 4, price: "3000000", state: "OPEN", created_at: 1699990100 },
  { id: 3, provider: P2, model: H100, region: "eu-west", gpus: 2, gpus_leased: 0, price: "2000000", state: "OPEN", created_at: 1699990200 },
  { id: 4, provider: P2, model: A100, region: "eu-west", gpus: 16, gpus_leased: 0, price: "1500000", state: "CLOSED", created_at: 1699990300 },
  { id: 5, provider: P1, model: A100, region: "us-east", gpus: 10, gpus_leased: 5, price: "1000000", state: "OPEN", created_at: 1699990400 },
  { id: 6, provider: P3, model: H100, region: "eu-west", gpus: 1, gpus_leased: 0, price: HUGE_PRICE, state: "EXPIRED", created_at: 1699990500 },
];

export const JOBS = [
  { id: 1, offer: 1, client: C1, payer: C1, provider: P1, model: H100, region: "eu-west", gpus: 2, price: "2500000", duration: 3600, state: "RUNNING", created_at: 1700000000 },
  { id: 2, offer: 1, client: C2, payer: SPONSOR, provider: P1, model: H100, region: "eu-west", gpus: 1, price: "2500000", duration: 7200, state: "SETTLED", created_at: 1700000100 },
  { id: 3, offer: 3, client: C1, payer: C1, provider: P2, model: H100, region: "eu-west", gpus: 1, price: "2000000", duration: 3600, state: "SETTLED", created_at: 1700003600 },
  { id: 4, offer: 5, client: C1, payer: C1, provider: P1, model: A100, region: "us-east", gpus: 5, price: "1000000", duration: 3600, state: "RUNNING", created_at: 1700007200 },
  { id: 5, offer: 2, client: C2, payer: C2, provider: P1, model: H100, region: "us-east", gpus: 4, price: "3000000", duration: 1800, state: "RUNNING", created_at: 1700007200 },
  { id: 6, offer: 3, client: C3, payer: C3, provider: P2, model: H100, region: "eu-west", gpus: 1, price: "2000000", duration: 3600, state: "CANCELLED", created_at: 1700010000 },
  { id: 7, offer: 1, client: C2, payer: C2, provider: P1, model: H100, region: "eu-west", gpus: 1, price: "2500000", duration: 3600, state: "SETTLED", created_at: 1700090000 },
];

export function createFixture(): Fixture {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "gpumesh-graphql-"));
  const file = path.join(dir, "index.db");
  const db = createMigratedDatabase(file);

  db.transaction(() => {
    insert(db, "checkpoint", [
      { id: 1, chain_id: 31337, block_number: 120, block_hash: "0x" + "ab".repeat(32), block_timestamp: 1700090000, events_ingested: 345, reorgs: 2 },
    ]);
    insert(db, "gpu_models", [
      { id: modelId(H100), name: H100, vram_gb: 80, listed: 1, listed_at: 1699900000 },
      { id: modelId(A100), name: A100, vram_gb: 80, listed: 1, listed_at: 1699900000 },
      { id: modelId(RTX), name: RTX, vram_gb: 24, listed: 0, listed_at: 1699900000 },
    ]);
    insert(db, "providers", [
      { address: P1, metadata_uri: "ipfs://p1", registered_at: 1699950000, staked: "5000000000000000000000", locked: "1000000000000000000000", unbonding: "0", slashed: "0", earned: "9000000", jobs_completed: 2, jobs_disputed: 0, active_offers: 3, updated_at: 1700090000, last_heartbeat_at: 1700001000, jobs_accepted: 5 },
      { address: P2, metadata_uri: "ipfs://p2", registered_at: 1699950100, staked: "100000000000000000000", locked: "0", unbonding: "50000000000000000000", unbonding_ready_at: 1700600000, slashed: "7", earned: "123", jobs_completed: 5, jobs_disputed: 1, active_offers: 1, updated_at: 1700090000 },
      { address: P3, metadata_uri: "", registered_at: 1699950200, staked: "0", locked: "0", unbonding: "0", slashed: "0", earned: "99999999999999999999999999", jobs_completed: 0, jobs_disputed: 0, active_offers: 0, updated_at: 1700090000 },
    ]);
    insert(
      db,
      "offers",
      OFFERS.map((o) => ({
        id: o.id,
        provider: o.provider,
        gpu_model: modelId(o.model),
        region: o.region,
        gpus: o.gpus,
        gpus_leased: o.gpus_leased,
        price_per_gpu_hour: o.price,
        price_sort: BigInt(o.price) > (1n << 63n) - 1n ? (1n << 63n) - 1n : BigInt(o.price),
        min_duration: 600,
        max_duration: 86400,
        carbon_intensity: 120 + o.id,
        renewable_bps: 5000 + o.id,
        expires_at: 1800000000,
        state: o.state,
        created_at: o.created_at,
        created_block: 10 + o.id,
        updated_at: o.created_at,
      })),
    );
    insert(
      db,
      "jobs",
      JOBS.map((j) => {
        const cost = (BigInt(j.price) * BigInt(j.gpus) * BigInt(j.duration) + 3599n) / 3600n;
        const fee = (cost * 250n + 9999n) / 10000n;
        const finished = j.state === "SETTLED";
        return {
          id: j.id,
          offer_id: j.offer,
          client: j.client,
          provider: j.provider,
          payer: j.payer,
          gpu_model: modelId(j.model),
          region: j.region,
          gpus: j.gpus,
          price_per_gpu_hour: j.price,
          duration: j.duration,
          cost: cost.toString(),
          escrow: (cost + fee).toString(),
          spec_hash: "0x" + j.id.toString(16).padStart(64, "0"),
          state: j.state,
          created_at: j.created_at,
          created_block: 50 + j.id,
          accept_deadline: j.created_at + 1800,
          started_at: j.state === "CANCELLED" ? null : j.created_at + 60,
          ended_at: finished ? j.created_at + 60 + j.duration : j.state === "CANCELLED" ? j.created_at + 30 : null,
          completed_at: finished ? j.created_at + 60 + j.duration : null,
          finalized_at: finished ? j.created_at + 100000 : j.state === "CANCELLED" ? j.created_at + 30 : null,
          collateral: j.state === "CANCELLED" ? "0" : "1000000000000000000",
          earned: finished ? cost.toString() : null,
          provider_paid: finished ? cost.toString() : "0",
          refunded: finished ? "0" : "0",
          fee: finished ? fee.toString() : "0",
          result_hash: finished ? "0x" + "ee".repeat(32) : null,
          receipted_until: j.id === 1 ? j.created_at + 600 : null,
        };
      }),
    );
    insert(db, "stake_movements", [
      { block_number: 5, log_index: 0, tx_hash: "0x" + "01".repeat(32), timestamp: 1699950000, provider: P1, kind: "STAKE", amount: "5000000000000000000000", job_id: null },
      { block_number: 51, log_index: 3, tx_hash: "0x" + "02".repeat(32), timestamp: 1700000060, provider: P1, kind: "LOCK", amount: "1000000000000000000", job_id: 1 },
      { block_number: 51, log_index: 1, tx_hash: "0x" + "03".repeat(32), timestamp: 1700000060, provider: P1, kind: "LOCK", amount: "1000000000000000000", job_id: 2 },
      { block_number: 6, log_index: 0, tx_hash: "0x" + "04".repeat(32), timestamp: 1699950100, provider: P2, kind: "STAKE", amount: "150000000000000000000", job_id: null },
    ]);
    insert(db, "heartbeats", [
      { block_number: 51, log_index: 4, provider: P1, at: 1700000060, kind: "ACCEPT", job_id: 1 },
      { block_number: 60, log_index: 0, provider: P1, at: 1700001000, kind: "HEARTBEAT", job_id: null },
    ]);
    insert(db, "terms", [
      {
        terms_id: 1, protocol_fee_bps: 250, cancel_fee_bps: 200, collateral_bps: 5000, expiry_slash_bps: 100, accept_window: 1800,
        dispute_window: 86400, abandon_grace: 3600, dark_slash_bps: 1000, dispute_bond_bps: 500, liveness_timeout: 900,
        resolve_window: 604800, published_at: 1699900000,
      },
    ]);
    insert(db, "capacity", [
      { gpu_model: modelId(H100), region: "eu-west", gpus_offered: 10, gpus_leased: 2, offers: 2 },
      { gpu_model: modelId(H100), region: "us-east", gpus_offered: 4, gpus_leased: 4, offers: 1 },
      { gpu_model: modelId(A100), region: "us-east", gpus_offered: 10, gpus_leased: 5, offers: 1 },
      { gpu_model: modelId(A100), region: "eu-west", gpus_offered: 0, gpus_leased: 0, offers: 0 },
    ]);
    insert(db, "capacity_providers", [
      { gpu_model: modelId(H100), region: "eu-west", provider: P1, offers: 1 },
      { gpu_model: modelId(H100), region: "eu-west", provider: P2, offers: 1 },
      { gpu_model: modelId(H100), region: "us-east", provider: P1, offers: 1 },
      { gpu_model: modelId(A100), region: "us-east", provider: P1, offers: 1 },
      { gpu_model: modelId(A100), region: "eu-west", provider: P2, offers: 0 },
    ]);
    const bucket = (model: string, region: string, interval: string, start: number, values: Record<string, unknown>) => ({
      gpu_model: modelId(model),
      region,
      interval,
      start,
      ...values,
    });
    insert(db, "price_buckets", [
      bucket(H100, "", "HOUR", HOUR_START, { jobs: 2, gpu_seconds: 14400, notional: "37000000000", open: "2500000", high: "3000000", low: "2000000", close: "2600000", ask_floor: "2000000" }),
      bucket(H100, "", "HOUR", HOUR_START + 3600, { jobs: 1, gpu_seconds: 3600, notional: "7200000000", open: "2000000", high: "2000000", low: "2000000", close: "2000000", ask_floor: "2000000" }),
      bucket(H100, "", "HOUR", HOUR_START + 7200, { jobs: 0, gpu_seconds: 0, notional: "0", open: null, high: null, low: null, close: null, ask_floor: "1900000" }),
      bucket(H100, "", "HOUR", HOUR_START + 86400, { jobs: 1, gpu_seconds: 3600, notional: "9000000000", open: "2500000", high: "2500000", low: "2500000", close: "2500000", ask_floor: "2000000" }),
      bucket(H100, "eu-west", "HOUR", HOUR_START, { jobs: 2, gpu_seconds: 14400, notional: "36000000000", open: "2500000", high: "2500000", low: "2500000", close: "2500000", ask_floor: "2000000" }),
      bucket(H100, "", "DAY", DAY_START, { jobs: 4, gpu_seconds: 25200, notional: "60000000000", open: "2500000", high: "3000000", low: "2000000", close: "2000000", ask_floor: "2000000" }),
      bucket(A100, "", "HOUR", HOUR_START + 7200, { jobs: 1, gpu_seconds: 18000, notional: "18000000000", open: "1000000", high: "1000000", low: "1000000", close: "1000000", ask_floor: "1000000" }),
    ]);
    db.prepare(
      `UPDATE market_totals SET providers = 3, total_staked = '5100000000000000000000', total_locked = '1000000000000000000000',
       total_unbonding = '50000000000000000000', total_slashed = '7', escrowed = '61500000', volume = '9000123',
       fees_collected = '225003', gpu_seconds_sold = 36000, gpus_offered = 24, gpus_leased = 11, current_terms_id = 1 WHERE id = 1`,
    ).run();
    insert(db, "job_state_counts", [
      { state: "RUNNING", count: 3 },
      { state: "SETTLED", count: 3 },
      { state: "CANCELLED", count: 1 },
    ]);
  })();

  return {
    dir,
    file,
    writer: db,
    close() {
      db.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

import fs from "node:fs";
import path from "node:path";
import { openStore, type Db, type Store } from "../store/db";
import { GpuMeshError } from "../internal/errors";

/** The agent's SQLite state (stateDir/agent.db): jobs, GPU assignments, sent transactions, used request signatures. */

export type AgentJobStatus = "waiting_spec" | "preparing" | "running" | "finished" | "failed" | "declined" | "settled" | "gone";

export interface AgentJobRow {
  job_id: string;
  offer_id: string;
  client: string;
  gpus: number;
  price_per_gpu_hour: string;
  duration_seconds: number;
  accept_deadline: number;
  spec_hash: string;
  liveness_timeout_seconds: number;
  dispute_window_seconds: number;
  status: AgentJobStatus;
  reason: string | null;
  spec_json: string | null;
  accepted_at: number | null;
  started_at_ms: number | null;
  finished_at_ms: number | null;
  pid: number | null;
  exit_json: string | null;
  result_hash: string | null;
  archive_bytes: number | null;
  completed_at: number | null;
  created_block: number;
  receipt_served_until: number | null;
  receipt_signature: string | null;
  claimed_served_until: number | null;
}

export type NewAgentJob = Pick<
  AgentJobRow,
  | "job_id"
  | "offer_id"
  | "client"
  | "gpus"
  | "price_per_gpu_hour"
  | "duration_seconds"
  | "accept_deadline"
  | "spec_hash"
  | "liveness_timeout_seconds"
  | "dispute_window_seconds"
  | "status"
  | "reason"
  | "created_block"
>;

function migrationsDir(): string {
  // Compiled output (dist/) carries no .sql files: fall back to the source tree, as src/store/db.ts does.
  const here = path.join(__dirname, "migrations");
  return fs.existsSync(here) ? here : path.join(__dirname, "..", "..", "..", "src", "agent", "migrations");
}

export interface AgentState {
  store: Store;
  db: Db;
  getMeta(key: string): string | undefined;
  setMeta(key: string, value: string): void;
  insertJob(job: NewAgentJob): boolean;
  job(jobId: bigint | string): AgentJobRow | undefined;
  jobs(statuses?: AgentJobStatus[]): AgentJobRow[];
  updateJob(jobId: bigint | string, fields: Partial<AgentJobRow>): void;
  /** Takes `count` free GPUs of `inventory` for the job in one transaction; null when fewer are free. */
  assignGpus(jobId: bigint | string, count: number, inventory: number[]): number[] | null;
  gpusOf(jobId: bigint | string): number[];
  releaseGpus(jobId: bigint | string): void;
  freeGpus(inventory: number[]): number[];
  /** Records that an action is about to be sent; false when it was sent before (never send it twice). */
  beginTx(jobId: string, action: string): boolean;
  txOf(jobId: string, action: string): { hash: string | null; status: string } | undefined;
  finishTx(jobId: string, action: string, fields: { hash?: string; status: string; error?: string }): void;
  /** Remembers a request signature until `expiresAt`; false when it was already used. */
  useSignature(signatureHash: string, expiresAt: number, now: number): boolean;
  close(): void;
}

export function openAgentState(options: { file: string; readonly?: boolean }): AgentState {
  const store = openStore({ file: options.file, readonly: options.readonly, migrationsDir: migrationsDir() });
  const { db } = store;
  if (!options.readonly && store.schemaVersion < 1) throw new GpuMeshError(`agent state ${options.file} has no schema`, { code: "MIGRATION" });
  const id = (jobId: bigint | string) => jobId.toString();
  return {
    store,
    db,
    getMeta: (key) => (db.prepare("SELECT value FROM agent_meta WHERE key = ?").get(key) as { value: string } | undefined)?.value,
    setMeta: (key, value) => void db.prepare("INSERT INTO agent_meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value").run(key, value),
    insertJob(job) {
      const columns = Object.keys(job);
      const result = db
        .prepare(`INSERT OR IGNORE INTO agent_jobs (${columns.join(", ")}) VALUES (${columns.map((name) => `@${name}`).join(", ")})`)
        .run(job);
      return result.changes === 1;
    },
    job: (jobId) => db.prepare("SELECT * FROM agent_jobs WHERE job_id = ?").get(id(jobId)) as AgentJobRow | undefined,
    jobs(statuses) {
      if (!statuses) return db.prepare("SELECT * FROM agent_jobs ORDER BY CAST(job_id AS INTEGER)").all() as AgentJobRow[];
      return db
        .prepare(`SELECT * FROM agent_jobs WHERE status IN (${statuses.map(() => "?").join(", ")}) ORDER BY CAST(job_id AS INTEGER)`)
        .all(...statuses) as AgentJobRow[];
    },
    updateJob(jobId, fields) {
      const columns = Object.keys(fields);
      if (columns.length === 0) return;
      db.prepare(`UPDATE agent_jobs SET ${columns.map((name) => `${name} = @${name}`).join(", ")} WHERE job_id = @job_id`).run({
        ...fields,
        job_id: id(jobId),
      });
    },
    assignGpus(jobId, count, inventory) {
      return db
        .transaction(() => {
          const held = new Set(
            (db.prepare("SELECT gpu_index FROM gpu_assignments WHERE job_id = ?").all(id(jobId)) as Array<{ gpu_index: number }>).map((row) => row.gpu_index),
          );
          if (held.size >= count) return [...held].sort((a, b) => a - b).slice(0, count);
          const taken = new Set((db.prepare("SELECT gpu_index FROM gpu_assignments").all() as Array<{ gpu_index: number }>).map((row) => row.gpu_index));
          const free = inventory.filter((index) => !taken.has(index));
          if (free.length < count - held.size) return null;
          const chosen = free.slice(0, count - held.size);
          const insert = db.prepare("INSERT INTO gpu_assignments (gpu_index, job_id) VALUES (?, ?)");
          for (const index of chosen) insert.run(index, id(jobId));
          return [...held, ...chosen].sort((a, b) => a - b);
        })
        .immediate();
    },
    gpusOf: (jobId) =>
      (db.prepare("SELECT gpu_index FROM gpu_assignments WHERE job_id = ? ORDER BY gpu_index").all(id(jobId)) as Array<{ gpu_index: number }>).map(
        (row) => row.gpu_index,
      ),
    releaseGpus: (jobId) => void db.prepare("DELETE FROM gpu_assignments WHERE job_id = ?").run(id(jobId)),
    freeGpus(inventory) {
      const taken = new Set((db.prepare("SELECT gpu_index FROM gpu_assignments").all() as Array<{ gpu_index: number }>).map((row) => row.gpu_index));
      return inventory.filter((index) => !taken.has(index));
    },
    beginTx(jobId, action) {
      if (action === "heartbeat") {
        // Heartbeats recur every few minutes: a day of them is history enough.
        db.prepare("DELETE FROM agent_txs WHERE action = 'heartbeat' AND sent_at_ms < ?").run(Date.now() - 86_400_000);
        db.prepare("INSERT INTO agent_txs (job_id, action, status, sent_at_ms) VALUES (?, ?, 'sending', ?)").run(jobId, action, Date.now());
        return true;
      }
      // A call refused before it was signed (no hash) was never sent: it may be tried again.
      db.prepare("DELETE FROM agent_txs WHERE job_id = ? AND action = ? AND hash IS NULL AND status = 'failed'").run(jobId, action);
      const result = db
        .prepare("INSERT OR IGNORE INTO agent_txs (job_id, action, status, sent_at_ms) VALUES (?, ?, 'sending', ?)")
        .run(jobId, action, Date.now());
      return result.changes === 1;
    },
    txOf: (jobId, action) =>
      db.prepare("SELECT hash, status FROM agent_txs WHERE job_id = ? AND action = ? ORDER BY rowid DESC LIMIT 1").get(jobId, action) as
        | { hash: string | null; status: string }
        | undefined,
    finishTx(jobId, action, fields) {
      db.prepare(
        `UPDATE agent_txs SET status = @status, hash = COALESCE(@hash, hash), error = @error
         WHERE rowid = (SELECT rowid FROM agent_txs WHERE job_id = @jobId AND action = @action ORDER BY rowid DESC LIMIT 1)`,
      ).run({ jobId, action, status: fields.status, hash: fields.hash ?? null, error: fields.error ?? null });
    },
    useSignature(signatureHash, expiresAt, now) {
      db.prepare("DELETE FROM seen_requests WHERE expires_at < ?").run(now);
      return db.prepare("INSERT OR IGNORE INTO seen_requests (signature_hash, expires_at) VALUES (?, ?)").run(signatureHash, expiresAt).changes === 1;
    },
    close: () => store.close(),
  };
}

import { EventEmitter } from "node:events";
import { Counter, Gauge, Histogram, type Registry } from "prom-client";
import type { RpcErrorKind, RpcRequestInfo } from "../chain/client";

export type IndexerPhase = "idle" | "backfill" | "realtime" | "stopped" | "failed";

/**
 * What the indexer reports about itself. It satisfies the GraphQL app's `IndexerStatus` (src/graphql/context.ts), so
 * `status: () => indexer.status.snapshot()` plugs it into createGraphqlApp for _meta, /ready and /metrics.
 */
export interface IndexerStatusSnapshot {
  chainId: number;
  phase: IndexerPhase;
  /** Blocks the indexer stays behind the head on purpose. */
  confirmations: number;
  /** Last block whose events are committed (the checkpoint); null before the first batch. */
  indexedBlock: number | null;
  indexedBlockHash: string | null;
  indexedBlockTimestamp: number | null;
  /** Latest head reported by the node. */
  headBlock: number | null;
  /** Blocks at or below it are treated as final (head - finalityDepth). */
  finalizedBlock: number | null;
  lagBlocks: number | null;
  eventsIngested: number;
  reorgs: number;
  rpcRequests: number;
  rpcErrors: number;
  rpcErrorsByKind: Record<RpcErrorKind, number>;
  /** Totals over every RPC attempt: rate(sum) / rate(count) is the mean latency. */
  rpcLatencySeconds: { count: number; sum: number };
  /** Mean and last RPC latency over the process lifetime. */
  rpcLatencyMeanMs: number | null;
  rpcLatencyLastMs: number | null;
  /** Recent backfill speed (over the last batches). */
  blocksPerSecond: number | null;
  eventsPerSecond: number | null;
  lastError: string | null;
  /** Unix milliseconds of the last change. */
  updatedAtMs: number;
}

export interface IndexerStatusEvents {
  progress: [IndexerStatusSnapshot];
  rpc: [RpcRequestInfo];
  reorg: [{ depth: number; from: number; to: number }];
}

/** A live status object: the indexer writes it, anything may read snapshot() or listen to its events. */
export interface IndexerStatus {
  snapshot(): IndexerStatusSnapshot;
  on<E extends keyof IndexerStatusEvents>(event: E, listener: (...args: IndexerStatusEvents[E]) => void): void;
  off<E extends keyof IndexerStatusEvents>(event: E, listener: (...args: IndexerStatusEvents[E]) => void): void;
  /** Used by the indexer. */
  update(
    changes: Partial<Omit<IndexerStatusSnapshot, "updatedAtMs" | "rpcRequests" | "rpcErrors" | "rpcErrorsByKind" | "rpcLatencySeconds">>,
  ): void;
  recordRpc(info: RpcRequestInfo): void;
  recordReorg(reorg: { depth: number; from: number; to: number }): void;
}

export function createIndexerStatus(chainId: number, confirmations = 0): IndexerStatus {
  const emitter = new EventEmitter();
  let latencyTotalMs = 0;
  const state: IndexerStatusSnapshot = {
    chainId,
    phase: "idle",
    confirmations,
    indexedBlock: null,
    indexedBlockHash: null,
    indexedBlockTimestamp: null,
    headBlock: null,
    finalizedBlock: null,
    lagBlocks: null,
    eventsIngested: 0,
    reorgs: 0,
    rpcRequests: 0,
    rpcErrors: 0,
    rpcErrorsByKind: { rate_limit: 0, range: 0, timeout: 0, transient: 0, fatal: 0 },
    rpcLatencySeconds: { count: 0, sum: 0 },
    rpcLatencyMeanMs: null,
    rpcLatencyLastMs: null,
    blocksPerSecond: null,
    eventsPerSecond: null,
    lastError: null,
    updatedAtMs: Date.now(),
  };
  return {
    snapshot: () => ({ ...state, rpcErrorsByKind: { ...state.rpcErrorsByKind }, rpcLatencySeconds: { ...state.rpcLatencySeconds } }),
    on: (event, listener) => void emitter.on(event, listener as (...args: unknown[]) => void),
    off: (event, listener) => void emitter.off(event, listener as (...args: unknown[]) => void),
    update(changes) {
      Object.assign(state, changes);
      if (state.headBlock !== null && state.indexedBlock !== null) state.lagBlocks = Math.max(0, state.headBlock - state.indexedBlock);
      state.updatedAtMs = Date.now();
      emitter.emit("progress", { ...state });
    },
    recordRpc(info) {
      state.rpcRequests += 1;
      latencyTotalMs += info.durationMs;
      state.rpcLatencyMeanMs = latencyTotalMs / state.rpcRequests;
      state.rpcLatencySeconds = { count: state.rpcRequests, sum: latencyTotalMs / 1000 };
      state.rpcLatencyLastMs = info.durationMs;
      if (info.error) {
        state.rpcErrors += 1;
        state.rpcErrorsByKind[info.error] += 1;
      }
      emitter.emit("rpc", info);
    },
    recordReorg(reorg) {
      emitter.emit("reorg", reorg);
    },
  };
}

/** Caught up when the checkpoint is within `maxLagBlocks` of the node's head (for /ready). */
export function isCaughtUp(snapshot: IndexerStatusSnapshot, maxLagBlocks = 5): boolean {
  return snapshot.phase === "realtime" && snapshot.lagBlocks !== null && snapshot.lagBlocks <= maxLagBlocks;
}

/**
 * Registers the indexer's Prometheus metrics on `registry` (names prefixed `gpumesh_indexer_`): indexed and head
 * block, lag, events ingested, reorgs, RPC requests and errors by kind, RPC latency histogram by method.
 */
export function registerIndexerMetrics(registry: Registry, status: IndexerStatus, prefix = "gpumesh_indexer_"): void {
  const gauge = (name: string, help: string, read: (s: IndexerStatusSnapshot) => number | null) =>
    new Gauge({
      name: prefix + name,
      help,
      registers: [registry],
      collect() {
        const value = read(status.snapshot());
        if (value === null) this.reset();
        else this.set(value);
      },
    });
  // Totals kept by the status object (some persisted in the database), exposed as counters.
  const total = (name: string, help: string, labelNames: string[], read: (s: IndexerStatusSnapshot) => Array<[Record<string, string>, number]>) =>
    new Counter({
      name: prefix + name,
      help,
      labelNames,
      registers: [registry],
      collect() {
        this.reset();
        for (const [labels, value] of read(status.snapshot())) if (value > 0) this.inc(labels, value);
      },
    });
  gauge("indexed_block", "Last block whose events are committed", (s) => s.indexedBlock);
  gauge("head_block", "Latest block reported by the RPC node", (s) => s.headBlock);
  gauge("lag_blocks", "Head block minus indexed block", (s) => s.lagBlocks);
  gauge("indexed_block_timestamp_seconds", "Timestamp of the last indexed block", (s) => s.indexedBlockTimestamp);
  gauge("realtime", "1 when following the head, 0 while backfilling or stopped", (s) => (s.phase === "realtime" ? 1 : 0));
  total("events_ingested_total", "Contract events applied to the store", [], (s) => [[{}, s.eventsIngested]]);
  total("reorgs_total", "Chain reorganisations rolled back", [], (s) => [[{}, s.reorgs]]);
  total("rpc_requests_total", "JSON-RPC requests sent (each attempt)", [], (s) => [[{}, s.rpcRequests]]);
  total("rpc_errors_total", "Failed JSON-RPC requests by kind", ["kind"], (s) =>
    Object.entries(s.rpcErrorsByKind).map(([kind, value]) => [{ kind }, value]),
  );
  const latency = new Histogram({
    name: prefix + "rpc_request_duration_seconds",
    help: "JSON-RPC request latency",
    labelNames: ["method"],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [registry],
  });
  status.on("rpc", (info) => latency.observe({ method: info.method }, info.durationMs / 1000));
}

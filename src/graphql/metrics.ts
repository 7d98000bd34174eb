import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import type { Reads } from "../store/reads";
import type { StatusProvider } from "./context";

export interface ApiMetrics {
  registry: Registry;
  /** One served GraphQL HTTP request. */
  observeRequest(statusCode: number, durationSeconds: number): void;
  /** A GraphQL error returned to a client; phase "validation" (bad query, limits) or "execution". */
  countError(phase: "validation" | "execution"): void;
  /** One execution, by the way it was executed (compiled.ts). */
  countExecution(path: ExecutionPath): void;
}

/**
 * compiled: by a document's compiled code; warming: by graphql-js, the document not yet run COMPILE_AFTER_RUNS
 * times; uncompilable: by graphql-js, graphql-jit refused the document; error_rerun: compiled code answered an
 * error and graphql-js answered again (the API's errors are graphql-js's).
 */
export type ExecutionPath = "compiled" | "warming" | "uncompilable" | "error_rerun";

/** Sets a counter to a total kept elsewhere (the checkpoint row, the indexer's status). */
function setTotal(counter: Counter, total: number | undefined): void {
  counter.reset();
  if (total !== undefined && total > 0) counter.inc(total);
}

/**
 * Prometheus metrics of the API and of the indexing progress it serves. Indexing figures are read when scraped:
 * from the checkpoint row (any process may be the writer) and from the in-process indexer's status, if any.
 */
export function createApiMetrics(options: { reads: Reads; status?: StatusProvider; registries?: Registry[] }): ApiMetrics {
  const { reads, status } = options;
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });

  new Gauge({
    name: "gpumesh_indexed_block",
    help: "Last block whose events are fully applied",
    registers: [registry],
    collect() {
      this.set(reads.checkpoint()?.blockNumber ?? 0);
    },
  });
  new Counter({
    name: "gpumesh_events_ingested_total",
    help: "Contract events applied to the store",
    registers: [registry],
    collect() {
      setTotal(this, reads.checkpoint()?.eventsIngested);
    },
  });
  new Counter({
    name: "gpumesh_reorgs_total",
    help: "Chain reorganisations rolled back",
    registers: [registry],
    collect() {
      setTotal(this, reads.checkpoint()?.reorgs);
    },
  });
  if (status) {
    new Gauge({
      name: "gpumesh_head_block",
      help: "Chain head as last seen by the indexer in this process",
      registers: [registry],
      collect() {
        const head = status().headBlock;
        if (head !== null) this.set(head);
      },
    });
    new Counter({
      name: "gpumesh_rpc_requests_total",
      help: "JSON-RPC requests sent by the indexer",
      registers: [registry],
      collect() {
        setTotal(this, status().rpcRequests);
      },
    });
    new Counter({
      name: "gpumesh_rpc_errors_total",
      help: "JSON-RPC requests that failed (each retry counts)",
      registers: [registry],
      collect() {
        setTotal(this, status().rpcErrors);
      },
    });
    // The indexer keeps the latency totals; rate(sum) / rate(count) is the average latency.
    new Counter({
      name: "gpumesh_rpc_request_duration_seconds_sum",
      help: "Total seconds spent in JSON-RPC requests",
      registers: [registry],
      collect() {
        setTotal(this, status().rpcLatencySeconds?.sum);
      },
    });
    new Counter({
      name: "gpumesh_rpc_request_duration_seconds_count",
      help: "JSON-RPC requests timed",
      registers: [registry],
      collect() {
        setTotal(this, status().rpcLatencySeconds?.count);
      },
    });
  }

  const requests = new Counter({
    name: "gpumesh_graphql_requests_total",
    help: "GraphQL HTTP requests served, by status code",
    labelNames: ["code"],
    registers: [registry],
  });
  const duration = new Histogram({
    name: "gpumesh_graphql_request_duration_seconds",
    help: "GraphQL HTTP request latency",
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  });
  const errors = new Counter({
    name: "gpumesh_graphql_errors_total",
    help: "GraphQL errors returned, by phase",
    labelNames: ["phase"],
    registers: [registry],
  });

  const executions = new Counter({
    name: "gpumesh_graphql_executions_total",
    help: "GraphQL executions, by path: compiled, warming, uncompilable or error_rerun",
    labelNames: ["path"],
    registers: [registry],
  });

  return {
    registry: options.registries?.length ? Registry.merge([registry, ...options.registries]) : registry,
    observeRequest(statusCode, durationSeconds) {
      requests.inc({ code: String(statusCode) });
      duration.observe(durationSeconds);
    },
    countError(phase) {
      errors.inc({ phase });
    },
    countExecution(path) {
      executions.inc({ path });
    },
  };
}

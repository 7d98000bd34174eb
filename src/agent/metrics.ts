import { Counter, Gauge, Registry } from "prom-client";
import type { AgentState } from "./state";

/** The agent's Prometheus metrics, on its own registry (GET /metrics). */
export interface AgentMetrics {
  registry: Registry;
  transactions: Counter<"action" | "status">;
  heartbeats: Counter<string>;
  requests: Counter<"route" | "status">;
  observe(state: AgentState, inventory: number[]): void;
}

export function createAgentMetrics(): AgentMetrics {
  const registry = new Registry();
  const transactions = new Counter({ name: "gpumesh_agent_transactions_total", help: "transactions the agent sent, by action and outcome", labelNames: ["action", "status"], registers: [registry] });
  const heartbeats = new Counter({ name: "gpumesh_agent_heartbeats_total", help: "heartbeat transactions mined", registers: [registry] });
  const requests = new Counter({ name: "gpumesh_agent_http_requests_total", help: "API requests by route and status code", labelNames: ["route", "status"], registers: [registry] });
  const jobs = new Gauge({ name: "gpumesh_agent_jobs", help: "jobs in the agent's state, by status", labelNames: ["status"], registers: [registry] });
  const gpusFree = new Gauge({ name: "gpumesh_agent_gpus_free", help: "GPUs not assigned to a job", registers: [registry] });
  const gpusTotal = new Gauge({ name: "gpumesh_agent_gpus", help: "GPUs in the agent's inventory", registers: [registry] });
  return {
    registry,
    transactions,
    heartbeats,
    requests,
    observe(state, inventory) {
      jobs.reset();
      for (const row of state.db.prepare("SELECT status, COUNT(*) AS count FROM agent_jobs GROUP BY status").all() as Array<{ status: string; count: number }>) {
        jobs.set({ status: row.status }, row.count);
      }
      gpusFree.set(state.freeGpus(inventory).length);
      gpusTotal.set(inventory.length);
    },
  };
}

import { parseOrHelp, type Command } from "../lib/command";
import { requireOption } from "../lib/args";
import { createOutput } from "../lib/output";

const agentHelp = [
  "usage: gpumesh agent --config FILE [--log-level LEVEL]",
  "       gpumesh agent status --config FILE [--json]",
  "Runs the provider agent: follows the chain for jobs on the provider's offers, takes their specs over its HTTP API,",
  "accepts or declines them, runs the workloads, heartbeats, completes with the outputs' hash and settles. The key",
  "comes from GPUMESH_PRIVATE_KEY, GPUMESH_MNEMONIC or the config's wallet.keystore (see the README, Provider agent).",
  "  --config FILE         the agent's JSON config",
  "  --log-level LEVEL     trace, debug, info (default), warn, error",
  "`agent status` prints the agent's jobs and GPUs from its state database (the agent need not run).",
].join("\n");

const OPTIONS = { config: { type: "string" }, "log-level": { type: "string" }, json: { type: "boolean" }, help: { type: "boolean", short: "h" } } as const;

async function status(argv: string[]): Promise<number> {
  const parsed = parseOrHelp(argv, OPTIONS, agentHelp);
  if (!parsed) return 0;
  const { loadAgentConfig } = await import("../../agent/config");
  const { openAgentState } = await import("../../agent/state");
  const fs = await import("node:fs");
  const path = await import("node:path");
  const config = loadAgentConfig(requireOption(parsed.values.config, "--config"));
  const dbFile = path.join(config.stateDir, "agent.db");
  const { CliError } = await import("../lib/errors");
  if (!fs.existsSync(dbFile)) throw new CliError(`no agent state at ${dbFile}: the agent has not run with this config yet`);
  const state = openAgentState({ file: dbFile, readonly: true });
  try {
    const jobs = state.jobs();
    const gpus = state.db.prepare("SELECT gpu_index, job_id FROM gpu_assignments ORDER BY gpu_index").all() as Array<{ gpu_index: number; job_id: string }>;
    const txs = state.db.prepare("SELECT action, status, COUNT(*) AS count FROM agent_txs GROUP BY action, status ORDER BY action, status").all() as Array<{ action: string; status: string; count: number }>;
    let agentProcess: { pid: number; apiUrl: string; provider: string } | null = null;
    try {
      agentProcess = JSON.parse(fs.readFileSync(path.join(config.stateDir, "agent.json"), "utf8"));
    } catch {
      agentProcess = null;
    }
    const out = createOutput(Boolean(parsed.values.json));
    out.line(`provider    ${state.getMeta("provider") ?? "?"}`);
    out.line(`api         ${agentProcess?.apiUrl ?? "?"} (pid ${agentProcess?.pid ?? "?"})`);
    out.line(`scanned to  block ${state.getMeta("lastScannedBlock") ?? "none"}`);
    out.line(`gpus held   ${gpus.length === 0 ? "none" : gpus.map((gpu) => `${gpu.gpu_index}: job ${gpu.job_id}`).join(", ")}`);
    out.line(`txs         ${txs.length === 0 ? "none" : txs.map((tx) => `${tx.count} ${tx.action} ${tx.status}`).join(", ")}`);
    out.line();
    out.table(
      ["JOB", "STATUS", "GPUS", "CLIENT", "RESULT", "REASON"],
      jobs.map((job) => [job.job_id, job.status, String(job.gpus), job.client, job.result_hash ?? "-", job.reason ?? "-"]),
    );
    out.result({
      provider: state.getMeta("provider") ?? null,
      apiUrl: agentProcess?.apiUrl ?? null,
      pid: agentProcess?.pid ?? null,
      lastScannedBlock: state.getMeta("lastScannedBlock") ?? null,
      gpuAssignments: gpus.map((gpu) => ({ gpu: gpu.gpu_index, jobId: gpu.job_id })),
      transactions: txs,
      jobs: jobs.map((job) => ({ jobId: job.job_id, status: job.status, gpus: job.gpus, client: job.client, resultHash: job.result_hash, reason: job.reason })),
    });
  } finally {
    state.close();
  }
  return 0;
}

async function run(argv: string[]): Promise<number> {
  const parsed = parseOrHelp(argv, OPTIONS, agentHelp);
  if (!parsed) return 0;
  const configFile = requireOption(parsed.values.config, "--config");
  const { resolveLogLevel } = await import("../lib/args");
  const level = resolveLogLevel(parsed.values);
  const { loadAgentConfig } = await import("../../agent/config");
  const { startAgentDaemon } = await import("../../agent/daemon");
  const { createLogger } = await import("../../internal/logger");
  const config = loadAgentConfig(configFile);
  const log = createLogger({ level, name: "gpumesh-agent" });
  // A daemon that strangers talk to: a failure nobody awaited is logged, never a crash that leaves jobs unattended.
  process.on("unhandledRejection", (error) => log.error({ msg: "unhandled failure", error: (error as Error)?.message ?? String(error) }));
  const daemon = await startAgentDaemon(config, log);
  await new Promise<void>((resolve) => {
    const shutdown = () => resolve();
    process.once("SIGINT", shutdown);
    process.once("SIGTERM", shutdown);
  });
  await daemon.stop();
  return 0;
}

export const command: Command = {
  help: agentHelp,
  run: (argv) => (argv[0] === "status" ? status(argv.slice(1)) : run(argv)),
};

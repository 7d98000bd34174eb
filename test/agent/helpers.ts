import { spawn, type ChildProcess } from "node:child_process";
import path from "node:path";
import { ROOT, waitFor } from "../cli/helpers";

export interface AgentProcess {
  child: ChildProcess;
  /** The agent's structured log lines (stderr) so far. */
  logs: () => Array<Record<string, any>>;
  stop(signal?: NodeJS.Signals): Promise<void>;
}

/** Starts `gpumesh agent --config FILE` (the compiled CLI) signing with `privateKey`, once its API answers /health. */
export function startAgentProcess(configFile: string, apiUrl: string, privateKey: string): Promise<AgentProcess> {
  const base = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith("GPUMESH_")));
  const child = spawn(process.execPath, [path.join(ROOT, "bin/gpumesh.js"), "agent", "--config", configFile], {
    cwd: ROOT,
    env: { ...base, GPUMESH_PRIVATE_KEY: privateKey },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr!.on("data", (chunk) => (stderr += chunk));
  child.stdout!.resume();
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const handle: AgentProcess = {
    child,
    logs: () =>
      stderr
        .split("\n")
        .filter((line) => line.startsWith("{"))
        .map((line) => JSON.parse(line)),
    async stop(signal = "SIGTERM") {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exited;
    },
  };
  return waitFor(
    "the agent's API",
    async () => {
      if (child.exitCode !== null) throw new Error(`agent exited ${child.exitCode}: ${stderr}`);
      const response = await fetch(`${apiUrl}/health`).catch(() => undefined);
      return response?.ok ? handle : undefined;
    },
    30_000,
  );
}

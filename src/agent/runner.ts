import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";

/**
 * Runners behind one interface. The `process` runner starts the spec's argv (never a shell string) in the job's own
 * directory and process group, with the job's GPUs in CUDA_VISIBLE_DEVICES and none of the agent's environment (the
 * agent's key must never reach a stranger's workload). Its output goes straight to a file, not through a pipe to the
 * agent, so that the workload outlives an agent restart and the next agent can await it.
 */

export type StopReason = "exited" | "time_limit" | "output_limit" | "stopped" | "vanished";

export interface ExitSummary {
  exitCode: number | null;
  signal: string | null;
  reason: StopReason;
  runtimeMs: number;
  /** Said when something is not known, e.g. the exit code of a workload that an earlier agent process started. */
  note?: string;
}

export interface RunRequest {
  jobDir: string;
  /** The process runner's command and arguments; the docker runner's arguments after the image. */
  argv: string[];
  /** The docker runner's image. */
  image?: string;
  env: Record<string, string>;
  gpuIndexes: number[];
  /** Wall-clock ms when the workload must be stopped. */
  deadlineMs: number;
  maxOutputBytes: number;
}

export interface RunHandle {
  pid: number;
  exited: Promise<ExitSummary>;
  stop(reason: StopReason): void;
}

export interface Runner {
  kind: string;
  start(request: RunRequest): RunHandle;
  /** Watches a workload an earlier agent process started; a pid that is gone yields reason "vanished". */
  reattach(pid: number, request: Pick<RunRequest, "jobDir" | "deadlineMs" | "maxOutputBytes">, startedAtMs: number): RunHandle;
}

export const jobPaths = (jobDir: string) => ({
  work: path.join(jobDir, "work"),
  logs: path.join(jobDir, "logs.txt"),
  archive: path.join(jobDir, "result.tar"),
});

const WATCH_INTERVAL_MS = 250;
/** Time a workload gets between SIGTERM and SIGKILL. */
const KILL_GRACE_MS = 2_000;

function alive(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
  } catch {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  }
}

/** Bytes below `dir` (files only; symlinks are not followed). */
function bytesBelow(dir: string): number {
  let total = 0;
  const visit = (absolute: string) => {
    let stat: fs.Stats;
    try {
      stat = fs.lstatSync(absolute);
    } catch {
      return;
    }
    if (stat.isDirectory()) for (const name of fs.readdirSync(absolute)) visit(path.join(absolute, name));
    else if (stat.isFile()) total += stat.size;
  };
  visit(dir);
  return total;
}

function killGroup(pid: number, signal: NodeJS.Signals): void {
  // A child that never started has no pid: -1 or 1 here would signal every process the agent may signal.
  if (!Number.isInteger(pid) || pid <= 1) return;
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      // already gone
    }
  }
}

/**
 * Enforces the limits of a running workload: stops it at its deadline or when its output (logs plus working
 * directory) grows past the cap. `exitedNow` reports an exit the caller learnt of otherwise (the child's exit event).
 */
export function watchWorkload(
  pid: number,
  request: Pick<RunRequest, "jobDir" | "deadlineMs" | "maxOutputBytes">,
  startedAtMs: number,
  ownChild: Promise<{ code: number | null; signal: string | null }> | null,
  /** Called once when the workload must stop, before its process group is signalled (docker kills its container). */
  onStop?: () => void,
): RunHandle {
  const paths = jobPaths(request.jobDir);
  let stopReason: StopReason | null = null;
  let timer: NodeJS.Timeout | undefined;
  const stop = (reason: StopReason) => {
    if (stopReason) return;
    stopReason = reason;
    onStop?.();
    killGroup(pid, "SIGTERM");
    setTimeout(() => killGroup(pid, "SIGKILL"), KILL_GRACE_MS).unref();
  };
  const exited = new Promise<ExitSummary>((resolve) => {
    const finish = (code: number | null, signal: string | null, note?: string) => {
      clearInterval(timer);
      // Whatever the workload left behind in its group goes with it.
      killGroup(pid, "SIGKILL");
      resolve({ exitCode: code, signal, reason: stopReason ?? "exited", runtimeMs: Date.now() - startedAtMs, ...(note ? { note } : {}) });
    };
    timer = setInterval(() => {
      if (Date.now() >= request.deadlineMs) stop("time_limit");
      else if (bytesBelow(paths.work) + (fs.existsSync(paths.logs) ? fs.statSync(paths.logs).size : 0) > request.maxOutputBytes) stop("output_limit");
      if (!ownChild && !alive(pid)) finish(null, null, "started by an earlier agent process: exit code unknown");
    }, WATCH_INTERVAL_MS);
    if (ownChild) ownChild.then(({ code, signal }) => finish(code, signal));
  });
  return { pid, exited, stop };
}

export function createProcessRunner(): Runner {
  return {
    kind: "process",
    start(request) {
      const paths = jobPaths(request.jobDir);
      fs.mkdirSync(paths.work, { recursive: true });
      const logFd = fs.openSync(paths.logs, "a");
      const [file, ...args] = request.argv;
      const env: Record<string, string> = {
        PATH: process.env.PATH ?? "/usr/bin:/bin",
        HOME: paths.work,
        ...request.env,
        CUDA_VISIBLE_DEVICES: request.gpuIndexes.join(","),
      };
      const startedAtMs = Date.now();
      const child = spawn(file!, args, { cwd: paths.work, env, stdio: ["ignore", logFd, logFd], detached: true, shell: false });
      fs.closeSync(logFd);
      const exit = new Promise<{ code: number | null; signal: string | null }>((resolve) => {
        child.once("exit", (code, signal) => resolve({ code, signal }));
        child.once("error", (error) => {
          fs.appendFileSync(paths.logs, `gpumesh agent: cannot start ${file}: ${(error as NodeJS.ErrnoException).code ?? error.message}\n`);
          resolve({ code: 127, signal: null });
        });
      });
      // The workload runs in its own process group; the agent does not wait on it to exit.
      child.unref();
      return watchWorkload(child.pid ?? -1, request, startedAtMs, exit);
    },
    reattach: (pid, request, startedAtMs) => reattachByPid(pid, request, startedAtMs),
  };
}

/** Watches a workload process an earlier agent process started; one that is gone yields reason "vanished". */
export function reattachByPid(pid: number, request: Pick<RunRequest, "jobDir" | "deadlineMs" | "maxOutputBytes">, startedAtMs: number, onStop?: () => void): RunHandle {
  if (!alive(pid)) {
    return {
      pid,
      exited: Promise.resolve({ exitCode: null, signal: null, reason: "vanished", runtimeMs: Date.now() - startedAtMs, note: "the workload was gone when the agent restarted" }),
      stop: () => undefined,
    };
  }
  return watchWorkload(pid, request, startedAtMs, null, onStop);
}

import { spawn, type ChildProcess, type IOType, type SpawnOptions } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { REPOSITORY_ROOT } from "../../internal/paths";

export { REPOSITORY_ROOT };

/** Preloaded into a child so that it exits when its parent is gone (see the file). */
export const EXIT_WITH_PARENT = path.join(REPOSITORY_ROOT, "bin", "exit-with-parent.js");

/** Resolves with the signal's name on SIGINT or SIGTERM. */
export function untilShutdownSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const onSignal = (signal: NodeJS.Signals) => {
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
      resolve(signal);
    };
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
  });
}

/**
 * Spawns a Node.js script that dies with this process, even when this process is SIGKILLed: the child preloads
 * bin/exit-with-parent.js and exits when the IPC channel to us closes. Use it for long-lived children (a node).
 */
export function spawnNodeTiedToParent(
  script: string,
  args: string[],
  options: Omit<SpawnOptions, "stdio"> & { stdio: [IOType | number, IOType | number, IOType | number] },
): ChildProcess {
  const child = spawn(process.execPath, ["-r", EXIT_WITH_PARENT, script, ...args], { ...options, stdio: [...options.stdio, "ipc"] });
  // The channel is only a lifeline: it must not keep us alive after everything else is done.
  child.channel?.unref();
  return child;
}

/**
 * Sends ourselves SIGTERM when the process that started us goes away (our parent pid changes: we were re-parented).
 * `npm start` runs us under npm, and a SIGKILL of npm reaches neither us nor what we started; this turns it into a
 * clean stop.
 */
export function stopWhenParentIsGone(intervalMs = 500): void {
  const parent = process.ppid;
  const timer = setInterval(() => {
    if (process.ppid === parent) return;
    clearInterval(timer);
    process.kill(process.pid, "SIGTERM");
  }, intervalMs);
  timer.unref();
}

/**
 * Polls the server of a child process with `probe` until it answers 2xx: "ready"; "exited" when the child ends first,
 * "timeout" once `timeoutMs` have passed, "aborted" when `signal` aborts.
 */
export async function untilChildAnswers(
  child: ChildProcess,
  probe: () => Promise<Response>,
  options: { timeoutMs: number; intervalMs: number; signal?: AbortSignal },
): Promise<"ready" | "exited" | "timeout" | "aborted"> {
  const deadline = Date.now() + options.timeoutMs;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) return "exited";
    try {
      if ((await probe()).ok) return "ready";
    } catch {
      // Not listening yet.
    }
    if (options.signal?.aborted) return "aborted";
    if (Date.now() >= deadline) return "timeout";
    await new Promise((resolve) => setTimeout(resolve, options.intervalMs));
  }
}

export interface PortHolder {
  pid: number;
  /** The command line, arguments joined by spaces. */
  command: string;
  /** Its working directory, when readable. */
  cwd?: string;
  /** A Hardhat node started by `gpumesh start` (of any GPU Mesh checkout). */
  gpuMeshChain: boolean;
  /** The `gpumesh start` that owns it, when that one is still running. */
  owner?: number;
}

function readProc(file: string): string | undefined {
  try {
    return fs.readFileSync(file, "utf8");
  } catch {
    return undefined;
  }
}

function commandLine(pid: number): string[] {
  return (readProc(`/proc/${pid}/cmdline`) ?? "").split("\0").filter(Boolean);
}

function parentPid(pid: number): number | undefined {
  // /proc/PID/stat: "pid (comm) state ppid ...", and comm may itself contain spaces and parentheses.
  const stat = readProc(`/proc/${pid}/stat`);
  const ppid = stat ? Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]) : NaN;
  return Number.isInteger(ppid) ? ppid : undefined;
}

/**
 * Which process listens on a local TCP port, from /proc (Linux): the socket's inode in /proc/net/tcp{,6}, then the
 * process holding that inode. Undefined where /proc says nothing (another OS, or another user's process).
 */
export function findPortHolder(port: number): PortHolder | undefined {
  const hexPort = port.toString(16).toUpperCase().padStart(4, "0");
  const inodes = new Set<string>();
  for (const table of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    for (const line of (readProc(table) ?? "").split("\n").slice(1)) {
      const fields = line.trim().split(/\s+/);
      // local_address is ADDR:PORT in hex; state 0A is LISTEN; the inode is the tenth field.
      if (fields[1]?.endsWith(`:${hexPort}`) && fields[3] === "0A" && fields[9] && fields[9] !== "0") inodes.add(fields[9]);
    }
  }
  if (inodes.size === 0) return undefined;
  let pids: string[];
  try {
    pids = fs.readdirSync("/proc").filter((name) => /^\d+$/.test(name));
  } catch {
    return undefined;
  }
  for (const pidText of pids) {
    let fds: string[];
    try {
      fds = fs.readdirSync(`/proc/${pidText}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      let target: string;
      try {
        target = fs.readlinkSync(`/proc/${pidText}/fd/${fd}`);
      } catch {
        continue;
      }
      const inode = /^socket:\[(\d+)\]$/.exec(target)?.[1];
      if (!inode || !inodes.has(inode)) continue;
      const pid = Number(pidText);
      const argv = commandLine(pid);
      let cwd: string | undefined;
      try {
        cwd = fs.readlinkSync(`/proc/${pid}/cwd`);
      } catch {
        cwd = undefined;
      }
      const gpuMeshChain =
        argv.some((arg) => arg.endsWith(path.join("hardhat", "internal", "cli", "cli.js"))) &&
        argv.includes("node") &&
        cwd !== undefined &&
        /"name":\s*"gpumesh"/.test(readProc(path.join(cwd, "package.json")) ?? "");
      const ppid = parentPid(pid);
      const ownerArgv = ppid && ppid > 1 ? commandLine(ppid) : [];
      const owned = ownerArgv.some((arg) => arg.endsWith("gpumesh.js")) && ownerArgv.includes("start");
      return { pid, command: argv.join(" "), cwd, gpuMeshChain, owner: owned ? ppid : undefined };
    }
  }
  return undefined;
}

import { execFile, spawn } from "node:child_process";
import fs from "node:fs";
import { promisify } from "node:util";
import { jobPaths, reattachByPid, watchWorkload, type RunRequest, type Runner } from "./runner";

const execFileAsync = promisify(execFile);

/**
 * The `docker` runner: `docker run` of the spec's image with the job's GPUs only, every capability dropped, no new
 * privileges, no network, a bounded number of processes, and nothing of the host mounted but the job's work/ (as
 * /work). The container is named after the job so that a restarted agent finds it again.
 */

export function containerName(jobDir: string): string {
  return `gpumesh-${jobDir.split("/").filter(Boolean).slice(-1)[0]}`;
}

/** The argv of `docker run` for a request (exported for tests on machines without a docker daemon). */
export function dockerRunArgs(request: RunRequest & { image: string }): string[] {
  const paths = jobPaths(request.jobDir);
  const env = Object.entries(request.env).flatMap(([name, value]) => ["--env", `${name}=${value}`]);
  return [
    "run",
    "--name",
    containerName(request.jobDir),
    ...(request.gpuIndexes.length ? ["--gpus", `"device=${request.gpuIndexes.join(",")}"`] : []),
    "--cap-drop",
    "ALL",
    "--security-opt",
    "no-new-privileges",
    "--network",
    "none",
    "--pids-limit",
    "4096",
    "--volume",
    `${paths.work}:/work`,
    "--workdir",
    "/work",
    ...env,
    "--env",
    `CUDA_VISIBLE_DEVICES=${request.gpuIndexes.map((_, position) => position).join(",")}`,
    "--",
    request.image,
    ...request.argv,
  ];
}

/** Whether a docker daemon answers here (the docker client alone is not enough). */
export async function dockerAvailable(): Promise<boolean> {
  try {
    await execFileAsync("docker", ["info", "--format", "{{.ServerVersion}}"], { timeout: 10_000 });
    return true;
  } catch {
    return false;
  }
}

export function createDockerRunner(): Runner {
  const kill = (name: string) => {
    execFile("docker", ["kill", name], () => undefined);
  };
  return {
    kind: "docker",
    start(request) {
      if (!request.image) throw new Error("the docker runner needs the spec's image");
      const paths = jobPaths(request.jobDir);
      fs.mkdirSync(paths.work, { recursive: true });
      const logFd = fs.openSync(paths.logs, "a");
      const name = containerName(request.jobDir);
      const child = spawn("docker", dockerRunArgs({ ...request, image: request.image }), { stdio: ["ignore", logFd, logFd], detached: true, shell: false });
      fs.closeSync(logFd);
      const exit = new Promise<{ code: number | null; signal: string | null }>((resolve) => {
        child.once("exit", (code, signal) => {
          execFile("docker", ["rm", "-f", name], () => resolve({ code, signal }));
        });
        child.once("error", (error) => {
          fs.appendFileSync(paths.logs, `gpumesh agent: cannot run docker: ${(error as NodeJS.ErrnoException).code ?? error.message}\n`);
          resolve({ code: 127, signal: null });
        });
      });
      child.unref();
      return watchWorkload(child.pid ?? -1, request, Date.now(), exit, () => kill(name));
    },
    reattach(pid, request, startedAtMs) {
      // The `docker run` client an earlier agent process started lives as long as its container.
      return reattachByPid(pid, request, startedAtMs, () => kill(containerName(request.jobDir)));
    },
  };
}

import { execFileSync } from "node:child_process";
import { ConfigError } from "../internal/errors";
import type { AgentConfig, GpuDevice } from "./config";

/** The machine's GPUs: from `nvidia-smi` when the config says so, else as the config declares them. */
export function detectGpus(config: Pick<AgentConfig, "gpus">, run: typeof execFileSync = execFileSync): GpuDevice[] {
  if (config.gpus !== "nvidia-smi") return config.gpus;
  let text: string;
  try {
    text = run("nvidia-smi", ["--query-gpu=index,name,memory.total", "--format=csv,noheader,nounits"], { encoding: "utf8", timeout: 10_000 }) as string;
  } catch (error) {
    throw new ConfigError(
      `config gpus: "nvidia-smi" cannot be run here (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}); declare the GPUs as [{ "index": 0, "model": "NAME" }]`,
      error,
    );
  }
  return parseNvidiaSmi(text);
}

/** `nvidia-smi --query-gpu=index,name,memory.total --format=csv,noheader,nounits` lines: "0, NVIDIA H100 80GB HBM3, 81559". */
export function parseNvidiaSmi(text: string): GpuDevice[] {
  return text
    .split("\n")
    .map((line) => line.trim())
    .filter(Boolean)
    .map((line) => {
      const [index, name] = line.split(",").map((part) => part.trim());
      if (!/^\d+$/.test(index ?? "")) throw new ConfigError(`nvidia-smi printed a line the agent cannot read: "${line}"`);
      return { index: Number(index), model: name || "unknown" };
    });
}

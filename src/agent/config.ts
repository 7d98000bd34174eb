import fs from "node:fs";
import path from "node:path";
import { getAddress, isAddress, type Address } from "viem";
import { ConfigError } from "../internal/errors";
import type { RepricingRules } from "./repricing";

/** A GPU the agent may hand to jobs: its index for CUDA_VISIBLE_DEVICES and, when known, its model. */
export interface GpuDevice {
  index: number;
  model: string;
}

export interface AgentConfig {
  configFile: string;
  rpcUrl: string;
  deploymentFile: string;
  stateDir: string;
  wallet: { keystore?: string; accountIndex?: string };
  api: { host: string; port: number; publicUrl?: string };
  /** "nvidia-smi": detected at start; else the declared inventory. */
  gpus: "nvidia-smi" | GpuDevice[];
  /** Offer ids to serve; undefined means every offer of the provider. */
  offers?: bigint[];
  policy: {
    allowedCommands: string[];
    allowedImages: string[];
    minPricePerGpuHour: bigint;
    denyClients: Address[];
    /** Fetch spec inputs from loopback, private and link-local addresses too (off: a client could reach the provider's network). */
    allowPrivateInputs: boolean;
  };
  /** Claim with the client's latest receipt once it would pay at least this much (payment-token base units). */
  claims: { minAmount: bigint };
  /** Absent: the agent never changes its offers' prices. */
  repricing?: RepricingRules;
  runner: { kind: "process" | "docker"; maxOutputBytes: number };
  timing: { pollIntervalMs: number; heartbeatIntervalSeconds?: number; specWaitMarginSeconds: number };
}

const TOP_KEYS = ["rpcUrl", "deployment", "stateDir", "wallet", "api", "gpus", "offers", "policy", "claims", "repricing", "runner", "timing"];

type Json = Record<string, unknown>;

function fail(key: string, problem: string): never {
  throw new ConfigError(`config ${key}: ${problem}`);
}

function objectAt(value: unknown, key: string, allowed: string[]): Json {
  if (value === undefined) return {};
  if (typeof value !== "object" || value === null || Array.isArray(value)) fail(key, "must be an object");
  for (const name of Object.keys(value)) {
    if (!allowed.includes(name)) fail(`${key}.${name}`, `unknown key (known: ${allowed.join(", ")})`);
  }
  return value as Json;
}

function stringAt(value: unknown, key: string, fallback?: string): string {
  if (value === undefined && fallback !== undefined) return fallback;
  if (typeof value !== "string" || value === "") fail(key, value === undefined ? "is required" : "must be a non-empty string");
  return value;
}

function integerAt(value: unknown, key: string, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
    fail(key, `must be a whole number from ${min} to ${max}, got ${JSON.stringify(value)}`);
  }
  return value;
}

function booleanAt(value: unknown, key: string): boolean {
  if (value === undefined) return false;
  if (typeof value !== "boolean") fail(key, `must be true or false, got ${JSON.stringify(value)}`);
  return value;
}

function stringListAt(value: unknown, key: string): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value) || value.some((item) => typeof item !== "string" || item === "")) fail(key, "must be a list of non-empty strings");
  return value as string[];
}

/** The config's GPUs: "nvidia-smi", or a list of { index, model } with distinct indexes. */
function gpusAt(value: unknown): AgentConfig["gpus"] {
  if (value === undefined || value === "nvidia-smi") return "nvidia-smi";
  if (!Array.isArray(value)) fail("gpus", `must be "nvidia-smi" or a list of { "index": N, "model": "NAME" }`);
  const seen = new Set<number>();
  return value.map((item, position) => {
    const entry = objectAt(item, `gpus[${position}]`, ["index", "model"]);
    const index = integerAt(entry.index, `gpus[${position}].index`, -1, 0, 1023);
    if (index < 0) fail(`gpus[${position}].index`, "is required");
    if (seen.has(index)) fail(`gpus[${position}].index`, `GPU ${index} is listed twice`);
    seen.add(index);
    return { index, model: stringAt(entry.model, `gpus[${position}].model`, "unknown") };
  });
}

/** Reads and validates the agent's config file; every error names the key and what is wrong with it. */
export function loadAgentConfig(file: string): AgentConfig {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (error) {
    throw new ConfigError(`cannot read config ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`, error);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new ConfigError(`config ${file} is not JSON: ${(error as Error).message}`, error);
  }
  const top = objectAt(raw, "(top level)", TOP_KEYS);
  const base = path.dirname(path.resolve(file));
  const resolvePath = (value: string) => path.resolve(base, value);

  const wallet = objectAt(top.wallet, "wallet", ["keystore", "accountIndex"]);
  const api = objectAt(top.api, "api", ["host", "port", "publicUrl"]);
  const policy = objectAt(top.policy, "policy", ["allowedCommands", "allowedImages", "minPricePerGpuHour", "denyClients", "allowPrivateInputs"]);
  const runner = objectAt(top.runner, "runner", ["kind", "maxOutputBytes"]);
  const timing = objectAt(top.timing, "timing", ["pollIntervalMs", "heartbeatIntervalSeconds", "specWaitMarginSeconds"]);

  const claims = objectAt(top.claims, "claims", ["minAmount"]);
  const amountAt = (value: unknown, key: string): bigint => {
    if (typeof value !== "string" || !/^\d{1,78}$/.test(value)) fail(key, `must be a whole number of payment-token base units as a string, got ${JSON.stringify(value)}`);
    return BigInt(value);
  };
  let repricing: RepricingRules | undefined;
  if (top.repricing !== undefined) {
    const rules = objectAt(top.repricing, "repricing", ["minPricePerGpuHour", "maxPricePerGpuHour", "targetUtilizationBps", "stepBps", "intervalSeconds"]);
    repricing = {
      minPricePerGpuHour: amountAt(rules.minPricePerGpuHour, "repricing.minPricePerGpuHour"),
      maxPricePerGpuHour: amountAt(rules.maxPricePerGpuHour, "repricing.maxPricePerGpuHour"),
      targetUtilizationBps: integerAt(rules.targetUtilizationBps, "repricing.targetUtilizationBps", 7_000, 1, 10_000),
      stepBps: integerAt(rules.stepBps, "repricing.stepBps", 500, 1, 5_000),
      intervalSeconds: integerAt(rules.intervalSeconds, "repricing.intervalSeconds", 3_600, 1, 30 * 86_400),
    };
    if (repricing.minPricePerGpuHour === 0n || repricing.minPricePerGpuHour > repricing.maxPricePerGpuHour) {
      fail("repricing.minPricePerGpuHour", "must be more than 0 and at most repricing.maxPricePerGpuHour");
    }
  }
  const minClaim = claims.minAmount ?? "1000000";
  if (typeof minClaim !== "string" || !/^\d{1,78}$/.test(minClaim)) {
    fail("claims.minAmount", `must be a whole number of payment-token base units as a string, got ${JSON.stringify(minClaim)}`);
  }
  const minPrice = policy.minPricePerGpuHour ?? "0";
  if (typeof minPrice !== "string" || !/^\d{1,78}$/.test(minPrice)) {
    fail("policy.minPricePerGpuHour", `must be a whole number of payment-token base units as a string, got ${JSON.stringify(minPrice)}`);
  }
  const denyClients = stringListAt(policy.denyClients, "policy.denyClients").map((address, position) => {
    if (!isAddress(address, { strict: false })) fail(`policy.denyClients[${position}]`, `"${address}" is not an address`);
    return getAddress(address);
  });
  let offers: bigint[] | undefined;
  if (top.offers !== undefined) {
    offers = stringListAt(top.offers, "offers").map((id, position) => {
      if (!/^[1-9]\d{0,77}$/.test(id)) fail(`offers[${position}]`, `"${id}" is not an offer id`);
      return BigInt(id);
    });
  }
  const kind = runner.kind ?? "process";
  if (kind !== "process" && kind !== "docker") fail("runner.kind", `must be "process" or "docker", got ${JSON.stringify(kind)}`);
  const heartbeat = timing.heartbeatIntervalSeconds;
  const publicUrl = api.publicUrl === undefined ? undefined : stringAt(api.publicUrl, "api.publicUrl");
  if (publicUrl !== undefined && !/^https?:\/\//.test(publicUrl)) fail("api.publicUrl", "must be an http(s) URL");

  return {
    configFile: path.resolve(file),
    rpcUrl: stringAt(top.rpcUrl, "rpcUrl", process.env.GPUMESH_RPC_URL || "http://127.0.0.1:8545"),
    deploymentFile: resolvePath(stringAt(top.deployment, "deployment", process.env.GPUMESH_DEPLOYMENT || "deployments/31337.json")),
    stateDir: resolvePath(stringAt(top.stateDir, "stateDir")),
    wallet: {
      keystore: wallet.keystore === undefined ? undefined : resolvePath(stringAt(wallet.keystore, "wallet.keystore")),
      accountIndex: wallet.accountIndex === undefined ? undefined : String(integerAt(wallet.accountIndex, "wallet.accountIndex", 0, 0, 2 ** 31 - 1)),
    },
    api: {
      host: stringAt(api.host, "api.host", "127.0.0.1"),
      port: integerAt(api.port, "api.port", 7700, 0, 65535),
      publicUrl,
    },
    gpus: gpusAt(top.gpus),
    offers,
    policy: {
      allowedCommands: stringListAt(policy.allowedCommands, "policy.allowedCommands"),
      allowedImages: stringListAt(policy.allowedImages, "policy.allowedImages"),
      allowPrivateInputs: booleanAt(policy.allowPrivateInputs, "policy.allowPrivateInputs"),
      minPricePerGpuHour: BigInt(minPrice),
      denyClients,
    },
    claims: { minAmount: BigInt(minClaim) },
    repricing,
    runner: { kind, maxOutputBytes: integerAt(runner.maxOutputBytes, "runner.maxOutputBytes", 100 * 1024 * 1024, 1, 2 ** 40) },
    timing: {
      pollIntervalMs: integerAt(timing.pollIntervalMs, "timing.pollIntervalMs", 1000, 50, 600_000),
      heartbeatIntervalSeconds: heartbeat === undefined || heartbeat === null ? undefined : integerAt(heartbeat, "timing.heartbeatIntervalSeconds", 0, 1, 86_400),
      specWaitMarginSeconds: integerAt(timing.specWaitMarginSeconds, "timing.specWaitMarginSeconds", 60, 0, 86_400),
    },
  };
}

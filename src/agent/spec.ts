import { keccak256, toBytes, type Hex } from "viem";
import { GpuMeshError } from "../internal/errors";

/** A job spec, version 1 (AGENT.md "Job spec"). */
export interface JobSpec {
  version: 1;
  command?: string[];
  image?: string;
  args?: string[];
  env?: Record<string, string>;
  inputs?: Array<{ url: string; sha256: string }>;
  outputs?: string[];
  ports?: number[];
  sshPublicKey?: string;
  maxRuntimeSeconds?: number;
}

const SPEC_FIELDS = ["version", "command", "image", "args", "env", "inputs", "outputs", "ports", "sshPublicKey", "maxRuntimeSeconds"];

/** A spec the agent refuses: `field` names what broke the rule. */
export class SpecError extends GpuMeshError {
  readonly field: string;
  constructor(field: string, message: string) {
    super(`spec ${field}: ${message}`, { code: "SPEC_INVALID" });
    this.name = "SpecError";
    this.field = field;
  }
}

/**
 * RFC 8785 (JSON Canonicalization Scheme): object keys sorted by UTF-16 code units, no whitespace, strings and numbers
 * as ECMAScript serializes them (JSON.stringify does both as the RFC requires).
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value === "boolean" || typeof value === "string") return JSON.stringify(value);
  if (typeof value === "number") {
    if (!Number.isFinite(value)) throw new SpecError("(value)", "numbers must be finite");
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (typeof value === "object") {
    const entries = Object.keys(value as object)
      .sort()
      .map((key) => `${JSON.stringify(key)}:${canonicalJson((value as Record<string, unknown>)[key])}`);
    return `{${entries.join(",")}}`;
  }
  throw new SpecError("(value)", `${typeof value} is not JSON`);
}

/** specHash as the client puts it on chain: keccak256 of the spec's canonical JSON. */
export function specHash(spec: unknown): Hex {
  return keccak256(toBytes(canonicalJson(spec)));
}

const isStringList = (value: unknown): value is string[] => Array.isArray(value) && value.every((item) => typeof item === "string");

/** A relative path inside the job's directory: no "..", no absolute path, no NUL. */
export function isSafeRelativePath(value: string): boolean {
  if (value === "" || value.includes("\0") || value.startsWith("/") || value.includes("\\")) return false;
  return value.split("/").every((part) => part !== "..");
}

/** Checks a parsed spec's shape; unknown fields are refused. */
export function validateSpec(value: unknown): JobSpec {
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw new SpecError("(top level)", "must be a JSON object");
  const spec = value as Record<string, unknown>;
  for (const key of Object.keys(spec)) {
    if (!SPEC_FIELDS.includes(key)) throw new SpecError(key, `unknown field (known: ${SPEC_FIELDS.join(", ")})`);
  }
  if (spec.version !== 1) throw new SpecError("version", `must be 1, got ${JSON.stringify(spec.version)}`);
  if ((spec.command === undefined) === (spec.image === undefined)) throw new SpecError("command", "give exactly one of command (argv) and image");
  if (spec.command !== undefined && (!isStringList(spec.command) || spec.command.length === 0 || spec.command[0] === "")) {
    throw new SpecError("command", "must be a non-empty list of strings (argv, never a shell string)");
  }
  if (spec.image !== undefined && (typeof spec.image !== "string" || spec.image === "")) throw new SpecError("image", "must be a non-empty string");
  if (spec.args !== undefined && !isStringList(spec.args)) throw new SpecError("args", "must be a list of strings");
  if (spec.env !== undefined) {
    if (typeof spec.env !== "object" || spec.env === null || Array.isArray(spec.env)) throw new SpecError("env", "must be an object of strings");
    for (const [name, item] of Object.entries(spec.env)) {
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new SpecError(`env.${name}`, "is not a variable name");
      if (typeof item !== "string") throw new SpecError(`env.${name}`, "must be a string");
      if (name === "CUDA_VISIBLE_DEVICES") throw new SpecError(`env.${name}`, "is set by the agent from the job's GPUs");
    }
  }
  if (spec.inputs !== undefined) {
    if (!Array.isArray(spec.inputs)) throw new SpecError("inputs", "must be a list of { url, sha256 }");
    spec.inputs.forEach((input, position) => {
      const item = input as Record<string, unknown>;
      if (typeof item?.url !== "string" || typeof item?.sha256 !== "string" || !/^[0-9a-f]{64}$/.test(item.sha256)) {
        throw new SpecError(`inputs[${position}]`, "must be { url, sha256 (64 lowercase hex digits) }");
      }
    });
  }
  if (spec.outputs !== undefined) {
    if (!isStringList(spec.outputs)) throw new SpecError("outputs", "must be a list of relative paths");
    spec.outputs.forEach((output, position) => {
      if (!isSafeRelativePath(output.replace(/\/$/, ""))) throw new SpecError(`outputs[${position}]`, `"${output}" is not a relative path inside the job's directory`);
    });
  }
  if (spec.ports !== undefined && (!Array.isArray(spec.ports) || spec.ports.some((port) => !Number.isInteger(port) || port < 1 || port > 65535))) {
    throw new SpecError("ports", "must be a list of TCP ports");
  }
  if (spec.sshPublicKey !== undefined && typeof spec.sshPublicKey !== "string") throw new SpecError("sshPublicKey", "must be a string");
  if (spec.maxRuntimeSeconds !== undefined && (!Number.isInteger(spec.maxRuntimeSeconds) || (spec.maxRuntimeSeconds as number) < 1)) {
    throw new SpecError("maxRuntimeSeconds", "must be a whole number of seconds, at least 1");
  }
  return spec as unknown as JobSpec;
}

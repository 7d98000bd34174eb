import { parseArgs, type ParseArgsConfig } from "node:util";
import { UsageError } from "../../internal/errors";
import { parseInteger } from "../../protocol/units";

/**
 * The CLI's one options module: the argument parser, the options several commands share, and how each is resolved
 * from its flag, then the environment, then a default. Light on purpose (node:util only): a command's --help loads it.
 */

export type OptionSpecs = NonNullable<ParseArgsConfig["options"]>;

export const DEFAULT_RPC_URL = "http://127.0.0.1:8545";
export const DEFAULT_DEPLOYMENT_FILE = "deployments/31337.json";
export const DEFAULT_API_URL = "http://127.0.0.1:4000/graphql";
const DEFAULT_API_PORT = 4000;
const DEFAULT_API_HOST = "127.0.0.1";

/** Options every chain command takes. Defaults come from the environment, then the local dev chain. */
export const CHAIN_OPTIONS = {
  rpc: { type: "string" },
  deployment: { type: "string" },
  json: { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const satisfies OptionSpecs;

/** Options of commands that sign: which wallet (the secret itself only ever comes from a file or the environment). */
export const WALLET_OPTIONS = {
  keystore: { type: "string" },
  "account-index": { type: "string" },
} as const satisfies OptionSpecs;

export const CHAIN_OPTIONS_HELP = [
  "  --rpc URL             JSON-RPC endpoint (env GPUMESH_RPC_URL, default http://127.0.0.1:8545)",
  "  --deployment FILE     deployment file (env GPUMESH_DEPLOYMENT, default deployments/31337.json)",
  "  --json                machine-readable output on stdout",
];

export const WALLET_OPTIONS_HELP = [
  "  --keystore FILE       encrypted JSON keystore (password from a prompt, or env GPUMESH_PASSWORD)",
  "  --account-index N     account of GPUMESH_MNEMONIC to use (default 0)",
  "  without --keystore the key comes from env GPUMESH_PRIVATE_KEY or GPUMESH_MNEMONIC",
];

/** Options of commands that send transactions: a chain and a wallet. */
export const SIGNER_OPTIONS = { ...CHAIN_OPTIONS, ...WALLET_OPTIONS } as const;

/** A signing command's help: its own lines, then the chain and wallet options. */
export function signerHelp(...lines: string[]): string {
  return [...lines, ...CHAIN_OPTIONS_HELP, ...WALLET_OPTIONS_HELP].join("\n");
}

/** Flags that would put a secret in shell history and `ps`: refused, with the environment variable to use. */
const SECRET_FLAGS: Record<string, string> = {
  "private-key": "GPUMESH_PRIVATE_KEY",
  privatekey: "GPUMESH_PRIVATE_KEY",
  "priv-key": "GPUMESH_PRIVATE_KEY",
  key: "GPUMESH_PRIVATE_KEY",
  pk: "GPUMESH_PRIVATE_KEY",
  secret: "GPUMESH_PRIVATE_KEY",
  mnemonic: "GPUMESH_MNEMONIC",
  seed: "GPUMESH_MNEMONIC",
  "seed-phrase": "GPUMESH_MNEMONIC",
  password: "GPUMESH_PASSWORD",
  passphrase: "GPUMESH_PASSWORD",
};

export interface ParsedArgs<T extends OptionSpecs> {
  values: { [K in keyof T]?: T[K] extends { multiple: true } ? string[] : T[K] extends { type: "boolean" } ? boolean : string };
  positionals: string[];
}

/**
 * node:util parseArgs in strict mode, with errors turned into UsageError messages that name the flag.
 * `positionals` is the number of positional arguments the command takes (exactly, or a [min, max] range).
 */
export function parseCommandArgs<T extends OptionSpecs>(
  argv: string[],
  options: T,
  positionals: number | [number, number] = 0,
): ParsedArgs<T> {
  for (const arg of argv) {
    if (arg === "--") break;
    const flag = /^--?([A-Za-z][A-Za-z0-9-]*)/.exec(arg)?.[1]?.toLowerCase();
    if (flag && SECRET_FLAGS[flag] && !(flag in options)) {
      throw new UsageError(
        `--${flag}: secrets are never taken on the command line (they end up in shell history and process lists); ` +
          `set ${SECRET_FLAGS[flag]} in the environment instead`,
      );
    }
  }
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options, strict: true, allowPositionals: true });
  } catch (error) {
    throw new UsageError(describeParseError(error as Error & { code?: string }, argv));
  }
  const [min, max] = typeof positionals === "number" ? [positionals, positionals] : positionals;
  const values = parsed.values as ParsedArgs<T>["values"];
  if (!(values as { help?: boolean }).help) {
    if (parsed.positionals.length > max) {
      throw new UsageError(`unexpected argument "${parsed.positionals[max]}"`);
    }
    if (parsed.positionals.length < min) {
      throw new UsageError(`missing argument (expected ${min}${min === max ? "" : ` to ${max}`})`);
    }
  }
  return { values, positionals: parsed.positionals };
}

function describeParseError(error: Error & { code?: string }, argv: readonly string[]): string {
  const quoted = /'([^']+)'/.exec(error.message)?.[1] ?? "";
  const flag = quoted.split(/\s/)[0] ?? quoted;
  switch (error.code) {
    case "ERR_PARSE_ARGS_UNKNOWN_OPTION":
      return `unknown option ${flag}`;
    case "ERR_PARSE_ARGS_INVALID_OPTION_VALUE": {
      if (/does not take an argument/.test(error.message)) return `option ${flag} does not take a value`;
      // `--flag -1`: what follows starts with a dash, so it reads as another option rather than the value.
      const at = argv.indexOf(flag);
      const next = at >= 0 ? argv[at + 1] : undefined;
      return /argument is ambiguous/.test(error.message) && next !== undefined
        ? `option ${flag} needs a value, and "${next}" reads as an option: write ${flag}=${next} to give it as the value`
        : `option ${flag} needs a value`;
    }
    case "ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL":
      return `unexpected argument "${quoted}"`;
    default:
      return error.message;
  }
}

/** A required string option; the message names the flag. */
export function requireOption(value: string | undefined, flag: string): string {
  if (value === undefined || value === "") throw new UsageError(`${flag} is required`);
  return value;
}

export interface ChainOptions {
  rpcUrl: string;
  deploymentFile: string;
}

/** --rpc and --deployment, else GPUMESH_RPC_URL and GPUMESH_DEPLOYMENT, else the local dev chain. */
export function resolveChainOptions(
  values: { rpc?: string; deployment?: string },
  env: NodeJS.ProcessEnv = process.env,
): ChainOptions {
  return {
    rpcUrl: values.rpc || env.GPUMESH_RPC_URL || DEFAULT_RPC_URL,
    deploymentFile: resolveDeploymentFile(values, DEFAULT_DEPLOYMENT_FILE, env),
  };
}

/** --deployment, else GPUMESH_DEPLOYMENT, else `fallback`; without a fallback it is required. */
export function resolveDeploymentFile(values: { deployment?: string }, fallback: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  const file = values.deployment || env.GPUMESH_DEPLOYMENT || fallback;
  if (!file) throw new UsageError("--deployment is required (or set GPUMESH_DEPLOYMENT)");
  return file;
}

export function resolveApiUrl(values: { api?: string }, env: NodeJS.ProcessEnv = process.env): string {
  return values.api || env.GPUMESH_API_URL || DEFAULT_API_URL;
}

// ------------------------------------------------------------------ indexer and API servers (index, serve, run)

/** Options of the commands that serve the GraphQL API. */
export const SERVER_OPTIONS = {
  db: { type: "string" },
  port: { type: "string" },
  host: { type: "string" },
  help: { type: "boolean", short: "h" },
} as const satisfies OptionSpecs;

/** Options of the commands that index a chain: RPC endpoints with fallback, and how closely to follow the head. */
export const SYNC_OPTIONS = {
  rpc: { type: "string", multiple: true },
  deployment: { type: "string" },
  db: { type: "string" },
  confirmations: { type: "string" },
  "finality-depth": { type: "string" },
  "poll-interval-ms": { type: "string" },
  "max-block-range": { type: "string" },
  "history-blocks": { type: "string" },
  "log-level": { type: "string" },
  help: { type: "boolean", short: "h" },
} as const satisfies OptionSpecs;

/** The help line of --history-blocks, for every command that indexes. */
export const HISTORY_BLOCKS_HELP =
  "  --history-blocks N        keep time-travel history for the last N blocks only (default: all of it); older row\n" +
  "                            versions are pruned as the indexer goes, and a block before them is refused";

export const LOG_LEVELS = ["trace", "debug", "info", "warn", "error", "fatal", "silent"] as const;

/** --db, else GPUMESH_DB; there is no default database. */
export function resolveDbFile(values: { db?: string }, env: NodeJS.ProcessEnv = process.env): string {
  const dbFile = values.db || env.GPUMESH_DB;
  if (!dbFile) throw new UsageError("--db is required (or set GPUMESH_DB)");
  return dbFile;
}

/** Every --rpc (each may be a comma-separated list), else GPUMESH_RPC_URL, else `fallback`; at least one URL. */
export function resolveRpcUrls(values: { rpc?: string[] }, fallback: string | undefined, env: NodeJS.ProcessEnv = process.env): string[] {
  const urls = (values.rpc?.length ? values.rpc : [env.GPUMESH_RPC_URL || fallback || ""])
    .flatMap((list) => list.split(","))
    .map((url) => url.trim())
    .filter(Boolean);
  if (urls.length === 0) throw new UsageError(values.rpc?.length ? "--rpc needs a URL" : "--rpc is required (or set GPUMESH_RPC_URL)");
  return urls;
}

/** --log-level, else GPUMESH_LOG_LEVEL, else `fallback`. */
export function resolveLogLevel(values: { "log-level"?: string }, fallback?: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const level = values["log-level"] ?? env.GPUMESH_LOG_LEVEL ?? fallback;
  if (level !== undefined && !(LOG_LEVELS as readonly string[]).includes(level)) {
    throw new UsageError(`--log-level must be one of ${LOG_LEVELS.join(", ")}, got "${level}"`);
  }
  return level;
}

/** An optional whole-number flag: undefined when absent (the indexer then picks its per-chain default). */
export function optionalInteger(value: string | undefined, flag: string, min = 0, max?: number): number | undefined {
  return value === undefined ? undefined : parseInteger(value, flag, { min, max });
}

/** The indexer's tuning flags; each absent one is left to the indexer's per-chain default. */
export function resolveSyncTuning(values: {
  confirmations?: string;
  "finality-depth"?: string;
  "poll-interval-ms"?: string;
  "max-block-range"?: string;
}) {
  return {
    confirmations: optionalInteger(values.confirmations, "--confirmations"),
    finalityDepth: optionalInteger(values["finality-depth"], "--finality-depth", 1),
    pollIntervalMs: optionalInteger(values["poll-interval-ms"], "--poll-interval-ms", 10),
    maxBlockRange: optionalInteger(values["max-block-range"], "--max-block-range", 1),
  };
}

/** --history-blocks: how many blocks of time-travel history the indexer keeps; undefined keeps all of it. */
export function resolveHistoryBlocks(values: { "history-blocks"?: string }): number | undefined {
  return optionalInteger(values["history-blocks"], "--history-blocks", 0);
}

/** A TCP port flag (0 picks a free port when `allowZero`). */
export function resolvePort(text: string | undefined, flag: string, fallback: number, allowZero = true): number {
  if (text === undefined) return fallback;
  if (!/^\d+$/.test(text) || Number(text) > 65535 || (!allowZero && Number(text) === 0)) {
    throw new UsageError(`${flag} must be a TCP port (${allowZero ? 0 : 1} to 65535), got "${text}"`);
  }
  return Number(text);
}

/** `serve`'s optional --deployment and --rpc (else GPUMESH_DEPLOYMENT, GPUMESH_RPC_URL): only the web app uses them. */
export function resolveServeWebOptions(
  values: { deployment?: string; rpc?: string },
  env: NodeJS.ProcessEnv = process.env,
): { deploymentFile?: string; rpcUrls: string[] } {
  const rpc = values.rpc ?? env.GPUMESH_RPC_URL;
  if (values.rpc === "") throw new UsageError("--rpc needs a URL");
  return { deploymentFile: values.deployment || env.GPUMESH_DEPLOYMENT || undefined, rpcUrls: rpc ? [rpc] : [] };
}

export interface ServerOptions {
  dbFile: string;
  port: number;
  host: string;
}

/** --db, --port and --host, falling back to GPUMESH_DB and GPUMESH_PORT. */
export function resolveServerOptions(values: { db?: string; port?: string; host?: string }, env: NodeJS.ProcessEnv = process.env): ServerOptions {
  const dbFile = resolveDbFile(values, env);
  const port = resolvePort(values.port ?? env.GPUMESH_PORT, "--port", DEFAULT_API_PORT);
  const host = values.host ?? DEFAULT_API_HOST;
  if (host === "") throw new UsageError("--host needs an address");
  return { dbFile, port, host };
}

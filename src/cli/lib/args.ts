import { parseArgs, type ParseArgsConfig } from "node:util";
import { UsageError } from "./errors";

export type OptionSpecs = NonNullable<ParseArgsConfig["options"]>;

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
  values: { [K in keyof T]?: T[K] extends { type: "boolean" } ? boolean : string };
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
    throw new UsageError(describeParseError(error as Error & { code?: string }));
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

function describeParseError(error: Error & { code?: string }): string {
  const quoted = /'([^']+)'/.exec(error.message)?.[1] ?? "";
  const flag = quoted.split(/\s/)[0] ?? quoted;
  switch (error.code) {
    case "ERR_PARSE_ARGS_UNKNOWN_OPTION":
      return `unknown option ${flag}`;
    case "ERR_PARSE_ARGS_INVALID_OPTION_VALUE":
      return /does not take an argument/.test(error.message)
        ? `option ${flag} does not take a value`
        : `option ${flag} needs a value`;
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

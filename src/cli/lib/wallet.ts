import fs from "node:fs";
import path from "node:path";
import type { Hex, LocalAccount } from "viem";
import { mnemonicToAccount, privateKeyToAccount } from "viem/accounts";
import { CliError } from "./errors";
import { UsageError } from "../../internal/errors";
import { parseInteger } from "../../protocol/units";

/**
 * Where a signing key comes from, in this order: `--keystore FILE` (scrypt JSON keystore; password from a prompt on a
 * terminal or GPUMESH_PASSWORD), GPUMESH_PRIVATE_KEY, GPUMESH_MNEMONIC (+ `--account-index`). Secrets never come from
 * the command line.
 */
export interface WalletSource {
  keystore?: string;
  accountIndex?: string;
}

export interface LoadedWallet {
  account: LocalAccount;
  source: string;
}

export function hasWalletSource(source: WalletSource, env: NodeJS.ProcessEnv = process.env): boolean {
  return Boolean(source.keystore || env.GPUMESH_PRIVATE_KEY || env.GPUMESH_MNEMONIC);
}

export async function loadWallet(source: WalletSource, env: NodeJS.ProcessEnv = process.env): Promise<LoadedWallet> {
  if (source.keystore) {
    const password = await readPassword(`password for ${source.keystore}: `, env);
    return { account: privateKeyToAccount(await decryptKeystore(source.keystore, password)), source: `keystore ${source.keystore}` };
  }
  return accountFromEnv(source, env);
}

/** The account of GPUMESH_PRIVATE_KEY or GPUMESH_MNEMONIC (never both: which one was meant would be a guess). */
export function accountFromEnv(source: WalletSource, env: NodeJS.ProcessEnv = process.env): LoadedWallet {
  const privateKey = env.GPUMESH_PRIVATE_KEY?.trim();
  const mnemonic = env.GPUMESH_MNEMONIC?.trim();
  if (privateKey && mnemonic) {
    throw new CliError("both GPUMESH_PRIVATE_KEY and GPUMESH_MNEMONIC are set: unset the one you do not mean");
  }
  if (privateKey) {
    if (source.accountIndex !== undefined) throw new UsageError("--account-index applies to GPUMESH_MNEMONIC only");
    return { account: privateKeyToAccount(normalizePrivateKey(privateKey)), source: "GPUMESH_PRIVATE_KEY" };
  }
  if (mnemonic) {
    const addressIndex =
      source.accountIndex === undefined ? 0 : parseInteger(source.accountIndex, "--account-index", { max: 2 ** 31 - 1 });
    try {
      return { account: mnemonicToAccount(mnemonic, { addressIndex }), source: `GPUMESH_MNEMONIC account ${addressIndex}` };
    } catch (error) {
      throw new CliError("GPUMESH_MNEMONIC is not a valid BIP-39 mnemonic", error);
    }
  }
  throw new CliError(
    "no wallet: pass --keystore FILE (see `gpumesh wallet new`), or set GPUMESH_PRIVATE_KEY or GPUMESH_MNEMONIC",
  );
}

function normalizePrivateKey(text: string): Hex {
  const key = (text.startsWith("0x") ? text : `0x${text}`).toLowerCase();
  if (!/^0x[0-9a-f]{64}$/.test(key)) throw new CliError("GPUMESH_PRIVATE_KEY is not a 32-byte hex private key");
  return key as Hex;
}

export async function decryptKeystore(file: string, password: string): Promise<Hex> {
  let json: string;
  try {
    json = fs.readFileSync(file, "utf8");
  } catch (error) {
    throw new CliError(`cannot read keystore ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`, error);
  }
  const { Wallet } = await import("ethers");
  try {
    const wallet = await Wallet.fromEncryptedJson(json, password);
    return wallet.privateKey as Hex;
  } catch (error) {
    if (/incorrect password/i.test((error as Error).message)) {
      throw new CliError(`wrong password for keystore ${file}`, error);
    }
    throw new CliError(`keystore ${file} is not a valid encrypted JSON keystore`, error);
  }
}

/** Encrypts a key into a new keystore file (scrypt, the Web3 Secret Storage format); never overwrites. */
export async function writeKeystore(file: string, privateKey: Hex, password: string): Promise<void> {
  if (fs.existsSync(file)) throw new CliError(`keystore ${file} already exists; choose another file`);
  const { Wallet } = await import("ethers");
  const json = await new Wallet(privateKey).encrypt(password);
  fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  fs.writeFileSync(file, json + "\n", { mode: 0o600, flag: "wx" });
}

/** GPUMESH_PASSWORD, or a prompt without echo on a terminal. */
export async function readPassword(prompt: string, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  if (env.GPUMESH_PASSWORD !== undefined) return env.GPUMESH_PASSWORD;
  if (!process.stdin.isTTY) {
    throw new CliError("no password: run on a terminal to be prompted, or set GPUMESH_PASSWORD");
  }
  return promptHidden(prompt);
}

/** A new password: from GPUMESH_PASSWORD, or typed twice on a terminal. */
export async function readNewPassword(env: NodeJS.ProcessEnv = process.env): Promise<string> {
  let password: string;
  if (env.GPUMESH_PASSWORD !== undefined) {
    password = env.GPUMESH_PASSWORD;
  } else {
    password = await readPassword("new keystore password: ", env);
    if ((await promptHidden("repeat the password: ")) !== password) throw new CliError("the passwords differ");
  }
  if (password.length < 8) throw new CliError("the keystore password must have at least 8 characters");
  return password;
}

/** Reads a line from the terminal in raw mode so that nothing typed is echoed. */
function promptHidden(prompt: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const stdin = process.stdin;
    process.stderr.write(prompt);
    stdin.setRawMode(true);
    stdin.resume();
    stdin.setEncoding("utf8");
    let typed = "";
    const finish = (error?: Error) => {
      stdin.setRawMode(false);
      stdin.pause();
      stdin.removeListener("data", onData);
      process.stderr.write("\n");
      if (error) reject(error);
      else resolve(typed);
    };
    const onData = (chunk: string) => {
      for (const char of chunk) {
        if (char === "\r" || char === "\n" || char === "\u0004") return finish();
        if (char === "\u0003") return finish(new CliError("cancelled"));
        if (char === "\u007f" || char === "\b") typed = typed.slice(0, -1);
        else typed += char;
      }
    };
    stdin.on("data", onData);
  });
}

/** Asks a yes/no question on the terminal; the default is no. */
export async function confirm(question: string): Promise<boolean> {
  const readline = await import("node:readline/promises");
  const rl = readline.createInterface({ input: process.stdin, output: process.stderr });
  try {
    const answer = await rl.question(`${question} [y/N] `);
    return /^y(es)?$/i.test(answer.trim());
  } finally {
    rl.close();
  }
}

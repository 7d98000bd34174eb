import { keccak256, toHex, zeroHash, type Hex } from "viem";
import { resolveChainOptions } from "./args";
import { createSignerContext, type SignerContext } from "./context";
import { UsageError } from "../../internal/errors";
import { parseDuration } from "../../protocol/units";

/** Small pieces that several commands share. */

export async function signerFromValues(values: {
  rpc?: string;
  deployment?: string;
  keystore?: string;
  "account-index"?: string;
}): Promise<SignerContext> {
  return createSignerContext(resolveChainOptions(values), {
    keystore: values.keystore,
    accountIndex: values["account-index"],
  });
}

/** A bytes32 given as 0x + 64 hex digits is used as is; any other text is hashed (keccak256). */
export function hashOrText(text: string | undefined): Hex {
  if (text === undefined || text === "") return zeroHash;
  if (/^0x[0-9a-fA-F]{64}$/.test(text)) return text.toLowerCase() as Hex;
  return keccak256(toHex(text));
}

/** JobMarket.MAX_OFFER_LIFETIME and MAX_JOB_DURATION. */
export const MAX_OFFER_LIFETIME_SECONDS = 365 * 24 * 3600;
export const MAX_JOB_DURATION_SECONDS = 365 * 24 * 3600;
/** JobMarket.MAX_OFFER_GPUS. */
export const MAX_OFFER_GPUS = 100_000;

/** An expiry as a duration from the chain's now ("30d") or an ISO date ("2027-01-31" or with a time). */
export function parseExpiry(text: string, nowSeconds: bigint, flag = "--expires"): number {
  let expiresAt: number;
  if (/^\d{4}-\d{2}-\d{2}/.test(text)) {
    const millis = Date.parse(text);
    if (Number.isNaN(millis)) throw new UsageError(`${flag}: "${text}" is not a date`);
    expiresAt = Math.floor(millis / 1000);
  } else {
    expiresAt = Number(nowSeconds) + parseDuration(text, flag);
  }
  if (expiresAt <= Number(nowSeconds)) throw new UsageError(`${flag}: ${text} is not in the future`);
  if (expiresAt > Number(nowSeconds) + MAX_OFFER_LIFETIME_SECONDS) throw new UsageError(`${flag}: ${text} is more than 365 days ahead`);
  return expiresAt;
}

/** A point in time: unix seconds ("1767225600") or an ISO date ("2026-01-01T00:00:00Z"). */
export function parseTimestamp(text: string, flag: string): number {
  const value = text.trim();
  if (/^\d+$/.test(value)) {
    const seconds = Number(value);
    if (!Number.isSafeInteger(seconds)) throw new UsageError(`${flag}: ${text} is out of range`);
    return seconds;
  }
  if (/^\d{4}-\d{2}-\d{2}/.test(value)) {
    const millis = Date.parse(value);
    if (!Number.isNaN(millis)) return Math.floor(millis / 1000);
  }
  throw new UsageError(`${flag}: "${text}" is not a time (expected unix seconds or an ISO date like 2026-01-31T12:00:00Z)`);
}

/** Hours like "2" or "1.5" to whole seconds (more than 0, at most 365 days). */
export function parseHours(text: string, flag: string): number {
  const value = text.trim();
  if (!/^\d+(\.\d+)?$/.test(value)) throw new UsageError(`${flag}: "${text}" is not a number of hours (e.g. 2 or 1.5)`);
  const seconds = Number(value) * 3600;
  if (!Number.isInteger(seconds)) throw new UsageError(`${flag}: ${text} hours is not a whole number of seconds`);
  if (seconds <= 0 || seconds > MAX_JOB_DURATION_SECONDS) throw new UsageError(`${flag}: ${text} is out of range (more than 0, at most 8760 hours)`);
  return seconds;
}

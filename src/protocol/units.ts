import { UsageError } from "../internal/errors";

/** A token as the deployment file describes it: amounts are printed and parsed with its decimals and symbol. */
export interface TokenUnits {
  symbol: string;
  decimals: number;
}

const SECONDS_PER_UNIT: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400, w: 604_800 };
const MAX_UINT32 = 2 ** 32 - 1;

/**
 * Parses a decimal amount like "2.35" into base units exactly (string arithmetic, never floats).
 * An optional trailing symbol ("2.35 USDC") must be the token's. `flag` names the option in errors.
 */
export function parseAmount(text: string, token: TokenUnits, flag: string): bigint {
  let value = text.trim();
  const withSymbol = /^([\d._]+)\s*([A-Za-z][A-Za-z0-9]*)$/.exec(value);
  if (withSymbol) {
    if (withSymbol[2]!.toUpperCase() !== token.symbol.toUpperCase()) {
      throw new UsageError(`${flag}: "${text}" is not in ${token.symbol}`);
    }
    value = withSymbol[1]!;
  }
  value = value.replace(/_/g, "");
  const match = /^(\d+)(?:\.(\d*))?$|^\.(\d+)$/.exec(value);
  if (!match) throw new UsageError(`${flag}: "${text}" is not an amount (expected a decimal number like 2.35)`);
  const whole = match[1] ?? "0";
  const fraction = (match[2] ?? match[3] ?? "").replace(/0+$/, "");
  if (fraction.length > token.decimals) {
    throw new UsageError(
      `${flag}: "${text}" has more than ${token.decimals} decimal${token.decimals === 1 ? "" : "s"} (${token.symbol} has ${token.decimals})`,
    );
  }
  return BigInt(whole) * 10n ** BigInt(token.decimals) + BigInt(fraction.padEnd(token.decimals, "0") || "0");
}

/** Parses a positive amount: zero is refused with a message naming the flag. */
export function parsePositiveAmount(text: string, token: TokenUnits, flag: string): bigint {
  const amount = parseAmount(text, token, flag);
  if (amount === 0n) throw new UsageError(`${flag}: the amount must be more than 0`);
  return amount;
}

/** Base units to a decimal string: "2.35", "1000"; at least `minFractionDigits` decimals. */
export function formatDecimal(value: bigint, decimals: number, minFractionDigits = 0): string {
  const negative = value < 0n;
  const absolute = negative ? -value : value;
  const base = 10n ** BigInt(decimals);
  const whole = (absolute / base).toString();
  let fraction = decimals > 0 ? (absolute % base).toString().padStart(decimals, "0").replace(/0+$/, "") : "";
  if (fraction.length < minFractionDigits) fraction = fraction.padEnd(Math.min(minFractionDigits, decimals), "0");
  return `${negative ? "-" : ""}${whole}${fraction ? `.${fraction}` : ""}`;
}

/**
 * "2.35 USDC", "1000 MESH". Stablecoin-like tokens (at most 6 decimals) always show cents, so that a price reads
 * "2.80 USDC" rather than "2.8 USDC".
 */
export function formatAmount(value: bigint, token: TokenUnits): string {
  const cents = token.decimals <= 6 && token.decimals >= 2 ? 2 : 0;
  return `${formatDecimal(value, token.decimals, cents)} ${token.symbol}`.trim();
}

/** "90s", "30m", "2h", "7d", "1w", "1h30m" or plain seconds ("5400") to seconds; at most 2^32-1. */
export function parseDuration(text: string, flag: string): number {
  const value = text.trim().toLowerCase();
  let seconds = 0;
  if (/^\d+$/.test(value)) {
    seconds = Number(value);
  } else {
    const parts = [...value.matchAll(/(\d+(?:\.\d+)?)([smhdw])/g)];
    if (parts.length === 0 || parts.map((part) => part[0]).join("") !== value) {
      throw new UsageError(`${flag}: "${text}" is not a duration (expected e.g. 90s, 30m, 2h, 7d, 1h30m)`);
    }
    for (const [, amount, unit] of parts) seconds += Number(amount) * SECONDS_PER_UNIT[unit!]!;
    if (!Number.isInteger(seconds)) throw new UsageError(`${flag}: "${text}" is not a whole number of seconds`);
  }
  if (!Number.isSafeInteger(seconds) || seconds > MAX_UINT32) throw new UsageError(`${flag}: "${text}" is too long`);
  return seconds;
}

/** Seconds to "2h", "1h 30m", "7d", "45s". */
export function formatDuration(totalSeconds: number | bigint): string {
  let seconds = Number(totalSeconds);
  if (seconds <= 0) return "0s";
  const parts: string[] = [];
  for (const [unit, size] of [["d", 86_400], ["h", 3600], ["m", 60], ["s", 1]] as const) {
    if (seconds >= size) {
      parts.push(`${Math.floor(seconds / size)}${unit}`);
      seconds %= size;
    }
  }
  return parts.join(" ");
}

/** A whole number within bounds; the message names the flag. */
export function parseInteger(text: string, flag: string, bounds: { min?: number; max?: number } = {}): number {
  const value = text.trim();
  if (!/^\d+$/.test(value)) throw new UsageError(`${flag}: "${text}" is not a whole number`);
  const parsed = Number(value);
  const min = bounds.min ?? 0;
  const max = bounds.max ?? Number.MAX_SAFE_INTEGER;
  if (!Number.isSafeInteger(parsed) || parsed < min || parsed > max) {
    throw new UsageError(`${flag}: ${text} is out of range (${min}..${max})`);
  }
  return parsed;
}

/** An id of a job or an offer ("7" or "#7"). */
export function parseId(text: string | undefined, what: string): bigint {
  if (text === undefined) throw new UsageError(`missing ${what} id`);
  const value = text.trim().replace(/^#/, "");
  if (!/^\d+$/.test(value) || BigInt(value) === 0n) throw new UsageError(`${what} id: "${text}" is not an id (expected a number like 7)`);
  return BigInt(value);
}

/** "80%", "80", "12.5%" to basis points (8000, 8000, 1250); at most 100 %. */
export function parsePercentBps(text: string, flag: string): number {
  const value = text.trim().replace(/%$/, "");
  const match = /^(\d+)(?:\.(\d{1,2}))?$/.exec(value);
  if (!match) throw new UsageError(`${flag}: "${text}" is not a percentage (expected e.g. 80%)`);
  const bps = Number(match[1]) * 100 + Number((match[2] ?? "").padEnd(2, "0"));
  if (bps > 10_000) throw new UsageError(`${flag}: ${text} is more than 100%`);
  return bps;
}

/** Basis points to "80%", "12.5%". */
export function formatBps(bps: number | bigint): string {
  return `${formatDecimal(BigInt(bps), 2)}%`;
}

/** Unix seconds to an ISO time without milliseconds: "2026-11-22T02:00:00Z". */
export function formatTime(unixSeconds: number | bigint): string {
  return new Date(Number(unixSeconds) * 1000).toISOString().replace(/\.000Z$/, "Z");
}

/** "in 2h 5m" / "3m ago" relative to `nowSeconds` (the chain's time, which a dev chain may have moved). */
export function formatRelative(unixSeconds: number | bigint, nowSeconds: number | bigint): string {
  const delta = Number(unixSeconds) - Number(nowSeconds);
  if (delta === 0) return "now";
  return delta > 0 ? `in ${formatDuration(delta)}` : `${formatDuration(-delta)} ago`;
}

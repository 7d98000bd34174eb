import { formatAmount, formatBps, formatDecimal, formatDuration, formatTime, type TokenUnits } from "../../protocol/units";

// The CLI's formatters: the app prints amounts, durations and times exactly as `gpumesh` does.
export { formatAmount, formatBps, formatDecimal, formatDuration, formatTime };

/** A BigInt scalar of the API (a decimal string) as an amount; "—" when absent. */
export function amount(value: string | null | undefined, units: TokenUnits): string {
  return value === null || value === undefined ? "—" : formatAmount(BigInt(value), units);
}

/** A share 0..1 as "42.5%". */
export function percent(share: number): string {
  return `${(share * 100).toFixed(1)}%`;
}

/** The API's reliability score 0..1 (exact to 6 decimals) as "0.875". */
export function reliabilityText(score: number): string {
  return score.toFixed(3);
}

/** A median time to accept in seconds; "—" before the first acceptance. */
export function speedText(seconds: number | null): string {
  return seconds === null ? "—" : formatDuration(seconds);
}

/** A share typed as 0..1 or as a percentage ("0.8", "80%"); null when empty. Throws a sentence when malformed. */
export function parseShare(text: string, what: string): number | null {
  const value = text.trim();
  if (value === "") return null;
  const match = /^(\d+(?:\.\d+)?|\.\d+)(%?)$/.exec(value);
  const share = match ? Number(match[1]) / (match[2] ? 100 : 1) : NaN;
  if (!(share >= 0 && share <= 1)) throw new Error(`${what}: "${text}" is not a share between 0 and 1 (or 0% and 100%)`);
  return share;
}

export function integer(value: number): string {
  return value.toLocaleString("en-US");
}

export function shortAddress(address: string): string {
  return `${address.slice(0, 6)}…${address.slice(-4)}`;
}

/**
 * A base-unit amount as a chart coordinate. Charts plot numbers, so this one place turns an exact amount into a
 * float: only for drawing, never for a figure the user reads or signs.
 */
export function plotValue(value: string | bigint, units: TokenUnits): number {
  return Number(formatDecimal(BigInt(value), units.decimals));
}

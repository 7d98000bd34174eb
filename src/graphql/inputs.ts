import { GraphQLError, GraphQLScalarType, Kind } from "graphql";
import type { SortKey } from "../store/reads";

/**
 * Client-facing errors and argument parsing. Every error a client can cause is a GraphQLError with a code
 * and a message naming the argument; anything else thrown by a resolver is masked by the server.
 */

export const MAX_PAGE_SIZE = 1000;
export const DEFAULT_PAGE_SIZE = 50;

export function badUserInput(message: string, argument?: string, extensions: Record<string, unknown> = {}): GraphQLError {
  return new GraphQLError(message, { extensions: { code: "BAD_USER_INPUT", ...(argument ? { argument } : {}), ...extensions } });
}

const ADDRESS = /^0x[0-9a-fA-F]{40}$/;

/** Any-case 0x address to the lowercase form the store keys on. */
export function parseAddress(value: unknown, argument: string): string {
  if (typeof value !== "string" || !ADDRESS.test(value)) {
    throw badUserInput(
      `malformed address in argument "${argument}": ${JSON.stringify(value)} is not 0x followed by 40 hex digits`,
      argument,
    );
  }
  return value.toLowerCase();
}

/** Ids have at most this many digits: the store keys them as numbers (an id is a count of offers or jobs). */
const MAX_ID_DIGITS = 15;

/** Offer and job ids: non-negative decimal integers below 10^15. */
export function parseEntityId(value: unknown, argument: string): number {
  const text = typeof value === "number" ? String(value) : value;
  const problem =
    typeof text !== "string" || !/^-?\d+$/.test(text)
      ? "is not a decimal integer"
      : text.startsWith("-")
        ? "is negative"
        : text.replace(/^0+(?=\d)/, "").length > MAX_ID_DIGITS
          ? `is out of range: ids have at most ${MAX_ID_DIGITS} digits`
          : null;
  if (problem) throw badUserInput(`malformed id in argument "${argument}": ${JSON.stringify(value)} ${problem}`, argument);
  return Number(text);
}

export function parseFirst(value: number | null | undefined, argument = "first"): number {
  if (value === null || value === undefined) return DEFAULT_PAGE_SIZE;
  if (!Number.isInteger(value) || value < 0 || value > MAX_PAGE_SIZE) {
    throw badUserInput(`argument "${argument}" must be between 0 and ${MAX_PAGE_SIZE}, got ${value}`, argument);
  }
  return value;
}

export function parseTime(value: number | null | undefined, argument: string): number | undefined {
  if (value === null || value === undefined) return undefined;
  if (value < 0) throw badUserInput(`argument "${argument}" must be a unix time in seconds, got ${value}`, argument);
  return value;
}

export function parseCount(value: number | null | undefined, argument: string): number | undefined {
  if (value === null || value === undefined) return undefined;
  if (value < 0) throw badUserInput(`argument "${argument}" must not be negative, got ${value}`, argument);
  return value;
}

/**
 * Cursors are opaque to clients: base64url of the ordering they belong to and the last row's sort key.
 * A cursor is only valid with the ordering that issued it.
 */
export function encodeCursor(orderBy: string, key: SortKey): string {
  return Buffer.from(JSON.stringify([orderBy, ...key])).toString("base64url");
}

export function decodeCursor(
  cursor: string | null | undefined,
  orderBy: string,
  keyTypes: ReadonlyArray<"int" | "text">,
  argument = "after",
): SortKey | undefined {
  if (cursor === null || cursor === undefined) return undefined;
  let decoded: unknown;
  try {
    decoded = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8"));
  } catch {
    decoded = undefined;
  }
  const invalid = () => badUserInput(`invalid cursor in argument "${argument}": pass a pageInfo.endCursor unchanged`, argument);
  if (!Array.isArray(decoded) || typeof decoded[0] !== "string") throw invalid();
  const [issuedFor, ...key] = decoded;
  if (issuedFor !== orderBy) {
    throw badUserInput(`cursor in argument "${argument}" belongs to orderBy ${issuedFor}, not ${orderBy}`, argument);
  }
  const valid =
    key.length === keyTypes.length &&
    key.every((value, index) => (keyTypes[index] === "int" ? Number.isSafeInteger(value) : typeof value === "string"));
  if (!valid) throw invalid();
  return key as SortKey;
}

// ---------------------------------------------------------------------------------------------------------------
// BigInt scalar
// ---------------------------------------------------------------------------------------------------------------

const DECIMAL = /^(0|[1-9][0-9]*)$/;
// uint256 has 78 decimal digits; longer input is a mistake, not an amount.
const MAX_DIGITS = 78;

function parseDecimal(value: unknown): bigint {
  if (typeof value === "string" && DECIMAL.test(value) && value.length <= MAX_DIGITS) return BigInt(value);
  if (typeof value === "number" && Number.isSafeInteger(value) && value >= 0) return BigInt(value);
  throw new GraphQLError(
    `BigInt must be a non-negative integer as a decimal string (e.g. "2500000"), got ${JSON.stringify(value)}`,
    { extensions: { code: "BAD_USER_INPUT" } },
  );
}

export const BigIntScalar = new GraphQLScalarType<bigint, string>({
  name: "BigInt",
  description: 'An unsigned integer of any size, as a decimal string such as "2500000".',
  serialize(value) {
    if (typeof value === "bigint") return value.toString();
    if (typeof value === "string" && /^-?\d+$/.test(value)) return value;
    if (typeof value === "number" && Number.isSafeInteger(value)) return String(value);
    throw new TypeError(`BigInt cannot represent ${String(value)}`);
  },
  parseValue: parseDecimal,
  parseLiteral(node) {
    if (node.kind === Kind.STRING || node.kind === Kind.INT) {
      return parseDecimal(node.value);
    }
    throw new GraphQLError(`BigInt must be a decimal string such as "2500000", got a ${node.kind.toLowerCase()} literal`, {
      nodes: node,
      extensions: { code: "BAD_USER_INPUT" },
    });
  },
});

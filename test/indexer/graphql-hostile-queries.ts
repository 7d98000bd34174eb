/**
 * Hostile GraphQL queries, shared by test/indexer/graphql-hostile.test.ts and scripts/bench-hostile.ts: each took the
 * server's one thread for seconds to minutes before the parse caps, the memoized depth and cost rules and the
 * execution time budget.
 */

/** A query of `levels` fragments, each spreading the next one twice: 2^levels paths if walked naively. */
export function doublingFragments(levels: number, onQuery: boolean): string {
  const parts: string[] = [onQuery ? "{ ...F0 }" : "{ market { ...F0 } }"];
  for (let level = 0; level < levels; level++) {
    const body = onQuery ? "market { providers }" : "providers";
    const next = level + 1 < levels ? ` ...F${level + 1} ...F${level + 1}` : "";
    parts.push(`fragment F${level} on ${onQuery ? "Query" : "MarketStats"} { ${body}${next} }`);
  }
  return parts.join("\n");
}

/** `outer` aliases of __schema, each with `inner` aliases of types { <selection> }. */
export function aliasedIntrospection(outer: number, inner: number, selection = "fields { name }"): string {
  const types = Array.from({ length: inner }, (_, i) => `t${i}: types { ${selection} }`).join(" ");
  return `{ ${Array.from({ length: outer }, (_, i) => `s${i}: __schema { ${types} }`).join(" ")} }`;
}

/** A legitimate query near the cost limit whose execution takes far more than a request's time budget. */
export const HEAVY_QUERY = `{ jobs(first: 300) { items { id gpus price escrow state createdAt offer { id jobs(first: 49) {
  items { id gpus price cost escrow state createdAt duration client { id } provider { address staked } } } } } } }`;

import type { Reads } from "../store/reads";

/**
 * Whole responses of repeated GraphQL POSTs, kept until the database changes. Dashboards poll the same few
 * queries (capacity, prices, market) far more often than the indexer commits, so most polls skip GraphQL
 * entirely. Only successful responses of queries that depend on nothing but the database are kept: a query
 * naming `_meta` also reads the indexer's live status, so it is never cached.
 */

export interface CachedResponse {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

export interface ResponseCache {
  /** The key of a request, or null when it must not be cached. */
  keyOf(body: Buffer, headers: { accept?: string; origin?: string }): string | null;
  /** The database version now: pass it back to `store` so a response computed across a commit is dropped. */
  version(): string;
  get(key: string, version: string): CachedResponse | undefined;
  store(key: string, version: string, response: CachedResponse): void;
}

const MAX_REQUEST_BYTES = 16 * 1024;
const MAX_CACHED_BYTES = 64 * 1024 * 1024;

export function createResponseCache(reads: Reads): ResponseCache {
  let cachedVersion = "";
  let bytes = 0;
  const entries = new Map<string, CachedResponse>();
  const sync = (version: string) => {
    if (version !== cachedVersion) {
      entries.clear();
      bytes = 0;
      cachedVersion = version;
    }
  };
  return {
    keyOf(body, headers) {
      if (body.length > MAX_REQUEST_BYTES) return null;
      const text = body.toString("utf8");
      if (text.includes("_meta")) return null;
      // The response's content type and CORS headers follow Accept and Origin.
      return `${headers.accept ?? ""}\n${headers.origin ?? ""}\n${text}`;
    },
    version: () => reads.dataVersion(),
    get(key, version) {
      sync(version);
      return entries.get(key);
    },
    store(key, version, response) {
      if (response.status !== 200 || response.body.includes('"errors"')) return;
      // A commit during execution may have mixed two states into this response.
      const now = reads.dataVersion();
      sync(now);
      if (now !== version) return;
      if (bytes + response.body.length > MAX_CACHED_BYTES) {
        entries.clear();
        bytes = 0;
      }
      entries.set(key, response);
      bytes += response.body.length + key.length;
    },
  };
}

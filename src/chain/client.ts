import { BaseError, createPublicClient, http, type Address, type Hex, type PublicClient } from "viem";
import { ConfigError, GpuMeshError, redactUrl, redactUrlsIn } from "../internal/errors";
import type { Logger } from "../internal/logger";
import type { RpcLog } from "./events";

/**
 * How an RPC failure is handled:
 * - `rate_limit`: the node throttles us; retried after a longer backoff.
 * - `range`: the node refuses an eth_getLogs range or result size; the caller shrinks the range.
 * - `timeout`: the request took too long; retried, and eth_getLogs callers also shrink the range.
 * - `transient`: network errors, 5xx, a node behind the others; retried, on the next URL when there is one.
 * - `fatal`: bad requests, authentication, unknown methods; retrying cannot help.
 */
export type RpcErrorKind = "rate_limit" | "range" | "timeout" | "transient" | "fatal";

export class RpcError extends GpuMeshError {
  readonly kind: RpcErrorKind;
  readonly method: string;

  constructor(message: string, options: { kind: RpcErrorKind; method: string; cause?: unknown }) {
    super(message, { code: `RPC_${options.kind.toUpperCase()}`, retryable: options.kind !== "fatal", cause: options.cause });
    this.name = "RpcError";
    this.kind = options.kind;
    this.method = options.method;
  }
}

const RANGE_TEXT =
  /block range|range (is )?too (large|wide|big)|too many (blocks|results|logs)|returned more than|more than \d+ (results|logs)|response size|exceed(s|ed)? (the )?max(imum)? (block )?range|max(imum)? (block )?range|try with this block range|results? (limit|size) exceeded|log limit|limited to (a )?[\d,]+ (block )?range|too large/i;
const RATE_TEXT = /rate.?limit|too many requests|request limit|exceeded .*(capacity|quota)|throughput|compute units|credits|\b429\b/i;
const TIMEOUT_TEXT = /time(d)? ?out|timeout/i;
const TRANSIENT_TEXT =
  /econnreset|econnrefused|enotfound|eai_again|epipe|socket hang up|fetch failed|other side closed|network|header not found|unknown block|not found|temporar|unavailable|try again|overload|busy|bad gateway|gateway|internal error|\b50[234]\b/i;

interface ErrorFacts {
  status?: number;
  code?: number;
  text: string;
  timeout: boolean;
}

function collectFacts(error: unknown): ErrorFacts {
  const facts: ErrorFacts = { text: "", timeout: false };
  const seen = new Set<unknown>();
  let current: unknown = error;
  while (current && typeof current === "object" && !seen.has(current)) {
    seen.add(current);
    const e = current as {
      name?: string;
      status?: unknown;
      code?: unknown;
      message?: unknown;
      shortMessage?: unknown;
      details?: unknown;
      cause?: unknown;
    };
    if (typeof e.status === "number" && facts.status === undefined) facts.status = e.status;
    if (typeof e.code === "number" && facts.code === undefined) facts.code = e.code;
    if (e.name === "TimeoutError" || e.name === "AbortError") facts.timeout = true;
    if (typeof e.details === "string") facts.text += ` ${e.details}`;
    // viem's full message quotes the request body (hex that could match a pattern): prefer its short message.
    if (typeof e.shortMessage === "string") facts.text += ` ${e.shortMessage}`;
    else if (typeof e.message === "string") facts.text += ` ${e.message}`;
    if (typeof e.code === "string") facts.text += ` ${e.code}`;
    current = e.cause;
  }
  return facts;
}

/** Classifies an error from a JSON-RPC request (viem's errors, fetch errors, or node messages). */
export function classifyRpcError(error: unknown): RpcErrorKind {
  if (error instanceof RpcError) return error.kind;
  const { status, code, text, timeout } = collectFacts(error);
  // A response bigger than the client accepts (viem's ResponseBodyTooLargeError): ask for less.
  if (status === 413 || RANGE_TEXT.test(text) || /exceeded the size limit/i.test(text)) return "range";
  if (status === 429 || RATE_TEXT.test(text)) return "rate_limit";
  if (timeout || status === 408 || TIMEOUT_TEXT.test(text)) return "timeout";
  if (status !== undefined && status >= 500) return "transient";
  if (status === 401 || status === 403 || status === 404) return "fatal";
  // -32005 limit exceeded, -32002 resource unavailable, -32603 internal error, -32000 node-specific (often lag).
  if (code === -32005) return "rate_limit";
  if (code === -32002 || code === -32603) return "transient";
  if (code === -32601 || code === -32602 || code === -32600 || code === -32700) return "fatal";
  if (TRANSIENT_TEXT.test(text)) return "transient";
  // An HTTP failure without a status is a network failure.
  if (status === undefined && /HTTP request failed/i.test(text)) return "transient";
  return "fatal";
}

export interface BlockHeader {
  number: number;
  hash: Hex;
  parentHash: Hex;
  timestamp: number;
  /** Bloom filter of the addresses and topics of the block's logs. */
  logsBloom: Hex;
}

export interface RpcRequestInfo {
  method: string;
  /** Index of the URL in rpcUrls. */
  urlIndex: number;
  durationMs: number;
  error?: RpcErrorKind;
}

export interface ChainClientOptions {
  rpcUrls: string[];
  /** Per request, in milliseconds. */
  requestTimeoutMs?: number;
  /** Attempts after the first one for retryable failures. */
  maxRetries?: number;
  retryBaseDelayMs?: number;
  retryMaxDelayMs?: number;
  /** Block headers fetched in parallel (each a JSON-RPC batch member). */
  headerConcurrency?: number;
  /** Largest response accepted; a larger eth_getLogs answer counts as a refused range. */
  maxResponseBytes?: number;
  logger?: Logger;
  /** Called after every attempt, successful or not (for metrics). */
  onRequest?: (info: RpcRequestInfo) => void;
  random?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

export interface ChainClient {
  /** The RPC URLs with credentials removed, for logs. */
  readonly redactedUrls: string[];
  getChainId(): Promise<number>;
  getBlockNumber(): Promise<number>;
  /** eth_getLogs of several addresses; a refused range throws RpcError kind "range" (or "timeout") without retry. */
  getLogs(params: { addresses: Address[]; fromBlock: number; toBlock: number }): Promise<RpcLog[]>;
  /** eth_getLogs of one block by its hash: a node that does not have that block fails instead of answering []. */
  getBlockLogs(params: { addresses: Address[]; blockHash: Hex }): Promise<RpcLog[]>;
  getBlockHeader(blockNumber: number): Promise<BlockHeader>;
  getBlockHeaders(blockNumbers: number[]): Promise<BlockHeader[]>;
  /** Builds fresh viem clients and moves to the next URL (the watchdog calls it when the head stops moving). */
  recreate(reason: string): void;
  /**
   * Changes whenever requests move to another URL: work that must come from one node (logs and the headers that
   * vouch for them) compares it before and after.
   */
  readonly endpointGeneration: number;
}

const toHex = (value: number) => `0x${value.toString(16)}` as Hex;
const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * JSON-RPC over one or more HTTP URLs with fallback: each attempt goes to the current URL, a retryable failure moves
 * to the next one and backs off exponentially with full jitter (longer for rate limits). Credentials in URLs never
 * reach a message or a log.
 */
export function createChainClient(options: ChainClientOptions): ChainClient {
  if (options.rpcUrls.length === 0) throw new ConfigError("at least one RPC URL is needed");
  for (const url of options.rpcUrls) {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new ConfigError(`RPC URL ${redactUrl(url)} is not a URL`);
    }
    if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
      throw new ConfigError(`RPC URL ${redactUrl(url)}: only http(s) URLs are supported`);
    }
  }
  const timeout = options.requestTimeoutMs ?? 30_000;
  const maxRetries = options.maxRetries ?? 6;
  const baseDelayMs = options.retryBaseDelayMs ?? 250;
  const maxDelayMs = options.retryMaxDelayMs ?? 30_000;
  const headerConcurrency = options.headerConcurrency ?? 64;
  const maxResponseBodySize = options.maxResponseBytes ?? 32 * 2 ** 20;
  const random = options.random ?? Math.random;
  const sleep = options.sleep ?? defaultSleep;
  const redactedUrls = options.rpcUrls.map(redactUrl);

  interface Endpoint {
    plain: PublicClient;
    batched: PublicClient;
  }
  const build = (): Endpoint[] =>
    options.rpcUrls.map((url) => ({
      plain: createPublicClient({ transport: http(url, { timeout, retryCount: 0, maxResponseBodySize }) }),
      // Headers go in JSON-RPC batches: a few hundred getBlock calls cost a few round trips.
      batched: createPublicClient({
        transport: http(url, { timeout, retryCount: 0, maxResponseBodySize, batch: { batchSize: 100, wait: 0 } }),
      }),
    }));
  let endpoints = build();
  let current = 0;
  let generation = 0;
  const moveTo = (index: number) => {
    if (index !== current) generation += 1;
    current = index;
  };

  const describe = (error: unknown): string => {
    const message = error instanceof BaseError ? (error.details || error.shortMessage) : (error as Error)?.message;
    return redactUrlsIn(String(message ?? error)).slice(0, 300);
  };

  async function request<T>(method: string, params: unknown[], settings: { batched?: boolean; noRetry?: RpcErrorKind[] } = {}): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      const urlIndex = current;
      const endpoint = endpoints[urlIndex];
      const started = performance.now();
      try {
        const client = settings.batched ? endpoint.batched : endpoint.plain;
        const result = (await client.request({ method, params } as never)) as T;
        options.onRequest?.({ method, urlIndex, durationMs: performance.now() - started });
        return result;
      } catch (error) {
        const kind = classifyRpcError(error);
        options.onRequest?.({ method, urlIndex, durationMs: performance.now() - started, error: kind });
        const message = `${method} via ${redactedUrls[urlIndex]}: ${describe(error)}`;
        if (kind === "fatal" || settings.noRetry?.includes(kind) || attempt >= maxRetries) {
          throw new RpcError(message, { kind, method, cause: error });
        }
        if (endpoints.length > 1) moveTo((urlIndex + 1) % endpoints.length);
        const ceiling = Math.min(maxDelayMs, baseDelayMs * 2 ** attempt * (kind === "rate_limit" ? 4 : 1));
        const delayMs = Math.round(random() * ceiling);
        options.logger?.warn({ msg: "rpc retry", method, kind, attempt: attempt + 1, delayMs, error: message });
        await sleep(delayMs);
      }
    }
  }

  const parseHeader = (blockNumber: number, raw: { number: Hex; hash: Hex; parentHash: Hex; timestamp: Hex; logsBloom: Hex } | null): BlockHeader => {
    if (!raw) {
      // A node behind the others (or a pending reorg) does not have the block yet.
      throw new RpcError(`block ${blockNumber} not found`, { kind: "transient", method: "eth_getBlockByNumber" });
    }
    return {
      number: Number.parseInt(raw.number, 16),
      hash: raw.hash,
      parentHash: raw.parentHash,
      timestamp: Number.parseInt(raw.timestamp, 16),
      logsBloom: raw.logsBloom,
    };
  };

  const getBlockHeader = async (blockNumber: number, batched = false): Promise<BlockHeader> => {
    for (let attempt = 0; ; attempt++) {
      const raw = await request<Parameters<typeof parseHeader>[1]>("eth_getBlockByNumber", [toHex(blockNumber), false], { batched });
      try {
        return parseHeader(blockNumber, raw);
      } catch (error) {
        if (attempt >= maxRetries) throw error;
        await sleep(Math.round(random() * Math.min(maxDelayMs, baseDelayMs * 2 ** attempt)));
      }
    }
  };

  return {
    redactedUrls,
    async getChainId() {
      return Number.parseInt(await request<Hex>("eth_chainId", []), 16);
    },
    async getBlockNumber() {
      return Number.parseInt(await request<Hex>("eth_blockNumber", []), 16);
    },
    getLogs({ addresses, fromBlock, toBlock }) {
      return request<RpcLog[]>("eth_getLogs", [{ address: addresses, fromBlock: toHex(fromBlock), toBlock: toHex(toBlock) }], {
        noRetry: ["range", "timeout"],
      });
    },
    getBlockLogs({ addresses, blockHash }) {
      return request<RpcLog[]>("eth_getLogs", [{ address: addresses, blockHash }]);
    },
    getBlockHeader: (blockNumber) => getBlockHeader(blockNumber),
    async getBlockHeaders(blockNumbers) {
      const headers: BlockHeader[] = new Array(blockNumbers.length);
      let next = 0;
      const worker = async () => {
        while (next < blockNumbers.length) {
          const index = next++;
          headers[index] = await getBlockHeader(blockNumbers[index], true);
        }
      };
      await Promise.all(Array.from({ length: Math.min(headerConcurrency, blockNumbers.length) }, worker));
      return headers;
    },
    get endpointGeneration() {
      return generation;
    },
    recreate(reason) {
      endpoints = build();
      generation += 1;
      if (endpoints.length > 1) moveTo((current + 1) % endpoints.length);
      options.logger?.warn({ msg: "rpc clients recreated", reason, url: redactedUrls[current] });
    },
  };
}

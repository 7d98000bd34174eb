import http from "node:http";
import type { AddressInfo } from "node:net";

interface JsonRpcRequest {
  jsonrpc: "2.0";
  id: number | string;
  method: string;
  params?: unknown[];
}

export interface FaultRules {
  /** eth_getLogs over more blocks than this gets a "range too large" JSON-RPC error. */
  maxLogsRange?: number;
  /** Every Nth HTTP request is answered 429. */
  rateLimitEvery?: number;
  /** Every Nth HTTP request gets a 503. */
  unavailableEvery?: number;
  /** Every Nth HTTP request has its connection destroyed without an answer. */
  resetEvery?: number;
  /** Every Nth HTTP request is answered after this many milliseconds (longer than the client's timeout). */
  slowEvery?: number;
  slowMs?: number;
  /** eth_blockNumber answers this many blocks below the real head (a lagging node). */
  headLagBlocks?: number;
  /** Only the first this many eth_blockNumber answers lag (a load balancer that sent them to a lagging member). */
  headLagAnswers?: number;
  /**
   * eth_getLogs is answered by a backend this many blocks behind the head (a load balancer's lagging member): logs of
   * the newest blocks are left out without an error, and a query by the hash of such a block fails as unknown.
   */
  logsLagBlocks?: number;
}

export interface FaultProxy {
  url: string;
  rules: FaultRules;
  counts: { requests: number; rateLimited: number; rangeRefused: number; unavailable: number; reset: number; slow: number; logsLagged: number; headAnswers: number };
  close(): Promise<void>;
}

/**
 * A JSON-RPC proxy on 127.0.0.1 in front of a real node that misbehaves like public endpoints do: refuses wide
 * eth_getLogs ranges, rate-limits, fails with 503, drops connections, answers late, or lags behind the head.
 */
export async function startFaultProxy(targetUrl: string, rules: FaultRules = {}): Promise<FaultProxy> {
  const counts = { requests: 0, rateLimited: 0, rangeRefused: 0, unavailable: 0, reset: 0, slow: 0, logsLagged: 0, headAnswers: 0 };
  const forward = async (body: string): Promise<string> => {
    const response = await fetch(targetUrl, { method: "POST", headers: { "content-type": "application/json" }, body });
    return response.text();
  };
  const every = (n: number | undefined) => n !== undefined && n > 0 && counts.requests % n === 0;

  const laggingBackendHead = async (): Promise<number> => {
    const reply = JSON.parse(await forward(JSON.stringify({ jsonrpc: "2.0", id: 0, method: "eth_blockNumber", params: [] }))) as { result: string };
    return Number.parseInt(reply.result, 16) - (rules.logsLagBlocks ?? 0);
  };

  const answer = async (request: JsonRpcRequest): Promise<unknown> => {
    if (request.method === "eth_getLogs" && rules.logsLagBlocks) {
      const ownHead = await laggingBackendHead();
      const filter = (request.params?.[0] ?? {}) as { blockHash?: string };
      const reply = JSON.parse(await forward(JSON.stringify(request))) as { result?: Array<{ blockNumber: string }> };
      if (filter.blockHash !== undefined) {
        const block = JSON.parse(
          await forward(JSON.stringify({ jsonrpc: "2.0", id: 0, method: "eth_getBlockByHash", params: [filter.blockHash, false] })),
        ) as { result: { number: string } | null };
        if (!block.result || Number.parseInt(block.result.number, 16) > ownHead) {
          counts.logsLagged += 1;
          return { jsonrpc: "2.0", id: request.id, error: { code: -32000, message: `unknown block ${filter.blockHash}` } };
        }
        return reply;
      }
      if (Array.isArray(reply.result)) {
        const kept = reply.result.filter((log) => Number.parseInt(log.blockNumber, 16) <= ownHead);
        if (kept.length < reply.result.length) counts.logsLagged += 1;
        reply.result = kept;
      }
      return reply;
    }
    if (request.method === "eth_getLogs" && rules.maxLogsRange !== undefined) {
      const filter = (request.params?.[0] ?? {}) as { fromBlock?: string; toBlock?: string };
      const span = Number.parseInt(filter.toBlock ?? "0x0", 16) - Number.parseInt(filter.fromBlock ?? "0x0", 16) + 1;
      if (span > rules.maxLogsRange) {
        counts.rangeRefused += 1;
        return {
          jsonrpc: "2.0",
          id: request.id,
          error: { code: -32005, message: `query returned more than 10000 results; block range is too large, max ${rules.maxLogsRange}` },
        };
      }
    }
    const reply = JSON.parse(await forward(JSON.stringify(request))) as { result?: unknown };
    if (request.method === "eth_blockNumber") counts.headAnswers += 1;
    const lagging = rules.headLagAnswers === undefined || counts.headAnswers <= rules.headLagAnswers;
    if (request.method === "eth_blockNumber" && rules.headLagBlocks && lagging && typeof reply.result === "string") {
      reply.result = `0x${Math.max(0, Number.parseInt(reply.result, 16) - rules.headLagBlocks).toString(16)}`;
    }
    return reply;
  };

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", async () => {
      counts.requests += 1;
      try {
        if (every(rules.resetEvery)) {
          counts.reset += 1;
          req.socket.destroy();
          return;
        }
        if (every(rules.rateLimitEvery)) {
          counts.rateLimited += 1;
          res.writeHead(429, { "content-type": "text/plain", "retry-after": "0" });
          res.end("Too Many Requests");
          return;
        }
        if (every(rules.unavailableEvery)) {
          counts.unavailable += 1;
          res.writeHead(503, { "content-type": "text/plain" });
          res.end("Service Unavailable");
          return;
        }
        if (every(rules.slowEvery)) {
          counts.slow += 1;
          await new Promise((resolve) => setTimeout(resolve, rules.slowMs ?? 5000));
        }
        const parsed = JSON.parse(Buffer.concat(chunks).toString("utf8")) as JsonRpcRequest | JsonRpcRequest[];
        const reply = Array.isArray(parsed) ? await Promise.all(parsed.map(answer)) : await answer(parsed);
        if (res.destroyed) return;
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify(reply));
      } catch (error) {
        if (res.destroyed || res.headersSent) return;
        res.writeHead(502, { "content-type": "text/plain" });
        res.end(String(error));
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    rules,
    counts,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

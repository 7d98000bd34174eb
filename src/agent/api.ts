import fs from "node:fs";
import http from "node:http";
import path from "node:path";
import { keccak256, recoverTypedDataAddress, type Address, type Hex } from "viem";
import { RECEIPT_DOMAIN, USAGE_RECEIPT_TYPES } from "../protocol";
import type { Logger } from "../internal/logger";
import { parseTar, sha256Hex } from "./archive";
import { MAX_REQUEST_SKEW_SECONDS, NONCE_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, recoverAgentRequestSigner } from "./auth";
import type { AgentMetrics } from "./metrics";
import { jobPaths } from "./runner";
import { SpecError, canonicalJson, isSafeRelativePath, specHash, validateSpec, type JobSpec } from "./spec";
import type { AgentJobRow, AgentState } from "./state";

/** The agent's HTTP API (README "Provider agent"): JSON errors with a code, signed requests, bounded bodies. */

export const MAX_BODY_BYTES = 64 * 1024;
/** At most this much of a job's log per response; the client asks again from the next offset. */
const MAX_LOG_CHUNK_BYTES = 1024 * 1024;
const MAX_LOG_STREAMS = 32;
const LOG_POLL_MS = 250;

export interface AgentApiOptions {
  state: AgentState;
  log: Logger;
  metrics: AgentMetrics;
  domain: { chainId: number; verifyingContract: Address };
  provider: Address;
  jobsDir: string;
  metadata: () => Record<string, unknown>;
  policyRefusal: (spec: JobSpec) => string | null;
  nowSeconds?: () => number;
}

class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

function send(response: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body, (_key, value) => (typeof value === "bigint" ? value.toString() : value));
  response.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text), ...headers });
  response.end(text);
}

function readBody(request: http.IncomingMessage): Promise<Buffer> {
  const declared = Number(request.headers["content-length"] ?? 0);
  if (declared > MAX_BODY_BYTES) return Promise.reject(new ApiError(413, "BODY_TOO_LARGE", `the body may have at most ${MAX_BODY_BYTES} bytes; this one declares ${declared}`));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    request.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        reject(new ApiError(413, "BODY_TOO_LARGE", `the body may have at most ${MAX_BODY_BYTES} bytes`));
        request.removeAllListeners("data");
        request.resume();
        return;
      }
      chunks.push(chunk);
    });
    request.on("end", () => resolve(Buffer.concat(chunks)));
    request.on("error", reject);
  });
}

function jobView(job: AgentJobRow, gpus: number[]) {
  return {
    jobId: job.job_id,
    status: job.status,
    reason: job.reason,
    offerId: job.offer_id,
    client: job.client,
    gpus,
    specHash: job.spec_hash,
    specReceived: job.spec_json !== null,
    acceptDeadline: job.accept_deadline,
    acceptedAt: job.accepted_at,
    startedAt: job.started_at_ms === null ? null : Math.floor(job.started_at_ms / 1000),
    finishedAt: job.finished_at_ms === null ? null : Math.floor(job.finished_at_ms / 1000),
    completedAt: job.completed_at,
    exit: job.exit_json === null ? null : JSON.parse(job.exit_json),
    resultHash: job.result_hash,
  };
}

export function createAgentApi(options: AgentApiOptions): http.Server {
  const { state, log, metrics } = options;
  const nowSeconds = options.nowSeconds ?? (() => Math.floor(Date.now() / 1000));

  async function authorize(request: http.IncomingMessage, signedPath: string, jobId: string, body: Buffer): Promise<AgentJobRow> {
    const job = state.job(jobId);
    if (!job) throw new ApiError(404, "JOB_UNKNOWN", `job ${jobId} is not a job on this provider's offers (or the agent has not seen it yet)`);
    const timestampText = request.headers[TIMESTAMP_HEADER];
    const signature = request.headers[SIGNATURE_HEADER];
    const nonce = request.headers[NONCE_HEADER];
    if (
      typeof timestampText !== "string" ||
      !/^\d{1,12}$/.test(timestampText) ||
      typeof nonce !== "string" ||
      !/^0x[0-9a-fA-F]{64}$/.test(nonce) ||
      typeof signature !== "string" ||
      !/^0x[0-9a-fA-F]{130}$/.test(signature)
    ) {
      throw new ApiError(
        401,
        "SIGNATURE_REQUIRED",
        `sign the request: headers ${TIMESTAMP_HEADER} (unix seconds), ${NONCE_HEADER} (32 random bytes, 0x hex) and ${SIGNATURE_HEADER} (EIP-712 AgentRequest by the job's client)`,
      );
    }
    const timestamp = Number(timestampText);
    const now = nowSeconds();
    if (Math.abs(now - timestamp) > MAX_REQUEST_SKEW_SECONDS) {
      throw new ApiError(401, "TIMESTAMP_STALE", `the request's timestamp ${timestamp} is ${now - timestamp} s from the agent's clock ${now}; at most ${MAX_REQUEST_SKEW_SECONDS} s is accepted`);
    }
    let signer: Address;
    try {
      signer = await recoverAgentRequestSigner(options.domain, { method: request.method ?? "", path: signedPath, jobId: BigInt(jobId), body, timestamp: BigInt(timestamp), nonce: nonce as Hex }, signature as Hex);
    } catch {
      throw new ApiError(401, "SIGNATURE_INVALID", "the signature cannot be recovered");
    }
    if (signer.toLowerCase() !== job.client.toLowerCase()) {
      throw new ApiError(403, "NOT_CLIENT", `the request is signed by ${signer}, not by the job's client ${job.client}`);
    }
    // Only signatures that verify are remembered, so strangers cannot fill the table.
    if (!state.useSignature(keccak256(signature as Hex), timestamp + MAX_REQUEST_SKEW_SECONDS, now)) {
      throw new ApiError(401, "REPLAYED", "this signed request was already served; sign a new one");
    }
    return job;
  }

  function resultOf(job: AgentJobRow) {
    if (!job.result_hash) throw new ApiError(409, "RESULT_NOT_READY", `job ${job.job_id} has no result yet (status ${job.status})`);
    const archivePath = jobPaths(path.join(options.jobsDir, job.job_id)).archive;
    const archive = fs.readFileSync(archivePath);
    return { archive, archivePath, entries: parseTar(archive) };
  }

  async function route(request: http.IncomingMessage, response: http.ServerResponse): Promise<string> {
    const url = new URL(request.url ?? "/", "http://agent.invalid");
    const pathname = url.pathname;
    const method = request.method ?? "GET";
    if (method === "GET" && pathname === "/health") {
      send(response, 200, { ok: true, provider: options.provider, chainId: options.domain.chainId });
      return "health";
    }
    if (method === "GET" && pathname === "/metadata") {
      send(response, 200, options.metadata());
      return "metadata";
    }
    if (method === "GET" && pathname === "/metrics") {
      const text = await metrics.registry.metrics();
      response.writeHead(200, { "content-type": metrics.registry.contentType });
      response.end(text);
      return "metrics";
    }
    const match = /^\/jobs\/([^/]+)(\/spec|\/receipts|\/logs|\/result|\/result\/archive|\/result\/files\/(.+))?$/.exec(pathname);
    if (!match) throw new ApiError(404, "NOT_FOUND", `no route ${method} ${pathname}`);
    const [, jobId, tail = "", filePath] = match;
    if (!/^[1-9]\d{0,77}$/.test(jobId!)) throw new ApiError(400, "BAD_JOB_ID", `"${jobId}" is not a job id`);
    const routeName = tail.startsWith("/result/files/") ? "result_file" : tail.slice(1).replace("/", "_") || "job";
    const wanted = tail === "/spec" || tail === "/receipts" ? "POST" : "GET";
    if (method !== wanted) throw new ApiError(405, "METHOD_NOT_ALLOWED", `${pathname} takes ${wanted}`);
    const body = method === "POST" ? await readBody(request) : Buffer.alloc(0);
    const job = await authorize(request, pathname + url.search, jobId!, body);

    switch (routeName) {
      case "spec": {
        let parsed: unknown;
        try {
          parsed = JSON.parse(body.toString("utf8"));
        } catch (error) {
          throw new ApiError(400, "BAD_JSON", `the spec is not JSON: ${(error as Error).message}`);
        }
        let hash: Hex;
        try {
          hash = specHash(parsed);
        } catch (error) {
          throw new ApiError(422, "SPEC_INVALID", (error as Error).message);
        }
        if (hash.toLowerCase() !== job.spec_hash.toLowerCase()) {
          log.warn({ msg: "spec refused: hash mismatch", jobId, specHash: hash, onChain: job.spec_hash });
          throw new ApiError(409, "SPEC_HASH_MISMATCH", `the spec hashes to ${hash} but job ${jobId} was created with specHash ${job.spec_hash}`);
        }
        let spec: JobSpec;
        try {
          spec = validateSpec(parsed);
        } catch (error) {
          if (error instanceof SpecError) throw new ApiError(422, "SPEC_INVALID", error.message);
          throw error;
        }
        const refusal = options.policyRefusal(spec);
        if (refusal) throw new ApiError(422, "POLICY_REFUSED", refusal);
        if (job.spec_json === null) {
          if (job.status !== "waiting_spec") throw new ApiError(409, "JOB_NOT_WAITING", `job ${jobId} is ${job.status}; it takes no spec now`);
          state.updateJob(jobId!, { spec_json: canonicalJson(spec) });
          log.info({ msg: "spec received", jobId, specHash: hash });
        }
        send(response, 202, { jobId, specHash: hash, status: state.job(jobId!)!.status });
        return routeName;
      }
      case "receipts": {
        let parsed: { servedUntil?: unknown; signature?: unknown };
        try {
          parsed = JSON.parse(body.toString("utf8"));
        } catch (error) {
          throw new ApiError(400, "BAD_JSON", `the receipt is not JSON: ${(error as Error).message}`);
        }
        const servedUntilText = String(parsed?.servedUntil ?? "");
        if (!/^\d{1,12}$/.test(servedUntilText)) throw new ApiError(422, "RECEIPT_INVALID", "servedUntil must be unix seconds");
        if (typeof parsed.signature !== "string" || !/^0x[0-9a-fA-F]{130}$/.test(parsed.signature)) throw new ApiError(422, "RECEIPT_INVALID", "signature must be a 65-byte 0x signature");
        const servedUntil = Number(servedUntilText);
        let signer: Address;
        try {
          signer = await recoverTypedDataAddress({
            domain: { ...RECEIPT_DOMAIN, ...options.domain },
            types: USAGE_RECEIPT_TYPES,
            primaryType: "UsageReceipt",
            message: { jobId: BigInt(jobId!), servedUntil: BigInt(servedUntil) },
            signature: parsed.signature as Hex,
          });
        } catch {
          throw new ApiError(422, "RECEIPT_INVALID", "the receipt's signature cannot be recovered");
        }
        if (signer.toLowerCase() !== job.client.toLowerCase()) {
          throw new ApiError(422, "RECEIPT_INVALID", `the receipt is signed by ${signer}, not by the job's client ${job.client}`);
        }
        if (servedUntil > (job.receipt_served_until ?? 0)) {
          state.updateJob(jobId!, { receipt_served_until: servedUntil, receipt_signature: parsed.signature });
          log.info({ msg: "usage receipt received", jobId, servedUntil });
        }
        send(response, 202, { jobId, servedUntil: Math.max(servedUntil, job.receipt_served_until ?? 0) });
        return routeName;
      }
      case "job":
        send(response, 200, jobView(job, state.gpusOf(jobId!)));
        return routeName;
      case "logs": {
        const offsetText = url.searchParams.get("offset") ?? "0";
        if (!/^\d{1,15}$/.test(offsetText)) throw new ApiError(400, "BAD_OFFSET", `offset "${offsetText}" is not a byte offset`);
        const logFile = jobPaths(path.join(options.jobsDir, jobId!)).logs;
        if (/text\/event-stream/.test(request.headers.accept ?? "")) {
          streamLogs(request, response, jobId!, logFile, Number(offsetText));
          return "logs_stream";
        }
        const size = fs.existsSync(logFile) ? fs.statSync(logFile).size : 0;
        const offset = Math.min(Number(offsetText), size);
        const length = Math.min(size - offset, MAX_LOG_CHUNK_BYTES);
        const chunk = Buffer.alloc(length);
        if (length > 0) {
          const fd = fs.openSync(logFile, "r");
          try {
            fs.readSync(fd, chunk, 0, length, offset);
          } finally {
            fs.closeSync(fd);
          }
        }
        response.writeHead(200, { "content-type": "text/plain; charset=utf-8", "x-gpumesh-log-size": String(size), "x-gpumesh-log-next-offset": String(offset + length) });
        response.end(chunk);
        return routeName;
      }
      case "result": {
        const { archive, entries } = resultOf(job);
        send(response, 200, {
          jobId,
          resultHash: job.result_hash,
          archiveBytes: archive.length,
          files: entries.map((entry) => ({ path: entry.path, bytes: entry.data.length, sha256: sha256Hex(entry.data) })),
          exit: job.exit_json === null ? null : JSON.parse(job.exit_json),
        });
        return routeName;
      }
      case "result_archive": {
        const { archive } = resultOf(job);
        response.writeHead(200, { "content-type": "application/x-tar", "content-length": archive.length, "x-gpumesh-result-hash": job.result_hash! });
        response.end(archive);
        return routeName;
      }
      case "result_file": {
        let wantedPath: string;
        try {
          wantedPath = decodeURIComponent(filePath!);
        } catch {
          throw new ApiError(400, "BAD_PATH", "the file path is not valid percent-encoding");
        }
        if (!isSafeRelativePath(wantedPath)) throw new ApiError(400, "BAD_PATH", `"${wantedPath}" leaves the job's outputs`);
        const entry = resultOf(job).entries.find((candidate) => candidate.path === wantedPath);
        if (!entry) throw new ApiError(404, "NO_SUCH_FILE", `the result of job ${jobId} has no file ${wantedPath}`);
        response.writeHead(200, { "content-type": "application/octet-stream", "content-length": entry.data.length, "x-gpumesh-sha256": sha256Hex(entry.data) });
        response.end(entry.data);
        return routeName;
      }
    }
    throw new ApiError(404, "NOT_FOUND", `no route ${method} ${pathname}`);
  }

  let openStreams = 0;
  /**
   * Server-sent events of a job's log from `offset`: `event: log` with the text as a JSON string and the next offset as
   * the event id (a client reconnects from there), then `event: end` once the workload is over and all was sent.
   */
  function streamLogs(request: http.IncomingMessage, response: http.ServerResponse, jobId: string, logFile: string, offset: number): void {
    if (openStreams >= MAX_LOG_STREAMS) throw new ApiError(503, "TOO_MANY_STREAMS", `at most ${MAX_LOG_STREAMS} log streams at once; poll with ?offset= instead`);
    openStreams++;
    response.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-store", connection: "keep-alive" });
    let position = offset;
    let timer: NodeJS.Timeout | undefined;
    let closed = false;
    const finish = () => {
      if (closed) return;
      closed = true;
      clearTimeout(timer);
      openStreams--;
    };
    // Fires when the stream ends and when the client goes away.
    response.once("close", finish);
    const pump = () => {
      if (closed) return;
      const size = fs.existsSync(logFile) ? fs.statSync(logFile).size : 0;
      while (position < size) {
        const length = Math.min(size - position, 64 * 1024);
        const chunk = Buffer.alloc(length);
        const fd = fs.openSync(logFile, "r");
        try {
          fs.readSync(fd, chunk, 0, length, position);
        } finally {
          fs.closeSync(fd);
        }
        position += length;
        response.write(`event: log\nid: ${position}\ndata: ${JSON.stringify(chunk.toString("utf8"))}\n\n`);
      }
      const status = state.job(jobId)?.status;
      if (status !== "waiting_spec" && status !== "preparing" && status !== "running") {
        response.end(`event: end\ndata: ${JSON.stringify({ status })}\n\n`);
        finish();
        return;
      }
      timer = setTimeout(pump, LOG_POLL_MS);
    };
    timer = setTimeout(pump, 0);
  }

  const server = http.createServer((request, response) => {
    request.on("error", () => undefined);
    route(request, response)
      .then((name) => metrics.requests.inc({ route: name, status: String(response.statusCode) }))
      .catch((error) => {
        const apiError = error instanceof ApiError ? error : new ApiError(500, "INTERNAL", "the agent failed to answer; see its log");
        if (!(error instanceof ApiError)) log.error({ msg: "api request failed", url: request.url, error: (error as Error).message });
        metrics.requests.inc({ route: "error", status: String(apiError.status) });
        if (response.headersSent) return void response.destroy();
        // A refused oversize body is not read: close the connection instead of draining it.
        send(response, apiError.status, { error: { code: apiError.code, message: apiError.message } }, apiError.status === 413 ? { connection: "close" } : {});
      });
  });
  server.requestTimeout = 30_000;
  server.headersTimeout = 10_000;
  server.on("clientError", (_error, socket) => {
    if (socket.writable) socket.end("HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\nconnection: close\r\n\r\n" + JSON.stringify({ error: { code: "BAD_REQUEST", message: "malformed HTTP request" } }));
    else socket.destroy();
  });
  return server;
}

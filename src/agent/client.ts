import { createHash } from "node:crypto";
import type { Address, Hex, LocalAccount } from "viem";
import { RECEIPT_DOMAIN, USAGE_RECEIPT_TYPES } from "../protocol";
import { parseTar, type ArchiveEntry } from "./archive";
import { signAgentRequest } from "./auth";
import { GpuMeshError } from "../internal/errors";

/**
 * The client's side of the agent's HTTP API, for `gpumesh client run` and tests: every request signed by the job's
 * client, errors turned into AgentApiError with the agent's code, and results verified against the on-chain hash.
 */

export class AgentApiError extends GpuMeshError {
  constructor(
    readonly status: number,
    code: string,
    message: string,
  ) {
    super(`agent answered ${status} ${code}: ${message}`, { code, retryable: status >= 500 });
    this.name = "AgentApiError";
  }
}

export interface AgentClientOptions {
  apiUrl: string;
  account: LocalAccount;
  chainId: number;
  market: Address;
}

export interface VerifiedResult {
  resultHash: Hex;
  files: ArchiveEntry[];
  exit: Record<string, unknown> | null;
}

export function createAgentClient(options: AgentClientOptions) {
  const domain = { chainId: options.chainId, verifyingContract: options.market };
  const base = options.apiUrl.replace(/\/$/, "");

  async function request(method: "GET" | "POST", jobId: bigint, pathname: string, body?: unknown, accept?: string): Promise<Response> {
    const text = body === undefined ? "" : JSON.stringify(body);
    const headers = await signAgentRequest(options.account, domain, { method, path: pathname, jobId, body: new TextEncoder().encode(text) });
    const response = await fetch(`${base}${pathname}`, {
      method,
      headers: { ...headers, ...(method === "POST" ? { "content-type": "application/json" } : {}), ...(accept ? { accept } : {}) },
      body: method === "POST" ? text : undefined,
    });
    if (!response.ok) {
      const error = (await response.json().catch(() => ({}))) as { error?: { code?: string; message?: string } };
      throw new AgentApiError(response.status, error.error?.code ?? "HTTP", error.error?.message ?? response.statusText);
    }
    return response;
  }

  return {
    /** Delivers the spec; the agent refuses it unless its canonical keccak256 is the job's specHash. */
    async deliverSpec(jobId: bigint, spec: unknown) {
      return (await (await request("POST", jobId, `/jobs/${jobId}/spec`, spec)).json()) as { jobId: string; specHash: Hex; status: string };
    },
    async status(jobId: bigint) {
      return (await (await request("GET", jobId, `/jobs/${jobId}`)).json()) as Record<string, unknown> & { status: string };
    },
    /** The log from `offset` and the offset to ask from next. */
    async logs(jobId: bigint, offset = 0) {
      const response = await request("GET", jobId, `/jobs/${jobId}/logs?offset=${offset}`);
      return { text: await response.text(), nextOffset: Number(response.headers.get("x-gpumesh-log-next-offset") ?? offset) };
    },
    /** Signs a usage receipt over JobMarket's EIP-712 domain and hands it to the agent. */
    async sendReceipt(jobId: bigint, servedUntil: bigint) {
      const signature = await options.account.signTypedData({
        domain: { ...RECEIPT_DOMAIN, ...domain },
        types: USAGE_RECEIPT_TYPES,
        primaryType: "UsageReceipt",
        message: { jobId, servedUntil },
      });
      return (await (await request("POST", jobId, `/jobs/${jobId}/receipts`, { servedUntil: servedUntil.toString(), signature })).json()) as { servedUntil: number };
    },
    /** Downloads the result archive and checks its sha256 against the job's on-chain resultHash before unpacking it. */
    async fetchResult(jobId: bigint, onChainResultHash: Hex): Promise<VerifiedResult> {
      const archive = Buffer.from(await (await request("GET", jobId, `/jobs/${jobId}/result/archive`)).arrayBuffer());
      const resultHash = `0x${createHash("sha256").update(archive).digest("hex")}` as Hex;
      if (resultHash.toLowerCase() !== onChainResultHash.toLowerCase()) {
        throw new GpuMeshError(`the result of job ${jobId} hashes to ${resultHash}, not to the on-chain resultHash ${onChainResultHash}: do not use it; dispute the job`, {
          code: "RESULT_MISMATCH",
        });
      }
      const files = parseTar(archive);
      const exitEntry = files.find((entry) => entry.path === "exit.json");
      return { resultHash, files: files.filter((entry) => entry !== exitEntry), exit: exitEntry ? JSON.parse(exitEntry.data.toString("utf8")) : null };
    },
  };
}

export type AgentClient = ReturnType<typeof createAgentClient>;

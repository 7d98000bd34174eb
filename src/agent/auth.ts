import { randomBytes } from "node:crypto";
import { bytesToHex, keccak256, recoverTypedDataAddress, type Address, type Hex, type LocalAccount } from "viem";

/**
 * Signed requests to the agent's HTTP API: the job's client signs, with EIP-712, the method, the path with its query
 * string, the job id, keccak256 of the raw body, a timestamp and a random nonce. The agent refuses an old or future timestamp, a
 * signer other than the job's client, and a signature it has already served.
 */

export const AGENT_REQUEST_DOMAIN = { name: "GPU Mesh Agent", version: "1" } as const;
export const AGENT_REQUEST_TYPES = {
  AgentRequest: [
    { name: "method", type: "string" },
    { name: "path", type: "string" },
    { name: "jobId", type: "uint256" },
    { name: "bodyHash", type: "bytes32" },
    { name: "timestamp", type: "uint64" },
    { name: "nonce", type: "bytes32" },
  ],
} as const;
export const TIMESTAMP_HEADER = "x-gpumesh-timestamp";
export const SIGNATURE_HEADER = "x-gpumesh-signature";
export const NONCE_HEADER = "x-gpumesh-nonce";
/** How far a request's timestamp may be from the agent's clock, either way. */
export const MAX_REQUEST_SKEW_SECONDS = 300;

export interface AgentRequestFields {
  method: string;
  path: string;
  jobId: bigint;
  body: Uint8Array;
  timestamp: bigint;
  /** Random per request: two identical requests in the same second are still two signatures. */
  nonce: Hex;
}

function typedData(domain: { chainId: number; verifyingContract: Address }, request: AgentRequestFields) {
  return {
    domain: { ...AGENT_REQUEST_DOMAIN, ...domain },
    types: AGENT_REQUEST_TYPES,
    primaryType: "AgentRequest" as const,
    message: {
      method: request.method.toUpperCase(),
      path: request.path,
      jobId: request.jobId,
      bodyHash: keccak256(request.body),
      timestamp: request.timestamp,
      nonce: request.nonce,
    },
  };
}

/** The headers a client sends with a request about one of its jobs. */
export async function signAgentRequest(
  account: LocalAccount,
  domain: { chainId: number; verifyingContract: Address },
  request: Omit<AgentRequestFields, "timestamp" | "nonce"> & { timestamp?: bigint; nonce?: Hex },
): Promise<Record<string, string>> {
  const timestamp = request.timestamp ?? BigInt(Math.floor(Date.now() / 1000));
  const nonce = request.nonce ?? bytesToHex(randomBytes(32));
  const signature = await account.signTypedData(typedData(domain, { ...request, timestamp, nonce }));
  return { [TIMESTAMP_HEADER]: timestamp.toString(), [NONCE_HEADER]: nonce, [SIGNATURE_HEADER]: signature };
}

/** Who signed the request (viem recovers it; a malformed signature throws). */
export async function recoverAgentRequestSigner(
  domain: { chainId: number; verifyingContract: Address },
  request: AgentRequestFields,
  signature: Hex,
): Promise<Address> {
  return recoverTypedDataAddress({ ...typedData(domain, request), signature });
}

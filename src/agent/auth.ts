import { keccak256, recoverTypedDataAddress, type Address, type Hex, type LocalAccount } from "viem";

/**
 * Signed requests to the agent's HTTP API: the job's client signs, with EIP-712, the method, the path (no query
 * string), the job id, keccak256 of the raw body and a timestamp. The agent refuses an old or future timestamp, a
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
  ],
} as const;
export const TIMESTAMP_HEADER = "x-gpumesh-timestamp";
export const SIGNATURE_HEADER = "x-gpumesh-signature";
/** How far a request's timestamp may be from the agent's clock, either way. */
export const MAX_REQUEST_SKEW_SECONDS = 300;

export interface AgentRequestFields {
  method: string;
  path: string;
  jobId: bigint;
  body: Uint8Array;
  timestamp: bigint;
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
    },
  };
}

/** The headers a client sends with a request about one of its jobs. */
export async function signAgentRequest(
  account: LocalAccount,
  domain: { chainId: number; verifyingContract: Address },
  request: Omit<AgentRequestFields, "timestamp"> & { timestamp?: bigint },
): Promise<Record<string, string>> {
  const timestamp = request.timestamp ?? BigInt(Math.floor(Date.now() / 1000));
  const signature = await account.signTypedData(typedData(domain, { ...request, timestamp }));
  return { [TIMESTAMP_HEADER]: timestamp.toString(), [SIGNATURE_HEADER]: signature };
}

/** Who signed the request (viem recovers it; a malformed signature throws). */
export async function recoverAgentRequestSigner(
  domain: { chainId: number; verifyingContract: Address },
  request: AgentRequestFields,
  signature: Hex,
): Promise<Address> {
  return recoverTypedDataAddress({ ...typedData(domain, request), signature });
}

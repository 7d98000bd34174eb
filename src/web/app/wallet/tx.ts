import { parseEventLogs, type Abi, type Address, type Hash, type PublicClient, type TransactionReceipt, type WalletClient } from "viem";
import { jobMarketAbi, providerStakingAbi } from "../../../chain/abis";
import type { SignerContext } from "../../../cli/lib/context";
import { permitDomain, signPermit, type PermitSignature } from "../../../cli/lib/permit";
import { describeError, type ErrorContext } from "../../../cli/lib/revert";
import type { TokenUnits } from "../../../protocol/units";

/** Where a transaction is, as the page shows it. */
export type TxStatus =
  | { step: "idle" }
  | { step: "signing-permit"; label: string }
  | { step: "signing"; label: string }
  | { step: "pending"; label: string; hash: Hash }
  | { step: "confirmed"; label: string; hash: Hash; blockNumber: bigint }
  | { step: "reverted"; label: string; hash: Hash; message: string }
  | { step: "failed"; label: string; message: string };

export interface Clients {
  publicClient: PublicClient;
  walletClient: WalletClient;
  account: Address;
}

export interface ContractCall {
  label: string;
  address: Address;
  abi: Abi;
  functionName: string;
  args: readonly unknown[];
  /** The token the call pulls, for the sentence of an ERC-20 error raised inside it. */
  token?: TokenUnits;
}

export interface SentCall {
  receipt: TransactionReceipt;
  events: Array<{ eventName: string; args: Record<string, unknown> }>;
}

const EVENTS_ABI = [...jobMarketAbi, ...providerStakingAbi].filter((item) => item.type === "event") as Abi;

/** A failure of any step as the sentence the CLI prints for it (the same REVERT_SENTENCES). */
export function explain(error: unknown, context: ErrorContext, token?: TokenUnits): string {
  return describeError(error, { ...context, token });
}

/**
 * Simulates (a revert is explained before anything is signed), asks the wallet to sign and send, waits for the
 * receipt; reports every step. Returns null when it did not confirm (the status says why).
 */
export async function sendCall(
  clients: Clients,
  call: ContractCall,
  errorContext: ErrorContext,
  onStatus: (status: TxStatus) => void,
): Promise<SentCall | null> {
  const { publicClient, walletClient, account } = clients;
  let hash: Hash;
  onStatus({ step: "signing", label: call.label });
  try {
    const { request } = await publicClient.simulateContract({
      account,
      address: call.address,
      abi: call.abi,
      functionName: call.functionName,
      args: call.args,
    });
    // As the CLI does: estimated at the latest block, mined in the next, so a fifth more gas.
    const gas = await publicClient.estimateContractGas(request as never);
    hash = await walletClient.writeContract({ ...(request as object), account, chain: walletClient.chain, gas: gas + gas / 5n + 10_000n } as never);
  } catch (error) {
    onStatus({ step: "failed", label: call.label, message: explain(error, errorContext, call.token) });
    return null;
  }
  onStatus({ step: "pending", label: call.label, hash });
  try {
    const receipt = await publicClient.waitForTransactionReceipt({ hash });
    if (receipt.status !== "success") {
      onStatus({ step: "reverted", label: call.label, hash, message: "the transaction reverted on chain" });
      return null;
    }
    onStatus({ step: "confirmed", label: call.label, hash, blockNumber: receipt.blockNumber });
    const events = parseEventLogs({ abi: EVENTS_ABI, logs: receipt.logs }).map((log) => ({
      eventName: (log as { eventName: string }).eventName,
      args: (log as { args: Record<string, unknown> }).args,
    }));
    return { receipt, events };
  } catch (error) {
    onStatus({ step: "failed", label: call.label, message: explain(error, errorContext, call.token) });
    return null;
  }
}

/**
 * An EIP-2612 permit for `spender` to pull `value` of `token`, signed in the wallet: the CLI's own permit code
 * (domain from EIP-5267, checked against DOMAIN_SEPARATOR; an hour of chain time), given the wallet as its signer.
 * Null when the token has no permit.
 */
export async function walletPermit(
  clients: Clients,
  chain: SignerContext["chain"],
  token: Address,
  spender: Address,
  value: bigint,
): Promise<PermitSignature | null> {
  const { publicClient, walletClient, account } = clients;
  // permitDomain and signPermit read only these members of a CLI signer.
  const signer = {
    chain,
    publicClient,
    account: {
      address: account,
      signTypedData: (typed: Parameters<WalletClient["signTypedData"]>[0]) => walletClient.signTypedData({ ...typed, account } as never),
    },
    now: async () => (await publicClient.getBlock()).timestamp,
  } as unknown as SignerContext;
  const domain = await permitDomain(signer, token);
  if (!domain) return null;
  return signPermit(signer, token, domain, spender, value);
}

import { parseEventLogs, type Abi, type Address, type Hash, type TransactionReceipt } from "viem";
import { jobMarketAbi, providerStakingAbi } from "../../chain/abis";
import type { ChainContext, SignerContext } from "./context";
import { CliError } from "./errors";
import type { Output } from "./output";
import { describeError } from "./revert";
import type { TokenUnits } from "../../protocol/units";

const eventsAbi = [...jobMarketAbi, ...providerStakingAbi].filter((item) => item.type === "event") as Abi;

export interface DecodedEvent {
  eventName: string;
  address: Address;
  args: Record<string, unknown>;
}

export interface SentTransaction {
  hash: Hash;
  receipt: TransactionReceipt;
  events: DecodedEvent[];
}

export interface ContractCall {
  /** What the transaction does, printed next to its hash: "stake", "create job". */
  label: string;
  address: Address;
  abi: Abi;
  functionName: string;
  args?: readonly unknown[];
  /** The token the call moves, so that ERC-20 errors raised inside it are printed in its units. */
  token?: TokenUnits;
}

/**
 * Simulates the call (a revert is decoded into a sentence before anything is signed), sends it, prints its hash and
 * waits for the receipt. Returns the decoded GPU Mesh events of the receipt.
 */
export async function sendContractTransaction(
  context: SignerContext,
  out: Output,
  call: ContractCall,
): Promise<SentTransaction> {
  const errorContext = { ...context.errorContext, token: call.token };
  let hash: Hash;
  try {
    const { request } = await context.publicClient.simulateContract({
      account: context.account,
      address: call.address,
      abi: call.abi,
      functionName: call.functionName,
      args: call.args ?? [],
    });
    // Estimated at the latest block, mined in the next: a storage write the estimate saw as a no-op (a heartbeat
    // already at this second) costs thousands of gas more there, so a fifth is added.
    const gas = await context.publicClient.estimateContractGas(request as never);
    hash = await context.walletClient.writeContract({ ...request, gas: gas + gas / 5n + 10_000n } as never);
  } catch (error) {
    throw new CliError(`${call.label}: ${describeError(error, errorContext)}`, error);
  }
  out.tx(call.label, hash);
  let receipt: TransactionReceipt;
  try {
    receipt = await context.publicClient.waitForTransactionReceipt({ hash, timeout: 300_000 });
  } catch (error) {
    throw new CliError(`${call.label}: tx ${hash} has no receipt: ${describeError(error, errorContext)}`, error);
  }
  if (receipt.status !== "success") {
    throw new CliError(`${call.label}: tx ${hash} reverted in block ${receipt.blockNumber}`);
  }
  const events = parseEventLogs({ abi: eventsAbi, logs: receipt.logs }).map((log) => ({
    eventName: log.eventName as string,
    address: log.address,
    args: (log.args ?? {}) as Record<string, unknown>,
  }));
  return { hash, receipt, events };
}

/** The first event of a receipt with this name; a missing one means the ABI and the contract disagree. */
export function eventOf(sent: SentTransaction, eventName: string): Record<string, unknown> {
  const event = sent.events.find((candidate) => candidate.eventName === eventName);
  if (!event) throw new CliError(`tx ${sent.hash} has no ${eventName} event (is the deployment file for these contracts?)`);
  return event.args;
}

/** Runs a read, turning a revert into a sentence. */
export async function readOrExplain<T>(context: ChainContext, what: string, read: () => Promise<T>): Promise<T> {
  try {
    return await read();
  } catch (error) {
    throw new CliError(`${what}: ${describeError(error, context.errorContext)}`, error);
  }
}

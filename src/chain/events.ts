import {
  decodeAbiParameters,
  toEventSelector,
  type Abi,
  type AbiEvent,
  type AbiParameter,
  type Address,
  type DecodeEventLogReturnType,
  type Hex,
} from "viem";
import { gpuCatalogAbi, jobMarketAbi, providerStakingAbi } from "./abis";
import type { Deployment } from "./deployment";
import { GpuMeshError } from "../internal/errors";

export type ContractName = "GpuCatalog" | "ProviderStaking" | "JobMarket";

type EventsOf<abi extends Abi> = DecodeEventLogReturnType<abi, undefined, [Hex, ...Hex[]], Hex>;

/** A decoded event, discriminated by contract and event name; args typed from the `as const` ABIs. */
export type DecodedEvent =
  | ({ contract: "GpuCatalog" } & EventsOf<typeof gpuCatalogAbi>)
  | ({ contract: "ProviderStaking" } & EventsOf<typeof providerStakingAbi>)
  | ({ contract: "JobMarket" } & EventsOf<typeof jobMarketAbi>);

/** A log as eth_getLogs returns it (JSON-RPC quantities as hex). */
export interface RpcLog {
  address: string;
  topics: Hex[];
  data: Hex;
  blockNumber: Hex | null;
  blockHash: Hex | null;
  blockTimestamp?: Hex | null;
  transactionHash: Hex | null;
  logIndex: Hex | null;
  removed?: boolean;
}

export interface IndexedEvent {
  blockNumber: number;
  blockHash: Hex;
  /** From the log when the node includes it (newer nodes do), else null and the block header supplies it. */
  blockTimestamp: number | null;
  logIndex: number;
  transactionHash: Hex;
  event: DecodedEvent;
}

export interface EventDecoder {
  /** Contract addresses to ask eth_getLogs for (lowercase). */
  addresses: Address[];
  decode(log: RpcLog): IndexedEvent;
}

interface CompiledEvent {
  name: string;
  contract: ContractName;
  indexed: AbiParameter[];
  data: AbiParameter[];
  /** When no data parameter is dynamic, each one is a single 32-byte word at its position. */
  staticData: boolean;
}

const ABIS: Record<ContractName, Abi> = {
  GpuCatalog: gpuCatalogAbi as Abi,
  ProviderStaking: providerStakingAbi as Abi,
  JobMarket: jobMarketAbi as Abi,
};

function isStaticWord(type: string): boolean {
  return type === "address" || type === "bool" || /^u?int\d*$/.test(type) || /^bytes([1-9]|[12]\d|3[0-2])$/.test(type);
}

/**
 * Decodes one 32-byte word of a static type exactly as viem's decodeAbiParameters does (uintN up to 48 bits as
 * number, wider as bigint), except that addresses stay lowercase: checksumming costs a keccak per address and the
 * store keeps addresses lowercase anyway.
 */
function decodeWord(type: string, word: string): unknown {
  if (type === "address") return `0x${word.slice(24)}`;
  if (type === "bool") return /[^0]/.test(word);
  if (type.startsWith("bytes")) return `0x${word.slice(0, Number(type.slice(5)) * 2)}`;
  const signed = type.startsWith("int");
  const bits = Number(type.slice(signed ? 3 : 4) || 256);
  let value = BigInt(`0x${word}`);
  if (signed) value = BigInt.asIntN(bits, value);
  return bits > 48 ? value : Number(value);
}

function hexQuantity(value: Hex | null | undefined, field: string): number {
  if (value === null || value === undefined) throw new GpuMeshError(`log without ${field} (pending log?)`, { code: "RPC_BAD_LOG", retryable: true });
  return Number.parseInt(value, 16);
}

/**
 * Decodes the three contracts' logs against their `as const` ABIs. Selectors are computed once; a log from one of the
 * contracts with an unknown selector means the ABI does not match the deployment, which is fatal.
 */
export function createEventDecoder(deployment: Pick<Deployment, "contracts">): EventDecoder {
  const byAddress = new Map<string, Map<string, CompiledEvent>>();
  for (const contract of Object.keys(ABIS) as ContractName[]) {
    const selectors = new Map<string, CompiledEvent>();
    for (const item of ABIS[contract]) {
      if (item.type !== "event" || item.anonymous) continue;
      const event = item as AbiEvent;
      const data = event.inputs.filter((input) => !input.indexed);
      selectors.set(toEventSelector(event), {
        name: event.name,
        contract,
        indexed: event.inputs.filter((input) => input.indexed),
        data,
        staticData: data.every((input) => isStaticWord(input.type)),
      });
    }
    byAddress.set(deployment.contracts[contract].address.toLowerCase(), selectors);
  }

  return {
    addresses: [...byAddress.keys()] as Address[],
    decode(log) {
      const selectors = byAddress.get(log.address.toLowerCase());
      if (!selectors) throw new GpuMeshError(`log from unexpected address ${log.address}`, { code: "ABI_MISMATCH" });
      const [selector, ...topics] = log.topics;
      const compiled = selector === undefined ? undefined : selectors.get(selector);
      if (!compiled) {
        throw new GpuMeshError(`unknown event ${selector ?? "(anonymous)"} from ${log.address}: ABI does not match the deployment`, {
          code: "ABI_MISMATCH",
        });
      }
      const args: Record<string, unknown> = {};
      compiled.indexed.forEach((input, i) => {
        const topic = topics[i];
        if (topic === undefined) throw new GpuMeshError(`${compiled.name}: missing topic ${input.name}`, { code: "ABI_MISMATCH" });
        // Indexed dynamic values are only their hash in the topic.
        args[input.name!] = isStaticWord(input.type) ? decodeWord(input.type, topic.slice(2)) : topic;
      });
      if (compiled.staticData) {
        const data = log.data.slice(2);
        if (data.length < compiled.data.length * 64) {
          throw new GpuMeshError(`${compiled.name}: data too short`, { code: "ABI_MISMATCH" });
        }
        compiled.data.forEach((input, i) => {
          args[input.name!] = decodeWord(input.type, data.slice(i * 64, i * 64 + 64));
        });
      } else {
        const values = decodeAbiParameters(compiled.data, log.data);
        compiled.data.forEach((input, i) => {
          const value = values[i];
          args[input.name!] = input.type === "address" ? (value as string).toLowerCase() : value;
        });
      }
      return {
        blockNumber: hexQuantity(log.blockNumber, "blockNumber"),
        blockHash: log.blockHash as Hex,
        blockTimestamp: log.blockTimestamp ? Number.parseInt(log.blockTimestamp, 16) : null,
        logIndex: hexQuantity(log.logIndex, "logIndex"),
        transactionHash: log.transactionHash as Hex,
        event: { contract: compiled.contract, eventName: compiled.name, args } as unknown as DecodedEvent,
      };
    },
  };
}

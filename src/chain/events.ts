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

/** Decodes one 32-byte word (64 hex digits, no 0x) of a parameter's static type. */
type WordDecoder = (word: string) => unknown;

interface CompiledEvent {
  name: string;
  contract: ContractName;
  /** Each indexed parameter's name and the decoder of its topic (null: a dynamic type, whose topic is its hash). */
  indexed: Array<{ name: string; decode: WordDecoder | null }>;
  data: AbiParameter[];
  /** Each data parameter's decoder when none is dynamic (each is then a single word at its position), else null. */
  staticData: Array<{ name: string; decode: WordDecoder }> | null;
}

const ABIS: Record<ContractName, Abi> = {
  GpuCatalog: gpuCatalogAbi as Abi,
  ProviderStaking: providerStakingAbi as Abi,
  JobMarket: jobMarketAbi as Abi,
};

function isStaticWord(type: string): boolean {
  return type === "address" || type === "bool" || /^u?int\d*$/.test(type) || /^bytes([1-9]|[12]\d|3[0-2])$/.test(type);
}

const ZEROS = "0".repeat(64);
/** The 52 leading zero digits of a word whose value fits in 48 bits (12 hex digits). */
const ZEROS_ABOVE_48_BITS = ZEROS.slice(0, 52);

/**
 * The decoder of one 32-byte word of a static type, chosen once per parameter: it decodes exactly as viem's
 * decodeAbiParameters does (uintN up to 48 bits as number, wider as bigint), except that addresses stay lowercase:
 * checksumming costs a keccak per address and the store keeps addresses lowercase anyway. Null for a dynamic type.
 */
function wordDecoder(type: string): WordDecoder | null {
  if (!isStaticWord(type)) return null;
  if (type === "address") return (word) => `0x${word.slice(24)}`;
  if (type === "bool") return (word) => word !== ZEROS;
  if (type.startsWith("bytes")) {
    const digits = Number(type.slice(5)) * 2;
    return (word) => `0x${word.slice(0, digits)}`;
  }
  const signed = type.startsWith("int");
  const bits = Number(type.slice(signed ? 3 : 4) || 256);
  if (signed) {
    return bits > 48 ? (word) => BigInt.asIntN(bits, BigInt(`0x${word}`)) : (word) => Number(BigInt.asIntN(bits, BigInt(`0x${word}`)));
  }
  if (bits > 48) return (word) => BigInt(`0x${word}`);
  // At most 12 hex digits below 52 zeros (any value of the type): parsed as a number without a bigint.
  return (word) => (word.startsWith(ZEROS_ABOVE_48_BITS) ? Number.parseInt(word.slice(52), 16) : Number(BigInt(`0x${word}`)));
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
        indexed: event.inputs.filter((input) => input.indexed).map((input) => ({ name: input.name!, decode: wordDecoder(input.type) })),
        data,
        staticData: data.every((input) => isStaticWord(input.type))
          ? data.map((input) => ({ name: input.name!, decode: wordDecoder(input.type)! }))
          : null,
      });
    }
    byAddress.set(deployment.contracts[contract].address.toLowerCase(), selectors);
  }

  return {
    addresses: [...byAddress.keys()] as Address[],
    decode(log) {
      const selectors = byAddress.get(log.address.toLowerCase());
      if (!selectors) throw new GpuMeshError(`log from unexpected address ${log.address}`, { code: "ABI_MISMATCH" });
      const topics = log.topics;
      const selector = topics[0];
      const compiled = selector === undefined ? undefined : selectors.get(selector);
      if (!compiled) {
        throw new GpuMeshError(`unknown event ${selector ?? "(anonymous)"} from ${log.address}: ABI does not match the deployment`, {
          code: "ABI_MISMATCH",
        });
      }
      const args: Record<string, unknown> = {};
      const indexed = compiled.indexed;
      for (let i = 0; i < indexed.length; i++) {
        const topic = topics[i + 1];
        const input = indexed[i];
        if (topic === undefined) throw new GpuMeshError(`${compiled.name}: missing topic ${input.name}`, { code: "ABI_MISMATCH" });
        // Indexed dynamic values are only their hash in the topic.
        args[input.name] = input.decode === null ? topic : input.decode(topic.slice(2));
      }
      const words = compiled.staticData;
      if (words !== null) {
        const data = log.data;
        if (data.length < 2 + words.length * 64) {
          throw new GpuMeshError(`${compiled.name}: data too short`, { code: "ABI_MISMATCH" });
        }
        for (let i = 0; i < words.length; i++) args[words[i].name] = words[i].decode(data.slice(2 + i * 64, 66 + i * 64));
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

import { expect } from "chai";
import { decodeEventLog, encodeAbiParameters, encodeEventTopics, type Abi, type AbiEvent, type AbiParameter, type Hex } from "viem";
import { gpuCatalogAbi, jobMarketAbi, providerStakingAbi } from "../../src/chain/abis";
import { createEventDecoder, type RpcLog } from "../../src/chain/events";

const CONTRACTS = {
  GpuCatalog: { abi: gpuCatalogAbi as Abi, address: "0x00000000000000000000000000000000000000c1" },
  ProviderStaking: { abi: providerStakingAbi as Abi, address: "0x00000000000000000000000000000000000000c2" },
  JobMarket: { abi: jobMarketAbi as Abi, address: "0x00000000000000000000000000000000000000c3" },
} as const;

/** A deterministic generator (xorshift), so that a failure replays. */
function random(seed: number) {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}

/** Values of a type at its edges (0, 1, the largest, the smallest) and at random, `which` choosing. */
function valueOf(type: string, which: number, next: () => number): unknown {
  const hex = (bytes: number) => `0x${Array.from({ length: bytes * 2 }, () => Math.floor(next() * 16).toString(16)).join("")}`;
  if (type === "address") return which === 0 ? `0x${"00".repeat(20)}` : hex(20);
  if (type === "bool") return which % 2 === 1;
  if (type === "string") return ["", "ipfs://bafy", "ünïcode ✓ 🚀", "x".repeat(70)][which % 4];
  if (type === "bytes") return which === 0 ? "0x" : hex(1 + (which % 40));
  const fixed = /^bytes(\d+)$/.exec(type);
  if (fixed) return which === 0 ? `0x${"00".repeat(Number(fixed[1]))}` : hex(Number(fixed[1]));
  const int = /^(u?)int(\d*)$/.exec(type);
  if (int) {
    const bits = Number(int[2] || 256);
    const signed = int[1] === "";
    const max = (1n << BigInt(signed ? bits - 1 : bits)) - 1n;
    const edges = [0n, 1n, max, signed ? -max - 1n : max - 1n];
    const value = which < edges.length ? edges[which] : BigInt(hex(Math.ceil(bits / 8))) % (max + 1n);
    return bits > 48 ? value : Number(value);
  }
  throw new Error(`no sample values for type ${type}`);
}

/** viem's answer, with addresses lowercase as the store keeps them. */
function lowercaseAddresses(inputs: readonly AbiParameter[], args: Record<string, unknown>) {
  const out: Record<string, unknown> = { ...args };
  for (const input of inputs) if (input.type === "address") out[input.name!] = (out[input.name!] as string).toLowerCase();
  return out;
}

describe("event decoder", function () {
  const decoder = createEventDecoder({
    contracts: Object.fromEntries(Object.entries(CONTRACTS).map(([name, c]) => [name, { address: c.address }])) as never,
  });

  it("decodes every event of the three contracts as viem's decodeEventLog does, at each type's edges and at random", function () {
    const next = random(20261203);
    let checked = 0;
    for (const [contract, { abi, address }] of Object.entries(CONTRACTS)) {
      for (const item of abi) {
        if (item.type !== "event") continue;
        const event = item as AbiEvent;
        for (let which = 0; which < 8; which++) {
          const args = Object.fromEntries(event.inputs.map((input) => [input.name!, valueOf(input.type, which, next)]));
          const topics = encodeEventTopics({ abi: [event], eventName: event.name, args } as never) as Hex[];
          const dataInputs = event.inputs.filter((input) => !input.indexed);
          const data = encodeAbiParameters(dataInputs, dataInputs.map((input) => args[input.name!]));
          const log: RpcLog = {
            address,
            topics,
            data,
            blockNumber: "0x10",
            blockHash: `0x${"ab".repeat(32)}`,
            blockTimestamp: "0x6553f100",
            transactionHash: `0x${"cd".repeat(32)}`,
            logIndex: "0x3",
          };
          const expected = decodeEventLog({ abi: [event], topics: topics as [Hex, ...Hex[]], data, strict: true });
          const decoded = decoder.decode(log);
          const at = `${contract}.${event.name} #${which}`;
          expect(decoded.event, at).to.deep.include({ contract, eventName: event.name });
          expect(decoded.event.args, at).to.deep.equal(lowercaseAddresses(event.inputs, expected.args as Record<string, unknown>));
          expect([decoded.blockNumber, decoded.blockTimestamp, decoded.logIndex], at).to.deep.equal([16, 0x6553f100, 3]);
          checked += 1;
        }
      }
    }
    // Every event of the three ABIs (54 today), eight times.
    expect(checked).to.be.at.least(50 * 8);
  });

  it("refuses a log whose data is shorter than its event's words, or whose event the ABI does not have", function () {
    const event = (jobMarketAbi as Abi).find((item): item is AbiEvent => item.type === "event" && item.inputs.some((input) => !input.indexed))!;
    const args = Object.fromEntries(event.inputs.map((input) => [input.name!, valueOf(input.type, 1, random(1))]));
    const topics = encodeEventTopics({ abi: [event], eventName: event.name, args } as never) as Hex[];
    const log = { address: CONTRACTS.JobMarket.address, topics, data: "0x" as Hex, blockNumber: "0x1", blockHash: "0x01", transactionHash: "0x02", logIndex: "0x0" } as RpcLog;
    expect(() => decoder.decode(log)).to.throw(/data too short/);
    expect(() => decoder.decode({ ...log, topics: [`0x${"ee".repeat(32)}`] })).to.throw(/unknown event 0xeeee.*ABI does not match the deployment/);
  });
});

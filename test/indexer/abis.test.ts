import fs from "node:fs";
import path from "node:path";
import { expect } from "chai";
import type { Abi } from "viem";
import { renderAbis } from "../../scripts/gen-abis";
import { devStablecoinAbi, gpuCatalogAbi, jobMarketAbi, providerStakingAbi } from "../../src/chain/abis";
import { REVERT_SENTENCES, allErrorsAbi, describeRevert } from "../../src/cli/lib/revert";

/** src/chain/abis.ts is generated (npm run gen:abis): it must be what the compiled contracts give, to the byte. */
describe("generated ABIs", function () {
  it("src/chain/abis.ts equals scripts/gen-abis.ts renderAbis() of the compiled artifacts", function () {
    const committed = fs.readFileSync(path.join(__dirname, "..", "..", "src", "chain", "abis.ts"), "utf8");
    expect(committed === renderAbis(), "src/chain/abis.ts is stale: run `npm run gen:abis`").to.equal(true);
  });

  it("every custom error of the contracts and tokens has a sentence carrying its values", function () {
    const abis = { jobMarketAbi, providerStakingAbi, gpuCatalogAbi, devStablecoinAbi } as Record<string, Abi>;
    const context = {
      payment: { symbol: "USDC", decimals: 6 },
      stake: { symbol: "MESH", decimals: 18 },
      token: { symbol: "USDC", decimals: 6 },
    };
    for (const [name, abi] of Object.entries(abis)) {
      for (const item of abi) {
        if (item.type !== "error") continue;
        expect(REVERT_SENTENCES, `${name}: ${item.name} has no sentence in src/cli/lib/revert.ts`).to.have.property(item.name);
        const args = item.inputs.map((input, index) => sampleValue(input.type, index));
        const sentence = describeRevert(item.name, args, context);
        expect(sentence, item.name).to.be.a("string").and.not.match(/^reverted with/);
        // The sentence carries every value: change any one of them and the sentence changes.
        item.inputs.forEach((input, index) => {
          const changed = [...args];
          changed[index] = sampleValue(input.type, index + 3);
          expect(describeRevert(item.name, changed, context), `${item.name} shows ${input.name || `argument ${index}`}`).not.to.equal(sentence);
        });
      }
    }
    expect(Object.keys(REVERT_SENTENCES).sort()).to.deep.equal([...new Set(allErrorsAbi.map((item) => (item as { name: string }).name))].sort());
  });
});

/** A value of an ABI type that differs for each `seed`. */
function sampleValue(type: string, seed: number): unknown {
  if (type === "address") return `0x${String(seed + 1).repeat(40)}`;
  if (type === "string") return `text${seed}`;
  if (type === "bytes16") return `0x${(0x61 + seed).toString(16).repeat(3)}${"00".repeat(13)}`;
  if (type.startsWith("bytes")) return `0x${(0x10 + seed).toString(16).repeat(32)}`;
  if (type === "uint8") return seed % 5;
  if (type === "uint16" || type === "uint32") return 7 + seed;
  // Times and amounts: big enough to print as dates and amounts.
  return 1_700_000_000n + BigInt(seed) * 1_000_003n;
}

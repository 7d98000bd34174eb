import { keccak256, type Address, type Hex } from "viem";

/** The three bits an address sets in a block's 2048-bit logsBloom (yellow paper, 4.3.1): byte offset and mask. */
type BloomBits = ReadonlyArray<readonly [byte: number, mask: number]>;

function bloomBits(address: Address): BloomBits {
  const hash = keccak256(address.toLowerCase() as Hex);
  const bits: Array<readonly [number, number]> = [];
  for (let pair = 0; pair < 3; pair++) {
    const bit = Number.parseInt(hash.slice(2 + pair * 4, 6 + pair * 4), 16) & 2047;
    bits.push([255 - (bit >> 3), 1 << (bit & 7)]);
  }
  return bits;
}

/**
 * A test of block headers' logsBloom for logs of any of `addresses`: false means the block has none of their logs,
 * true that it may have some (a bloom has false positives, never false negatives).
 */
export function createBloomFilter(addresses: readonly Address[]): (logsBloom: Hex) => boolean {
  const all = addresses.map(bloomBits);
  return (logsBloom) => {
    if (logsBloom.length !== 2 + 512) return true;
    return all.some((bits) =>
      bits.every(([byte, mask]) => (Number.parseInt(logsBloom.slice(2 + byte * 2, 4 + byte * 2), 16) & mask) !== 0),
    );
  };
}

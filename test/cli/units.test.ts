import { expect } from "chai";
import type { AbiParameter } from "viem";
import { UsageError } from "../../src/internal/errors";
import { allErrorsAbi, describeRevert } from "../../src/cli/lib/revert";
import {
  formatAmount,
  formatDuration,
  parseAmount,
  parseDuration,
  parsePercentBps,
} from "../../src/protocol/units";

const USDC = { symbol: "USDC", decimals: 6 };
const MESH = { symbol: "MESH", decimals: 18 };

describe("CLI units and error sentences", function () {
  it("parses decimal amounts exactly, without floats", function () {
    expect(parseAmount("2.35", USDC, "--price")).to.equal(2_350_000n);
    expect(parseAmount("0.000001", USDC, "--price")).to.equal(1n);
    expect(parseAmount("2.35 USDC", USDC, "--price")).to.equal(2_350_000n);
    expect(parseAmount(".5", USDC, "--price")).to.equal(500_000n);
    expect(parseAmount("1_000", MESH, "AMOUNT")).to.equal(1000n * 10n ** 18n);
    expect(parseAmount("123456789012345678901234567890.123456789012345678", MESH, "AMOUNT")).to.equal(
      123456789012345678901234567890123456789012345678n,
    );
    expect(parseAmount("2.350000000", USDC, "--price")).to.equal(2_350_000n);
    expect(() => parseAmount("2.3500001", USDC, "--max-price")).to.throw(UsageError, '--max-price: "2.3500001" has more than 6 decimals');
    expect(() => parseAmount("1e3", USDC, "--price")).to.throw(UsageError, "--price");
    expect(() => parseAmount("-1", USDC, "--price")).to.throw(UsageError, "--price");
    expect(() => parseAmount("2.35 MESH", USDC, "--price")).to.throw(UsageError, "not in USDC");
  });

  it("prints amounts in human units", function () {
    expect(formatAmount(2_800_000n, USDC)).to.equal("2.80 USDC");
    expect(formatAmount(5_125_000n, USDC)).to.equal("5.125 USDC");
    expect(formatAmount(1000n * 10n ** 18n, MESH)).to.equal("1000 MESH");
    expect(formatAmount(5n * 10n ** 17n, MESH)).to.equal("0.5 MESH");
  });

  it("parses and prints durations and percentages", function () {
    expect(parseDuration("90s", "--duration")).to.equal(90);
    expect(parseDuration("30m", "--duration")).to.equal(1800);
    expect(parseDuration("2h", "--duration")).to.equal(7200);
    expect(parseDuration("7d", "--duration")).to.equal(604_800);
    expect(parseDuration("1h30m", "--duration")).to.equal(5400);
    expect(parseDuration("3600", "--duration")).to.equal(3600);
    expect(() => parseDuration("2 hours", "--duration")).to.throw(UsageError, "--duration");
    expect(() => parseDuration("200y", "--max-duration")).to.throw(UsageError, "--max-duration");
    expect(formatDuration(5400)).to.equal("1h 30m");
    expect(formatDuration(604_800)).to.equal("7d");
    expect(parsePercentBps("80%", "--renewable")).to.equal(8000);
    expect(parsePercentBps("12.5%", "--renewable")).to.equal(1250);
    expect(() => parsePercentBps("101%", "--renewable")).to.throw(UsageError, "--renewable");
  });

  it("has a sentence for every custom error of the contracts and tokens", function () {
    const context = { payment: USDC, stake: MESH, token: USDC, gpuModels: [] };
    const sample = (parameter: AbiParameter): unknown => {
      if (parameter.type === "address") return "0x70997970C51812dc3A010C7d01b50e0d17dc79C8";
      if (parameter.type === "string") return "h100";
      if (parameter.type.startsWith("bytes")) return `0x${"65".repeat(Number(parameter.type.slice(5)) || 32)}`;
      if (parameter.type === "bool") return true;
      return 1n;
    };
    for (const item of allErrorsAbi) {
      if (item.type !== "error") continue;
      const sentence = describeRevert(item.name, item.inputs.map(sample), context);
      expect(sentence, item.name).not.to.match(/^reverted with/);
      expect(sentence, item.name).not.to.contain("undefined");
    }
    expect(describeRevert("JobMarketPriceAboveMax", [2_800_000n, 2_500_000n], context)).to.equal(
      "price 2.80 USDC is above your maximum 2.50 USDC (per GPU-hour)",
    );
    expect(describeRevert("ERC20InsufficientBalance", ["0xabc", 10_000_000n, 50_000_000n], context)).to.equal(
      "balance 10.00 USDC of 0xabc is below the 50.00 USDC needed",
    );
    expect(describeRevert("JobMarketInvalidState", [7n, 3], context)).to.equal("job #7 is Completed, which does not allow this");
  });
});

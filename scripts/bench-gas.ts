import fs from "node:fs";
import path from "node:path";
import hre from "hardhat";
import type { ContractTransactionResponse } from "ethers";
import { deployGpuMesh } from "./lib/deployGpuMesh";
import type { DevStablecoin, DevStakeToken } from "../typechain-types";

/**
 * Gas of every protocol call on the in-process Hardhat network, from transaction receipts (intrinsic 21,000 and
 * calldata included), against the budgets below. Writes bench/gas.json and prints a table.
 *   npm run bench:gas
 * Where a call's cost depends on fresh storage (a zero slot written non-zero costs 22,100 instead of 5,000), both the
 * first and a later call are measured. Exits with code 1 when a budgeted call misses its budget, unless
 * GAS_BENCH_REPORT_ONLY=1.
 */

const BUDGETS: Record<string, number> = {
  stake: 80_000,
  createOffer: 130_000,
  createJob: 150_000, // escrow pull included
  acceptJob: 80_000,
  completeJob: 60_000,
  settleJob: 90_000,
};

const HOUR = 3_600;
const DAY = 24 * HOUR;
const USDC = 10n ** 6n;
const MESH = 10n ** 18n;

interface Measurement {
  call: string;
  budgetKey: string;
  gas: number;
  note: string;
}

async function main() {
  const { ethers } = hre;
  const [governance, treasury, providerA, providerB, clientA, clientB, sponsor] = await ethers.getSigners();
  const deployed = await deployGpuMesh(hre, { deploymentsDir: null, treasury: treasury.address });
  const { market, staking } = deployed;
  const payment = deployed.payment as unknown as DevStablecoin;
  const stake = deployed.stake as unknown as DevStakeToken;
  const marketAddress = await market.getAddress();
  const stakingAddress = await staking.getAddress();
  const H100 = ethers.keccak256(ethers.toUtf8Bytes("H100-SXM-80GB"));

  const measurements: Measurement[] = [];
  async function measure(call: string, note: string, tx: Promise<ContractTransactionResponse>) {
    const receipt = await (await tx).wait();
    if (!receipt) throw new Error(`${call}: no receipt`);
    measurements.push({ call, budgetKey: call.split(" ")[0], gas: Number(receipt.gasUsed), note });
    return receipt;
  }
  const latest = async () => (await ethers.provider.getBlock("latest"))!.timestamp;
  const increase = async (seconds: number) => {
    await ethers.provider.send("evm_increaseTime", [seconds]);
    await ethers.provider.send("evm_mine", []);
  };

  // Realistic balances: clients hold the stablecoin and approve the market once (unlimited, so no allowance write per
  // job); providers hold the stake token but no stablecoin until their first payout.
  for (const client of [clientA, clientB, sponsor]) {
    await payment.mint(client.address, 1_000_000n * USDC);
    await payment.connect(client).approve(marketAddress, ethers.MaxUint256);
  }
  for (const provider of [providerA, providerB]) {
    await stake.mint(provider.address, 100_000n * MESH);
    await stake.connect(provider).approve(stakingAddress, ethers.MaxUint256);
  }

  const offerParams = async (gpus: number) => ({
    gpuModel: H100,
    gpus,
    pricePerGpuHour: 2_490_000n,
    minDuration: 600,
    maxDuration: 7 * DAY,
    region: ethers.zeroPadBytes(ethers.toUtf8Bytes("eu-west"), 16),
    carbonIntensity: 120,
    renewableBps: 6_500,
    expiresAt: (await latest()) + 30 * DAY,
  });
  const SPEC = ethers.id("spec");
  const RESULT = ethers.id("result");
  const newJob = async (client: typeof clientA, offerId: bigint, gpus: number, duration: number) => {
    const jobId = await market.nextJobId();
    await (await market.connect(client).createJob(offerId, gpus, duration, 2_490_000n, SPEC)).wait();
    return jobId;
  };

  // ---- provider onboarding
  await measure("register", "fresh account slot + metadata string", staking.connect(providerA).register("https://a.gpu.example/meta.json"));
  await measure(
    "stake (first ever, protocol)",
    "fresh ProviderAccount slot 0 and the staking contract's first token balance",
    staking.connect(providerA).stake(1_000n * MESH),
  );
  await measure("stake (later)", "every slot already non-zero", staking.connect(providerA).stake(500n * MESH));
  await (await staking.connect(providerB).register("https://b.gpu.example/meta.json")).wait();
  await measure(
    "stake (first by a provider)",
    "fresh ProviderAccount slot 0; staking already holds tokens",
    staking.connect(providerB).stake(1_000n * MESH),
  );

  // ---- offers
  const offerA = await market.nextOfferId();
  await measure("createOffer (first ever)", "3 fresh offer slots", market.connect(providerA).createOffer(await offerParams(8)));
  const offerB = await market.nextOfferId();
  await measure("createOffer (later)", "same: the offer counter shares a non-zero slot", market.connect(providerB).createOffer(await offerParams(8)));
  const offerSpare = await market.nextOfferId();
  await (await market.connect(providerA).createOffer(await offerParams(4))).wait();

  // ---- main lifecycle: create, accept, claim, complete, settle
  let jobId = await market.nextJobId();
  await measure(
    "createJob (first ever)",
    "3 fresh job slots, offer.gpusLeased, and the market's first token balance",
    market.connect(clientA).createJob(offerA, 2, 4 * HOUR, 2_490_000n, SPEC),
  );
  const mainJob = jobId;
  jobId = await market.nextJobId();
  await measure(
    "createJob (later)",
    "3 fresh job slots, offer.gpusLeased; market balance non-zero",
    market.connect(clientB).createJob(offerA, 2, 4 * HOUR, 2_490_000n, SPEC),
  );
  const secondJob = jobId;
  const permitJob = await market.nextJobId();
  {
    const deadline = ethers.MaxUint256; // fixed, so the signature (and its calldata gas) is the same on every run
    const [, , escrow] = await market.quote(offerA, 1, 2 * HOUR);
    await (await payment.connect(sponsor).approve(marketAddress, 0n)).wait();
    const { chainId } = await ethers.provider.getNetwork();
    const signature = ethers.Signature.from(
      await sponsor.signTypedData(
        { name: await payment.name(), version: "1", chainId, verifyingContract: await payment.getAddress() },
        {
          Permit: [
            { name: "owner", type: "address" },
            { name: "spender", type: "address" },
            { name: "value", type: "uint256" },
            { name: "nonce", type: "uint256" },
            { name: "deadline", type: "uint256" },
          ],
        },
        { owner: sponsor.address, spender: marketAddress, value: escrow, nonce: await payment.nonces(sponsor.address), deadline },
      ),
    );
    await measure(
      "createJobWithPermit (reference)",
      "createJob + permit (nonce and allowance written, allowance spent)",
      market.connect(sponsor).createJobWithPermit(clientA.address, offerA, 1, 2 * HOUR, 2_490_000n, SPEC, {
        value: escrow,
        deadline,
        v: signature.v,
        r: signature.r,
        s: signature.s,
      }),
    );
  }

  await measure("acceptJob (first)", "job slot 1; ProviderAccount slot 0 (staked|locked) already non-zero", market.connect(providerA).acceptJob(mainJob));
  await measure("acceptJob (later)", "same writes as the first", market.connect(providerA).acceptJob(secondJob));
  await (await market.connect(providerA).acceptJob(permitJob)).wait(); // left running, reclaimed as abandoned below
  await increase(HOUR);
  await measure("claim (first payout to provider)", "job.claimed 0 -> x; provider's first stablecoin balance", market.connect(providerA).claim(mainJob));
  await increase(HOUR);
  await measure("claim (later)", "job.claimed; provider balance non-zero", market.connect(providerA).claim(mainJob));
  await increase(HOUR);
  await measure("completeJob", "job slot 1, offer.gpusLeased", market.connect(providerA).completeJob(mainJob, RESULT));
  await increase(DAY + 1);
  await measure(
    "settleJob (first ever)",
    "after claims; _feesAccrued 0 -> non-zero (it has a slot of its own)",
    market.connect(sponsor).settleJob(mainJob),
  );

  // settleJob without prior claims, to a provider that has never held the stablecoin.
  const freshPayout = await newJob(clientB, offerB, 2, 2 * HOUR);
  await (await market.connect(providerB).acceptJob(freshPayout)).wait();
  const steady = await newJob(clientA, offerA, 2, 2 * HOUR);
  await (await market.connect(providerA).acceptJob(steady)).wait();
  const afterWithdrawal = await newJob(clientA, offerA, 1, 2 * HOUR);
  await (await market.connect(providerA).acceptJob(afterWithdrawal)).wait();
  await increase(HOUR);
  for (const id of [steady, afterWithdrawal]) await (await market.connect(providerA).completeJob(id, RESULT)).wait();
  await (await market.connect(providerB).completeJob(freshPayout, RESULT)).wait();
  await increase(DAY + 1);
  await measure(
    "settleJob (provider's first payout)",
    "no claims; the provider's stablecoin balance 0 -> non-zero",
    market.connect(sponsor).settleJob(freshPayout),
  );
  await measure(
    "settleJob (steady state)",
    "no claims; job state, fees, locked stake, 3 token balances, all non-zero -> non-zero",
    market.connect(sponsor).settleJob(steady),
  );
  await measure("withdrawFees (reference)", "fees to treasury; _feesAccrued -> 0", market.connect(sponsor).withdrawFees());
  await measure(
    "settleJob (first after withdrawFees)",
    "_feesAccrued 0 -> non-zero again",
    market.connect(sponsor).settleJob(afterWithdrawal),
  );

  // ---- reference paths
  await increase(HOUR);
  await measure("endJobEarly (reference)", "job slot 1, offer.gpusLeased", market.connect(clientB).endJobEarly(secondJob));
  await measure("disputeJob from Completed (reference)", "job slot 1", market.connect(clientB).disputeJob(secondJob, RESULT));
  await measure("resolveDispute (reference, no slash)", "split + unlock", market.connect(governance).resolveDispute(secondJob, 5_000, 0n));

  const disputedRunning = await newJob(clientA, offerA, 2, 4 * HOUR);
  await (await market.connect(providerA).acceptJob(disputedRunning)).wait();
  await increase(HOUR);
  await measure("disputeJob from Running (reference)", "stops the clock", market.connect(clientA).disputeJob(disputedRunning, RESULT));
  const collateral = (await staking.account(providerA.address)).locked;
  await measure(
    "resolveDispute (reference, with slash)",
    "split + unlock + slash to client",
    market.connect(governance).resolveDispute(disputedRunning, 2_500, collateral / 2n),
  );

  const cancelled = await newJob(clientA, offerA, 1, 2 * HOUR);
  await measure("cancelJob (reference)", "cancel fee to provider, refund to client", market.connect(clientA).cancelJob(cancelled));
  const expired = await newJob(clientB, offerSpare, 1, 2 * HOUR);
  await increase(HOUR);
  await measure("expireJob (reference, with slash)", "refund + slash to client", market.connect(sponsor).expireJob(expired));
  await increase(2 * HOUR + 1);
  await measure("reclaimAbandoned (reference)", "unclaimed escrow back", market.connect(clientA).reclaimAbandoned(permitJob));

  await measure(
    "updateOffer (reference)",
    "offer slots 0 and 1",
    market.connect(providerA).updateOffer(offerA, 16, 2_000_000n, (await latest()) + 60 * DAY),
  );
  await measure("closeOffer (reference)", "offer slot 1", market.connect(providerA).closeOffer(offerSpare));
  await measure("requestUnstake (reference)", "ProviderAccount slots 0 and 1", staking.connect(providerB).requestUnstake(100n * MESH));
  await increase(7 * DAY);
  await measure("withdrawStake (reference)", "unbonding cleared, tokens out", staking.connect(providerB).withdrawStake());

  // ---- report
  const gas: Record<string, number> = {};
  for (const m of measurements) gas[m.call] = m.gas;
  const checks: Record<string, { gas: number; budget: number; pass: boolean }> = {};
  for (const m of measurements) {
    const budget = BUDGETS[m.budgetKey];
    if (budget === undefined || m.call.includes("(reference")) continue;
    checks[m.call] = { gas: m.gas, budget, pass: m.gas <= budget };
  }
  const pass = Object.values(checks).every((c) => c.pass);
  const report = {
    generatedBy: "scripts/bench-gas.ts",
    network: "hardhat in-process (cancun)",
    compiler: { solc: hre.config.solidity.compilers[0].version, optimizerRuns: hre.config.solidity.compilers[0].settings?.optimizer?.runs },
    measuredFrom: "receipt.gasUsed (21,000 intrinsic and calldata included)",
    gas,
    budgets: BUDGETS,
    checks,
    pass,
  };
  const outDir = path.join(hre.config.paths.root, "bench");
  fs.mkdirSync(outDir, { recursive: true });
  fs.writeFileSync(path.join(outDir, "gas.json"), JSON.stringify(report, null, 2) + "\n");

  const rows = measurements.map((m) => {
    const check = checks[m.call];
    return {
      call: m.call,
      gas: m.gas,
      budget: check ? check.budget : "",
      result: check ? (check.pass ? "ok" : `MISS +${check.gas - check.budget}`) : "",
      storage: m.note,
    };
  });
  console.table(rows);
  console.log(`${pass ? "all budgets met" : "BUDGET MISSED"}; written to bench/gas.json`);
  if (!pass && process.env.GAS_BENCH_REPORT_ONLY !== "1") process.exitCode = 1;
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});

import fs from "node:fs";
import path from "node:path";
import hre from "hardhat";
import type { ContractTransactionResponse } from "ethers";
import { createPublicClient, createWalletClient, custom, defineChain, type Address } from "viem";
import { deployGpuMesh } from "../src/chain/deploy";
import { RECEIPT_DOMAIN, USAGE_RECEIPT_TYPES } from "../src/protocol";
import type { DevStablecoin, DevStakeToken, JobMarket, ProviderStaking } from "../typechain-types";

/**
 * Gas of the protocol's calls in steady state, on the in-process Hardhat network, from transaction receipts
 * (intrinsic 21,000 and calldata included), against the budgets below. Writes bench/gas.json and prints a table.
 *   npm run bench:gas
 * Steady state: the provider already has other open jobs (its locked stake and last heartbeat are non-zero), every
 * party already holds both tokens, fees have accrued before, the client has approved the market once (unlimited).
 * What is left are the writes a call cannot avoid; each row says which storage writes and external calls it pays
 * for, from a trace of the transaction (SSTORE costs: 22,100 a fresh slot, 5,000 a cold non-zero one, 2,900 a warm
 * one). Exits with code 1 when a budgeted call misses its budget, unless GAS_BENCH_REPORT_ONLY=1.
 */

const BUDGETS: Record<string, number> = {
  createJob: 150_000,
  acceptJob: 45_000,
  heartbeat: 30_000,
  claimWithReceipt: 75_000,
  completeJob: 45_000,
  settleJob: 90_000,
  lifecycle: 300_000,
  reportDark: 130_000,
};

const HOUR = 3_600;
const DAY = 24 * HOUR;
const USDC = 10n ** 6n;
const MESH = 10n ** 18n;
const PRICE = 2_490_000n;
const MAX = 2n ** 256n - 1n;

interface Measurement {
  call: string;
  budgetKey: string;
  gas: number;
  note: string;
  pays: string;
}

interface TraceStep {
  op: string;
  depth: number;
  gasCost: number;
  stack?: string[];
}

async function main() {
  const { ethers } = hre;
  const signers = await ethers.getSigners();
  const [governance, treasury, providerA, providerB, clientA, clientB, sponsor, watcher] = signers;
  if (!governance || !treasury || !providerA || !providerB || !clientA || !clientB || !sponsor || !watcher) {
    throw new Error("need 8 accounts");
  }

  // The one deployer (src/chain/deploy.ts), with a chain named: viem refuses a JSON-RPC account without one.
  const transport = custom(hre.network.provider);
  const chain = defineChain({
    id: Number(await hre.network.provider.request({ method: "eth_chainId" })),
    name: hre.network.name,
    nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 },
    rpcUrls: { default: { http: [] } },
  });
  const deployment = await deployGpuMesh({
    publicClient: createPublicClient({ chain, transport, pollingInterval: 10 }),
    walletClient: createWalletClient({ chain, account: governance.address as Address, transport }),
    artifactsDir: hre.config.paths.artifacts,
    treasury: treasury.address as Address,
    network: hre.network.name,
  });
  const at = async <T>(name: string, address: string) =>
    (await ethers.getContractAt(name, ethers.getAddress(address), governance)) as unknown as T;
  const market = await at<JobMarket>("JobMarket", deployment.contracts.JobMarket.address);
  const staking = await at<ProviderStaking>("ProviderStaking", deployment.contracts.ProviderStaking.address);
  const payment = await at<DevStablecoin>("DevStablecoin", deployment.tokens.payment.address);
  const stake = await at<DevStakeToken>("DevStakeToken", deployment.tokens.stake.address);
  const marketAddress = await market.getAddress();
  const stakingAddress = await staking.getAddress();
  const names = new Map<string, string>([
    [marketAddress.toLowerCase(), "market"],
    [stakingAddress.toLowerCase(), "staking"],
    [(await payment.getAddress()).toLowerCase(), "USDC"],
    [(await stake.getAddress()).toLowerCase(), "MESH"],
  ]);

  const measurements: Measurement[] = [];
  async function measure(call: string, note: string, tx: Promise<ContractTransactionResponse>) {
    const sent = await tx;
    const receipt = await sent.wait();
    if (!receipt) throw new Error(`${call}: no receipt`);
    const gas = Number(receipt.gasUsed);
    measurements.push({ call, budgetKey: call.split(" ")[0]!, gas, note, pays: await whatItPays(sent.hash) });
    return gas;
  }

  /**
   * Which storage writes and external calls a transaction paid for, per contract whose storage is written, from its
   * trace: fresh = zero to non-zero (22,100 with the cold access), update = non-zero to non-zero (2,900 once the slot
   * is warm), rewrite = a slot already written in the same transaction (100).
   */
  async function whatItPays(hash: string): Promise<string> {
    const trace = (await hre.network.provider.request({
      method: "debug_traceTransaction",
      params: [hash, { disableMemory: true, disableStorage: true }],
    })) as { structLogs: TraceStep[] };
    const frames: string[] = ["market"];
    const writes = new Map<string, { fresh: number; update: number; rewrite: number; gas: number }>();
    const calls = new Map<string, number>();
    let coldReads = 0;
    let logGas = 0;
    let previousDepth = trace.structLogs[0]?.depth ?? 1;
    let pending: { target: string; delegate: boolean } | undefined;
    for (const step of trace.structLogs) {
      if (step.depth > previousDepth && pending) {
        frames.push(pending.delegate ? frames[frames.length - 1]! : pending.target);
      } else if (step.depth < previousDepth) {
        frames.splice(frames.length - (previousDepth - step.depth));
      }
      previousDepth = step.depth;
      pending = undefined;
      if (step.op === "CALL" || step.op === "STATICCALL" || step.op === "DELEGATECALL") {
        const address = BigInt("0x" + step.stack![step.stack!.length - 2]!);
        const target =
          address === 1n ? "ecrecover" : address < 256n ? "precompile" : names.get("0x" + address.toString(16).padStart(40, "0")) ?? "library";
        pending = { target, delegate: step.op === "DELEGATECALL" };
        calls.set(target, (calls.get(target) ?? 0) + 1);
      } else if (step.op === "SSTORE") {
        const where = frames[frames.length - 1]!;
        const entry = writes.get(where) ?? { fresh: 0, update: 0, rewrite: 0, gas: 0 };
        if (step.gasCost >= 20_000) entry.fresh++;
        else if (step.gasCost >= 2_900) entry.update++;
        else entry.rewrite++;
        entry.gas += step.gasCost;
        writes.set(where, entry);
      } else if (step.op === "SLOAD" && step.gasCost >= 2_100) {
        coldReads++;
      } else if (step.op.startsWith("LOG")) {
        logGas += step.gasCost;
      }
    }
    const stores = [...writes].map(([where, w]) => {
      const kinds = [w.fresh && `${w.fresh} fresh`, w.update && `${w.update} update`, w.rewrite && `${w.rewrite} rewrite`];
      return `${where} ${kinds.filter(Boolean).join(" + ")} (${(w.gas / 1000).toFixed(1)}k)`;
    });
    const callList = [...calls].map(([target, n]) => (n > 1 ? `${target} x${n}` : target)).join(", ");
    return `SSTORE ${stores.join("; ") || "none"} | ${coldReads} cold SLOADs | calls: ${callList || "none"} | logs ${(logGas / 1000).toFixed(1)}k`;
  }

  const latest = async () => (await ethers.provider.getBlock("latest"))!.timestamp;
  const increase = async (seconds: number) => {
    await ethers.provider.send("evm_increaseTime", [seconds]);
    await ethers.provider.send("evm_mine", []);
  };
  const { chainId } = await ethers.provider.getNetwork();
  const receiptTypes = { UsageReceipt: USAGE_RECEIPT_TYPES.UsageReceipt.map((field) => ({ ...field })) };
  const receipt = (client: typeof clientA, jobId: bigint, servedUntil: bigint) =>
    client.signTypedData({ ...RECEIPT_DOMAIN, chainId, verifyingContract: marketAddress }, receiptTypes, { jobId, servedUntil });

  for (const client of [clientA, clientB, sponsor]) {
    await payment.mint(client.address, 1_000_000n * USDC);
    await payment.connect(client).approve(marketAddress, MAX);
  }
  for (const provider of [providerA, providerB]) {
    await stake.mint(provider.address, 100_000n * MESH);
    await stake.connect(provider).approve(stakingAddress, MAX);
    await staking.connect(provider).register(`https://${provider.address.slice(2, 8)}.gpu.example/meta.json`);
    await staking.connect(provider).stake(10_000n * MESH);
  }
  const H100 = ethers.keccak256(ethers.toUtf8Bytes("H100-SXM-80GB"));
  const offerParams = async (gpus: number) => ({
    gpuModel: H100,
    gpus,
    pricePerGpuHour: PRICE,
    minDuration: 600,
    maxDuration: 7 * DAY,
    region: ethers.zeroPadBytes(ethers.toUtf8Bytes("eu-west"), 16),
    carbonIntensity: 120,
    renewableBps: 6_500,
    expiresAt: (await latest()) + 60 * DAY,
  });
  const SPEC = ethers.id("spec");
  const RESULT = ethers.id("result");
  // Clients pass the quoted escrow as maxEscrow, as the CLI does (its calldata is part of the cost).
  const quotedEscrow = async (offerId: bigint, gpus: number, duration: number) => (await market.quote(offerId, gpus, duration))[2];
  const create = async (client: typeof clientA, offerId: bigint, gpus: number, duration: number) => {
    const jobId = await market.nextJobId();
    const maxEscrow = await quotedEscrow(offerId, gpus, duration);
    await (await market.connect(client).createJob(offerId, gpus, duration, PRICE, maxEscrow, SPEC)).wait();
    return jobId;
  };
  const createMeasured = async (client: typeof clientA, offerId: bigint, gpus: number, duration: number, call = "createJob") => {
    const jobId = await market.nextJobId();
    const maxEscrow = await quotedEscrow(offerId, gpus, duration);
    const gas = await measure(
      call,
      "2 fresh job slots, gpusLeased, job counter; collateral locked in staking; escrow pulled, balance-checked",
      market.connect(client).createJob(offerId, gpus, duration, PRICE, maxEscrow, SPEC),
    );
    return { jobId, gas };
  };

  // ---- warm-up: every first-ever write done once (offers, balances, fees, slash payouts, heartbeats)
  const offerA = await market.nextOfferId();
  await (await market.connect(providerA).createOffer(await offerParams(64))).wait();
  const offerB = await market.nextOfferId();
  await (await market.connect(providerB).createOffer(await offerParams(64))).wait();
  for (const [provider, offerId] of [[providerA, offerA], [providerB, offerB]] as const) {
    for (const client of [clientA, clientB]) {
      const paid = await create(client, offerId, 1, HOUR);
      await (await market.connect(provider).acceptJob(paid)).wait();
      await (await market.connect(provider).completeJob(paid, RESULT)).wait();
      const expired = await create(client, offerId, 1, HOUR); // its expiry slash gives the client stake tokens
      void expired;
    }
  }
  await increase(DAY + 1);
  for (let jobId = 1n; jobId < (await market.nextJobId()); jobId++) {
    const state = (await market.getJob(jobId)).state;
    if (state === 3n) await (await market.connect(watcher).settleJob(jobId)).wait();
    if (state === 1n) await (await market.connect(watcher).expireJob(jobId)).wait();
  }
  // Other open jobs of both providers, left running throughout.
  for (const [provider, offerId] of [[providerA, offerA], [providerB, offerB]] as const) {
    for (let i = 0; i < 3; i++) {
      const jobId = await create(clientB, offerId, 2, 7 * DAY);
      await (await market.connect(provider).acceptJob(jobId)).wait();
    }
  }

  // ---- offers
  await measure("createOffer", "3 fresh offer slots; offer counter; backing checked against staking (library call)",
    market.connect(providerA).createOffer(await offerParams(8)));
  await measure("updateOffer", "offer slots 0 and 1; backing checked (library call)",
    market.connect(providerA).updateOffer(offerA, 72, PRICE, (await latest()) + 60 * DAY));

  // ---- provider A's jobs: create, decline, accept, heartbeat, claims, receipts, extend, disputes
  await create(clientA, offerA, 2, 4 * HOUR); // one more creation by this client before measuring
  const { jobId: claimed } = await createMeasured(clientA, offerA, 2, 4 * HOUR);
  const receipted = await create(clientA, offerA, 2, 4 * HOUR);
  const extended = await create(clientA, offerA, 2, 4 * HOUR);
  const resolved = await create(clientA, offerA, 2, 4 * HOUR);
  const finalized = await create(clientA, offerA, 2, 4 * HOUR);
  const abandoned = await create(clientA, offerA, 2, 2 * HOUR);
  const declined = await create(clientA, offerA, 2, 4 * HOUR);
  await measure("declineJob", "job slot 1, gpusLeased; collateral released in staking; escrow refunded",
    market.connect(providerA).declineJob(declined, ethers.encodeBytes32String("busy")));
  await measure("acceptJob", "job slot 1 (startedAt, state), lastHeartbeat", market.connect(providerA).acceptJob(claimed));
  for (const jobId of [receipted, extended, resolved, finalized, abandoned]) {
    await (await market.connect(providerA).acceptJob(jobId)).wait();
  }
  await increase(10 * 60);
  await measure("heartbeat", "lastHeartbeat (provider A has 9 running jobs)", market.connect(providerA).heartbeat());
  await increase(HOUR);
  await measure("claim (first of a job)", "job slot 2 fresh (claimed), lastHeartbeat, pay to provider", market.connect(providerA).claim(claimed));
  {
    const servedUntil = BigInt(await latest());
    await measure(
      "claimWithReceipt (first receipted claim of a job)",
      "signature recovered; job slot 2 fresh (claimed, receiptedSeconds), lastHeartbeat, pay to provider",
      market.connect(providerA).claimWithReceipt(receipted, servedUntil, await receipt(clientA, receipted, servedUntil)),
    );
  }
  await increase(HOUR);
  await measure("claim (later)", "job slot 2, lastHeartbeat, pay to provider", market.connect(providerA).claim(claimed));
  {
    const servedUntil = BigInt(await latest());
    await measure(
      "claimWithReceipt (later)",
      "signature recovered; job slot 2, lastHeartbeat, pay to provider",
      market.connect(providerA).claimWithReceipt(receipted, servedUntil, await receipt(clientA, receipted, servedUntil)),
    );
  }
  {
    const [, escrowBefore] = await market.jobAmounts(extended);
    const extra = (await quotedEscrow(offerA, 2, 5 * HOUR)) - escrowBefore;
    await measure("extendJob", "job slot 1 (duration); extra collateral locked in staking; extra escrow pulled",
      market.connect(clientA).extendJob(extended, HOUR, extra));
  }
  await measure("disputeJob", "job slot 1, gpusLeased, the dispute's fresh slot, bonds held; bond pulled",
    market.connect(clientA).disputeJob(resolved, RESULT));
  await (await market.connect(clientA).disputeJob(finalized, RESULT)).wait();
  await measure("resolveDispute", "job state, fees, bonds held; collateral released; pay, refund and bond out",
    market.connect(governance).resolveDispute(resolved, 5_000, 0n));
  await measure("completeJob", "job slot 1 (endedAt, state), gpusLeased, lastHeartbeat", market.connect(providerA).completeJob(claimed, RESULT));

  // The lifecycle of one more job, each step in the same steady state.
  const lifecycle: number[] = [];
  const { jobId: cycled, gas: createGas } = await createMeasured(clientA, offerA, 2, 4 * HOUR, "createJob (lifecycle)");
  lifecycle.push(createGas);
  lifecycle.push(await measure("acceptJob (lifecycle)", "as acceptJob", market.connect(providerA).acceptJob(cycled)));
  await increase(2 * HOUR);
  lifecycle.push(await measure("completeJob (lifecycle)", "as completeJob", market.connect(providerA).completeJob(cycled, RESULT)));
  await increase(DAY + 1);
  await measure("settleJob", "job state, fees; collateral released in staking; pay to provider, refund to payer",
    market.connect(watcher).settleJob(claimed));
  lifecycle.push(await measure("settleJob (lifecycle)", "as settleJob", market.connect(watcher).settleJob(cycled)));
  await measure("reclaimAbandoned", "job slot 1, gpusLeased, fees; collateral released; pay and refund",
    market.connect(clientA).reclaimAbandoned(abandoned));

  // ---- provider B goes silent: one of its running jobs is reported dark.
  const dark = await create(clientB, offerB, 2, 4 * HOUR);
  await (await market.connect(providerB).acceptJob(dark)).wait();
  await increase(HOUR);
  await measure("reportDark", "job slot 1, gpusLeased, fees; collateral released and SLA credit slashed to the client; pay and refund",
    market.connect(watcher).reportDark(dark));

  await increase(7 * DAY);
  await measure("finalizeStaleDispute", "job state, fees, bonds held; collateral released; pay, refund and bond out",
    market.connect(watcher).finalizeStaleDispute(finalized));

  // ---- report
  const lifecycleGas = lifecycle.reduce((sum, gas) => sum + gas, 0);
  measurements.push({
    call: "lifecycle (create + accept + complete + settle)",
    budgetKey: "lifecycle",
    gas: lifecycleGas,
    note: "sum of the four (lifecycle) rows",
    pays: "",
  });
  const gas: Record<string, number> = {};
  for (const m of measurements) gas[m.call] = m.gas;
  const checks: Record<string, { gas: number; budget: number; pass: boolean }> = {};
  for (const m of measurements) {
    const budget = BUDGETS[m.budgetKey];
    if (budget === undefined || (m.call.includes("(lifecycle)") && m.budgetKey !== "lifecycle")) continue;
    checks[m.call] = { gas: m.gas, budget, pass: m.gas <= budget };
  }
  const pass = Object.values(checks).every((c) => c.pass);
  const report = {
    generatedBy: "scripts/bench-gas.ts",
    network: "hardhat in-process (cancun)",
    compiler: {
      solc: hre.config.solidity.compilers[0]!.version,
      optimizerRuns: hre.config.solidity.compilers[0]!.settings?.optimizer?.runs,
      viaIR: hre.config.solidity.compilers[0]!.settings?.viaIR ?? false,
    },
    measuredFrom: "receipt.gasUsed (21,000 intrinsic and calldata included), steady state",
    gas,
    pays: Object.fromEntries(measurements.filter((m) => m.pays).map((m) => [m.call, m.pays])),
    budgets: BUDGETS,
    checks,
    pass,
  };
  const outDir = path.join(hre.config.paths.root, "bench");
  fs.mkdirSync(outDir, { recursive: true });
  fs.writeFileSync(path.join(outDir, "gas.json"), JSON.stringify(report, null, 2) + "\n");

  console.table(
    measurements.map((m) => {
      const check = checks[m.call];
      return {
        call: m.call,
        gas: m.gas,
        budget: check ? check.budget : "",
        result: check ? (check.pass ? "ok" : `MISS +${check.gas - check.budget}`) : "",
        pays: m.pays,
      };
    }),
  );
  console.log(`${pass ? "all budgets met" : "BUDGET MISSED"}; written to bench/gas.json`);
  if (!pass && process.env.GAS_BENCH_REPORT_ONLY !== "1") process.exitCode = 1;
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});

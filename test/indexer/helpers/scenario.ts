import type { Address } from "viem";
import { PARAMETER_NAMES } from "../../../src/protocol";
import { A100, H100, L40S, MESH, REASON_HASH, RESULT_HASH, RTX4090, USDC, type MarketSession } from "./market";

const HOUR = 3600;
const DAY = 86400;

export interface ScenarioLedger {
  providers: Address[];
  clients: Address[];
  /** Pays for a job it does not run (createJobFor): its refunds come back to it. */
  sponsor: Address;
  arbiter: Address;
  offers: Record<string, bigint>;
  jobs: Record<string, bigint>;
  usdcMinted: Map<Address, bigint>;
  meshMinted: Map<Address, bigint>;
}

/**
 * Several providers and clients through every job path: cancel, decline, expiry with a slash, streaming claims and
 * claims with a usage receipt, an extension, completion, early end, a dark provider reported by a stranger, bonded
 * disputes from running and from completed, resolution with and without a slash (one bond to the provider), a stale
 * dispute finalized by anyone, settlement, reclaim of an abandoned job, a sponsored job; heartbeats (one from an
 * address before it registers); a parameter change mid-way (later jobs follow terms 2); offers repriced, closed,
 * expired and revived; unstake and withdraw; fees withdrawn. `afterStep` runs after each step (e.g. to index).
 */
export async function runFullScenario(m: MarketSession, afterStep: () => Promise<void> = async () => {}): Promise<ScenarioLedger> {
  const [arbiter, p1, p2, p3, c1, c2, c3, p4, sponsor, p5] = m.accounts;
  const ledger: ScenarioLedger = {
    providers: [p1, p2, p3, p4, p5],
    clients: [c1, c2, c3],
    sponsor,
    arbiter,
    offers: {},
    jobs: {},
    usdcMinted: new Map(),
    meshMinted: new Map(),
  };
  const step = afterStep;

  // P5 proves it is alive before it registers: heartbeat() is open to anyone, and the chain remembers it.
  await m.send(p5, "market", "heartbeat", []);
  await m.send(c1, "market", "heartbeat", []);
  for (const [provider, stake] of [[p1, 10_000n], [p2, 10_000n], [p3, 1_000n], [p4, 1_000n], [p5, 500n]] as const) {
    await m.registerProvider(provider, stake * MESH);
    ledger.meshMinted.set(provider, stake * MESH);
  }
  for (const payer of [c1, c2, c3, sponsor]) {
    await m.fund(payer, { usdc: 100_000n * USDC });
    ledger.usdcMinted.set(payer, 100_000n * USDC);
  }
  await step();

  const t0 = await m.latestTimestamp();
  const o = ledger.offers;
  o.O1 = await m.createOffer(p1, { gpuModel: H100, gpus: 8, pricePerGpuHour: 2_500_000n, region: "eu-west", expiresAt: t0 + 60 * DAY });
  o.O2 = await m.createOffer(p1, { gpuModel: A100, gpus: 4, pricePerGpuHour: 1_200_000n, region: "us-east", expiresAt: t0 + 60 * DAY });
  o.O3 = await m.createOffer(p2, { gpuModel: H100, gpus: 16, pricePerGpuHour: 1_999_999n, region: "us-east", expiresAt: t0 + 60 * DAY });
  o.O4 = await m.createOffer(p2, { gpuModel: L40S, gpus: 4, pricePerGpuHour: 900_000n, region: "eu-west", expiresAt: t0 + 2 * HOUR });
  o.O5 = await m.createOffer(p3, { gpuModel: RTX4090, gpus: 2, pricePerGpuHour: 400_000n, region: "ap-south", expiresAt: t0 + 60 * DAY });
  o.O7 = await m.createOffer(p4, { gpuModel: A100, gpus: 2, pricePerGpuHour: 1_300_000n, region: "eu-north", expiresAt: t0 + 60 * DAY });
  await step();

  const j = ledger.jobs;
  j.J1 = await m.createJob(c1, o.O1, 2, HOUR);
  await m.send(c1, "market", "cancelJob", [j.J1]);
  j.J2 = await m.createJob(c2, o.O3, 4, 2 * HOUR);
  j.J3 = await m.createJob(c1, o.O1, 4, 2 * HOUR);
  j.J4 = await m.createJob(c3, o.O3, 8, HOUR);
  j.J5 = await m.createJob(c2, o.O2, 2, 2 * HOUR);
  j.J6 = await m.createJob(c3, o.O5, 1, HOUR);
  j.J7 = await m.createJob(c1, o.O3, 2, HOUR / 2);
  j.J10 = await m.createJob(c1, o.O5, 1, HOUR);
  j.J11 = await m.createJobFor(sponsor, c2, o.O3, 1, HOUR);
  j.J12 = await m.createJob(c2, o.O7, 1, 2 * HOUR);
  await step();
  await m.send(p1, "market", "acceptJob", [j.J3]);
  await m.send(p2, "market", "acceptJob", [j.J4]);
  await m.send(p1, "market", "acceptJob", [j.J5]);
  await m.send(p3, "market", "acceptJob", [j.J6]);
  await m.send(p2, "market", "acceptJob", [j.J7]);
  await m.send(p4, "market", "acceptJob", [j.J12]);
  // The sponsor's job is declined: the full escrow goes back to the sponsor, not to the client.
  await m.send(p2, "market", "declineJob", [j.J11, REASON_HASH]);
  // P3 moves all its free stake to unbonding; J10's collateral was reserved at creation, so its expiry slash still
  // has something to take, and the unbonding stake is never touched.
  const p3Account = await m.read<{ staked: bigint; locked: bigint }>("staking", "account", [p3]);
  await m.send(p3, "staking", "requestUnstake", [p3Account.staked - p3Account.locked]);
  await m.send(p1, "market", "updateOffer", [o.O1, 8, 2_200_000n, t0 + 60 * DAY]);
  await step();

  await m.increaseTime(900);
  await m.send(p1, "market", "claim", [j.J3]);
  await m.send(p2, "market", "claim", [j.J7]);
  // C1 acknowledges J3's first 15 minutes; the provider claims with the receipt.
  const servedUntil = BigInt(await m.latestTimestamp());
  await m.send(p1, "market", "claimWithReceipt", [j.J3, servedUntil, await m.signReceipt(c1, j.J3, servedUntil)]);
  await m.send(p2, "market", "heartbeat", []);
  await step();

  await m.increaseTime(900);
  await m.send(c3, "market", "endJobEarly", [j.J4]);
  await m.send(p1, "market", "completeJob", [j.J3, RESULT_HASH]);
  await m.send(c2, "market", "disputeJob", [j.J5, REASON_HASH]);
  await m.send(p3, "market", "completeJob", [j.J6, RESULT_HASH]);
  await m.send(c3, "market", "disputeJob", [j.J6, REASON_HASH]);
  await step();

  await m.increaseTime(1000);
  await m.send(c3, "market", "expireJob", [j.J2]);
  await m.send(c3, "market", "expireJob", [j.J10]);
  // P4 has shown no sign of life since it accepted J12, 2800 s ago (liveness timeout 900 s): a stranger reports it.
  await m.send(c3, "market", "reportDark", [j.J12]);
  const [, , j5Collateral] = await m.read<[bigint, bigint, bigint]>("market", "jobAmounts", [j.J5]);
  await m.send(arbiter, "market", "resolveDispute", [j.J5, 5000, j5Collateral / 2n]);
  await m.send(arbiter, "market", "resolveDispute", [j.J6, 10_000, 0n]);
  j.J8 = await m.createJob(c2, o.O1, 1, HOUR);
  j.J9 = await m.createJob(c3, o.O2, 1, 2 * HOUR);
  await m.send(p1, "market", "acceptJob", [j.J9]);
  // Governance doubles the dispute bond: jobs created from now on follow terms 2, J1..J12 keep terms 1.
  await m.send(arbiter, "market", "setParameter", [PARAMETER_NAMES.indexOf("disputeBondBps"), 1_000n]);
  j.J13 = await m.createJob(c1, o.O3, 2, 3 * HOUR);
  await m.send(p2, "market", "acceptJob", [j.J13]);
  await step();

  await m.increaseTime(HOUR);
  await m.send(c3, "market", "extendJob", [j.J9, HOUR, 2n ** 96n]);
  await m.send(c1, "market", "disputeJob", [j.J13, REASON_HASH]);
  await step();

  await m.increaseTime(3 * HOUR);
  await m.send(c1, "market", "reclaimAbandoned", [j.J7]);
  await m.send(p1, "market", "claim", [j.J9]);
  const now = await m.latestTimestamp();
  // O4 expired an hour ago: updating it reopens it.
  await m.send(p2, "market", "updateOffer", [o.O4, 6, 950_000n, now + 10 * DAY]);
  await m.send(p2, "market", "closeOffer", [o.O3]);
  await step();

  await m.increaseTime(25 * HOUR);
  await m.send(c1, "market", "settleJob", [j.J3]);
  await m.send(p2, "market", "settleJob", [j.J4]);
  await m.send(p1, "staking", "requestUnstake", [500n * MESH]);
  await step();

  await m.increaseTime(7 * DAY + 1);
  await m.send(p1, "staking", "withdrawStake", []);
  await m.send(arbiter, "market", "withdrawFees", []);
  // Nobody resolved J13 within the resolve window: anyone may finalize it (no fault, bond back, no slash).
  await m.send(c3, "market", "finalizeStaleDispute", [j.J13]);
  const later = await m.latestTimestamp();
  o.O6 = await m.createOffer(p1, { gpuModel: H100, gpus: 2, pricePerGpuHour: 1_000_000n, region: "eu-west", expiresAt: later + HOUR });
  // J14 stays disputed: its bond is held at the end.
  j.J14 = await m.createJob(c2, o.O2, 1, HOUR);
  await m.send(p1, "market", "acceptJob", [j.J14]);
  await m.increaseTime(600);
  await m.send(c2, "market", "disputeJob", [j.J14, REASON_HASH]);
  await step();
  // O6 expires with no event: the next indexed block's timestamp does it.
  await m.increaseTime(2 * HOUR);
  await step();
  return ledger;
}

import type { Address } from "viem";
import { A100, H100, L40S, MESH, REASON_HASH, RESULT_HASH, RTX4090, USDC, type MarketSession } from "./market";

const HOUR = 3600;
const DAY = 86400;

export interface ScenarioLedger {
  providers: Address[];
  clients: Address[];
  arbiter: Address;
  offers: Record<string, bigint>;
  jobs: Record<string, bigint>;
  /** Jobs that ended by expiry (the contract calls them Cancelled too). */
  expiredJobs: bigint[];
  usdcMinted: Map<Address, bigint>;
  meshMinted: Map<Address, bigint>;
}

/**
 * Several providers and clients through every job path: cancel, expiry with a slash (one from unbonding stake),
 * streaming claims, completion, early end, dispute from running and from completed, resolution with and without a
 * slash, settlement, reclaim of an abandoned job; offers repriced, closed, expired and revived; unstake and withdraw;
 * fees withdrawn. `afterStep` runs after each step (e.g. to index incrementally).
 */
export async function runFullScenario(m: MarketSession, afterStep: () => Promise<void> = async () => {}): Promise<ScenarioLedger> {
  const [arbiter, p1, p2, p3, c1, c2, c3] = m.accounts;
  const ledger: ScenarioLedger = {
    providers: [p1, p2, p3],
    clients: [c1, c2, c3],
    arbiter,
    offers: {},
    jobs: {},
    expiredJobs: [],
    usdcMinted: new Map(),
    meshMinted: new Map(),
  };
  const step = afterStep;

  await m.registerProvider(p1, 10_000n * MESH);
  await m.registerProvider(p2, 10_000n * MESH);
  await m.registerProvider(p3, 1_000n * MESH);
  ledger.meshMinted.set(p1, 10_000n * MESH).set(p2, 10_000n * MESH).set(p3, 1_000n * MESH);
  for (const client of [c1, c2, c3]) {
    await m.fund(client, { usdc: 100_000n * USDC });
    ledger.usdcMinted.set(client, 100_000n * USDC);
  }
  await step();

  const t0 = await m.latestTimestamp();
  const o = ledger.offers;
  o.O1 = await m.createOffer(p1, { gpuModel: H100, gpus: 8, pricePerGpuHour: 2_500_000n, region: "eu-west", expiresAt: t0 + 60 * DAY });
  o.O2 = await m.createOffer(p1, { gpuModel: A100, gpus: 4, pricePerGpuHour: 1_200_000n, region: "us-east", expiresAt: t0 + 60 * DAY });
  o.O3 = await m.createOffer(p2, { gpuModel: H100, gpus: 16, pricePerGpuHour: 1_999_999n, region: "us-east", expiresAt: t0 + 60 * DAY });
  o.O4 = await m.createOffer(p2, { gpuModel: L40S, gpus: 4, pricePerGpuHour: 900_000n, region: "eu-west", expiresAt: t0 + 2 * HOUR });
  o.O5 = await m.createOffer(p3, { gpuModel: RTX4090, gpus: 2, pricePerGpuHour: 400_000n, region: "ap-south", expiresAt: t0 + 60 * DAY });
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
  await step();
  await m.send(p1, "market", "acceptJob", [j.J3]);
  await m.send(p2, "market", "acceptJob", [j.J4]);
  await m.send(p1, "market", "acceptJob", [j.J5]);
  await m.send(p3, "market", "acceptJob", [j.J6]);
  await m.send(p2, "market", "acceptJob", [j.J7]);
  // P3 moves everything it can into unbonding: J10's expiry slash must come from unbonding stake.
  const p3Account = await m.read<{ staked: bigint; locked: bigint }>("staking", "account", [p3]);
  await m.send(p3, "staking", "requestUnstake", [p3Account.staked - p3Account.locked]);
  await m.send(p1, "market", "updateOffer", [o.O1, 8, 2_200_000n, t0 + 60 * DAY]);
  await step();

  await m.increaseTime(900);
  await m.send(p1, "market", "claim", [j.J3]);
  await m.send(p2, "market", "claim", [j.J7]);
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
  ledger.expiredJobs.push(j.J2, j.J10);
  const j5 = await m.read<{ pricePerGpuHour: bigint; gpus: number; duration: number }>("market", "getJob", [j.J5]);
  const j5Collateral = ((((j5.pricePerGpuHour * BigInt(j5.gpus) * BigInt(j5.duration) + 3599n) / 3600n) * 5000n + 9999n) / 10000n) * 10n ** 12n;
  await m.send(arbiter, "market", "resolveDispute", [j.J5, 5000, j5Collateral / 2n]);
  await m.send(arbiter, "market", "resolveDispute", [j.J6, 10_000, 0n]);
  j.J8 = await m.createJob(c2, o.O1, 1, HOUR);
  j.J9 = await m.createJob(c3, o.O2, 1, 2 * HOUR);
  await m.send(p1, "market", "acceptJob", [j.J9]);
  await step();

  await m.increaseTime(4 * HOUR);
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
  const later = await m.latestTimestamp();
  o.O6 = await m.createOffer(p1, { gpuModel: H100, gpus: 2, pricePerGpuHour: 1_000_000n, region: "eu-west", expiresAt: later + HOUR });
  await step();
  // O6 expires with no event: the next indexed block's timestamp does it.
  await m.increaseTime(2 * HOUR);
  await step();
  return ledger;
}

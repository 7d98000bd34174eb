import { expect } from "chai";
import { loadFixture, time } from "@nomicfoundation/hardhat-toolbox/network-helpers";
import type { HardhatEthersSigner } from "@nomicfoundation/hardhat-ethers/signers";
import { HOUR, MESH, PRICE, REASON_HASH, RESULT_HASH, SPEC_HASH, createOffer, deployedFixture, registerAndStake } from "./helpers";

const TERMINAL = new Set([5n, 6n, 7n, 8n]); // Settled, Resolved, Cancelled, Reclaimed
const STEPS = 250;

/** Mulberry32: a small seeded generator, so every run takes the same path. */
function prng(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

async function invariantFixture() {
  const env = await deployedFixture();
  const { provider, provider2 } = env.actors;
  await registerAndStake(env, provider, 2_000n * MESH);
  await registerAndStake(env, provider2, 2_000n * MESH);
  const offers = [
    await createOffer(env, provider, { gpus: 6 }),
    await createOffer(env, provider, { gpus: 2, pricePerGpuHour: 3_333_333n }),
    await createOffer(env, provider2, { gpus: 4, pricePerGpuHour: 999_999n }),
  ];
  return { ...env, offers };
}

describe("invariants under a seeded random sequence of calls", function () {
  it(`holds invariants 1-5 after each of ${STEPS} random calls`, async function () {
    const env = await loadFixture(invariantFixture);
    const { market, staking, payment, stake, actors, offers, marketAddress, stakingAddress } = env;
    const { provider, provider2, client, client2, sponsor, stranger, governance } = actors;
    const providers = [provider, provider2];
    const clients = [client, client2];
    const everyone = Object.values(actors);
    const random = prng(0x6a09e667);
    const pick = <T>(items: T[]): T => items[Math.floor(random() * items.length)];
    const providerSigner = async (offerId: bigint) => {
      const owner = (await market.getOffer(offerId)).provider;
      return providers.find((p) => p.address === owner)!;
    };
    const lastState = new Map<bigint, bigint>();
    const counts: Record<string, number> = {};

    /** Sends a call that the rules may refuse: a custom error is fine, a panic or a bare revert is a bug. */
    async function attempt(name: string, send: () => Promise<unknown>) {
      try {
        await send();
        counts[name] = (counts[name] ?? 0) + 1;
      } catch (error) {
        const message = String((error as Error).message);
        expect(message, `${name}: ${message}`).to.match(/reverted with custom error/);
      }
    }

    async function jobsIn(...states: bigint[]) {
      const ids: bigint[] = [];
      for (const [id, state] of lastState) if (states.includes(state)) ids.push(id);
      return ids;
    }

    async function checkInvariants(step: number) {
      const nextJobId = await market.nextJobId();
      let openEscrow = 0n;
      const reserved = new Map<bigint, bigint>();
      for (let id = 1n; id < nextJobId; id++) {
        const job = await market.getJob(id);
        if (job.state === 1n || job.state === 2n) reserved.set(job.offerId, (reserved.get(job.offerId) ?? 0n) + job.gpus);
        const previous = lastState.get(id);
        // 5. terminal states stay terminal.
        if (previous !== undefined && TERMINAL.has(previous)) expect(job.state, `step ${step} job ${id}`).to.equal(previous);
        lastState.set(id, job.state);
        // The job's escrow not yet paid out stays in the market until its end.
        if (!TERMINAL.has(job.state)) openEscrow += job.escrow - job.claimed;
        // 4. streamed pay never exceeds the escrow less its fee.
        expect(job.claimed).to.be.lessThanOrEqual(job.escrow);
      }
      let credits = 0n;
      let stakeCredits = 0n;
      for (const account of everyone) {
        credits += await market.balanceOf(account.address);
        stakeCredits += await staking.credit(account.address);
      }
      // 1. payment token held == open escrow + credited balances + accrued fees.
      expect(await payment.balanceOf(marketAddress), `step ${step}: market holding`).to.equal(
        openEscrow + credits + (await market.feesAccrued()),
      );
      // 2. stake token held == staked + unbonding + unwithdrawn slash credits.
      let staked = 0n;
      for (const p of providers) {
        const account = await staking.account(p.address);
        staked += account.staked + account.unbonding;
        // 3. locked <= staked.
        expect(account.locked, `step ${step}: locked`).to.be.lessThanOrEqual(account.staked);
      }
      expect(await stake.balanceOf(stakingAddress), `step ${step}: staking holding`).to.equal(staked + stakeCredits);
      // 3. gpusLeased <= gpus, and equals the GPUs of the offer's Created and Running jobs.
      for (const offerId of offers) {
        const offer = await market.getOffer(offerId);
        expect(offer.gpusLeased).to.be.lessThanOrEqual(offer.gpus);
        expect(offer.gpusLeased, `step ${step}: offer ${offerId} leased`).to.equal(reserved.get(offerId) ?? 0n);
      }
    }

    for (let step = 0; step < STEPS; step++) {
      const roll = random();
      const clientSigner: HardhatEthersSigner = pick(clients);
      if (roll < 0.16) {
        const offerId = pick(offers);
        const gpus = 1 + Math.floor(random() * 3);
        const duration = pick([600, 3_601, 2 * HOUR, 5 * HOUR]);
        if (random() < 0.3) {
          await attempt("createJobFor", () =>
            market.connect(sponsor).createJobFor(clientSigner.address, offerId, gpus, duration, 10n * PRICE, SPEC_HASH),
          );
        } else {
          await attempt("createJob", () =>
            market.connect(clientSigner).createJob(offerId, gpus, duration, 10n * PRICE, SPEC_HASH),
          );
        }
      } else if (roll < 0.32) {
        const ids = await jobsIn(1n);
        if (ids.length) {
          const id = pick(ids);
          const signer = await providerSigner((await market.getJob(id)).offerId);
          await attempt("acceptJob", () => market.connect(signer).acceptJob(id));
        }
      } else if (roll < 0.35) {
        const ids = await jobsIn(1n);
        if (ids.length) {
          const id = pick(ids);
          const jobClient = (await market.getJob(id)).client;
          await attempt("cancelJob", () => market.connect(clients.find((c) => c.address === jobClient)!).cancelJob(id));
        }
      } else if (roll < 0.38) {
        const ids = await jobsIn(1n);
        if (ids.length) await attempt("expireJob", () => market.connect(stranger).expireJob(pick(ids)));
      } else if (roll < 0.5) {
        const ids = await jobsIn(2n);
        if (ids.length) {
          const id = pick(ids);
          const signer = await providerSigner((await market.getJob(id)).offerId);
          if (random() < 0.5) await attempt("claim", () => market.connect(signer).claim(id));
          else await attempt("completeJob", () => market.connect(signer).completeJob(id, RESULT_HASH));
        }
      } else if (roll < 0.58) {
        const ids = await jobsIn(2n, 3n);
        if (ids.length) {
          const id = pick(ids);
          const job = await market.getJob(id);
          const signer = clients.find((c) => c.address === job.client)!;
          const choice = random();
          if (choice < 0.35 && job.state === 2n) await attempt("endJobEarly", () => market.connect(signer).endJobEarly(id));
          else if (choice < 0.7) await attempt("disputeJob", () => market.connect(signer).disputeJob(id, REASON_HASH));
          else await attempt("reclaimAbandoned", () => market.connect(signer).reclaimAbandoned(id));
        }
      } else if (roll < 0.66) {
        const ids = await jobsIn(3n);
        if (ids.length) await attempt("settleJob", () => market.connect(stranger).settleJob(pick(ids)));
      } else if (roll < 0.72) {
        const ids = await jobsIn(4n);
        if (ids.length) {
          const id = pick(ids);
          const job = await market.getJob(id);
          const cost = (job.pricePerGpuHour * job.gpus * job.duration + 3_599n) / 3_600n;
          const collateral = ((cost * job.collateralBps + 9_999n) / 10_000n) * 10n ** 12n;
          const share = Math.floor(random() * 10_001);
          const slash = random() < 0.5 ? 0n : (collateral * BigInt(Math.floor(random() * 101))) / 100n;
          await attempt("resolveDispute", () => market.connect(governance).resolveDispute(id, share, slash));
        }
      } else if (roll < 0.76) {
        const p = pick(providers);
        if (random() < 0.5) await attempt("requestUnstake", () => staking.connect(p).requestUnstake(50n * MESH));
        else await attempt("withdrawStake", () => staking.connect(p).withdrawStake());
      } else if (roll < 0.79) {
        await attempt("stake", () => staking.connect(pick(providers)).stake(25n * MESH));
      } else if (roll < 0.82) {
        const offerId = pick(offers);
        const signer = await providerSigner(offerId);
        const gpus = 1 + Math.floor(random() * 6);
        await attempt("updateOffer", async () =>
          market.connect(signer).updateOffer(offerId, gpus, PRICE + BigInt(Math.floor(random() * 1_000)), (await time.latest()) + 90 * 24 * HOUR),
        );
      } else if (roll < 0.84) {
        await attempt("withdrawFees", () => market.connect(stranger).withdrawFees());
      } else {
        await time.increase(pick([60, 600, HOUR, 3 * HOUR, 25 * HOUR]));
      }
      await checkInvariants(step);
    }
    console.log(`      successful calls: ${JSON.stringify(counts)}`);
    // The sequence must have exercised the machine, not just refused calls.
    for (const name of ["createJob", "acceptJob", "claim", "completeJob", "settleJob", "disputeJob", "resolveDispute", "expireJob"]) {
      expect(counts[name] ?? 0, `${name} never succeeded: ${JSON.stringify(counts)}`).to.be.greaterThan(0);
    }
  });
});

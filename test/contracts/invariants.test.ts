import { expect } from "chai";
import { ethers } from "hardhat";
import { loadFixture, time } from "@nomicfoundation/hardhat-toolbox/network-helpers";
import type { HardhatEthersSigner } from "@nomicfoundation/hardhat-ethers/signers";
import type { ContractTransactionReceipt, ContractTransactionResponse, Log } from "ethers";
import { CHAIN_JOB_STATES, OPEN_JOB_STATES, PARAMETER_NAMES, jobStateName } from "../../src/protocol";
import {
  HOUR,
  JobState,
  MESH,
  PRICE,
  REASON_HASH,
  RESULT_HASH,
  SPEC_HASH,
  STAKE_PER_PAYMENT_UNIT,
  costUp,
  createOffer,
  deployedFixture,
  offerExpiry,
  registerAndStake,
  signReceipt,
} from "./helpers";

const STEPS = 400;
/** INVARIANTS_TRACE=1 prints every call's events and every refusal. */
const TRACE = process.env.INVARIANTS_TRACE === "1";
const DAY = 24 * HOUR;
const YEAR = 365 * DAY - 60;

/** PROTOCOL.md's state machine: the only transitions there are (invariant 5). */
const TRANSITIONS: Record<string, string[]> = {
  Created: ["Running", "Cancelled", "Declined", "Expired"],
  Running: ["Completed", "Disputed", "Reclaimed", "Dark"],
  Completed: ["Settled", "Disputed"],
  Disputed: ["Resolved"],
};
const stateName = (state: bigint) => CHAIN_JOB_STATES[Number(state)]!;
const isOpen = (state: bigint) => OPEN_JOB_STATES.has(jobStateName(Number(state)));

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
    await createOffer(env, provider, { gpus: 12, expiresAt: await offerExpiry(YEAR) }),
    await createOffer(env, provider, { gpus: 4, pricePerGpuHour: 3_333_333n, expiresAt: await offerExpiry(YEAR) }),
    await createOffer(env, provider2, { gpus: 8, pricePerGpuHour: 999_999n, expiresAt: await offerExpiry(YEAR) }),
  ];
  return { ...env, offers };
}

/** What the events of one job say went in and out of the market for it (invariant 4). */
interface JobMoney {
  pulled: bigint;
  bond: bigint;
  paidOut: bigint;
  claimed: bigint;
  terminalEvents: number;
  collateralLocked: bigint;
  slashed: bigint;
}

describe("invariants under a seeded random sequence of calls", function () {
  it(`holds invariants 1-8 after each of ${STEPS} random calls, v2 actions and governance included`, async function () {
    const env = await loadFixture(invariantFixture);
    const { market, staking, payment, stake, actors, offers, marketAddress, stakingAddress } = env;
    const { provider, provider2, client, client2, sponsor, stranger, governance } = actors;
    const providers = [provider, provider2];
    const clients = [client, client2];
    const everyone = Object.values(actors);
    const random = prng(0x6a09e667);
    const pick = <T>(items: T[]): T => items[Math.floor(random() * items.length)]!;
    const lastState = new Map<bigint, bigint>();
    const money = new Map<bigint, JobMoney>();
    const unbonding = new Map<string, bigint>(providers.map((p) => [p.address, 0n]));
    const counts: Record<string, number> = {};
    let paused = false;

    const jobMoney = (jobId: bigint) => {
      if (!money.has(jobId)) {
        money.set(jobId, { pulled: 0n, bond: 0n, paidOut: 0n, claimed: 0n, terminalEvents: 0, collateralLocked: 0n, slashed: 0n });
      }
      return money.get(jobId)!;
    };

    /** Books a successful call's events: money in and out per job, collateral, slashes, unbonding. */
    function record(receipt: ContractTransactionReceipt) {
      for (const log of receipt.logs as Log[]) {
        const fromMarket = log.address.toLowerCase() === marketAddress.toLowerCase();
        const fromStaking = log.address.toLowerCase() === stakingAddress.toLowerCase();
        const parsed = fromMarket ? market.interface.parseLog(log) : fromStaking ? staking.interface.parseLog(log) : null;
        if (!parsed) continue;
        const a = parsed.args;
        const terminal = (jobId: bigint, out: bigint) => {
          const m = jobMoney(jobId);
          m.paidOut += out;
          m.terminalEvents += 1;
        };
        switch (`${fromMarket ? "market" : "staking"}.${parsed.name}`) {
          case "market.JobCreated":
            jobMoney(a.jobId).pulled += a.escrow;
            break;
          case "market.JobExtended":
            jobMoney(a.jobId).pulled += a.extraEscrow;
            break;
          case "market.JobDisputed":
            jobMoney(a.jobId).pulled += a.bond;
            jobMoney(a.jobId).bond = a.bond;
            break;
          case "market.JobClaimed":
            jobMoney(a.jobId).paidOut += a.amount;
            jobMoney(a.jobId).claimed += a.amount;
            break;
          case "market.JobCancelled":
            terminal(a.jobId, a.refund + a.cancelFee);
            break;
          case "market.JobDeclined":
          case "market.JobExpired":
            terminal(a.jobId, a.refund);
            break;
          case "market.JobSettled":
          case "market.JobReclaimed":
          case "market.JobDark":
            terminal(a.jobId, a.providerPay + a.protocolFee + a.refund);
            break;
          case "market.JobResolved":
          case "market.JobDisputeFinalized":
            // The bond leaves too, to the client or the provider.
            terminal(a.jobId, a.providerPay + a.protocolFee + a.refund + jobMoney(a.jobId).bond);
            break;
          case "staking.CollateralLocked":
            jobMoney(a.jobId).collateralLocked += a.amount;
            break;
          case "staking.Slashed":
            jobMoney(a.jobId).slashed += a.toClient + a.toTreasury;
            break;
          case "staking.UnstakeRequested":
            unbonding.set(a.provider, unbonding.get(a.provider)! + a.amount);
            break;
          case "staking.StakeWithdrawn":
            unbonding.set(a.provider, unbonding.get(a.provider)! - a.amount);
            break;
        }
      }
    }

    /** Sends a call that the rules may refuse: a custom error is fine, a panic or a bare revert is a bug. */
    async function attempt(name: string, send: () => Promise<ContractTransactionResponse>) {
      try {
        const receipt = await (await send()).wait();
        record(receipt!);
        counts[name] = (counts[name] ?? 0) + 1;
        if (TRACE) {
          for (const log of receipt!.logs) {
            const parsed = market.interface.parseLog(log) ?? staking.interface.parseLog(log);
            if (parsed) console.log("  ok", name, parsed.name, parsed.args.map(String).join(" "));
          }
        }
        return true;
      } catch (error) {
        const message = String((error as Error).message);
        // Hardhat names the custom errors of contracts it recognizes; for the others, decode the selector ourselves.
        const unrecognized = /unrecognized custom error \(return data: (0x[0-9a-f]*)\)/.exec(message);
        if (unrecognized) {
          const data = unrecognized[1]!;
          const decoded = [market.interface, staking.interface, payment.interface].map((i) => i.parseError(data)).find(Boolean);
          expect(decoded, `${name}: ${message}`).to.not.equal(undefined);
        } else {
          expect(message, `${name}: ${message}`).to.match(/reverted with custom error/);
        }
        if (TRACE) console.log(name, message.slice(0, 160));
        return false;
      }
    }

    /** Invariant 6: a call no rule allows must revert, and nothing may move. */
    async function forbidden(name: string, send: () => Promise<ContractTransactionResponse>) {
      const before = [await payment.balanceOf(marketAddress), await stake.balanceOf(stakingAddress)];
      expect(await attempt(name, send), `${name} went through`).to.equal(false);
      expect([await payment.balanceOf(marketAddress), await stake.balanceOf(stakingAddress)]).to.deep.equal(before);
    }

    const jobsIn = (...states: string[]) => [...lastState].filter(([, s]) => states.includes(stateName(s))).map(([id]) => id);
    const providerOf = async (jobId: bigint) => {
      const owner = (await market.getOffer((await market.getJob(jobId)).offerId)).provider;
      return providers.find((p) => p.address === owner)!;
    };
    const clientOf = async (jobId: bigint) => {
      const owner = (await market.getJob(jobId)).client;
      return clients.find((c) => c.address === owner)!;
    };
    const payerOf = async (jobId: bigint) => {
      const owner = await market.payerOf(jobId);
      return everyone.find((s) => s.address === owner)!;
    };

    async function checkInvariants(step: number) {
      const at = `step ${step}`;
      const nextJobId = await market.nextJobId();
      let openEscrow = 0n;
      let bonds = 0n;
      const leased = new Map<bigint, bigint>();
      const locked = new Map<string, bigint>();
      for (let id = 1n; id < nextJobId; id++) {
        const job = await market.getJob(id);
        const previous = lastState.get(id);
        // 5. only the drawn transitions; terminal states stay terminal.
        if (previous !== undefined && previous !== job.state) {
          expect(TRANSITIONS[stateName(previous)] ?? [], `${at} job ${id}: ${stateName(previous)} -> ${stateName(job.state)}`)
            .to.include(stateName(job.state));
        }
        if (previous === undefined) expect(job.state, `${at} job ${id} is new`).to.equal(JobState.Created);
        lastState.set(id, job.state);
        const m = jobMoney(id);
        // 4. paid out at most once; a terminal job paid out exactly what was pulled for it.
        expect(m.terminalEvents, `${at} job ${id} terminal events`).to.equal(isOpen(job.state) ? 0 : 1);
        if (!isOpen(job.state)) {
          expect(m.paidOut, `${at} job ${id}: out == in`).to.equal(m.pulled);
          continue;
        }
        expect(m.claimed).to.equal(job.claimed);
        const [cost, escrow, collateral] = await market.jobAmounts(id);
        // 1. an open job's escrow not yet paid out stays in the market.
        openEscrow += escrow - job.claimed;
        const bond = job.state === JobState.Disputed ? (await market.getDispute(id)).bond : 0n;
        bonds += bond;
        expect(m.pulled - m.claimed, `${at} job ${id} holding`).to.equal(escrow - job.claimed + bond);
        // 7. claimed <= receipted pay + what the collateral can take back.
        const receiptedPay = costUp(job.pricePerGpuHour, job.gpus, job.receiptedSeconds);
        expect(job.claimed, `${at} job ${id} claim cap`).to.be.lessThanOrEqual(receiptedPay + collateral / STAKE_PER_PAYMENT_UNIT);
        expect(job.claimed).to.be.lessThanOrEqual(cost);
        // 3. locked == the collateral of the provider's open jobs; leased == the GPUs of its Created and Running jobs.
        const owner = (await market.getOffer(job.offerId)).provider;
        locked.set(owner, (locked.get(owner) ?? 0n) + collateral);
        expect(m.collateralLocked, `${at} job ${id} locked`).to.equal(collateral);
        if (job.state === JobState.Created || job.state === JobState.Running) {
          leased.set(job.offerId, (leased.get(job.offerId) ?? 0n) + job.gpus);
        }
      }
      // 8. every slash came out of its own job's reserved collateral, never more.
      for (const [id, m] of money) expect(m.slashed, `${at} job ${id} slashed`).to.be.lessThanOrEqual(m.collateralLocked);

      let credits = 0n;
      let stakeCredits = 0n;
      for (const account of everyone) {
        credits += await market.balanceOf(account.address);
        stakeCredits += await staking.credit(account.address);
      }
      expect(await market.disputeBondsHeld(), `${at}: bonds held`).to.equal(bonds);
      // 1. payment token held == open escrow + dispute bonds + credited balances + accrued fees.
      expect(await payment.balanceOf(marketAddress), `${at}: market holding`).to.equal(
        openEscrow + bonds + credits + (await market.feesAccrued()),
      );
      // 2. stake token held == staked + unbonding + unwithdrawn slash credits.
      let staked = 0n;
      for (const p of providers) {
        const account = await staking.account(p.address);
        staked += account.staked + account.unbonding;
        // 3. locked <= staked, and locked == the sum of the collateral of its open jobs.
        expect(account.locked, `${at}: locked <= staked`).to.be.lessThanOrEqual(account.staked);
        expect(account.locked, `${at}: locked of ${p.address}`).to.equal(locked.get(p.address) ?? 0n);
        // 8. unbonding stake is never slashed: it moves only by requests and withdrawals.
        expect(account.unbonding, `${at}: unbonding of ${p.address}`).to.equal(unbonding.get(p.address));
      }
      expect(await stake.balanceOf(stakingAddress), `${at}: staking holding`).to.equal(staked + stakeCredits);
      for (const offerId of offers) {
        const offer = await market.getOffer(offerId);
        expect(offer.gpusLeased).to.be.lessThanOrEqual(offer.gpus);
        expect(offer.gpusLeased, `${at}: offer ${offerId} leased`).to.equal(leased.get(offerId) ?? 0n);
      }
    }

    for (let step = 0; step < STEPS; step++) {
      const roll = random();
      const clientSigner: HardhatEthersSigner = pick(clients);
      if (roll < 0.16) {
        const offerId = pick(offers);
        const gpus = 1 + Math.floor(random() * 3);
        const duration = pick([600, 3_601, 2 * HOUR, 5 * HOUR]);
        const [, , escrow] = await market.quote(offerId, gpus, duration);
        // Now and then the caller's maximum is one unit short: JobMarketEscrowAboveMax.
        const maxEscrow = random() < 0.1 ? escrow - 1n : escrow;
        const jobId = await market.nextJobId();
        const created =
          random() < 0.3
            ? await attempt("createJobFor", () =>
                market.connect(sponsor).createJobFor(clientSigner.address, offerId, gpus, duration, 10n * PRICE, maxEscrow, SPEC_HASH),
              )
            : await attempt("createJob", () =>
                market.connect(clientSigner).createJob(offerId, gpus, duration, 10n * PRICE, maxEscrow, SPEC_HASH),
              );
        // Provider agents mostly accept at once; the accept window may be as short as a minute.
        if (created && random() < 0.6) {
          await checkInvariants(step);
          const signer = await providerOf(jobId);
          await attempt("acceptJob", () => market.connect(signer).acceptJob(jobId));
        }
      } else if (roll < 0.3) {
        const ids = jobsIn("Created");
        if (ids.length) {
          const id = pick(ids);
          const signer = await providerOf(id);
          const choice = random();
          if (choice < 0.55) await attempt("acceptJob", () => market.connect(signer).acceptJob(id));
          else if (choice < 0.7) await attempt("declineJob", () => market.connect(signer).declineJob(id, REASON_HASH));
          else if (choice < 0.8) await attempt("cancelJob", async () => market.connect(await clientOf(id)).cancelJob(id));
          else await attempt("expireJob", () => market.connect(stranger).expireJob(id));
        }
      } else if (roll < 0.46) {
        const ids = jobsIn("Running");
        if (ids.length) {
          const id = pick(ids);
          const signer = await providerOf(id);
          const choice = random();
          if (choice < 0.3) await attempt("claim", () => market.connect(signer).claim(id));
          else if (choice < 0.55) await attempt("heartbeat", () => market.connect(signer).heartbeat());
          else if (choice < 0.8) {
            const job = await market.getJob(id);
            const servedUntil = job.startedAt + BigInt(Math.floor(random() * Number(job.duration) * 1.2));
            const signature = await signReceipt(env, await clientOf(id), id, servedUntil);
            await attempt("claimWithReceipt", () => market.connect(signer).claimWithReceipt(id, servedUntil, signature));
          } else await attempt("completeJob", () => market.connect(signer).completeJob(id, RESULT_HASH));
        }
      } else if (roll < 0.56) {
        const ids = jobsIn("Running", "Completed", "Disputed");
        if (ids.length) {
          const id = pick(ids);
          const job = await market.getJob(id);
          const signer = await clientOf(id);
          const choice = random();
          if (choice < 0.2 && job.state === JobState.Running) await attempt("endJobEarly", () => market.connect(signer).endJobEarly(id));
          else if (choice < 0.45) await attempt("disputeJob", () => market.connect(signer).disputeJob(id, REASON_HASH));
          else if (choice < 0.6) await attempt("reclaimAbandoned", () => market.connect(signer).reclaimAbandoned(id));
          else if (choice < 0.8) {
            const payer = await payerOf(id);
            await attempt("extendJob", () => market.connect(payer).extendJob(id, pick([600, 3_600]), ethers.MaxUint256));
          } else {
            // The provider may sign receipts' worth of claims after completion and during disputes too.
            const servedUntil = job.endedAt > 0n ? job.endedAt : job.startedAt + 60n;
            const signature = await signReceipt(env, signer, id, servedUntil);
            await attempt("claimWithReceipt", async () => market.connect(await providerOf(id)).claimWithReceipt(id, servedUntil, signature));
          }
        }
      } else if (roll < 0.61) {
        // Watchers report the jobs that look dark (darkAt passed) and, now and then, one that does not.
        const ids = jobsIn("Running");
        const now = BigInt(await time.latest());
        const dark = [];
        for (const id of ids) {
          const darkAt = await market.darkAt(id);
          if (darkAt !== 0n && darkAt < now) dark.push(id);
        }
        const candidates = dark.length && random() < 0.8 ? dark : ids;
        if (candidates.length) await attempt("reportDark", () => market.connect(stranger).reportDark(pick(candidates)));
      } else if (roll < 0.67) {
        const ids = jobsIn("Completed");
        if (ids.length) await attempt("settleJob", () => market.connect(stranger).settleJob(pick(ids)));
      } else if (roll < 0.73) {
        const ids = jobsIn("Disputed");
        if (ids.length) {
          const id = pick(ids);
          if (random() < 0.6) {
            const [, , collateral] = await market.jobAmounts(id);
            const share = random() < 0.3 ? pick([0, 10_000]) : Math.floor(random() * 10_001);
            // Some slashes exceed what the collateral has left: JobMarketSlashAboveCollateral.
            const slash = random() < 0.5 ? 0n : (collateral * BigInt(Math.floor(random() * 121))) / 100n;
            await attempt("resolveDispute", () => market.connect(governance).resolveDispute(id, share, slash));
          } else {
            await attempt("finalizeStaleDispute", () => market.connect(stranger).finalizeStaleDispute(id));
          }
        }
      } else if (roll < 0.77) {
        const p = pick(providers);
        const choice = random();
        if (choice < 0.4) await attempt("requestUnstake", () => staking.connect(p).requestUnstake(50n * MESH));
        else if (choice < 0.8) await attempt("withdrawStake", () => staking.connect(p).withdrawStake());
        else await attempt("stake", () => staking.connect(p).stake(25n * MESH));
      } else if (roll < 0.8) {
        const offerId = pick(offers);
        const owner = (await market.getOffer(offerId)).provider;
        const signer = providers.find((p) => p.address === owner)!;
        const gpus = 1 + Math.floor(random() * 6);
        await attempt("updateOffer", async () =>
          market.connect(signer).updateOffer(offerId, gpus, PRICE + BigInt(Math.floor(random() * 1_000)), (await time.latest()) + 90 * DAY),
        );
      } else if (roll < 0.82) {
        await attempt("withdrawFees", () => market.connect(stranger).withdrawFees());
      } else if (roll < 0.86) {
        // Governance: bounded parameters and pausing never move anyone's money.
        const balances = async () => Promise.all(everyone.map((s) => payment.balanceOf(s.address)));
        const before = [await payment.balanceOf(marketAddress), await stake.balanceOf(stakingAddress), ...(await balances())];
        if (paused && random() < 0.7) {
          if (await attempt("unpause", () => market.connect(governance).unpause())) paused = false;
        } else if (random() < 0.85) {
          const parameter = Math.floor(random() * PARAMETER_NAMES.length);
          const [min, max] = await market.parameterBounds(parameter);
          // Mostly small values, so that windows stay short enough to pass; now and then one past the bound.
          const value = random() < 0.1 ? max + 1n : min + (BigInt(Math.floor(random() ** 3 * 1_000_000)) * (max - min)) / 1_000_000n;
          await attempt("setParameter", () => market.connect(governance).setParameter(parameter, value));
        } else if (!paused && (await attempt("pause", () => market.connect(governance).pause()))) paused = true;
        expect([await payment.balanceOf(marketAddress), await stake.balanceOf(stakingAddress), ...(await balances())]).to.deep.equal(before);
      } else if (roll < 0.88) {
        // 6. nobody but the rules moves escrow or stake.
        const ids = [...lastState.keys()];
        const id = ids.length ? pick(ids) : 1n;
        const victim = pick(providers).address;
        const choice = random();
        if (choice < 0.25) await forbidden("releaseCollateral by governance", () => staking.connect(governance).releaseCollateral(victim, id, 0n, MESH, stranger.address, MESH));
        else if (choice < 0.5) await forbidden("lockCollateral by governance", () => staking.connect(governance).lockCollateral(victim, id, MESH));
        else if (choice < 0.75) await forbidden("resolveDispute by a stranger", () => market.connect(stranger).resolveDispute(id, 10_000, 0n));
        else await forbidden("setParameter by a stranger", () => market.connect(stranger).setParameter(0, 0));
      } else {
        await time.increase(random() < 0.08 ? 8 * DAY : pick([60, 600, 1_000, HOUR, 3 * HOUR, 25 * HOUR]));
      }
      await checkInvariants(step);
    }
    console.log(`      successful calls: ${JSON.stringify(counts)}`);
    // The sequence must have exercised the machine, not just refused calls.
    for (const name of [
      "createJob", "createJobFor", "acceptJob", "declineJob", "cancelJob", "expireJob", "heartbeat", "claim", "claimWithReceipt",
      "extendJob", "completeJob", "endJobEarly", "reportDark", "disputeJob", "settleJob", "resolveDispute",
      "finalizeStaleDispute", "reclaimAbandoned", "setParameter",
    ]) {
      expect(counts[name] ?? 0, `${name} never succeeded: ${JSON.stringify(counts)}`).to.be.greaterThan(0);
    }
  });
});

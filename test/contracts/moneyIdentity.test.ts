import { expect } from "chai";
import { ethers } from "hardhat";
import { loadFixture, time } from "@nomicfoundation/hardhat-toolbox/network-helpers";
import type { HardhatEthersSigner } from "@nomicfoundation/hardhat-ethers/signers";
import {
  DECLINE_REASON,
  HOUR,
  PRICE,
  REASON_HASH,
  RESULT_HASH,
  STAKE_PER_PAYMENT_UNIT,
  SPEC_HASH,
  bpsDown,
  bpsUp,
  costUp,
  escrowOf,
  marketFixture,
  type MarketEnv,
} from "./helpers";

/**
 * Protocol rule: for every job, payer refund + provider pay + protocol fee (+ dispute bond returned or forfeited) ==
 * everything pulled for it, exactly; and slashed stake only moves from the provider to the client and the treasury.
 * Each terminal path below runs one job from before its creation to its end and checks this from balance deltas
 * against the amounts the rules give.
 */

const DAY = 24 * HOUR;
const GPUS = 2;
const DURATION = 5_000;
const pay = (seconds: number | bigint) => costUp(PRICE, GPUS, seconds);
const COST = pay(DURATION);
const ESCROW = escrowOf(COST);
const BOND = bpsUp(COST, 500);
const COLLATERAL = bpsUp(COST, 5_000) * STAKE_PER_PAYMENT_UNIT;

interface Outcome {
  /** Everything pulled from the payer: escrow plus extensions. */
  escrow: bigint;
  refund: bigint;
  /** Everything the provider received for the job: streamed pay, cancel fee, final pay. */
  providerPay: bigint;
  fee: bigint;
  bond?: bigint;
  bondTo?: "client" | "provider";
  /** Stake slashed from the provider for the job, and the part of it that goes to the client. */
  slashed?: bigint;
  slashedToClient?: bigint;
}

interface Path {
  name: string;
  state: bigint;
  sponsored?: boolean;
  /** Creates and ends one job, returning what the rules say its money did. */
  run(env: MarketEnv, payer: HardhatEthersSigner): Promise<{ jobId: bigint; outcome: Outcome }>;
}

async function createAs(env: MarketEnv, payer: HardhatEthersSigner, duration = DURATION) {
  const jobId = await env.market.nextJobId();
  if (payer.address === env.actors.client.address) {
    await env.market.connect(payer).createJob(env.offerId, GPUS, duration, PRICE, ESCROW, SPEC_HASH);
  } else {
    await env.market.connect(payer).createJobFor(env.actors.client.address, env.offerId, GPUS, duration, PRICE, ethers.MaxUint256, SPEC_HASH);
  }
  return jobId;
}

async function start(env: MarketEnv, payer: HardhatEthersSigner) {
  const jobId = await createAs(env, payer);
  await env.market.connect(env.actors.provider).acceptJob(jobId);
  return { jobId, startedAt: (await env.market.getJob(jobId)).startedAt };
}

async function at(timestamp: bigint) {
  await time.setNextBlockTimestamp(timestamp);
}

const PATHS: Path[] = [
  {
    name: "Settled after completeJob, with streamed claims",
    state: 5n,
    async run(env, payer) {
      const { market, actors } = env;
      const { jobId, startedAt } = await start(env, payer);
      await at(startedAt + 1_000n);
      await market.connect(actors.provider).claim(jobId);
      await at(startedAt + 3_000n);
      await market.connect(actors.provider).completeJob(jobId, RESULT_HASH);
      await time.increase(DAY + 1);
      await market.settleJob(jobId);
      const fee = bpsUp(pay(3_000), 250);
      return { jobId, outcome: { escrow: ESCROW, refund: ESCROW - pay(3_000) - fee, providerPay: pay(3_000), fee } };
    },
  },
  {
    name: "Settled after endJobEarly, sponsored: the refund to the sponsor",
    state: 5n,
    sponsored: true,
    async run(env, payer) {
      const { market, actors } = env;
      const { jobId, startedAt } = await start(env, payer);
      await at(startedAt + 1_234n);
      await market.connect(actors.client).endJobEarly(jobId);
      await time.increase(DAY + 1);
      await market.settleJob(jobId);
      const fee = bpsUp(pay(1_234), 250);
      return { jobId, outcome: { escrow: ESCROW, refund: ESCROW - pay(1_234) - fee, providerPay: pay(1_234), fee } };
    },
  },
  {
    name: "Settled after an extension by the sponsor",
    state: 5n,
    sponsored: true,
    async run(env, payer) {
      const { market, actors } = env;
      const { jobId, startedAt } = await start(env, payer);
      await market.connect(payer).extendJob(jobId, 2_000, ethers.MaxUint256);
      const escrow = escrowOf(pay(DURATION + 2_000));
      await at(startedAt + 6_000n);
      await market.connect(actors.provider).completeJob(jobId, RESULT_HASH);
      await time.increase(DAY + 1);
      await market.settleJob(jobId);
      const fee = bpsUp(pay(6_000), 250);
      return { jobId, outcome: { escrow, refund: escrow - pay(6_000) - fee, providerPay: pay(6_000), fee } };
    },
  },
  {
    name: "Resolved by the arbiter (share 80 %), bond back to the client",
    state: 6n,
    async run(env, payer) {
      const { market, actors } = env;
      const { jobId, startedAt } = await start(env, payer);
      await at(startedAt + 1_000n);
      await market.connect(actors.provider).claim(jobId);
      await at(startedAt + 3_000n);
      await market.connect(actors.client).disputeJob(jobId, REASON_HASH);
      await market.resolveDispute(jobId, 8_000, COLLATERAL / 4n);
      const earned = bpsDown(pay(3_000), 8_000);
      const fee = bpsUp(earned, 250);
      return {
        jobId,
        outcome: {
          escrow: ESCROW, refund: ESCROW - earned - fee, providerPay: earned, fee, bond: BOND, bondTo: "client",
          slashed: COLLATERAL / 4n, slashedToClient: COLLATERAL / 4n,
        },
      };
    },
  },
  {
    name: "Resolved fully for the provider: the bond is forfeited to it",
    state: 6n,
    async run(env, payer) {
      const { market, actors } = env;
      const { jobId, startedAt } = await start(env, payer);
      await at(startedAt + 4_000n);
      await market.connect(actors.provider).completeJob(jobId, RESULT_HASH);
      await market.connect(actors.client).disputeJob(jobId, REASON_HASH);
      await market.resolveDispute(jobId, 10_000, 0n);
      const fee = bpsUp(pay(4_000), 250);
      return {
        jobId,
        outcome: { escrow: ESCROW, refund: ESCROW - pay(4_000) - fee, providerPay: pay(4_000), fee, bond: BOND, bondTo: "provider" },
      };
    },
  },
  {
    name: "Resolved for the client (share 0), sponsored: streamed pay clawed back from the collateral, refund to the sponsor",
    state: 6n,
    sponsored: true,
    async run(env, payer) {
      const { market, actors } = env;
      const { jobId, startedAt } = await start(env, payer);
      await at(startedAt + 2_000n);
      await market.connect(actors.provider).claim(jobId);
      await market.connect(actors.client).disputeJob(jobId, REASON_HASH);
      await market.resolveDispute(jobId, 0, 0n);
      const clawback = pay(2_000) * STAKE_PER_PAYMENT_UNIT;
      return {
        jobId,
        outcome: {
          escrow: ESCROW, refund: ESCROW - pay(2_000), providerPay: pay(2_000), fee: 0n, bond: BOND, bondTo: "client",
          slashed: clawback, slashedToClient: clawback,
        },
      };
    },
  },
  {
    name: "Resolved by finalizeStaleDispute: paid to the last sign of life, bond back",
    state: 6n,
    async run(env, payer) {
      const { market, actors } = env;
      const { jobId, startedAt } = await start(env, payer);
      await at(startedAt + 1_500n);
      await market.connect(actors.provider).heartbeat();
      await at(startedAt + 3_000n);
      await market.connect(actors.client).disputeJob(jobId, REASON_HASH);
      await time.increase(7 * DAY + 1);
      await market.connect(actors.stranger).finalizeStaleDispute(jobId);
      const fee = bpsUp(pay(1_500), 250);
      return {
        jobId,
        outcome: { escrow: ESCROW, refund: ESCROW - pay(1_500) - fee, providerPay: pay(1_500), fee, bond: BOND, bondTo: "client" },
      };
    },
  },
  {
    name: "Cancelled by the client, sponsored: cancel fee to the provider, the rest to the sponsor",
    state: 7n,
    sponsored: true,
    async run(env, payer) {
      const jobId = await createAs(env, payer);
      await env.market.connect(env.actors.client).cancelJob(jobId);
      const cancelFee = bpsDown(COST, 200);
      return { jobId, outcome: { escrow: ESCROW, refund: ESCROW - cancelFee, providerPay: cancelFee, fee: 0n } };
    },
  },
  {
    name: "Declined by the provider: everything back",
    state: 9n,
    async run(env, payer) {
      const jobId = await createAs(env, payer);
      await env.market.connect(env.actors.provider).declineJob(jobId, DECLINE_REASON);
      return { jobId, outcome: { escrow: ESCROW, refund: ESCROW, providerPay: 0n, fee: 0n } };
    },
  },
  {
    name: "Expired: everything back, the expiry slash to the client",
    state: 10n,
    async run(env, payer) {
      const jobId = await createAs(env, payer);
      await time.increase(HOUR);
      await env.market.connect(env.actors.stranger).expireJob(jobId);
      const slashed = bpsDown(COST, 100) * STAKE_PER_PAYMENT_UNIT;
      return { jobId, outcome: { escrow: ESCROW, refund: ESCROW, providerPay: 0n, fee: 0n, slashed, slashedToClient: slashed } };
    },
  },
  {
    name: "Reclaimed after end + grace: paid to the last sign of life",
    state: 8n,
    async run(env, payer) {
      const { market, actors } = env;
      const { jobId, startedAt } = await start(env, payer);
      await at(startedAt + 2_500n);
      await market.connect(actors.provider).heartbeat();
      await at(startedAt + BigInt(DURATION) + BigInt(HOUR) + 1n);
      await market.connect(actors.client).reclaimAbandoned(jobId);
      const fee = bpsUp(pay(2_500), 250);
      return { jobId, outcome: { escrow: ESCROW, refund: ESCROW - pay(2_500) - fee, providerPay: pay(2_500), fee } };
    },
  },
  {
    name: "Dark, sponsored: paid to the last sign of life, rest to the sponsor, SLA credit to the client",
    state: 11n,
    sponsored: true,
    async run(env, payer) {
      const { market, actors } = env;
      const { jobId, startedAt } = await start(env, payer);
      await at(startedAt + 600n);
      await market.connect(actors.provider).claim(jobId);
      await at(startedAt + 2_600n);
      await market.connect(actors.stranger).reportDark(jobId);
      const fee = bpsUp(pay(600), 250);
      const slashed = bpsDown(pay(2_000), 1_000) * STAKE_PER_PAYMENT_UNIT;
      return {
        jobId,
        outcome: { escrow: ESCROW, refund: ESCROW - pay(600) - fee, providerPay: pay(600), fee, slashed, slashedToClient: slashed },
      };
    },
  },
];

async function ledger(env: MarketEnv, payer: HardhatEthersSigner) {
  const { market, payment, stake, staking, actors, marketAddress, stakingAddress } = env;
  const usdc = async (address: string) => (await payment.balanceOf(address)) + (await market.balanceOf(address));
  const mesh = async (address: string) => (await stake.balanceOf(address)) + (await staking.credit(address));
  return {
    payer: await usdc(payer.address),
    client: await usdc(actors.client.address),
    provider: await usdc(actors.provider.address),
    market: await payment.balanceOf(marketAddress),
    fees: await market.feesAccrued(),
    clientStake: await mesh(actors.client.address),
    treasuryStake: await mesh(actors.treasury.address),
    staked: (await staking.account(actors.provider.address)).staked,
    staking: await stake.balanceOf(stakingAddress),
  };
}

describe("the money identity holds on every terminal path", function () {
  for (const path of PATHS) {
    it(path.name, async function () {
      const env = await loadFixture(marketFixture);
      const payer = path.sponsored ? env.actors.sponsor : env.actors.client;
      const before = await ledger(env, payer);
      const { jobId, outcome } = await path.run(env, payer);
      const after = await ledger(env, payer);
      expect((await env.market.getJob(jobId)).state).to.equal(path.state);
      expect(await env.market.payerOf(jobId)).to.equal(payer.address);

      const bond = outcome.bond ?? 0n;
      const bondBack = outcome.bondTo === "client" ? bond : 0n;
      const bondForfeited = outcome.bondTo === "provider" ? bond : 0n;
      // Everything pulled == everything paid out (the fee stays in the market until withdrawFees).
      expect(outcome.refund + outcome.providerPay + outcome.fee + bondBack + bondForfeited).to.equal(outcome.escrow + bond);
      const clientBondDelta = bondBack - bond;
      if (path.sponsored) {
        expect(after.payer - before.payer, "sponsor").to.equal(outcome.refund - outcome.escrow);
        expect(after.client - before.client, "client").to.equal(clientBondDelta);
      } else {
        expect(after.payer - before.payer, "payer and client").to.equal(outcome.refund - outcome.escrow + clientBondDelta);
      }
      expect(after.provider - before.provider, "provider").to.equal(outcome.providerPay + bondForfeited);
      expect(after.fees - before.fees, "fee").to.equal(outcome.fee);
      expect(after.market - before.market, "market keeps only the fee").to.equal(outcome.fee);
      expect(await env.market.disputeBondsHeld()).to.equal(0n);

      // Stake: only the job's collateral is slashed, to the client (up to the cost) and the treasury.
      const slashed = outcome.slashed ?? 0n;
      const toClient = outcome.slashedToClient ?? 0n;
      expect(before.staked - after.staked, "slashed").to.equal(slashed);
      expect(before.staking - after.staking, "staking holding").to.equal(slashed);
      expect(after.clientStake - before.clientStake, "slash to client").to.equal(toClient);
      expect(after.treasuryStake - before.treasuryStake, "slash to treasury").to.equal(slashed - toClient);
      expect(slashed).to.be.lessThanOrEqual(COLLATERAL);
      expect((await env.staking.account(env.actors.provider.address)).locked).to.equal(0n);
    });
  }
});

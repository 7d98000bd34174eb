import { expect } from "chai";
import { loadFixture, time } from "@nomicfoundation/hardhat-toolbox/network-helpers";
import {
  HOUR,
  JobState,
  MESH,
  PRICE,
  Parameter,
  REASON_HASH,
  RESULT_HASH,
  STAKE_PER_PAYMENT_UNIT,
  amountsOf,
  bpsDown,
  bpsUp,
  clientProviderLedger,
  costUp,
  expectMoneyIdentity,
  marketFixture,
  runningJob,
  signReceipt,
} from "./helpers";

const DAY = 24 * HOUR;
const GPUS = 2;
const DURATION = 5_000;
const COST = costUp(PRICE, GPUS, DURATION);
const BOND = bpsUp(COST, 500);
const COLLATERAL = bpsUp(COST, 5_000) * STAKE_PER_PAYMENT_UNIT;
const RESOLVE_WINDOW = BigInt(7 * DAY);
const pay = (seconds: number | bigint) => costUp(PRICE, GPUS, seconds);

/** A running job whose provider claimed 2,000 s of pay and was last alive then; the client disputed at 3,000 s. */
async function disputedFixture() {
  const env = await marketFixture();
  const { jobId, startedAt } = await runningJob(env, { gpus: GPUS, duration: DURATION });
  const before = await clientProviderLedger(env);
  await time.setNextBlockTimestamp(startedAt + 2_000n);
  await env.market.connect(env.actors.provider).claim(jobId);
  const disputedAt = startedAt + 3_000n;
  await time.setNextBlockTimestamp(disputedAt);
  await env.market.connect(env.actors.client).disputeJob(jobId, REASON_HASH);
  return { ...env, jobId, startedAt, disputedAt, deadline: disputedAt + RESOLVE_WINDOW, before };
}

describe("disputeJob posts a bond (v2)", function () {
  it("pulls disputeBondBps of the cost from the client, freezes the dispute's facts and holds the bond", async function () {
    const env = await loadFixture(disputedFixture);
    const { market, payment, actors, jobId, startedAt, disputedAt } = env;
    const dispute = await market.getDispute(jobId);
    expect([dispute.disputedAt, dispute.lastLifeAt, dispute.bond]).to.deep.equal([disputedAt, startedAt + 2_000n, BOND]);
    expect(await market.disputeBondsHeld()).to.equal(BOND);
    // A second dispute adds its own bond.
    const { jobId: second } = await runningJob(env, { gpus: 1, duration: 3_600 });
    const secondBond = bpsUp(costUp(PRICE, 1, 3_600), 500);
    await expect(market.connect(actors.client).disputeJob(second, REASON_HASH)).to.changeTokenBalances(
      payment,
      [actors.client, market],
      [-secondBond, secondBond],
    );
    expect(await market.disputeBondsHeld()).to.equal(BOND + secondBond);
  });

  it("needs the client's approval for the bond", async function () {
    const env = await loadFixture(marketFixture);
    const { market, payment, actors, marketAddress } = env;
    const { jobId } = await runningJob(env, { gpus: GPUS, duration: DURATION });
    await payment.connect(actors.client).approve(marketAddress, 0n);
    await expect(market.connect(actors.client).disputeJob(jobId, REASON_HASH))
      .to.be.revertedWithCustomError(payment, "ERC20InsufficientAllowance")
      .withArgs(marketAddress, 0n, BOND);
  });

  it("uses the job's own bond rate: a raise after creation does not reach it, and a zero rate pulls nothing", async function () {
    const env = await loadFixture(marketFixture);
    const { market, payment, actors } = env;
    const { jobId: old } = await runningJob(env, { gpus: GPUS, duration: DURATION });
    await market.setParameter(Parameter.DisputeBondBps, 2_000);
    await expect(market.connect(actors.client).disputeJob(old, REASON_HASH)).to.changeTokenBalance(payment, actors.client, -BOND);
    await market.setParameter(Parameter.DisputeBondBps, 0);
    const { jobId: free } = await runningJob(env, { gpus: GPUS, duration: DURATION });
    const tx = market.connect(actors.client).disputeJob(free, REASON_HASH);
    await expect(tx).to.emit(market, "JobDisputed").withArgs(free, (v: bigint) => v > 0n, (v: bigint) => v > 0n, REASON_HASH, 0n, (v: bigint) => v > 0n);
    await expect(tx).to.changeTokenBalance(payment, actors.client, 0n);
  });
});

describe("resolveDispute: the arbiter, within the resolve window (v2)", function () {
  it("returns the bond to the client unless the ruling is fully for the provider", async function () {
    const env = await loadFixture(disputedFixture);
    const { market, payment, actors, jobId } = env;
    const earned = bpsDown(pay(3_000), 9_999);
    const fee = bpsUp(earned, 250);
    const { escrow } = await amountsOf(env, jobId);
    const tx = market.resolveDispute(jobId, 9_999, 0n);
    await expect(tx)
      .to.emit(market, "JobResolved")
      .withArgs(jobId, 9_999, earned, earned - pay(2_000), fee, escrow - earned - fee, 0n, false);
    await expect(tx).to.changeTokenBalances(payment, [actors.client, actors.provider], [escrow - earned - fee + BOND, earned - pay(2_000)]);
    expect(await market.disputeBondsHeld()).to.equal(0n);
  });

  it("share 10000: the bond goes to the provider for its frozen time", async function () {
    const env = await loadFixture(disputedFixture);
    const { market, payment, actors, jobId, before } = env;
    const fee = bpsUp(pay(3_000), 250);
    const { escrow } = await amountsOf(env, jobId);
    const tx = market.resolveDispute(jobId, 10_000, 0n);
    await expect(tx)
      .to.emit(market, "JobResolved")
      .withArgs(jobId, 10_000, pay(3_000), pay(3_000) - pay(2_000), fee, escrow - pay(3_000) - fee, 0n, true);
    await expect(tx).to.changeTokenBalances(payment, [actors.client, actors.provider], [escrow - pay(3_000) - fee, pay(3_000) - pay(2_000) + BOND]);
    await expectMoneyIdentity(env, jobId, before, { refund: escrow - pay(3_000) - fee, providerPay: pay(3_000), fee, bond: BOND, bondTo: "provider" });
  });

  it("is allowed up to and including the deadline second; after it JobMarketResolveWindowClosed(jobId, deadline)", async function () {
    const env = await loadFixture(disputedFixture);
    const { market, jobId, deadline } = env;
    const { jobId: second } = await runningJob(env, { gpus: 1 });
    await market.connect(env.actors.client).disputeJob(second, REASON_HASH);
    const secondDeadline = (await market.getDispute(second)).disputedAt + RESOLVE_WINDOW;
    await time.setNextBlockTimestamp(deadline);
    await expect(market.resolveDispute(jobId, 5_000, 0n)).to.emit(market, "JobResolved");
    await time.setNextBlockTimestamp(secondDeadline + 1n);
    await expect(market.resolveDispute(second, 5_000, 0n))
      .to.be.revertedWithCustomError(market, "JobMarketResolveWindowClosed")
      .withArgs(second, secondDeadline);
  });

  it("takes streamed pay above the ruling back from the collateral, and a penalty only from what is left: JobMarketSlashAboveCollateral(slash, available)", async function () {
    const env = await loadFixture(disputedFixture);
    const { market, staking, stake, actors, jobId, before } = env;
    const { client, provider, treasury } = actors;
    // Share 25 %: the provider earns a quarter of 3,000 s, less than the 2,000 s it streamed.
    const earned = bpsDown(pay(3_000), 2_500);
    const clawback = (pay(2_000) - earned) * STAKE_PER_PAYMENT_UNIT;
    const available = COLLATERAL - clawback;
    await expect(market.resolveDispute(jobId, 2_500, available + 1n))
      .to.be.revertedWithCustomError(market, "JobMarketSlashAboveCollateral")
      .withArgs(available + 1n, available);
    const fee = bpsUp(earned, 250);
    const { escrow } = await amountsOf(env, jobId);
    const tx = market.resolveDispute(jobId, 2_500, available);
    await expect(tx).to.emit(market, "JobResolved").withArgs(jobId, 2_500, earned, 0n, fee, escrow - pay(2_000) - fee, COLLATERAL, false);
    await expect(tx)
      .to.emit(staking, "Slashed")
      .withArgs(provider.address, jobId, client.address, COLLATERAL, treasury.address, 0n, 1_000n * MESH - COLLATERAL);
    await expect(tx).to.changeTokenBalances(stake, [client, staking], [COLLATERAL, -COLLATERAL]);
    // The provider keeps its streamed tokens; what it was not owed came back to the client out of its stake.
    await expectMoneyIdentity(env, jobId, before, { refund: escrow - pay(2_000) - fee, providerPay: pay(2_000), fee, bond: BOND });
  });
});

describe("finalizeStaleDispute: anyone, after the resolve window (v2)", function () {
  it("refuses while the window is open (the deadline second included) and for jobs that are not Disputed", async function () {
    const env = await loadFixture(disputedFixture);
    const { market, actors, jobId, deadline } = env;
    await time.setNextBlockTimestamp(deadline);
    await expect(market.connect(actors.stranger).finalizeStaleDispute(jobId))
      .to.be.revertedWithCustomError(market, "JobMarketResolveWindowOpen")
      .withArgs(jobId, deadline);
    const { jobId: runningId } = await runningJob(env, { gpus: 1 });
    await expect(market.finalizeStaleDispute(runningId))
      .to.be.revertedWithCustomError(market, "JobMarketInvalidState")
      .withArgs(runningId, JobState.Running);
    await expect(market.finalizeStaleDispute(99n)).to.be.revertedWithCustomError(market, "JobMarketUnknownJob").withArgs(99n);
  });

  it("the no-fault outcome: paid to the last sign of life, collateral released, bond back, no slash; then terminal", async function () {
    const env = await loadFixture(disputedFixture);
    const { market, staking, payment, actors, jobId, deadline, before } = env;
    const { client, provider, stranger } = actors;
    await time.increaseTo(deadline + 1n);
    const earned = pay(2_000); // the claim at 2,000 s was the provider's last sign of life
    const fee = bpsUp(earned, 250);
    const { escrow } = await amountsOf(env, jobId);
    const tx = market.connect(stranger).finalizeStaleDispute(jobId);
    await expect(tx).to.emit(market, "JobDisputeFinalized").withArgs(jobId, earned, 0n, fee, escrow - earned - fee);
    await expect(tx).to.emit(staking, "CollateralUnlocked").withArgs(provider.address, jobId, COLLATERAL, 0n);
    await expect(tx).not.to.emit(staking, "Slashed");
    await expect(tx).to.changeTokenBalances(payment, [client, provider, stranger], [escrow - earned - fee + BOND, 0n, 0n]);
    await expectMoneyIdentity(env, jobId, before, { refund: escrow - earned - fee, providerPay: earned, fee, bond: BOND });
    expect((await market.getJob(jobId)).state).to.equal(JobState.Resolved);
    await expect(market.finalizeStaleDispute(jobId))
      .to.be.revertedWithCustomError(market, "JobMarketInvalidState")
      .withArgs(jobId, JobState.Resolved);
    await expect(market.resolveDispute(jobId, 0, 0n))
      .to.be.revertedWithCustomError(market, "JobMarketInvalidState")
      .withArgs(jobId, JobState.Resolved);
  });

  it("pays up to the receipted time when a receipt claimed during the dispute reaches past the last sign of life", async function () {
    const env = await loadFixture(disputedFixture);
    const { market, actors, jobId, startedAt, deadline } = env;
    const signature = await signReceipt(env, actors.client, jobId, startedAt + 2_500n);
    await market.connect(actors.provider).claimWithReceipt(jobId, startedAt + 2_500n, signature);
    await time.increaseTo(deadline + 1n);
    const fee = bpsUp(pay(2_500), 250);
    const { escrow } = await amountsOf(env, jobId);
    await expect(market.finalizeStaleDispute(jobId))
      .to.emit(market, "JobDisputeFinalized")
      .withArgs(jobId, pay(2_500), 0n, fee, escrow - pay(2_500) - fee);
  });

  it("a dispute of a completed job finalizes to its full time used: completing was the last sign of life", async function () {
    const env = await loadFixture(marketFixture);
    const { market, actors } = env;
    const { jobId, startedAt } = await runningJob(env, { gpus: GPUS, duration: DURATION });
    await time.setNextBlockTimestamp(startedAt + 4_000n);
    await market.connect(actors.provider).completeJob(jobId, RESULT_HASH);
    await time.increase(HOUR);
    await market.connect(actors.client).disputeJob(jobId, REASON_HASH);
    expect((await market.getDispute(jobId)).lastLifeAt).to.equal(startedAt + 4_000n);
    await time.increase(7 * DAY + 1);
    const fee = bpsUp(pay(4_000), 250);
    const { escrow } = await amountsOf(env, jobId);
    await expect(market.finalizeStaleDispute(jobId))
      .to.emit(market, "JobDisputeFinalized")
      .withArgs(jobId, pay(4_000), pay(4_000), fee, escrow - pay(4_000) - fee);
  });
});

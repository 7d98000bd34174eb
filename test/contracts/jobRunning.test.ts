import { expect } from "chai";
import { loadFixture, time } from "@nomicfoundation/hardhat-toolbox/network-helpers";
import {
  HOUR,
  JobState,
  PRICE,
  RESULT_HASH,
  STAKE_PER_PAYMENT_UNIT,
  bpsUp,
  clientProviderLedger,
  costUp,
  expectMoneyIdentity,
  marketFixture,
  runningJob,
  signReceipt,
} from "./helpers";

const GPUS = 2;
const DURATION = 5_000;
const COST = costUp(PRICE, GPUS, DURATION);
const ESCROW = COST + bpsUp(COST, 250);
const COLLATERAL = bpsUp(COST, 5_000) * STAKE_PER_PAYMENT_UNIT;
/** What claims may stream without a receipt: the collateral's worth in payment units (v2). */
const CLAIM_CAP = bpsUp(COST, 5_000);
const DISPUTE_WINDOW = 24n * 3600n;

describe("claim: Running -> Running, streamed pay", function () {
  it("pays the provider what it earned so far, rounded up, and records it as claimed", async function () {
    const env = await loadFixture(marketFixture);
    const { market, payment, actors } = env;
    const { jobId, startedAt } = await runningJob(env, { gpus: GPUS, duration: DURATION });
    const firstAt = startedAt + 1_000n;
    const earnedFirst = costUp(PRICE, GPUS, 1_000); // 1_111_110.55... -> 1_111_111
    expect(earnedFirst).to.equal(1_111_111n);
    await time.setNextBlockTimestamp(firstAt);
    const first = market.connect(actors.provider).claim(jobId);
    await expect(first).to.emit(market, "JobClaimed").withArgs(jobId, earnedFirst, earnedFirst, 0n);
    await expect(first).to.changeTokenBalances(payment, [actors.provider, market], [earnedFirst, -earnedFirst]);

    const earnedSecond = costUp(PRICE, GPUS, 2_500);
    await time.setNextBlockTimestamp(startedAt + 2_500n);
    await expect(market.connect(actors.provider).claim(jobId))
      .to.emit(market, "JobClaimed")
      .withArgs(jobId, earnedSecond - earnedFirst, earnedSecond, 0n);
    const job = await market.getJob(jobId);
    expect(job.claimed).to.equal(earnedSecond);
    expect(job.state).to.equal(JobState.Running);
    expect(await market.earned(jobId)).to.equal(earnedSecond);
  });

  it("never streams more than the cost (time capped at the duration), nor unreceipted pay above the collateral's worth (v2)", async function () {
    const env = await loadFixture(marketFixture);
    const { market, actors } = env;
    const { jobId, startedAt } = await runningJob(env, { gpus: GPUS, duration: DURATION });
    await time.increase(DURATION * 3);
    expect(await market.earned(jobId)).to.equal(COST);
    expect(await market.claimable(jobId)).to.equal(CLAIM_CAP);
    await expect(market.connect(actors.provider).claim(jobId))
      .to.emit(market, "JobClaimed")
      .withArgs(jobId, CLAIM_CAP, CLAIM_CAP, 0n);
    await expect(market.connect(actors.provider).claim(jobId))
      .to.be.revertedWithCustomError(market, "JobMarketNothingToClaim")
      .withArgs(jobId);
    // With the client's receipt for the whole duration, the rest streams too, and not a unit more than the cost.
    const end = startedAt + BigInt(DURATION);
    const receipt = await signReceipt(env, actors.client, jobId, end + 1_000n);
    await expect(market.connect(actors.provider).claimWithReceipt(jobId, end + 1_000n, receipt))
      .to.emit(market, "JobClaimed")
      .withArgs(jobId, COST - CLAIM_CAP, COST, end);
    await expect(market.connect(actors.provider).claimWithReceipt(jobId, end + 1_000n, receipt))
      .to.be.revertedWithCustomError(market, "JobMarketNothingToClaim")
      .withArgs(jobId);
  });

  it("only the provider claims, and only while Running", async function () {
    const env = await loadFixture(marketFixture);
    const { market, actors } = env;
    const { jobId } = await runningJob(env);
    await time.increase(100);
    await expect(market.connect(actors.client).claim(jobId))
      .to.be.revertedWithCustomError(market, "JobMarketNotProvider")
      .withArgs(jobId, actors.client.address);
    await market.connect(actors.provider).completeJob(jobId, RESULT_HASH);
    await expect(market.connect(actors.provider).claim(jobId))
      .to.be.revertedWithCustomError(market, "JobMarketInvalidState")
      .withArgs(jobId, JobState.Completed);
  });
});

describe("completeJob + settleJob: Running -> Completed -> Settled", function () {
  it("pays the time used, fee on earnings to the treasury, the rest back; refund + pay + fee == escrow", async function () {
    const env = await loadFixture(marketFixture);
    const { market, staking, payment, actors, offerId } = env;
    const { client, provider, stranger } = actors;
    const { jobId, startedAt } = await runningJob(env, { gpus: GPUS, duration: DURATION });
    const before = await clientProviderLedger(env);

    const endedAt = startedAt + 3_333n;
    const earned = costUp(PRICE, GPUS, 3_333);
    await time.setNextBlockTimestamp(endedAt);
    await expect(market.connect(provider).completeJob(jobId, RESULT_HASH))
      .to.emit(market, "JobCompleted")
      .withArgs(jobId, endedAt, earned, RESULT_HASH);
    let job = await market.getJob(jobId);
    expect(job.state).to.equal(JobState.Completed);
    expect(job.endedAt).to.equal(endedAt);
    expect((await market.getOffer(offerId)).gpusLeased).to.equal(0n);
    expect(await market.earned(jobId)).to.equal(earned);

    await time.setNextBlockTimestamp(endedAt + DISPUTE_WINDOW);
    await expect(market.connect(stranger).settleJob(jobId))
      .to.be.revertedWithCustomError(market, "JobMarketDisputeWindowOpen")
      .withArgs(jobId, endedAt + DISPUTE_WINDOW);

    const fee = bpsUp(earned, 250);
    const refund = ESCROW - earned - fee;
    const tx = market.connect(stranger).settleJob(jobId);
    await expect(tx).to.emit(market, "JobSettled").withArgs(jobId, earned, fee, refund);
    await expect(tx).to.emit(staking, "CollateralUnlocked").withArgs(provider.address, jobId, COLLATERAL, 0n);
    await expect(tx).to.changeTokenBalances(payment, [provider, client, stranger], [earned, refund, 0n]);
    await expectMoneyIdentity(env, jobId, before, { refund, providerPay: earned, fee });
    job = await market.getJob(jobId);
    expect(job.state).to.equal(JobState.Settled);
    expect((await staking.account(provider.address)).locked).to.equal(0n);
    expect(await market.feesAccrued()).to.equal(fee);
  });

  it("counts streamed claims as paid (up to the claim cap, v2): settlement pays only the rest", async function () {
    const env = await loadFixture(marketFixture);
    const { market, actors } = env;
    const { client, provider } = actors;
    const { jobId, startedAt } = await runningJob(env, { gpus: GPUS, duration: DURATION });
    const before = await clientProviderLedger(env);
    await time.setNextBlockTimestamp(startedAt + 777n);
    await market.connect(provider).claim(jobId);
    await time.setNextBlockTimestamp(startedAt + 4_001n);
    await market.connect(provider).claim(jobId);
    // Completed after the full duration: earned is capped at the cost. The second claim stopped at the claim cap.
    await time.setNextBlockTimestamp(startedAt + BigInt(DURATION) + 50n);
    await market.connect(provider).completeJob(jobId, RESULT_HASH);
    expect(costUp(PRICE, GPUS, 4_001)).to.be.greaterThan(CLAIM_CAP);
    expect((await market.getJob(jobId)).claimed).to.equal(CLAIM_CAP);
    await time.increase(DISPUTE_WINDOW + 1n);
    const fee = bpsUp(COST, 250);
    await expect(market.connect(client).settleJob(jobId))
      .to.emit(market, "JobSettled")
      .withArgs(jobId, COST - CLAIM_CAP, fee, ESCROW - COST - fee);
    await expectMoneyIdentity(env, jobId, before, { refund: 0n, providerPay: COST, fee });
  });

  it("only the provider completes, only while Running", async function () {
    const env = await loadFixture(marketFixture);
    const { market, actors } = env;
    const { jobId } = await runningJob(env);
    await expect(market.connect(actors.client).completeJob(jobId, RESULT_HASH))
      .to.be.revertedWithCustomError(market, "JobMarketNotProvider")
      .withArgs(jobId, actors.client.address);
    await market.connect(actors.provider).completeJob(jobId, RESULT_HASH);
    await expect(market.connect(actors.provider).completeJob(jobId, RESULT_HASH))
      .to.be.revertedWithCustomError(market, "JobMarketInvalidState")
      .withArgs(jobId, JobState.Completed);
  });

  it("settles only Completed jobs, once: Settled is terminal", async function () {
    const env = await loadFixture(marketFixture);
    const { market, actors } = env;
    const { jobId } = await runningJob(env);
    await expect(market.settleJob(jobId))
      .to.be.revertedWithCustomError(market, "JobMarketInvalidState")
      .withArgs(jobId, JobState.Running);
    await expect(market.settleJob(42n)).to.be.revertedWithCustomError(market, "JobMarketUnknownJob").withArgs(42n);
    await market.connect(actors.provider).completeJob(jobId, RESULT_HASH);
    await time.increase(DISPUTE_WINDOW + 1n);
    await market.settleJob(jobId);
    const settled = JobState.Settled;
    const calls = [
      () => market.settleJob(jobId),
      () => market.connect(actors.provider).acceptJob(jobId),
      () => market.connect(actors.client).cancelJob(jobId),
      () => market.expireJob(jobId),
      () => market.connect(actors.provider).claim(jobId),
      () => market.connect(actors.provider).completeJob(jobId, RESULT_HASH),
      () => market.connect(actors.client).endJobEarly(jobId),
      () => market.connect(actors.client).disputeJob(jobId, RESULT_HASH),
      () => market.resolveDispute(jobId, 0, 0),
      () => market.connect(actors.client).reclaimAbandoned(jobId),
      () => market.connect(actors.provider).declineJob(jobId, RESULT_HASH),
      () => market.connect(actors.provider).claimWithReceipt(jobId, 1n, "0x"),
      () => market.connect(actors.client).extendJob(jobId, 600, 0n),
      () => market.reportDark(jobId),
      () => market.finalizeStaleDispute(jobId),
    ];
    for (const call of calls) {
      await expect(call()).to.be.revertedWithCustomError(market, "JobMarketInvalidState").withArgs(jobId, settled);
    }
  });
});

describe("endJobEarly: Running -> Completed by the client, pro-rata refund", function () {
  it("stops the clock, the provider earns the time used and the client gets the unused rest at settlement", async function () {
    const env = await loadFixture(marketFixture);
    const { market, payment, actors, offerId } = env;
    const { client, provider } = actors;
    const { jobId, startedAt } = await runningJob(env, { gpus: GPUS, duration: DURATION });
    const before = await clientProviderLedger(env);
    const used = 1_234n;
    const earned = costUp(PRICE, GPUS, used);
    await time.setNextBlockTimestamp(startedAt + used);
    await expect(market.connect(client).endJobEarly(jobId))
      .to.emit(market, "JobEndedEarly")
      .withArgs(jobId, startedAt + used, earned);
    expect((await market.getJob(jobId)).state).to.equal(JobState.Completed);
    expect((await market.getOffer(offerId)).gpusLeased).to.equal(0n);

    await time.increase(DISPUTE_WINDOW + 1n);
    const fee = bpsUp(earned, 250);
    const refund = ESCROW - earned - fee;
    // Pro rata: the refund is the unused share of cost plus the unused fee, rounded down (charges are rounded up).
    expect(refund).to.be.lessThanOrEqual((ESCROW * (BigInt(DURATION) - used)) / BigInt(DURATION));
    await expect(market.settleJob(jobId)).to.changeTokenBalances(payment, [client, provider], [refund, earned]);
    await expectMoneyIdentity(env, jobId, before, { refund, providerPay: earned, fee });
  });

  it("only the client ends early, only while Running", async function () {
    const env = await loadFixture(marketFixture);
    const { market, actors } = env;
    const { jobId } = await runningJob(env);
    await expect(market.connect(actors.provider).endJobEarly(jobId))
      .to.be.revertedWithCustomError(market, "JobMarketNotClient")
      .withArgs(jobId, actors.provider.address);
    await market.connect(actors.client).endJobEarly(jobId);
    await expect(market.connect(actors.client).endJobEarly(jobId))
      .to.be.revertedWithCustomError(market, "JobMarketInvalidState")
      .withArgs(jobId, JobState.Completed);
  });
});

describe("rounding: charges round up, refunds down, the market never owes more than it holds", function () {
  it("charges one base unit for one second of a one-unit price and refunds the rest", async function () {
    const env = await loadFixture(marketFixture);
    const { market, actors } = env;
    const { provider, client } = actors;
    const offerId = await env.market.nextOfferId();
    const { offerParams } = await import("./helpers");
    await market.connect(provider).createOffer(await offerParams({ pricePerGpuHour: 7n, gpus: 1, minDuration: 60 }));
    const cost = costUp(7n, 1, 3_601); // 7.0019... -> 8
    expect(cost).to.equal(8n);
    const fee = bpsUp(cost, 250); // 0.2 -> 1
    expect(fee).to.equal(1n);
    expect(await market.quote(offerId, 1, 3_601)).to.deep.equal([8n, 1n, 9n, 4n * STAKE_PER_PAYMENT_UNIT]);
    const jobId = await market.nextJobId();
    await market.connect(client).createJob(offerId, 1, 3_601, 7n, 9n, "0x" + "00".repeat(32));
    await market.connect(provider).acceptJob(jobId);
    const startedAt = (await market.getJob(jobId)).startedAt;
    const marketBefore = await env.payment.balanceOf(env.marketAddress);
    await time.setNextBlockTimestamp(startedAt + 1n);
    await market.connect(client).endJobEarly(jobId);
    await time.increase(DISPUTE_WINDOW + 1n);
    // 1 second at 7 per hour rounds up to 1; fee on 1 rounds up to 1; refund 9 - 1 - 1 = 7.
    await expect(market.settleJob(jobId)).to.emit(market, "JobSettled").withArgs(jobId, 1n, 1n, 7n);
    expect(marketBefore - (await env.payment.balanceOf(env.marketAddress))).to.equal(8n);
    expect(await market.feesAccrued()).to.equal(1n);
  });

  it("sums many streamed claims to exactly the rounded-up total, never more than the cost", async function () {
    const env = await loadFixture(marketFixture);
    const { market, actors } = env;
    // Collateral of the whole cost, so that the v2 claim cap (receipted pay + collateral) never stops these claims.
    await market.setParameter(2, 10_000);
    const { jobId, startedAt } = await runningJob(env, { gpus: 3, duration: 3_601 });
    let claimedTotal = 0n;
    for (const offset of [1n, 2n, 7n, 13n, 1_000n, 3_599n, 3_600n, 3_601n]) {
      await time.setNextBlockTimestamp(startedAt + offset);
      await market.connect(actors.provider).claim(jobId);
      claimedTotal = (await market.getJob(jobId)).claimed;
      expect(claimedTotal).to.equal(costUp(PRICE, 3, offset));
    }
    expect(claimedTotal).to.equal(costUp(PRICE, 3, 3_601));
  });
});

describe("terms are fixed at creation", function () {
  it("a running job keeps its price after a reprice and its fee and collateral rates after governance changes", async function () {
    const env = await loadFixture(marketFixture);
    const { market, staking, actors, offerId } = env;
    const { jobId, startedAt } = await runningJob(env, { gpus: GPUS, duration: DURATION });
    const { offerExpiry } = await import("./helpers");
    await market.connect(actors.provider).updateOffer(offerId, 8, PRICE * 3n, await offerExpiry());
    await market.setParameter(0, 1_000); // protocol fee 10 %
    await market.setParameter(2, 20_000); // collateral 2x
    await time.setNextBlockTimestamp(startedAt + 2_000n);
    await market.connect(actors.provider).completeJob(jobId, RESULT_HASH);
    await time.increase(DISPUTE_WINDOW + 1n);
    const earned = costUp(PRICE, GPUS, 2_000);
    const fee = bpsUp(earned, 250);
    const tx = market.settleJob(jobId);
    await expect(tx).to.emit(market, "JobSettled").withArgs(jobId, earned, fee, ESCROW - earned - fee);
    await expect(tx).to.emit(staking, "CollateralUnlocked").withArgs(actors.provider.address, jobId, COLLATERAL, 0n);
  });
});

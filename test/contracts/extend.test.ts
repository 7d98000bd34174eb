import { expect } from "chai";
import { ethers } from "hardhat";
import { loadFixture, time } from "@nomicfoundation/hardhat-toolbox/network-helpers";
import {
  HOUR,
  JobState,
  MESH,
  PRICE,
  Parameter,
  REASON_HASH,
  RESULT_HASH,
  amountsOf,
  bpsUp,
  clientProviderLedger,
  collateralOf,
  costUp,
  createJob,
  createJobFor,
  createOffer,
  escrowOf,
  expectMoneyIdentity,
  marketFixture,
  offerExpiry,
  runningJob,
  signPermit,
} from "./helpers";

const DAY = 24 * HOUR;
const MAX = ethers.MaxUint256;
const GPUS = 2;
const DURATION = 5_000;
const MAX_DURATION = 7 * DAY;

describe("extendJob: more time at the job's own price and terms (v2)", function () {
  it("pulls the extra escrow, locks the extra collateral and emits the new totals; settlement pays out the larger escrow", async function () {
    const env = await loadFixture(marketFixture);
    const { market, staking, payment, actors } = env;
    const { client, provider } = actors;
    const { jobId, startedAt } = await runningJob(env, { gpus: GPUS, duration: DURATION });
    const before = await clientProviderLedger(env);
    const cost = costUp(PRICE, GPUS, DURATION + 1_000);
    const escrow = escrowOf(cost);
    const collateral = collateralOf(cost);
    const extraEscrow = escrow - escrowOf(costUp(PRICE, GPUS, DURATION));
    const extraCollateral = collateral - collateralOf(costUp(PRICE, GPUS, DURATION));
    const tx = market.connect(client).extendJob(jobId, 1_000, extraEscrow);
    await expect(tx).to.emit(market, "JobExtended").withArgs(jobId, DURATION + 1_000, cost, escrow, extraEscrow, collateral);
    await expect(tx).to.emit(staking, "CollateralLocked").withArgs(provider.address, jobId, extraCollateral, collateral);
    await expect(tx).to.changeTokenBalances(payment, [client, env.market], [-extraEscrow, extraEscrow]);
    expect(await amountsOf(env, jobId)).to.deep.equal({ cost, escrow, collateral });
    expect((await market.getJob(jobId)).duration).to.equal(BigInt(DURATION + 1_000));
    // The job now runs to 6,000 s.
    await time.setNextBlockTimestamp(startedAt + 5_500n);
    await market.connect(provider).completeJob(jobId, RESULT_HASH);
    await time.increase(DAY + 1);
    const earned = costUp(PRICE, GPUS, 5_500);
    const fee = bpsUp(earned, 250);
    await market.settleJob(jobId);
    // `before` was taken after creation, so the extension's extra escrow is part of what the client paid in between.
    await expectMoneyIdentity(env, jobId, { ...before, client: before.client - extraEscrow, market: before.market + extraEscrow }, {
      refund: escrow - earned - fee,
      providerPay: earned,
      fee,
    });
  });

  it("keeps the job's price and fee after a reprice and a fee raise", async function () {
    const env = await loadFixture(marketFixture);
    const { market, actors, offerId } = env;
    const { jobId } = await runningJob(env, { gpus: GPUS, duration: DURATION });
    await market.connect(actors.provider).updateOffer(offerId, 8, PRICE * 3n, await offerExpiry());
    await market.setParameter(Parameter.ProtocolFeeBps, 1_000);
    const extra = escrowOf(costUp(PRICE, GPUS, DURATION + HOUR)) - escrowOf(costUp(PRICE, GPUS, DURATION));
    await expect(market.connect(actors.client).extendJob(jobId, HOUR, MAX))
      .to.emit(market, "JobExtended")
      .withArgs(jobId, DURATION + HOUR, costUp(PRICE, GPUS, DURATION + HOUR), escrowOf(costUp(PRICE, GPUS, DURATION + HOUR)),
        extra, collateralOf(costUp(PRICE, GPUS, DURATION + HOUR)));
  });

  it("only the payer extends: a sponsored job's client and strangers are refused", async function () {
    const env = await loadFixture(marketFixture);
    const { market, payment, actors } = env;
    const { client, sponsor, stranger, provider } = actors;
    const jobId = await createJobFor(env, sponsor, client, { gpus: GPUS, duration: DURATION });
    await market.connect(provider).acceptJob(jobId);
    for (const caller of [client, stranger, provider]) {
      await expect(market.connect(caller).extendJob(jobId, 600, MAX))
        .to.be.revertedWithCustomError(market, "JobMarketNotPayer")
        .withArgs(jobId, caller.address);
    }
    const extra = escrowOf(costUp(PRICE, GPUS, DURATION + 600)) - escrowOf(costUp(PRICE, GPUS, DURATION));
    await expect(market.connect(sponsor).extendJob(jobId, 600, MAX)).to.changeTokenBalances(payment, [sponsor, client], [-extra, 0n]);
  });

  it("only a running job before its end: JobMarketInvalidState, then JobMarketJobEnded from the end second on", async function () {
    const env = await loadFixture(marketFixture);
    const { market, actors } = env;
    const created = await createJob(env, actors.client);
    await expect(market.connect(actors.client).extendJob(created, 600, MAX))
      .to.be.revertedWithCustomError(market, "JobMarketInvalidState")
      .withArgs(created, JobState.Created);
    await expect(market.connect(actors.client).extendJob(42n, 600, MAX))
      .to.be.revertedWithCustomError(market, "JobMarketUnknownJob")
      .withArgs(42n);
    const { jobId, startedAt } = await runningJob(env, { gpus: GPUS, duration: DURATION });
    const end = startedAt + BigInt(DURATION);
    await time.setNextBlockTimestamp(end - 1n);
    await expect(market.connect(actors.client).extendJob(jobId, 600, MAX)).to.emit(market, "JobExtended");
    await time.setNextBlockTimestamp(end + 600n);
    await expect(market.connect(actors.client).extendJob(jobId, 600, MAX))
      .to.be.revertedWithCustomError(market, "JobMarketJobEnded")
      .withArgs(jobId, end + 600n);
    await market.connect(actors.provider).completeJob(jobId, RESULT_HASH);
    await expect(market.connect(actors.client).extendJob(jobId, 600, MAX))
      .to.be.revertedWithCustomError(market, "JobMarketInvalidState")
      .withArgs(jobId, JobState.Completed);
  });

  it("refuses a closed or expired offer: an extension is new business", async function () {
    const env = await loadFixture(marketFixture);
    const { market, actors, offerId } = env;
    const { jobId } = await runningJob(env, { gpus: GPUS, duration: DURATION });
    await market.connect(actors.provider).closeOffer(offerId);
    await expect(market.connect(actors.client).extendJob(jobId, 600, MAX))
      .to.be.revertedWithCustomError(market, "JobMarketOfferClosed")
      .withArgs(offerId);

    const expiresAt = await offerExpiry(HOUR);
    const shortOffer = await createOffer(env, actors.provider, { expiresAt });
    const short = await createJob(env, actors.client, { offerId: shortOffer, duration: 2 * HOUR });
    await market.connect(actors.provider).acceptJob(short);
    await time.setNextBlockTimestamp(expiresAt);
    await expect(market.connect(actors.client).extendJob(short, 600, MAX))
      .to.be.revertedWithCustomError(market, "JobMarketOfferExpired")
      .withArgs(shortOffer, expiresAt);
  });

  it("refuses no extra time and a total beyond the offer's maxDuration: JobMarketDurationOutOfRange(total, min, max)", async function () {
    const env = await loadFixture(marketFixture);
    const { market, actors } = env;
    const { jobId } = await runningJob(env, { gpus: 1, duration: DURATION });
    await expect(market.connect(actors.client).extendJob(jobId, 0, MAX))
      .to.be.revertedWithCustomError(market, "JobMarketDurationOutOfRange")
      .withArgs(DURATION, 600, MAX_DURATION);
    await expect(market.connect(actors.client).extendJob(jobId, MAX_DURATION - DURATION + 1, MAX))
      .to.be.revertedWithCustomError(market, "JobMarketDurationOutOfRange")
      .withArgs(MAX_DURATION + 1, 600, MAX_DURATION);
    await expect(market.connect(actors.client).extendJob(jobId, MAX_DURATION - DURATION, MAX))
      .to.emit(market, "JobExtended")
      .withArgs(jobId, MAX_DURATION, costUp(PRICE, 1, MAX_DURATION), (v: bigint) => v > 0n, (v: bigint) => v > 0n,
        collateralOf(costUp(PRICE, 1, MAX_DURATION)));
  });

  it("refuses when the provider's unlocked stake cannot back the extra collateral", async function () {
    const env = await loadFixture(marketFixture);
    const { market, staking, actors } = env;
    const { jobId } = await runningJob(env, { gpus: 4, duration: 5 * DAY }); // ~480 MESH
    await createJob(env, actors.client2, { gpus: 4, duration: 4 * DAY }); // ~384 MESH
    const unlocked = await staking.unlockedStake(actors.provider.address);
    const extra = collateralOf(costUp(PRICE, 4, 7 * DAY)) - collateralOf(costUp(PRICE, 4, 5 * DAY));
    expect(extra).to.be.greaterThan(unlocked);
    await expect(market.connect(actors.client).extendJob(jobId, 2 * DAY, MAX))
      .to.be.revertedWithCustomError(staking, "ProviderStakingInsufficientCollateral")
      .withArgs(actors.provider.address, extra, unlocked);
    expect(unlocked).to.equal(1_000n * MESH - (await amountsOf(env, jobId)).collateral - collateralOf(costUp(PRICE, 4, 4 * DAY)));
  });

  it("refuses an extra escrow above maxEscrow and any extension while paused", async function () {
    const env = await loadFixture(marketFixture);
    const { market, actors } = env;
    const { jobId } = await runningJob(env, { gpus: GPUS, duration: DURATION });
    const extra = escrowOf(costUp(PRICE, GPUS, DURATION + 600)) - escrowOf(costUp(PRICE, GPUS, DURATION));
    await expect(market.connect(actors.client).extendJob(jobId, 600, extra - 1n))
      .to.be.revertedWithCustomError(market, "JobMarketEscrowAboveMax")
      .withArgs(extra, extra - 1n);
    await market.pause();
    await expect(market.connect(actors.client).extendJob(jobId, 600, MAX)).to.be.revertedWithCustomError(market, "EnforcedPause");
  });

  it("raises the claim cap with the collateral", async function () {
    const env = await loadFixture(marketFixture);
    const { market, actors } = env;
    const { jobId } = await runningJob(env, { gpus: GPUS, duration: DURATION });
    await market.connect(actors.client).extendJob(jobId, 3_000, MAX);
    await time.increase(DURATION + 3_000);
    expect(await market.claimable(jobId)).to.equal(bpsUp(costUp(PRICE, GPUS, DURATION + 3_000), 5_000));
  });
});

describe("selfPermit + multicall: any pull in one transaction (v2)", function () {
  it("extends a job with a permit for the extra escrow, no prior approval", async function () {
    const env = await loadFixture(marketFixture);
    const { market, payment, actors, marketAddress } = env;
    const { client } = actors;
    const { jobId } = await runningJob(env, { gpus: GPUS, duration: DURATION });
    await payment.connect(client).approve(marketAddress, 0n);
    const extra = escrowOf(costUp(PRICE, GPUS, DURATION + 600)) - escrowOf(costUp(PRICE, GPUS, DURATION));
    const permit = await signPermit(payment, client, marketAddress, extra, BigInt(await time.latest()) + 600n);
    const tx = market.connect(client).multicall([
      market.interface.encodeFunctionData("selfPermit", [permit]),
      market.interface.encodeFunctionData("extendJob", [jobId, 600, extra]),
    ]);
    await expect(tx).to.emit(market, "JobExtended");
    await expect(tx).to.changeTokenBalance(payment, client, -extra);
    expect(await payment.allowance(client.address, marketAddress)).to.equal(0n);
  });

  it("disputes with a permit for the bond; a used permit is ignored when the allowance is there", async function () {
    const env = await loadFixture(marketFixture);
    const { market, payment, actors, marketAddress } = env;
    const { client, stranger } = actors;
    const { jobId } = await runningJob(env, { gpus: GPUS, duration: DURATION });
    await payment.connect(client).approve(marketAddress, 0n);
    const bond = bpsUp(costUp(PRICE, GPUS, DURATION), 500);
    const permit = await signPermit(payment, client, marketAddress, bond, BigInt(await time.latest()) + 600n);
    await payment.connect(stranger).permit(client.address, marketAddress, permit.value, permit.deadline, permit.v, permit.r, permit.s);
    const tx = market.connect(client).multicall([
      market.interface.encodeFunctionData("selfPermit", [permit]),
      market.interface.encodeFunctionData("disputeJob", [jobId, REASON_HASH]),
    ]);
    await expect(tx).to.emit(market, "JobDisputed");
    await expect(tx).to.changeTokenBalance(payment, client, -bond);
  });
});

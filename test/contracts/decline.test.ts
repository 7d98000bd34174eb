import { expect } from "chai";
import { loadFixture, time } from "@nomicfoundation/hardhat-toolbox/network-helpers";
import {
  DECLINE_REASON,
  JobState,
  RESULT_HASH,
  amountsOf,
  blockTimestampOf,
  createJob,
  createJobFor,
  marketFixture,
  runningJob,
} from "./helpers";

describe("declineJob: Created -> Declined by the provider (v2)", function () {
  it("refunds the payer in full, releases the collateral and the GPUs, and slashes nothing", async function () {
    const env = await loadFixture(marketFixture);
    const { market, staking, payment, actors, offerId } = env;
    const { client, provider } = actors;
    const jobId = await createJob(env, client, { gpus: 3, duration: 5_000 });
    const { escrow, collateral } = await amountsOf(env, jobId);
    const tx = market.connect(provider).declineJob(jobId, DECLINE_REASON);
    await expect(tx).to.emit(market, "JobDeclined").withArgs(jobId, provider.address, escrow, DECLINE_REASON);
    await expect(tx).to.emit(staking, "CollateralUnlocked").withArgs(provider.address, jobId, collateral, 0n);
    await expect(tx).not.to.emit(staking, "Slashed");
    await expect(tx).to.changeTokenBalances(payment, [client, provider, market], [escrow, 0n, -escrow]);
    const job = await market.getJob(jobId);
    expect(job.state).to.equal(JobState.Declined);
    expect(job.endedAt).to.equal(await blockTimestampOf(await tx));
    expect((await market.getOffer(offerId)).gpusLeased).to.equal(0n);
    const account = await staking.account(provider.address);
    expect([account.staked, account.locked]).to.deep.equal([1_000n * 10n ** 18n, 0n]);
    expect(await market.feesAccrued()).to.equal(0n);
  });

  it("refunds a sponsored job's payer, not its client", async function () {
    const env = await loadFixture(marketFixture);
    const { market, payment, actors } = env;
    const { client, sponsor, provider } = actors;
    const jobId = await createJobFor(env, sponsor, client);
    const { escrow } = await amountsOf(env, jobId);
    await expect(market.connect(provider).declineJob(jobId, DECLINE_REASON)).to.changeTokenBalances(
      payment,
      [sponsor, client],
      [escrow, 0n],
    );
  });

  it("is allowed up to and including the accept deadline; after it the job can only expire", async function () {
    const env = await loadFixture(marketFixture);
    const { market, actors } = env;
    const first = await createJob(env, actors.client, { gpus: 1 });
    const second = await createJob(env, actors.client2, { gpus: 1 });
    const firstDeadline = (await market.getJob(first)).acceptDeadline;
    const deadline = (await market.getJob(second)).acceptDeadline;
    await time.setNextBlockTimestamp(firstDeadline);
    await expect(market.connect(actors.provider).declineJob(first, DECLINE_REASON)).to.emit(market, "JobDeclined");
    await time.setNextBlockTimestamp(deadline + 1n);
    await expect(market.connect(actors.provider).declineJob(second, DECLINE_REASON))
      .to.be.revertedWithCustomError(market, "JobMarketAcceptWindowClosed")
      .withArgs(second, deadline);
    await expect(market.expireJob(second)).to.emit(market, "JobExpired");
  });

  it("only the offer's provider declines", async function () {
    const env = await loadFixture(marketFixture);
    const { market, actors } = env;
    const jobId = await createJob(env, actors.client);
    for (const caller of [actors.client, actors.stranger, actors.provider2]) {
      await expect(market.connect(caller).declineJob(jobId, DECLINE_REASON))
        .to.be.revertedWithCustomError(market, "JobMarketNotProvider")
        .withArgs(jobId, caller.address);
    }
  });

  it("only a Created job: unknown, running and already declined jobs are refused; Declined is terminal", async function () {
    const env = await loadFixture(marketFixture);
    const { market, actors } = env;
    await expect(market.connect(actors.provider).declineJob(99n, DECLINE_REASON))
      .to.be.revertedWithCustomError(market, "JobMarketUnknownJob")
      .withArgs(99n);
    const { jobId: runningId } = await runningJob(env);
    await expect(market.connect(actors.provider).declineJob(runningId, DECLINE_REASON))
      .to.be.revertedWithCustomError(market, "JobMarketInvalidState")
      .withArgs(runningId, JobState.Running);
    const jobId = await createJob(env, actors.client);
    await market.connect(actors.provider).declineJob(jobId, DECLINE_REASON);
    await time.increase(3_600);
    const calls = [
      () => market.connect(actors.provider).declineJob(jobId, DECLINE_REASON),
      () => market.connect(actors.provider).acceptJob(jobId),
      () => market.connect(actors.client).cancelJob(jobId),
      () => market.expireJob(jobId),
      () => market.connect(actors.provider).completeJob(jobId, RESULT_HASH),
      () => market.connect(actors.client).disputeJob(jobId, RESULT_HASH),
      () => market.settleJob(jobId),
    ];
    for (const call of calls) {
      await expect(call()).to.be.revertedWithCustomError(market, "JobMarketInvalidState").withArgs(jobId, JobState.Declined);
    }
  });
});

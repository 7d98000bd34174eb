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
  blockTimestampOf,
  bpsDown,
  bpsUp,
  clientProviderLedger,
  costUp,
  createJob,
  expectMoneyIdentity,
  marketFixture,
  runningJob,
  signReceipt,
} from "./helpers";

const TIMEOUT = 15n * 60n; // DEFAULT_PARAMETERS.livenessTimeout

describe("heartbeat: one sign of life for all of a provider's running jobs (v2)", function () {
  it("emits ProviderHeartbeat and records the time; any address beats only for itself", async function () {
    const { market, actors } = await loadFixture(marketFixture);
    const tx = await market.connect(actors.provider).heartbeat();
    const at = await blockTimestampOf(tx);
    await expect(tx).to.emit(market, "ProviderHeartbeat").withArgs(actors.provider.address, at);
    expect(await market.lastHeartbeat(actors.provider.address)).to.equal(at);
    await time.increase(60);
    const strangers = await market.connect(actors.stranger).heartbeat();
    await expect(strangers).to.emit(market, "ProviderHeartbeat").withArgs(actors.stranger.address, at + 61n);
    expect(await market.lastHeartbeat(actors.provider.address)).to.equal(at);
  });

  it("covers every running job of the provider with one write", async function () {
    const env = await loadFixture(marketFixture);
    const { market, actors } = env;
    const jobs = [];
    for (let i = 0; i < 3; i++) jobs.push((await runningJob(env, { gpus: 1 })).jobId);
    await time.increase(600);
    const beat = await blockTimestampOf(await market.connect(actors.provider).heartbeat());
    await market.connect(actors.stranger).heartbeat(); // someone else's heartbeat moves nothing
    for (const jobId of jobs) expect(await market.darkAt(jobId)).to.equal(beat + TIMEOUT);
    // A reverted transaction is still mined here, so each report takes the next second, up to the dark time itself.
    for (const [index, jobId] of jobs.entries()) {
      await time.setNextBlockTimestamp(beat + TIMEOUT - BigInt(jobs.length - 1 - index));
      await expect(market.reportDark(jobId))
        .to.be.revertedWithCustomError(market, "JobMarketProviderNotDark")
        .withArgs(jobId, beat, beat + TIMEOUT);
    }
    await time.setNextBlockTimestamp(beat + TIMEOUT + 1n);
    await expect(market.reportDark(jobs[0]!)).to.emit(market, "JobDark");
  });

  it("accepting, claiming, claiming with a receipt and completing are signs of life too, without a ProviderHeartbeat event", async function () {
    const env = await loadFixture(marketFixture);
    const { market, actors } = env;
    const { provider, client } = actors;
    const jobId = await createJob(env, client, { gpus: 2, duration: 5_000 });
    const accepted = await market.connect(provider).acceptJob(jobId);
    expect(await market.lastHeartbeat(provider.address)).to.equal(await blockTimestampOf(accepted));
    await time.increase(500);
    const claimed = await market.connect(provider).claim(jobId);
    await expect(claimed).not.to.emit(market, "ProviderHeartbeat");
    expect(await market.lastHeartbeat(provider.address)).to.equal(await blockTimestampOf(claimed));
    await time.increase(500);
    const servedUntil = BigInt(await time.latest());
    const receipted = await market
      .connect(provider)
      .claimWithReceipt(jobId, servedUntil, await signReceipt(env, client, jobId, servedUntil));
    expect(await market.lastHeartbeat(provider.address)).to.equal(await blockTimestampOf(receipted));
    await time.increase(500);
    const completed = await market.connect(provider).completeJob(jobId, RESULT_HASH);
    await expect(completed).not.to.emit(market, "ProviderHeartbeat");
    expect(await market.lastHeartbeat(provider.address)).to.equal(await blockTimestampOf(completed));
  });
});

describe("reportDark: Running -> Dark when the provider stops showing signs of life (v2)", function () {
  it("refuses while the provider is not dark, naming its last sign of life and when it goes dark", async function () {
    const env = await loadFixture(marketFixture);
    const { market, actors } = env;
    const { jobId, startedAt } = await runningJob(env);
    expect(await market.darkAt(jobId)).to.equal(startedAt + TIMEOUT);
    await time.setNextBlockTimestamp(startedAt + TIMEOUT);
    await expect(market.connect(actors.stranger).reportDark(jobId))
      .to.be.revertedWithCustomError(market, "JobMarketProviderNotDark")
      .withArgs(jobId, startedAt, startedAt + TIMEOUT);
  });

  it("a provider alive through the job's end is never dark", async function () {
    const env = await loadFixture(marketFixture);
    const { market, actors } = env;
    const { jobId, startedAt } = await runningJob(env, { gpus: 1, duration: 600 });
    await time.setNextBlockTimestamp(startedAt + 600n);
    await market.connect(actors.provider).heartbeat();
    expect(await market.darkAt(jobId)).to.equal(0n);
    await time.increase(5 * HOUR);
    await expect(market.reportDark(jobId))
      .to.be.revertedWithCustomError(market, "JobMarketProviderNotDark")
      .withArgs(jobId, startedAt + 600n, startedAt + 600n + TIMEOUT);
  });

  it("pays to the last sign of life, refunds the rest to the payer and slashes the SLA credit to the client; anyone may report", async function () {
    const env = await loadFixture(marketFixture);
    const { market, staking, payment, stake, actors, offerId } = env;
    const { client, provider, stranger, treasury } = actors;
    const { jobId, startedAt } = await runningJob(env, { gpus: 2, duration: 4 * HOUR });
    const { escrow, collateral } = await amountsOf(env, jobId);
    const before = await clientProviderLedger(env);
    await time.setNextBlockTimestamp(startedAt + 1_000n);
    await market.connect(provider).claim(jobId);
    const claimed = costUp(PRICE, 2, 1_000);
    await time.setNextBlockTimestamp(startedAt + 2_000n);
    await market.connect(provider).heartbeat();
    const reportedAt = startedAt + 4_000n;
    const earned = costUp(PRICE, 2, 2_000);
    const fee = bpsUp(earned, 250);
    const refund = escrow - earned - fee;
    // SLA credit: darkSlashBps (10 %) of the cost of the 2,000 dark seconds, in stake units.
    const credit = bpsDown(costUp(PRICE, 2, 2_000), 1_000) * STAKE_PER_PAYMENT_UNIT;
    await time.setNextBlockTimestamp(reportedAt);
    const tx = market.connect(stranger).reportDark(jobId);
    await expect(tx)
      .to.emit(market, "JobDark")
      .withArgs(jobId, reportedAt, startedAt + 2_000n, earned, earned - claimed, fee, refund, credit);
    await expect(tx).to.emit(staking, "CollateralUnlocked").withArgs(provider.address, jobId, collateral, 0n);
    await expect(tx)
      .to.emit(staking, "Slashed")
      .withArgs(provider.address, jobId, client.address, credit, treasury.address, 0n, 1_000n * MESH - credit);
    await expect(tx).to.changeTokenBalances(payment, [provider, client, stranger], [earned - claimed, refund, 0n]);
    await expect(tx).to.changeTokenBalances(stake, [client, staking], [credit, -credit]);
    await expectMoneyIdentity(env, jobId, before, { refund, providerPay: earned, fee });
    const job = await market.getJob(jobId);
    expect([job.state, job.endedAt]).to.deep.equal([JobState.Dark, reportedAt]);
    expect((await market.getOffer(offerId)).gpusLeased).to.equal(0n);
    expect(await market.darkAt(jobId)).to.equal(0n);
    // Dark is terminal: no window, no dispute, no settlement.
    for (const call of [
      () => market.connect(client).disputeJob(jobId, REASON_HASH),
      () => market.settleJob(jobId),
      () => market.reportDark(jobId),
      () => market.connect(provider).claim(jobId),
      () => market.connect(client).reclaimAbandoned(jobId),
    ]) {
      await expect(call()).to.be.revertedWithCustomError(market, "JobMarketInvalidState").withArgs(jobId, JobState.Dark);
    }
  });

  it("counts the dark time only up to the job's end", async function () {
    const env = await loadFixture(marketFixture);
    const { market, actors } = env;
    const { jobId, startedAt } = await runningJob(env, { gpus: 2, duration: 2 * HOUR });
    const { escrow } = await amountsOf(env, jobId);
    await time.setNextBlockTimestamp(startedAt + 1_000n);
    await market.connect(actors.provider).heartbeat();
    await time.setNextBlockTimestamp(startedAt + 5n * 3_600n);
    const earned = costUp(PRICE, 2, 1_000);
    const credit = bpsDown(costUp(PRICE, 2, 2 * HOUR - 1_000), 1_000) * STAKE_PER_PAYMENT_UNIT;
    await expect(market.reportDark(jobId))
      .to.emit(market, "JobDark")
      .withArgs(jobId, startedAt + 5n * 3_600n, startedAt + 1_000n, earned, earned, bpsUp(earned, 250),
        escrow - earned - bpsUp(earned, 250), credit);
  });

  it("the SLA credit never exceeds the job's collateral", async function () {
    const env = await loadFixture(marketFixture);
    const { market, staking, actors } = env;
    await market.setParameter(Parameter.DarkSlashBps, 10_000); // the whole cost of the dark time
    await market.setParameter(Parameter.CollateralBps, 1_000); // collateral 10 % of cost
    const { jobId, startedAt } = await runningJob(env, { gpus: 2, duration: 2 * HOUR });
    const { collateral } = await amountsOf(env, jobId);
    expect(collateral).to.equal(bpsUp(costUp(PRICE, 2, 2 * HOUR), 1_000) * STAKE_PER_PAYMENT_UNIT);
    await time.setNextBlockTimestamp(startedAt + 2n * 3_600n);
    const tx = market.reportDark(jobId);
    await expect(tx).to.emit(market, "JobDark").withArgs(jobId, startedAt + 7_200n, startedAt, 0n, 0n, 0n,
      (await amountsOf(env, jobId)).escrow, collateral);
    await expect(tx)
      .to.emit(staking, "Slashed")
      .withArgs(actors.provider.address, jobId, actors.client.address, collateral, actors.treasury.address, 0n,
        1_000n * MESH - collateral);
  });

  it("only a running job can be reported dark", async function () {
    const env = await loadFixture(marketFixture);
    const { market, actors } = env;
    const created = await createJob(env, actors.client);
    await time.increase(HOUR);
    await expect(market.reportDark(created))
      .to.be.revertedWithCustomError(market, "JobMarketInvalidState")
      .withArgs(created, JobState.Created);
    expect(await market.darkAt(created)).to.equal(0n);
    const { jobId } = await runningJob(env);
    await market.connect(actors.provider).completeJob(jobId, RESULT_HASH);
    await time.increase(HOUR);
    await expect(market.reportDark(jobId))
      .to.be.revertedWithCustomError(market, "JobMarketInvalidState")
      .withArgs(jobId, JobState.Completed);
    await expect(market.reportDark(77n)).to.be.revertedWithCustomError(market, "JobMarketUnknownJob").withArgs(77n);
  });

  it("the paused market still takes dark reports: refunds cannot wait for governance", async function () {
    const env = await loadFixture(marketFixture);
    const { market, actors } = env;
    const { jobId } = await runningJob(env);
    await market.pause();
    await time.increase(HOUR);
    await expect(market.connect(actors.client2).reportDark(jobId)).to.emit(market, "JobDark");
  });
});

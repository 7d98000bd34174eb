import { expect } from "chai";
import { loadFixture, time } from "@nomicfoundation/hardhat-toolbox/network-helpers";
import {
  HOUR,
  JobState,
  MESH,
  PRICE,
  REASON_HASH,
  RESULT_HASH,
  STAKE_PER_PAYMENT_UNIT,
  bpsDown,
  bpsUp,
  clientProviderLedger,
  costUp,
  createJob,
  expectMoneyIdentity,
  marketFixture,
  runningJob,
} from "./helpers";

const GPUS = 2;
const DURATION = 5_000;
const COST = costUp(PRICE, GPUS, DURATION);
const ESCROW = COST + bpsUp(COST, 250);
const COLLATERAL = bpsUp(COST, 5_000) * STAKE_PER_PAYMENT_UNIT;
const DISPUTE_WINDOW = 24n * 3600n;
const ABANDON_GRACE = 3600n;
const RESOLVE_WINDOW = 7n * 24n * 3600n;
/** A dispute's bond: disputeBondBps (5 %) of the cost, rounded up (v2). */
const BOND = bpsUp(COST, 500);

describe("disputeJob: Running/Completed -> Disputed", function () {
  it("from Running: stops the clock at the dispute, frees the GPUs and pulls the bond (v2)", async function () {
    const env = await loadFixture(marketFixture);
    const { market, payment, actors, offerId } = env;
    const { jobId, startedAt } = await runningJob(env, { gpus: GPUS, duration: DURATION });
    const disputedAt = startedAt + 900n;
    await time.setNextBlockTimestamp(disputedAt);
    const tx = market.connect(actors.client).disputeJob(jobId, REASON_HASH);
    await expect(tx)
      .to.emit(market, "JobDisputed")
      .withArgs(jobId, disputedAt, costUp(PRICE, GPUS, 900), REASON_HASH, BOND, disputedAt + RESOLVE_WINDOW);
    await expect(tx).to.changeTokenBalances(payment, [actors.client, market], [-BOND, BOND]);
    expect(await market.disputeBondsHeld()).to.equal(BOND);
    const job = await market.getJob(jobId);
    expect(job.state).to.equal(JobState.Disputed);
    expect(job.endedAt).to.equal(disputedAt);
    expect((await market.getOffer(offerId)).gpusLeased).to.equal(0n);
    // The clock stopped: time passing no longer changes what was earned.
    await time.increase(HOUR);
    expect(await market.earned(jobId)).to.equal(costUp(PRICE, GPUS, 900));
  });

  it("from Completed: allowed up to and including the end of the dispute window", async function () {
    const env = await loadFixture(marketFixture);
    const { market, actors } = env;
    const { jobId, startedAt } = await runningJob(env, { gpus: GPUS, duration: DURATION });
    await time.setNextBlockTimestamp(startedAt + 4_000n);
    await market.connect(actors.provider).completeJob(jobId, RESULT_HASH);
    await time.setNextBlockTimestamp(startedAt + 4_000n + DISPUTE_WINDOW);
    await expect(market.connect(actors.client).disputeJob(jobId, REASON_HASH))
      .to.emit(market, "JobDisputed")
      .withArgs(jobId, startedAt + 4_000n, costUp(PRICE, GPUS, 4_000), REASON_HASH, BOND,
        startedAt + 4_000n + DISPUTE_WINDOW + RESOLVE_WINDOW);
    // Disputed jobs cannot be settled by anyone: the arbiter ends them (or anyone, after the resolve window).
    await expect(market.settleJob(jobId))
      .to.be.revertedWithCustomError(market, "JobMarketInvalidState")
      .withArgs(jobId, JobState.Disputed);
  });

  it("from Completed after the dispute window: too late", async function () {
    const env = await loadFixture(marketFixture);
    const { market, actors } = env;
    const { jobId } = await runningJob(env);
    await market.connect(actors.client).endJobEarly(jobId);
    const endedAt = (await market.getJob(jobId)).endedAt;
    await time.setNextBlockTimestamp(endedAt + DISPUTE_WINDOW + 1n);
    await expect(market.connect(actors.client).disputeJob(jobId, REASON_HASH))
      .to.be.revertedWithCustomError(market, "JobMarketDisputeWindowClosed")
      .withArgs(jobId, endedAt + DISPUTE_WINDOW);
  });

  it("only the client disputes, only a Running or Completed job", async function () {
    const env = await loadFixture(marketFixture);
    const { market, actors } = env;
    await expect(market.connect(actors.client).disputeJob(5n, REASON_HASH))
      .to.be.revertedWithCustomError(market, "JobMarketUnknownJob")
      .withArgs(5n);
    const created = await createJob(env, actors.client);
    await expect(market.connect(actors.client).disputeJob(created, REASON_HASH))
      .to.be.revertedWithCustomError(market, "JobMarketInvalidState")
      .withArgs(created, JobState.Created);
    await market.connect(actors.provider).acceptJob(created);
    await expect(market.connect(actors.provider).disputeJob(created, REASON_HASH))
      .to.be.revertedWithCustomError(market, "JobMarketNotClient")
      .withArgs(created, actors.provider.address);
    await market.connect(actors.client).disputeJob(created, REASON_HASH);
    await expect(market.connect(actors.client).disputeJob(created, REASON_HASH))
      .to.be.revertedWithCustomError(market, "JobMarketInvalidState")
      .withArgs(created, JobState.Disputed);
  });
});

describe("resolveDispute: Disputed -> Resolved by the arbiter", function () {
  async function disputedJob() {
    const env = await marketFixture();
    const { market, actors } = env;
    const { jobId, startedAt } = await runningJob(env, { gpus: GPUS, duration: DURATION });
    const before = await clientProviderLedger(env);
    // The provider streamed 1000 s of pay, then the client disputed at 3000 s.
    await time.setNextBlockTimestamp(startedAt + 1_000n);
    await market.connect(actors.provider).claim(jobId);
    await time.setNextBlockTimestamp(startedAt + 3_000n);
    await market.connect(actors.client).disputeJob(jobId, REASON_HASH);
    return { ...env, jobId, before, claimed: costUp(PRICE, GPUS, 1_000), earned: costUp(PRICE, GPUS, 3_000) };
  }

  it("splits the earnings by the provider's share; unreceipted streamed pay is disputed too (v2: only receipted pay is final)", async function () {
    const env = await loadFixture(disputedJob);
    const { market, staking, actors, jobId, before, claimed, earned } = env;
    const providerShareBps = 4_000;
    const awarded = bpsDown(earned, providerShareBps);
    expect(awarded).to.be.greaterThan(claimed);
    const fee = bpsUp(awarded, 250);
    const refund = ESCROW - awarded - fee;
    const tx = market.connect(actors.governance).resolveDispute(jobId, providerShareBps, 0n);
    await expect(tx)
      .to.emit(market, "JobResolved")
      .withArgs(jobId, providerShareBps, awarded, awarded - claimed, fee, refund, 0n, false);
    await expect(tx)
      .to.emit(staking, "CollateralUnlocked")
      .withArgs(actors.provider.address, jobId, COLLATERAL, 0n);
    await expect(tx).not.to.emit(staking, "Slashed");
    await expectMoneyIdentity(env, jobId, before, { refund, providerPay: awarded, fee, bond: BOND });
    expect((await market.getJob(jobId)).state).to.equal(JobState.Resolved);
    expect(await market.disputeBondsHeld()).to.equal(0n);
  });

  it("share 0: the client gets back every unit, streamed pay included from the collateral, and no fee is charged (v2)", async function () {
    const env = await loadFixture(disputedJob);
    const { market, staking, stake, actors, jobId, before, claimed } = env;
    const tx = market.resolveDispute(jobId, 0, 0n);
    // The streamed pay stays with the provider in payment tokens; its worth is slashed from the collateral to the client.
    await expect(tx)
      .to.emit(market, "JobResolved")
      .withArgs(jobId, 0, 0n, 0n, 0n, ESCROW - claimed, claimed * STAKE_PER_PAYMENT_UNIT, false);
    await expect(tx).to.changeTokenBalance(stake, actors.client, claimed * STAKE_PER_PAYMENT_UNIT);
    await expect(tx)
      .to.emit(staking, "Slashed")
      .withArgs(actors.provider.address, jobId, actors.client.address, claimed * STAKE_PER_PAYMENT_UNIT,
        actors.treasury.address, 0n, 1_000n * MESH - claimed * STAKE_PER_PAYMENT_UNIT);
    await expectMoneyIdentity(env, jobId, before, { refund: ESCROW - claimed, providerPay: claimed, fee: 0n, bond: BOND });
    expect(actors.governance.address).to.not.equal(actors.client.address);
  });

  it("share 10000: the provider gets everything it earned, like a settlement, and the bond (v2)", async function () {
    const env = await loadFixture(disputedJob);
    const { market, jobId, before, earned, claimed } = env;
    const fee = bpsUp(earned, 250);
    await expect(market.resolveDispute(jobId, 10_000, 0n))
      .to.emit(market, "JobResolved")
      .withArgs(jobId, 10_000, earned, earned - claimed, fee, ESCROW - earned - fee, 0n, true);
    await expectMoneyIdentity(env, jobId, before, {
      refund: ESCROW - earned - fee,
      providerPay: earned,
      fee,
      bond: BOND,
      bondTo: "provider",
    });
  });

  it("slashes collateral to the client (up to the job's cost) before the treasury", async function () {
    const env = await loadFixture(marketFixture);
    const { market, staking, stake, actors } = env;
    const { client, provider, treasury } = actors;
    await market.setParameter(2, 20_000); // collateral = 2x cost, so a slash can exceed the cost
    const { jobId } = await runningJob(env, { gpus: GPUS, duration: DURATION });
    await market.connect(client).disputeJob(jobId, REASON_HASH);
    const collateral = bpsUp(COST, 20_000) * STAKE_PER_PAYMENT_UNIT;
    const toClient = COST * STAKE_PER_PAYMENT_UNIT;
    const tx = market.resolveDispute(jobId, 0, collateral);
    await expect(tx)
      .to.emit(staking, "Slashed")
      .withArgs(provider.address, jobId, client.address, toClient, treasury.address, collateral - toClient, 1_000n * MESH - collateral);
    await expect(tx).to.emit(market, "JobResolved").withArgs(jobId, 0, 0n, 0n, 0n, (v: bigint) => v > 0n, collateral, false);
    await expect(tx).to.changeTokenBalances(
      stake,
      [client, treasury, staking],
      [toClient, collateral - toClient, -collateral],
    );
    const account = await staking.account(provider.address);
    expect(account.staked).to.equal(1_000n * MESH - collateral);
    expect(account.locked).to.equal(0n);
  });

  it("a slash within the cost goes to the client alone", async function () {
    const env = await loadFixture(disputedJob);
    const { market, staking, actors, jobId } = env;
    const slash = COLLATERAL / 3n;
    await expect(market.resolveDispute(jobId, 5_000, slash))
      .to.emit(staking, "Slashed")
      .withArgs(actors.provider.address, jobId, actors.client.address, slash, actors.treasury.address, 0n, 1_000n * MESH - slash);
  });

  it("bounds the arbiter: share at most 10000 bps, slash at most the job's collateral less what the ruling takes back (v2)", async function () {
    const env = await loadFixture(disputedJob);
    const { market, jobId, claimed } = env;
    await expect(market.resolveDispute(jobId, 10_001, 0n))
      .to.be.revertedWithCustomError(market, "JobMarketInvalidShare")
      .withArgs(10_001);
    await expect(market.resolveDispute(jobId, 10_000, COLLATERAL + 1n))
      .to.be.revertedWithCustomError(market, "JobMarketSlashAboveCollateral")
      .withArgs(COLLATERAL + 1n, COLLATERAL);
    // Share 0 takes the streamed pay back from the collateral first.
    const available = COLLATERAL - claimed * STAKE_PER_PAYMENT_UNIT;
    await expect(market.resolveDispute(jobId, 0, available + 1n))
      .to.be.revertedWithCustomError(market, "JobMarketSlashAboveCollateral")
      .withArgs(available + 1n, available);
    await expect(market.resolveDispute(jobId, 0, available)).to.emit(market, "JobResolved");
  });

  it("only the arbiter resolves, only Disputed jobs, once", async function () {
    const env = await loadFixture(disputedJob);
    const { market, actors, jobId } = env;
    const arbiterRole = await market.ARBITER_ROLE();
    await expect(market.connect(actors.client).resolveDispute(jobId, 0, 0n))
      .to.be.revertedWithCustomError(market, "AccessControlUnauthorizedAccount")
      .withArgs(actors.client.address, arbiterRole);
    await market.resolveDispute(jobId, 0, 0n);
    await expect(market.resolveDispute(jobId, 0, 0n))
      .to.be.revertedWithCustomError(market, "JobMarketInvalidState")
      .withArgs(jobId, JobState.Resolved);
    await expect(market.resolveDispute(99n, 0, 0n))
      .to.be.revertedWithCustomError(market, "JobMarketUnknownJob")
      .withArgs(99n);
  });
});

describe("reclaimAbandoned: Running past end + grace -> Reclaimed", function () {
  it("pays the provider to its last sign of life (here its claim, v2), the rest back to the payer; collateral unlocked", async function () {
    const env = await loadFixture(marketFixture);
    const { market, staking, actors, offerId } = env;
    const { client, provider } = actors;
    const { jobId, startedAt } = await runningJob(env, { gpus: GPUS, duration: DURATION });
    const before = await clientProviderLedger(env);
    await time.setNextBlockTimestamp(startedAt + 600n);
    await market.connect(provider).claim(jobId);
    const claimed = costUp(PRICE, GPUS, 600);
    const reclaimableAt = startedAt + BigInt(DURATION) + ABANDON_GRACE;
    await time.setNextBlockTimestamp(reclaimableAt);
    await expect(market.connect(client).reclaimAbandoned(jobId))
      .to.be.revertedWithCustomError(market, "JobMarketNotAbandoned")
      .withArgs(jobId, reclaimableAt);
    const fee = bpsUp(claimed, 250);
    const refund = ESCROW - claimed - fee;
    const tx = market.connect(client).reclaimAbandoned(jobId);
    await expect(tx).to.emit(market, "JobReclaimed").withArgs(jobId, reclaimableAt + 1n, claimed, 0n, fee, refund);
    await expect(tx).to.emit(staking, "CollateralUnlocked").withArgs(provider.address, jobId, COLLATERAL, 0n);
    await expectMoneyIdentity(env, jobId, before, { refund, providerPay: claimed, fee });
    expect((await market.getJob(jobId)).state).to.equal(JobState.Reclaimed);
    expect((await market.getOffer(offerId)).gpusLeased).to.equal(0n);
  });

  it("the client may dispute an abandoned job instead, so the arbiter can slash", async function () {
    const env = await loadFixture(marketFixture);
    const { market, actors } = env;
    const { jobId, startedAt } = await runningJob(env, { gpus: GPUS, duration: DURATION });
    await time.setNextBlockTimestamp(startedAt + BigInt(DURATION) + ABANDON_GRACE + 10n);
    const disputedAt = startedAt + BigInt(DURATION) + ABANDON_GRACE + 10n;
    await expect(market.connect(actors.client).disputeJob(jobId, REASON_HASH))
      .to.emit(market, "JobDisputed")
      .withArgs(jobId, disputedAt, COST, REASON_HASH, BOND, disputedAt + RESOLVE_WINDOW);
    await expect(market.resolveDispute(jobId, 0, COLLATERAL)).to.emit(market, "JobResolved");
  });

  it("only the client reclaims, only a Running job", async function () {
    const env = await loadFixture(marketFixture);
    const { market, actors } = env;
    const { jobId } = await runningJob(env);
    await time.increase(30 * 24 * HOUR);
    await expect(market.connect(actors.stranger).reclaimAbandoned(jobId))
      .to.be.revertedWithCustomError(market, "JobMarketNotClient")
      .withArgs(jobId, actors.stranger.address);
    await market.connect(actors.provider).completeJob(jobId, RESULT_HASH);
    await expect(market.connect(actors.client).reclaimAbandoned(jobId))
      .to.be.revertedWithCustomError(market, "JobMarketInvalidState")
      .withArgs(jobId, JobState.Completed);
  });
});

describe("withdrawFees and withdrawBalance", function () {
  it("sends accrued fees to the treasury (anyone can trigger it), then has nothing left", async function () {
    const env = await loadFixture(marketFixture);
    const { market, payment, actors } = env;
    await expect(market.withdrawFees()).to.be.revertedWithCustomError(market, "JobMarketNothingToWithdraw");
    const { jobId } = await runningJob(env);
    await time.increase(1_000);
    await market.connect(actors.provider).completeJob(jobId, RESULT_HASH);
    await time.increase(DISPUTE_WINDOW + 1n);
    await market.settleJob(jobId);
    const fees = await market.feesAccrued();
    expect(fees).to.be.greaterThan(0n);
    const tx = market.connect(actors.stranger).withdrawFees();
    await expect(tx).to.emit(market, "FeesWithdrawn").withArgs(actors.treasury.address, fees);
    await expect(tx).to.changeTokenBalances(payment, [actors.treasury, market], [fees, -fees]);
    expect(await market.feesAccrued()).to.equal(0n);
    await expect(market.withdrawFees()).to.be.revertedWithCustomError(market, "JobMarketNothingToWithdraw");
  });

  it("withdrawBalance rejects the zero address and an empty balance", async function () {
    const { market, actors } = await loadFixture(marketFixture);
    await expect(market.connect(actors.client).withdrawBalance(actors.client.address))
      .to.be.revertedWithCustomError(market, "JobMarketNothingToWithdraw");
    await expect(market.connect(actors.client).withdrawBalance("0x" + "00".repeat(20)))
      .to.be.revertedWithCustomError(market, "JobMarketZeroAddress");
  });
});

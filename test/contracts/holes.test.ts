import { expect } from "chai";
import { ethers } from "hardhat";
import { loadFixture, time } from "@nomicfoundation/hardhat-toolbox/network-helpers";
import {
  DECLINE_REASON,
  HOUR,
  MESH,
  Parameter,
  REASON_HASH,
  RESULT_HASH,
  SPEC_HASH,
  USDC,
  amountsOf,
  bpsUp,
  costUp,
  createOffer,
  deployedFixture,
  registerAndStake,
  type MarketEnv,
} from "./helpers";

/**
 * One regression test per hole of protocol v1 (PROTOCOL.md, "v2 exists because ..."). Each asserts the v2 outcome
 * with exact amounts from balance deltas, and fails on v1's semantics.
 */

const DAY = 24 * HOUR;
const MAX = ethers.MaxUint256;
/** 2 USDC per GPU-hour: round figures. */
const TWO_USDC = 2n * USDC;

/** A quick-start provider: 1,000 MESH staked, 8 H100 at 2 USDC/GPU-hour for up to 7 days. */
async function quickStartFixture() {
  const env = await deployedFixture();
  await registerAndStake(env, env.actors.provider, 1_000n * MESH);
  const offerId = await createOffer(env, env.actors.provider, { gpus: 8, pricePerGpuHour: TWO_USDC, maxDuration: 7 * DAY });
  return { ...env, offerId };
}

async function create(env: MarketEnv, gpus: number, duration: number, payer = env.actors.client) {
  const jobId = await env.market.nextJobId();
  await env.market.connect(payer).createJob(env.offerId, gpus, duration, TWO_USDC, MAX, SPEC_HASH);
  return jobId;
}

async function running(env: MarketEnv, gpus: number, duration: number) {
  const jobId = await create(env, gpus, duration);
  await env.market.connect(env.actors.provider).acceptJob(jobId);
  return { jobId, startedAt: (await env.market.getJob(jobId)).startedAt };
}

const usdc = (env: MarketEnv, account: { address: string }) => env.payment.balanceOf(account.address);
const mesh = (env: MarketEnv, account: { address: string }) => env.stake.balanceOf(account.address);

// 8 GPUs for 24 hours at 2 USDC: 384 USDC of cost, 9.6 of fee, 192 MESH of collateral, a 19.2 USDC dispute bond.
const DAY_JOB_COST = 384n * USDC;
const DAY_JOB_ESCROW = 3_936n * USDC / 10n;
const DAY_JOB_COLLATERAL = 192n * MESH;
const DAY_JOB_BOND = 192n * USDC / 10n;

describe("v1 holes, closed by v2", function () {
  it("1. stake drained through expiry slashes: a job the stake cannot collateralize is refused at createJob, and declining costs the provider nothing", async function () {
    const env = await loadFixture(quickStartFixture);
    const { market, staking, payment, actors, offerId } = env;
    const { client, provider } = actors;
    // 8 GPUs x 7 days = 2,688 USDC, so 1,344 MESH of collateral at 50 %: more than the 1,000 MESH staked.
    expect(costUp(TWO_USDC, 8, 7 * DAY)).to.equal(2_688n * USDC);
    await expect(market.connect(client).createJob(offerId, 8, 7 * DAY, TWO_USDC, MAX, SPEC_HASH))
      .to.be.revertedWithCustomError(staking, "ProviderStakingInsufficientCollateral")
      .withArgs(provider.address, 1_344n * MESH, 1_000n * MESH);

    // A griefer sends jobs the provider does not want, again and again; each decline is free for both sides.
    const griefer = client;
    const grieferBefore = await usdc(env, griefer);
    const providerBefore = await usdc(env, provider);
    for (let round = 0; round < 3; round++) {
      const jobId = await create(env, 4, 7 * DAY, griefer);
      const { escrow, collateral } = await amountsOf(env, jobId);
      expect(collateral).to.equal(672n * MESH);
      const tx = market.connect(provider).declineJob(jobId, DECLINE_REASON);
      await expect(tx).to.emit(market, "JobDeclined").withArgs(jobId, provider.address, escrow, DECLINE_REASON);
      await expect(tx).to.emit(staking, "CollateralUnlocked").withArgs(provider.address, jobId, collateral, 0n);
      await expect(tx).not.to.emit(staking, "Slashed");
      await expect(tx).to.changeTokenBalances(payment, [griefer, market], [escrow, -escrow]);
    }
    const account = await staking.account(provider.address);
    expect([account.staked, account.locked]).to.deep.equal([1_000n * MESH, 0n]);
    expect(await usdc(env, griefer)).to.equal(grieferBefore);
    expect(await usdc(env, provider)).to.equal(providerBefore);
    expect((await market.getOffer(offerId)).gpusLeased).to.equal(0n);
  });

  it("2. collateral covers streamed pay: plain claims stop at the claim cap, and a ruling for the client makes it whole with no fee", async function () {
    const env = await loadFixture(quickStartFixture);
    const { market, staking, actors } = env;
    const { client, provider, treasury } = actors;
    const before = {
      clientUsdc: await usdc(env, client),
      clientMesh: await mesh(env, client),
      providerUsdc: await usdc(env, provider),
      treasuryMesh: await mesh(env, treasury),
      fees: await market.feesAccrued(),
    };
    const { jobId, startedAt } = await running(env, 8, DAY);
    expect(await amountsOf(env, jobId)).to.deep.equal({ cost: DAY_JOB_COST, escrow: DAY_JOB_ESCROW, collateral: DAY_JOB_COLLATERAL });
    // The provider never works but claims as time passes: 96 USDC at 6 h, then only up to the cap of 192 USDC
    // (receipted pay 0 + the collateral's worth), not the 288 USDC that 18 hours would stream.
    await time.setNextBlockTimestamp(startedAt + BigInt(6 * HOUR));
    await expect(market.connect(provider).claim(jobId)).to.emit(market, "JobClaimed").withArgs(jobId, 96n * USDC, 96n * USDC, 0n);
    await time.setNextBlockTimestamp(startedAt + BigInt(12 * HOUR));
    await expect(market.connect(provider).claim(jobId)).to.emit(market, "JobClaimed").withArgs(jobId, 96n * USDC, 192n * USDC, 0n);
    await time.setNextBlockTimestamp(startedAt + BigInt(18 * HOUR));
    await expect(market.connect(provider).claim(jobId))
      .to.be.revertedWithCustomError(market, "JobMarketNothingToClaim")
      .withArgs(jobId);
    expect(await market.claimable(jobId)).to.equal(192n * USDC);
    expect(await market.earned(jobId)).to.equal(288n * USDC);

    await market.connect(client).disputeJob(jobId, REASON_HASH);
    const tx = market.resolveDispute(jobId, 0, 0n);
    // Share 0: nothing earned; the 192 USDC streamed are taken back from the collateral, all of it to the client.
    await expect(tx)
      .to.emit(market, "JobResolved")
      .withArgs(jobId, 0, 0n, 0n, 0n, DAY_JOB_ESCROW - 192n * USDC, 192n * MESH, false);
    await expect(tx)
      .to.emit(staking, "Slashed")
      .withArgs(provider.address, jobId, client.address, 192n * MESH, treasury.address, 0n, 808n * MESH);

    const clientUsdcDelta = (await usdc(env, client)) - before.clientUsdc;
    const clientMeshDelta = (await mesh(env, client)) - before.clientMesh;
    // Out 393.6 USDC, back 201.6 USDC + the 19.2 bond; plus 192 MESH, worth 192 USDC at the market's fixed rate.
    expect(clientUsdcDelta).to.equal(-192n * USDC);
    expect(clientMeshDelta).to.equal(192n * MESH);
    expect(clientUsdcDelta * (await market.stakePerPaymentUnit()) + clientMeshDelta).to.equal(0n);
    // The treasury takes no fee on clawed-back pay, and no slash share.
    expect((await market.feesAccrued()) - before.fees).to.equal(0n);
    expect((await mesh(env, treasury)) - before.treasuryMesh).to.equal(0n);
    expect((await usdc(env, provider)) - before.providerUsdc).to.equal(192n * USDC);
    expect((await staking.account(provider.address)).staked).to.equal(808n * MESH);
  });

  it("3. unbonding stake is never slashed for jobs after the request, and a short unbonding period cannot dodge an expiry slash", async function () {
    const env = await loadFixture(quickStartFixture);
    const { market, staking, actors, offerId } = env;
    const { client, client2, provider, provider2, treasury } = actors;
    await market.setParameter(Parameter.ExpirySlashBps, 1_000); // the maximum: 10 % of cost

    // Part 1: 900 MESH unbonding, 100 MESH staked. A job the 100 cannot back is refused (v1 would have let it expire
    // and taken 268.8 MESH, mostly from the unbonding stake); a job that fits takes its slash from its collateral.
    await staking.connect(provider).requestUnstake(900n * MESH);
    await expect(market.connect(client).createJob(offerId, 8, 7 * DAY, TWO_USDC, MAX, SPEC_HASH))
      .to.be.revertedWithCustomError(staking, "ProviderStakingInsufficientCollateral")
      .withArgs(provider.address, 1_344n * MESH, 100n * MESH);
    const jobId = await create(env, 4, DAY); // 192 USDC: 96 MESH of collateral, a 19.2 MESH expiry slash
    await time.increase(HOUR);
    const expiry = market.expireJob(jobId);
    await expect(expiry)
      .to.emit(staking, "Slashed")
      .withArgs(provider.address, jobId, client.address, 192n * MESH / 10n, treasury.address, 0n, 100n * MESH - 192n * MESH / 10n);
    await expect(expiry).to.changeTokenBalance(env.stake, client, 192n * MESH / 10n);
    expect((await staking.account(provider.address)).unbonding).to.equal(900n * MESH);
    await time.increase(7 * DAY);
    await expect(staking.connect(provider).withdrawStake())
      .to.emit(staking, "StakeWithdrawn")
      .withArgs(provider.address, 900n * MESH, 0n);

    // Part 2: unbonding (1 hour) shorter than the accept window (2 hours). The job's collateral is locked the moment
    // it arrives, so the provider can unstake and withdraw everything else, but not that.
    await staking.setUnbondingPeriod(HOUR);
    await market.setParameter(Parameter.AcceptWindow, 2 * HOUR);
    await registerAndStake(env, provider2, 1_000n * MESH);
    const offer2 = await createOffer(env, provider2, { gpus: 8, pricePerGpuHour: TWO_USDC });
    const waiting = await market.nextJobId();
    await market.connect(client2).createJob(offer2, 4, DAY, TWO_USDC, MAX, SPEC_HASH);
    await expect(staking.connect(provider2).requestUnstake(1_000n * MESH))
      .to.be.revertedWithCustomError(staking, "ProviderStakingInsufficientUnlocked")
      .withArgs(1_000n * MESH, 904n * MESH);
    await staking.connect(provider2).requestUnstake(904n * MESH);
    await time.increase(HOUR);
    await expect(staking.connect(provider2).withdrawStake())
      .to.emit(staking, "StakeWithdrawn")
      .withArgs(provider2.address, 904n * MESH, 0n);
    expect((await market.getJob(waiting)).state).to.equal(1n); // still Created, inside its accept window
    await time.increase(HOUR);
    const late = market.expireJob(waiting);
    await expect(late)
      .to.emit(staking, "Slashed")
      .withArgs(provider2.address, waiting, client2.address, 192n * MESH / 10n, treasury.address, 0n, 96n * MESH - 192n * MESH / 10n);
    await expect(late).to.changeTokenBalance(env.stake, client2, 192n * MESH / 10n);
  });

  it("4. reserving an offer's whole capacity: never beyond what the stake backs; decline frees it at once, acceptance starts the pay", async function () {
    const env = await loadFixture(quickStartFixture);
    const { market, staking, actors, offerId } = env;
    const { client, client2, provider } = actors;
    const refused = async (hours: number, required: bigint) =>
      expect(market.connect(client).createJob(offerId, 8, hours * HOUR, TWO_USDC, MAX, SPEC_HASH))
        .to.be.revertedWithCustomError(staking, "ProviderStakingInsufficientCollateral")
        .withArgs(provider.address, required, 1_000n * MESH);
    await refused(7 * 24, 1_344n * MESH);
    await refused(126, 1_008n * MESH);
    // 8 GPUs for 125 hours: 2,000 USDC, exactly the 1,000 MESH staked.
    const clientBefore = await usdc(env, client);
    const reserved = await create(env, 8, 125 * HOUR);
    expect((await staking.account(provider.address)).locked).to.equal(1_000n * MESH);
    await expect(market.connect(client2).createJob(offerId, 1, HOUR, TWO_USDC, MAX, SPEC_HASH))
      .to.be.revertedWithCustomError(market, "JobMarketInsufficientCapacity")
      .withArgs(1, 0);
    // Declined at once: the capacity is free again in the same block's state, no slash, the client whole.
    await expect(market.connect(provider).declineJob(reserved, DECLINE_REASON)).not.to.emit(staking, "Slashed");
    expect((await market.getOffer(offerId)).gpusLeased).to.equal(0n);
    const account = await staking.account(provider.address);
    expect([account.staked, account.locked]).to.deep.equal([1_000n * MESH, 0n]);
    expect(await usdc(env, client)).to.equal(clientBefore);
    expect(await create(env, 8, 125 * HOUR)).to.equal(reserved + 1n);

    // Or accepted: the client pays only for the time from acceptance, not for the reservation's wait.
    const accepted = reserved + 1n;
    await time.increase(20 * 60);
    await market.connect(provider).acceptJob(accepted);
    const startedAt = (await market.getJob(accepted)).startedAt;
    expect(await market.earned(accepted)).to.equal(0n);
    await time.setNextBlockTimestamp(startedAt + BigInt(HOUR));
    await expect(market.connect(client).endJobEarly(accepted))
      .to.emit(market, "JobEndedEarly")
      .withArgs(accepted, startedAt + BigInt(HOUR), 16n * USDC);
    await time.increase(DAY + 1);
    await market.settleJob(accepted);
    // 16 USDC for 8 GPU-hours plus the 2.5 % fee on it; the rest of the 2,050 USDC escrow came back.
    expect(clientBefore - (await usdc(env, client))).to.equal(164n * USDC / 10n);
  });

  it("5. sponsored jobs: when the client cancels, the refund goes to the sponsor who paid (v1 let the client pocket 385.92 of 393.6 USDC)", async function () {
    const env = await loadFixture(quickStartFixture);
    const { market, actors, offerId } = env;
    const { client, sponsor, provider } = actors;
    const before = { sponsor: await usdc(env, sponsor), client: await usdc(env, client), provider: await usdc(env, provider) };
    const jobId = await market.nextJobId();
    await market.connect(sponsor).createJobFor(client.address, offerId, 8, DAY, TWO_USDC, DAY_JOB_ESCROW, SPEC_HASH);
    const cancelFee = 768n * USDC / 100n; // 2 % of 384 USDC
    const refund = DAY_JOB_ESCROW - cancelFee; // 385.92 USDC
    await expect(market.connect(client).cancelJob(jobId)).to.emit(market, "JobCancelled").withArgs(jobId, refund, cancelFee);
    expect((await usdc(env, sponsor)) - before.sponsor).to.equal(-cancelFee);
    expect((await usdc(env, client)) - before.client).to.equal(0n);
    expect((await usdc(env, provider)) - before.provider).to.equal(cancelFee);
  });

  it("6. disputes cost a bond and time out: after the resolve window anyone finalizes, paid to the last sign of life, bond back", async function () {
    const env = await loadFixture(quickStartFixture);
    const { market, staking, payment, actors } = env;
    const { client, provider, stranger } = actors;
    const before = { client: await usdc(env, client), provider: await usdc(env, provider), fees: await market.feesAccrued() };
    const { jobId, startedAt } = await running(env, 8, DAY);
    await time.setNextBlockTimestamp(startedAt + BigInt(2 * HOUR));
    await market.connect(provider).heartbeat();
    const disputedAt = startedAt + BigInt(3 * HOUR);
    const deadline = disputedAt + BigInt(7 * DAY);
    await time.setNextBlockTimestamp(disputedAt);
    const dispute = market.connect(client).disputeJob(jobId, REASON_HASH);
    await expect(dispute)
      .to.emit(market, "JobDisputed")
      .withArgs(jobId, disputedAt, 48n * USDC, REASON_HASH, DAY_JOB_BOND, deadline);
    await expect(dispute).to.changeTokenBalances(payment, [client, market], [-DAY_JOB_BOND, DAY_JOB_BOND]);
    const frozen = await market.getDispute(jobId);
    expect([frozen.disputedAt, frozen.lastLifeAt, frozen.bond]).to.deep.equal([disputedAt, startedAt + BigInt(2 * HOUR), DAY_JOB_BOND]);

    await time.setNextBlockTimestamp(deadline);
    await expect(market.connect(stranger).finalizeStaleDispute(jobId))
      .to.be.revertedWithCustomError(market, "JobMarketResolveWindowOpen")
      .withArgs(jobId, deadline);
    await time.increaseTo(deadline + 1n);
    await expect(market.resolveDispute(jobId, 0, DAY_JOB_COLLATERAL))
      .to.be.revertedWithCustomError(market, "JobMarketResolveWindowClosed")
      .withArgs(jobId, deadline);
    // Paid for the 2 hours up to the heartbeat: 32 USDC, fee 0.8 USDC; 360.8 USDC and the bond back; no slash.
    const finalize = market.connect(stranger).finalizeStaleDispute(jobId);
    await expect(finalize)
      .to.emit(market, "JobDisputeFinalized")
      .withArgs(jobId, 32n * USDC, 32n * USDC, 8n * USDC / 10n, 3_608n * USDC / 10n);
    await expect(finalize).to.emit(staking, "CollateralUnlocked").withArgs(provider.address, jobId, DAY_JOB_COLLATERAL, 0n);
    await expect(finalize).not.to.emit(staking, "Slashed");
    await expect(finalize).to.changeTokenBalances(payment, [client, provider, stranger], [3_800n * USDC / 10n, 32n * USDC, 0n]);
    expect((await usdc(env, client)) - before.client).to.equal(-328n * USDC / 10n);
    expect((await usdc(env, provider)) - before.provider).to.equal(32n * USDC);
    expect((await market.feesAccrued()) - before.fees).to.equal(8n * USDC / 10n);
    expect(await market.disputeBondsHeld()).to.equal(0n);
    expect((await market.getJob(jobId)).state).to.equal(6n); // Resolved
    expect((await staking.account(provider.address)).staked).to.equal(1_000n * MESH);
  });

  it("7. reclaimAbandoned pays for the time used: a provider alive through the whole job but never completing is paid its full cost", async function () {
    const env = await loadFixture(quickStartFixture);
    const { market, actors } = env;
    const { client, provider } = actors;
    const before = { client: await usdc(env, client), provider: await usdc(env, provider), fees: await market.feesAccrued() };
    const { jobId, startedAt } = await running(env, 8, DAY);
    const end = startedAt + BigInt(DAY);
    // A heartbeat every 14 minutes, inside the 15-minute liveness timeout, through the job's end.
    let at = startedAt;
    while (at < end) {
      at += 14n * 60n;
      await time.setNextBlockTimestamp(at);
      await market.connect(provider).heartbeat();
    }
    expect(await market.darkAt(jobId)).to.equal(0n);
    await expect(market.reportDark(jobId))
      .to.be.revertedWithCustomError(market, "JobMarketProviderNotDark")
      .withArgs(jobId, at, at + 15n * 60n);
    const reclaimableAt = end + BigInt(HOUR);
    await time.setNextBlockTimestamp(reclaimableAt);
    await expect(market.connect(client).reclaimAbandoned(jobId))
      .to.be.revertedWithCustomError(market, "JobMarketNotAbandoned")
      .withArgs(jobId, reclaimableAt);
    const fee = bpsUp(DAY_JOB_COST, 250); // 9.6 USDC
    await expect(market.connect(client).reclaimAbandoned(jobId))
      .to.emit(market, "JobReclaimed")
      .withArgs(jobId, reclaimableAt + 1n, DAY_JOB_COST, DAY_JOB_COST, fee, 0n);
    expect((await usdc(env, provider)) - before.provider).to.equal(DAY_JOB_COST);
    expect((await usdc(env, client)) - before.client).to.equal(-DAY_JOB_ESCROW);
    expect((await market.feesAccrued()) - before.fees).to.equal(fee);
  });

  it("8. open jobs keep their windows and rates: governance changes reach only jobs created after them", async function () {
    const env = await loadFixture(quickStartFixture);
    const { market, actors } = env;
    const { client, provider } = actors;
    const old = await running(env, 2, 2 * HOUR);
    const oldAbandoned = await running(env, 2, 2 * HOUR);
    await market.setParameter(Parameter.DisputeWindow, 3 * DAY);
    await market.setParameter(Parameter.AbandonGrace, 7 * DAY);
    await market.setParameter(Parameter.ProtocolFeeBps, 1_000);
    await market.setParameter(Parameter.CollateralBps, 10_000);
    await market.setParameter(Parameter.LivenessTimeout, DAY);
    const fresh = await running(env, 2, 2 * HOUR);
    const freshAbandoned = await running(env, 2, 2 * HOUR);
    const cost = 8n * USDC;
    expect((await market.jobTerms(old.jobId)).disputeWindow).to.equal(BigInt(DAY));
    expect((await market.jobTerms(fresh.jobId)).disputeWindow).to.equal(BigInt(3 * DAY));
    expect(await amountsOf(env, old.jobId)).to.deep.equal({ cost, escrow: cost + cost / 40n, collateral: 4n * MESH });
    expect(await amountsOf(env, fresh.jobId)).to.deep.equal({ cost, escrow: cost + cost / 10n, collateral: 8n * MESH });
    // One heartbeat (the last acceptance) covers all four jobs; each is dark after its own liveness timeout.
    const lastLife = BigInt(await market.lastHeartbeat(provider.address));
    expect(await market.darkAt(old.jobId)).to.equal(lastLife + 15n * 60n);
    expect(await market.darkAt(fresh.jobId)).to.equal(lastLife + BigInt(DAY));

    await time.increase(HOUR);
    await market.connect(provider).completeJob(old.jobId, RESULT_HASH);
    await market.connect(provider).completeJob(fresh.jobId, RESULT_HASH);
    const oldEnded = (await market.getJob(old.jobId)).endedAt;
    const freshEnded = (await market.getJob(fresh.jobId)).endedAt;
    await time.increaseTo(freshEnded + BigInt(DAY) + 1n);
    // The old job settles on the old schedule and the old 2.5 % fee; the new one waits for its 3-day window.
    const oldEarned = costUp(TWO_USDC, 2, oldEnded - old.startedAt);
    await expect(market.settleJob(old.jobId))
      .to.emit(market, "JobSettled")
      .withArgs(old.jobId, oldEarned, bpsUp(oldEarned, 250), cost + cost / 40n - oldEarned - bpsUp(oldEarned, 250));
    await expect(market.settleJob(fresh.jobId))
      .to.be.revertedWithCustomError(market, "JobMarketDisputeWindowOpen")
      .withArgs(fresh.jobId, freshEnded + BigInt(3 * DAY));
    // Abandoned jobs: the old one is reclaimable an hour after its end, the new one only after 7 days.
    await expect(market.connect(client).reclaimAbandoned(oldAbandoned.jobId)).to.emit(market, "JobReclaimed");
    await expect(market.connect(client).reclaimAbandoned(freshAbandoned.jobId))
      .to.be.revertedWithCustomError(market, "JobMarketNotAbandoned")
      .withArgs(freshAbandoned.jobId, freshAbandoned.startedAt + BigInt(2 * HOUR + 7 * DAY));
    await time.increase(2 * DAY);
    const freshEarned = costUp(TWO_USDC, 2, freshEnded - fresh.startedAt);
    await expect(market.settleJob(fresh.jobId))
      .to.emit(market, "JobSettled")
      .withArgs(fresh.jobId, freshEarned, bpsUp(freshEarned, 1_000), cost + cost / 10n - freshEarned - bpsUp(freshEarned, 1_000));
  });

  it("9. maxEscrow: a fee raise between quote and inclusion reverts createJob; extendJob is bounded the same way", async function () {
    const env = await loadFixture(quickStartFixture);
    const { market, actors, offerId } = env;
    const { client, provider } = actors;
    const [, , quoted] = await market.quote(offerId, 8, DAY);
    expect(quoted).to.equal(DAY_JOB_ESCROW);
    await market.connect(provider).updateOffer(offerId, 16, TWO_USDC, (await market.getOffer(offerId)).expiresAt);
    const { jobId: earlier } = await running(env, 1, 2 * HOUR);
    await market.setParameter(Parameter.ProtocolFeeBps, 1_000); // lands before the client's transaction
    await expect(market.connect(client).createJob(offerId, 8, DAY, TWO_USDC, quoted, SPEC_HASH))
      .to.be.revertedWithCustomError(market, "JobMarketEscrowAboveMax")
      .withArgs(4_224n * USDC / 10n, quoted);
    const [, , requoted] = await market.quote(offerId, 4, DAY);
    await expect(market.connect(client).createJob(offerId, 4, DAY, TWO_USDC, requoted, SPEC_HASH)).to.emit(market, "JobCreated");

    // An extension pulls at most maxEscrow too. It is priced at the job's own terms (its 2.5 % fee), which the
    // raise did not reach: one more hour of 1 GPU is 2 USDC + 0.05 USDC.
    const extra = 2_050_000n;
    await expect(market.connect(client).extendJob(earlier, HOUR, extra - 1n))
      .to.be.revertedWithCustomError(market, "JobMarketEscrowAboveMax")
      .withArgs(extra, extra - 1n);
    await expect(market.connect(client).extendJob(earlier, HOUR, extra)).to.changeTokenBalance(env.payment, client, -extra);
    expect((await market.getJob(earlier)).duration).to.equal(BigInt(3 * HOUR));
  });

  it("10. minStake cannot list unlimited capacity: an offer (or a resize) beyond what the unlocked stake backs is refused", async function () {
    const env = await loadFixture(quickStartFixture);
    const { market, actors } = env;
    const { provider2 } = actors;
    await registerAndStake(env, provider2, 100n * MESH); // minStake
    const backing = (gpus: number) => bpsUp(costUp(TWO_USDC, gpus, 600), 5_000) * 10n ** 12n;
    expect(backing(100_000)).to.equal(16_666_666_667n * 10n ** 12n); // 16,666.67 MESH
    await expect(createOffer(env, provider2, { gpus: 100_000, pricePerGpuHour: TWO_USDC }))
      .to.be.revertedWithCustomError(market, "JobMarketOfferNotBacked")
      .withArgs(provider2.address, 100n * MESH, backing(100_000));
    // 600 GPUs for the 10-minute minimum: 200 USDC, so exactly the 100 MESH staked.
    expect(backing(600)).to.equal(100n * MESH);
    const offerId = await createOffer(env, provider2, { gpus: 600, pricePerGpuHour: TWO_USDC });
    const expiresAt = (await market.getOffer(offerId)).expiresAt;
    for (const gpus of [601, 100_000]) {
      await expect(market.connect(provider2).updateOffer(offerId, gpus, TWO_USDC, expiresAt))
        .to.be.revertedWithCustomError(market, "JobMarketOfferNotBacked")
        .withArgs(provider2.address, 100n * MESH, backing(gpus));
    }
  });
});

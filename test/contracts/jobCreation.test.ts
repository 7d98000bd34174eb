import { expect } from "chai";
import { ethers } from "hardhat";
import { loadFixture, time } from "@nomicfoundation/hardhat-toolbox/network-helpers";
import {
  HOUR,
  JobState,
  PRICE,
  SPEC_HASH,
  STAKE_PER_PAYMENT_UNIT,
  bpsDown,
  bpsUp,
  clientProviderLedger,
  amountsOf,
  costUp,
  createJob,
  createOffer,
  deploy,
  expectMoneyIdentity,
  marketFixture,
  offerExpiry,
  registerAndStake,
  signPermit,
  signReceipt,
  type Env,
} from "./helpers";
import type { BlocklistToken } from "../../typechain-types";

const GPUS = 2;
const DURATION = 5_000; // not a whole number of hours, so the cost needs rounding
const COST = costUp(PRICE, GPUS, DURATION);
const FEE = bpsUp(COST, 250);
const ESCROW = COST + FEE;
const COLLATERAL = bpsUp(COST, 5_000) * STAKE_PER_PAYMENT_UNIT;
const MAX = ethers.MaxUint256;

describe("createJob: escrow pulled, capacity and collateral reserved", function () {
  it("rounds the cost up (provider's favour) and the fee up (protocol's favour); quote also names the collateral (v2)", async function () {
    // 1_999_999 * 2 * 5000 / 3600 = 5_555_552.77..., fee 2.5 % = 138_888.82...
    expect(COST).to.equal(5_555_553n);
    expect(FEE).to.equal(138_889n);
    const env = await loadFixture(marketFixture);
    expect(await env.market.quote(env.offerId, GPUS, DURATION)).to.deep.equal([COST, FEE, ESCROW, COLLATERAL]);
  });

  it("pulls cost + fee into escrow, reserves GPUs, locks the collateral (v2) and emits JobCreated with the full terms", async function () {
    const env = await loadFixture(marketFixture);
    const { market, staking, payment, offerId, actors } = env;
    const { client, provider } = actors;
    const createdAt = (await time.latest()) + 10;
    await time.setNextBlockTimestamp(createdAt);
    const tx = market.connect(client).createJob(offerId, GPUS, DURATION, PRICE, ESCROW, SPEC_HASH);
    await expect(tx)
      .to.emit(market, "JobCreated")
      .withArgs(
        1n,
        offerId,
        client.address,
        provider.address,
        client.address,
        GPUS,
        PRICE,
        DURATION,
        COST,
        ESCROW,
        createdAt + 30 * 60,
        SPEC_HASH,
        COLLATERAL,
      );
    await expect(tx).to.emit(staking, "CollateralLocked").withArgs(provider.address, 1n, COLLATERAL, COLLATERAL);
    await expect(tx).to.changeTokenBalances(payment, [client, market], [-ESCROW, ESCROW]);
    const job = await market.getJob(1n);
    expect(job.client).to.equal(client.address);
    expect(job.offerId).to.equal(offerId);
    expect(job.state).to.equal(JobState.Created);
    expect(job.sponsored).to.equal(false);
    expect(job.termsId).to.equal(1n);
    expect(await amountsOf(env, 1n)).to.deep.equal({ cost: COST, escrow: ESCROW, collateral: COLLATERAL });
    const terms = await market.jobTerms(1n);
    expect([terms.protocolFeeBps, terms.collateralBps]).to.deep.equal([250n, 5_000n]);
    expect(await market.payerOf(1n)).to.equal(client.address);
    expect((await staking.account(provider.address)).locked).to.equal(COLLATERAL);
    expect(job.startedAt).to.equal(0n);
    expect((await market.getOffer(offerId)).gpusLeased).to.equal(GPUS);
    expect(await market.nextJobId()).to.equal(2n);
    expect(await market.earned(1n)).to.equal(0n);
  });

  it("createJobFor: a sponsor pays and the client owns the job; the refund goes to the sponsor (v2: refunds to the payer)", async function () {
    const env = await loadFixture(marketFixture);
    const { market, payment, offerId, actors } = env;
    const { client, provider, sponsor } = actors;
    const tx = market.connect(sponsor).createJobFor(client.address, offerId, GPUS, DURATION, PRICE, MAX, SPEC_HASH);
    await expect(tx)
      .to.emit(market, "JobCreated")
      .withArgs(1n, offerId, client.address, provider.address, sponsor.address, GPUS, PRICE, DURATION, COST, ESCROW,
        (v: bigint) => v > 0n, SPEC_HASH, COLLATERAL);
    await expect(tx).to.changeTokenBalances(payment, [sponsor, client], [-ESCROW, 0n]);
    expect((await market.getJob(1n)).sponsored).to.equal(true);
    expect(await market.payerOf(1n)).to.equal(sponsor.address);
    // The client, not the sponsor, controls the job; the sponsor, who paid, receives the refund.
    await expect(market.connect(sponsor).cancelJob(1n))
      .to.be.revertedWithCustomError(market, "JobMarketNotClient")
      .withArgs(1n, sponsor.address);
    const cancelFee = bpsDown(COST, 200);
    await expect(market.connect(client).cancelJob(1n)).to.changeTokenBalances(
      payment,
      [client, sponsor, provider],
      [0n, ESCROW - cancelFee, cancelFee],
    );
  });

  it("createJobFor rejects the zero address as client", async function () {
    const { market, offerId, actors } = await loadFixture(marketFixture);
    await expect(
      market.connect(actors.sponsor).createJobFor(ethers.ZeroAddress, offerId, GPUS, DURATION, PRICE, MAX, SPEC_HASH),
    ).to.be.revertedWithCustomError(market, "JobMarketZeroAddress");
  });

  it("createJobWithPermit: a real EIP-2612 signature replaces the approval, one transaction", async function () {
    const env = await loadFixture(marketFixture);
    const { market, payment, offerId, actors, marketAddress } = env;
    const { client, sponsor } = actors;
    await payment.connect(sponsor).approve(marketAddress, 0n);
    const deadline = BigInt(await time.latest()) + 3_600n;
    const permit = await signPermit(payment, sponsor, marketAddress, ESCROW, deadline);
    const tx = market
      .connect(sponsor)
      .createJobWithPermit(client.address, offerId, GPUS, DURATION, PRICE, ESCROW, SPEC_HASH, permit);
    await expect(tx).to.emit(market, "JobCreated");
    await expect(tx).to.changeTokenBalances(payment, [sponsor, market], [-ESCROW, ESCROW]);
    expect(await payment.nonces(sponsor.address)).to.equal(1n);
    expect(await payment.allowance(sponsor.address, marketAddress)).to.equal(0n);
    expect((await market.getJob(1n)).client).to.equal(client.address);
  });

  it("createJobWithPermit still works when the permit was already used (front-run) and the allowance is there", async function () {
    const env = await loadFixture(marketFixture);
    const { market, payment, offerId, actors, marketAddress } = env;
    const { client, stranger } = actors;
    await payment.connect(client).approve(marketAddress, 0n);
    const permit = await signPermit(payment, client, marketAddress, ESCROW, BigInt(await time.latest()) + 3_600n);
    // Someone submits the permit first; the market's own permit call then fails and is ignored.
    await payment.connect(stranger).permit(client.address, marketAddress, permit.value, permit.deadline, permit.v,
      permit.r, permit.s);
    await expect(
      market.connect(client).createJobWithPermit(client.address, offerId, GPUS, DURATION, PRICE, ESCROW, SPEC_HASH, permit),
    ).to.changeTokenBalance(payment, client, -ESCROW);
  });

  it("createJobWithPermit with a bad signature and no allowance fails on the pull", async function () {
    const env = await loadFixture(marketFixture);
    const { market, payment, offerId, actors, marketAddress } = env;
    const { client, stranger } = actors;
    await payment.connect(client).approve(marketAddress, 0n);
    // Signed by someone else: the permit is rejected, then transferFrom finds no allowance.
    const forged = await signPermit(payment, stranger, marketAddress, ESCROW, BigInt(await time.latest()) + 3_600n);
    await expect(
      market.connect(client).createJobWithPermit(client.address, offerId, GPUS, DURATION, PRICE, ESCROW, SPEC_HASH, forged),
    )
      .to.be.revertedWithCustomError(payment, "ERC20InsufficientAllowance")
      .withArgs(marketAddress, 0n, ESCROW);
  });

  it("reverts for an unknown offer", async function () {
    const { market, actors } = await loadFixture(marketFixture);
    await expect(market.connect(actors.client).createJob(99n, GPUS, DURATION, PRICE, MAX, SPEC_HASH))
      .to.be.revertedWithCustomError(market, "JobMarketUnknownOffer")
      .withArgs(99n);
    await expect(market.quote(99n, 1, 3600))
      .to.be.revertedWithCustomError(market, "JobMarketUnknownOffer")
      .withArgs(99n);
  });

  it("reverts for a closed offer", async function () {
    const { market, offerId, actors } = await loadFixture(marketFixture);
    await market.connect(actors.provider).closeOffer(offerId);
    await expect(market.connect(actors.client).createJob(offerId, GPUS, DURATION, PRICE, MAX, SPEC_HASH))
      .to.be.revertedWithCustomError(market, "JobMarketOfferClosed")
      .withArgs(offerId);
  });

  it("reverts for an expired offer, from its expiry second on", async function () {
    const env = await loadFixture(marketFixture);
    const { market, actors } = env;
    const expiresAt = await offerExpiry(HOUR);
    const offerId = await createOffer(env, actors.provider, { expiresAt });
    await time.setNextBlockTimestamp(expiresAt);
    await expect(market.connect(actors.client).createJob(offerId, GPUS, DURATION, PRICE, MAX, SPEC_HASH))
      .to.be.revertedWithCustomError(market, "JobMarketOfferExpired")
      .withArgs(offerId, expiresAt);
  });

  it("reverts when the provider rents its own offer (self-dealing), as client, through a sponsor, or as the payer (v2)", async function () {
    const { market, offerId, actors } = await loadFixture(marketFixture);
    const { provider, sponsor, client } = actors;
    await expect(market.connect(provider).createJob(offerId, GPUS, DURATION, PRICE, MAX, SPEC_HASH))
      .to.be.revertedWithCustomError(market, "JobMarketSelfDealing")
      .withArgs(provider.address);
    await expect(market.connect(sponsor).createJobFor(provider.address, offerId, GPUS, DURATION, PRICE, MAX, SPEC_HASH))
      .to.be.revertedWithCustomError(market, "JobMarketSelfDealing")
      .withArgs(provider.address);
    await expect(market.connect(provider).createJobFor(client.address, offerId, GPUS, DURATION, PRICE, MAX, SPEC_HASH))
      .to.be.revertedWithCustomError(market, "JobMarketSelfDealing")
      .withArgs(provider.address);
  });

  it("reverts for zero GPUs or more GPUs than the offer has free", async function () {
    const env = await loadFixture(marketFixture);
    const { market, offerId, actors } = env;
    await expect(market.connect(actors.client).createJob(offerId, 0, DURATION, PRICE, MAX, SPEC_HASH))
      .to.be.revertedWithCustomError(market, "JobMarketInsufficientCapacity")
      .withArgs(0, 8);
    await expect(market.connect(actors.client).createJob(offerId, 9, DURATION, PRICE, MAX, SPEC_HASH))
      .to.be.revertedWithCustomError(market, "JobMarketInsufficientCapacity")
      .withArgs(9, 8);
    await createJob(env, actors.client, { gpus: 6 });
    await expect(market.connect(actors.client2).createJob(offerId, 3, DURATION, PRICE, MAX, SPEC_HASH))
      .to.be.revertedWithCustomError(market, "JobMarketInsufficientCapacity")
      .withArgs(3, 2);
    await createJob(env, actors.client2, { gpus: 2 });
    expect((await market.getOffer(offerId)).gpusLeased).to.equal(8n);
  });

  it("reverts for a duration outside the offer's range", async function () {
    const { market, offerId, actors } = await loadFixture(marketFixture);
    const maxDuration = 7 * 24 * HOUR;
    await expect(market.connect(actors.client).createJob(offerId, GPUS, 599, PRICE, MAX, SPEC_HASH))
      .to.be.revertedWithCustomError(market, "JobMarketDurationOutOfRange")
      .withArgs(599, 600, maxDuration);
    await expect(market.connect(actors.client).createJob(offerId, GPUS, maxDuration + 1, PRICE, MAX, SPEC_HASH))
      .to.be.revertedWithCustomError(market, "JobMarketDurationOutOfRange")
      .withArgs(maxDuration + 1, 600, maxDuration);
  });

  it("reverts when the offer was repriced above the client's maximum", async function () {
    const { market, offerId, actors } = await loadFixture(marketFixture);
    await market.connect(actors.provider).updateOffer(offerId, 8, PRICE + 1n, await offerExpiry());
    await expect(market.connect(actors.client).createJob(offerId, GPUS, DURATION, PRICE, MAX, SPEC_HASH))
      .to.be.revertedWithCustomError(market, "JobMarketPriceAboveMax")
      .withArgs(PRICE + 1n, PRICE);
  });

  it("an offer whose jobs' escrow would not fit 96 bits cannot be listed: no stake backs it (v2: JobMarketOfferNotBacked)", async function () {
    const env = await loadFixture(marketFixture);
    const { market, actors } = env;
    const price = 2n ** 96n - 1n;
    const required = bpsUp(costUp(price, 1000, 600), 5_000) * STAKE_PER_PAYMENT_UNIT;
    await expect(createOffer(env, actors.provider, { pricePerGpuHour: price, gpus: 1000 }))
      .to.be.revertedWithCustomError(market, "JobMarketOfferNotBacked")
      .withArgs(actors.provider.address, 1_000n * 10n ** 18n, required);
  });

  // v2 stores no escrow; claimed pay, bonds and fees are narrowed to 96 bits, so a job whose escrow does not fit must
  // be refused at creation (reachable when stake can back it: same token for payment and stake, rate 1).
  it("a job whose escrow does not fit 96 bits is refused at creation, so no narrowed amount can truncate", async function () {
    const token = (await (await ethers.getContractFactory("BlocklistToken")).deploy()) as BlocklistToken;
    const tokenAddress = await token.getAddress();
    const deployed = await deploy({ paymentToken: tokenAddress, stakeToken: tokenAddress });
    const { market, staking, actors } = deployed;
    const { provider, client } = actors;
    expect(await market.stakePerPaymentUnit()).to.equal(1n);
    for (const signer of [provider, client]) {
      await token.mint(signer.address, 2n ** 100n);
      await token.connect(signer).approve(await market.getAddress(), MAX);
      await token.connect(signer).approve(await staking.getAddress(), MAX);
    }
    const env = { ...deployed, payment: token, marketAddress: await market.getAddress() } as unknown as Env;
    await registerAndStake(env, provider, 2n ** 99n);
    const price = 2n ** 95n;
    const offerId = await createOffer(env, provider, { pricePerGpuHour: price, gpus: 8, minDuration: HOUR });
    const cost = costUp(price, 4, HOUR); // 2^97
    const [, , escrow] = await market.quote(offerId, 4, HOUR);
    expect(escrow).to.equal(cost + bpsUp(cost, 250));
    await expect(market.connect(client).createJob(offerId, 4, HOUR, price, MAX, SPEC_HASH))
      .to.be.revertedWithCustomError(market, "SafeCastOverflowedUintDowncast")
      .withArgs(96, escrow);
    // The largest job that fits is accepted.
    await expect(market.connect(client).createJob(offerId, 1, HOUR, price, MAX, SPEC_HASH)).to.emit(market, "JobCreated");
  });
});

describe("acceptJob: Created -> Running", function () {
  it("starts the clock; the collateral (cost x collateralBps in stake units) was locked at createJob already (v2)", async function () {
    const env = await loadFixture(marketFixture);
    const { market, staking, actors } = env;
    const jobId = await createJob(env, actors.client, { gpus: GPUS, duration: DURATION });
    expect((await staking.account(actors.provider.address)).locked).to.equal(COLLATERAL);
    const startedAt = (await time.latest()) + 5;
    await time.setNextBlockTimestamp(startedAt);
    const tx = market.connect(actors.provider).acceptJob(jobId);
    await expect(tx).to.emit(market, "JobAccepted").withArgs(jobId, actors.provider.address, startedAt);
    await expect(tx).not.to.emit(staking, "CollateralLocked");
    const job = await market.getJob(jobId);
    expect(job.state).to.equal(JobState.Running);
    expect(job.startedAt).to.equal(startedAt);
    expect(await market.lastHeartbeat(actors.provider.address)).to.equal(startedAt);
    expect((await staking.account(actors.provider.address)).locked).to.equal(COLLATERAL);
  });

  it("is allowed up to and including the accept deadline, not after", async function () {
    const env = await loadFixture(marketFixture);
    const { market, actors } = env;
    const first = await createJob(env, actors.client, { gpus: 1 });
    const second = await createJob(env, actors.client2, { gpus: 1 });
    const deadline = (await market.getJob(second)).acceptDeadline;
    await time.setNextBlockTimestamp((await market.getJob(first)).acceptDeadline);
    await market.connect(actors.provider).acceptJob(first);
    await time.setNextBlockTimestamp(deadline + 1n);
    await expect(market.connect(actors.provider).acceptJob(second))
      .to.be.revertedWithCustomError(market, "JobMarketAcceptWindowClosed")
      .withArgs(second, deadline);
  });

  it("only the offer's provider can accept", async function () {
    const env = await loadFixture(marketFixture);
    const jobId = await createJob(env, env.actors.client);
    await expect(env.market.connect(env.actors.stranger).acceptJob(jobId))
      .to.be.revertedWithCustomError(env.market, "JobMarketNotProvider")
      .withArgs(jobId, env.actors.stranger.address);
  });

  it("reverts for an unknown job and for a job that is not Created", async function () {
    const env = await loadFixture(marketFixture);
    const { market, actors } = env;
    await expect(market.connect(actors.provider).acceptJob(7n))
      .to.be.revertedWithCustomError(market, "JobMarketUnknownJob")
      .withArgs(7n);
    const jobId = await createJob(env, actors.client);
    await market.connect(actors.provider).acceptJob(jobId);
    await expect(market.connect(actors.provider).acceptJob(jobId))
      .to.be.revertedWithCustomError(market, "JobMarketInvalidState")
      .withArgs(jobId, JobState.Running);
  });

  it("a job the provider's unlocked stake cannot collateralize is refused at createJob, before it can be accepted (v2)", async function () {
    const env = await loadFixture(marketFixture);
    const { market, staking, actors } = env;
    // 1000 MESH staked; 4 GPUs for a week at ~2 USDC costs ~1344 USDC, so collateral is ~672 MESH; two of them do not fit.
    const first = await createJob(env, actors.client, { gpus: 4, duration: 7 * 24 * HOUR });
    const collateral = bpsUp(costUp(PRICE, 4, 7 * 24 * HOUR), 5_000) * STAKE_PER_PAYMENT_UNIT;
    const unlocked = 1_000n * 10n ** 18n - collateral;
    await expect(createJob(env, actors.client2, { gpus: 4, duration: 7 * 24 * HOUR }))
      .to.be.revertedWithCustomError(staking, "ProviderStakingInsufficientCollateral")
      .withArgs(actors.provider.address, collateral, unlocked);
    await expect(market.connect(actors.provider).acceptJob(first)).to.emit(market, "JobAccepted");
  });
});

describe("cancelJob: Created -> Cancelled with a cancel fee", function () {
  it("refunds the escrow less cancelFeeBps of cost, pays the fee to the provider and frees the GPUs", async function () {
    const env = await loadFixture(marketFixture);
    const { market, payment, actors, offerId } = env;
    const jobId = await createJob(env, actors.client, { gpus: GPUS, duration: DURATION });
    const before = await clientProviderLedger(env);
    const cancelFee = bpsDown(COST, 200); // rounded down: the client's favour on a penalty
    const tx = market.connect(actors.client).cancelJob(jobId);
    await expect(tx).to.emit(market, "JobCancelled").withArgs(jobId, ESCROW - cancelFee, cancelFee);
    await expect(tx).to.changeTokenBalances(payment, [actors.client, actors.provider], [ESCROW - cancelFee, cancelFee]);
    await expectMoneyIdentity(env, jobId, before, { refund: ESCROW - cancelFee, providerPay: cancelFee, fee: 0n });
    const job = await market.getJob(jobId);
    expect(job.state).to.equal(JobState.Cancelled);
    expect(job.endedAt).to.be.greaterThan(0n);
    expect((await market.getOffer(offerId)).gpusLeased).to.equal(0n);
  });

  it("only the client can cancel, and only before acceptance", async function () {
    const env = await loadFixture(marketFixture);
    const { market, actors } = env;
    const jobId = await createJob(env, actors.client);
    await expect(market.connect(actors.provider).cancelJob(jobId))
      .to.be.revertedWithCustomError(market, "JobMarketNotClient")
      .withArgs(jobId, actors.provider.address);
    await market.connect(actors.provider).acceptJob(jobId);
    await expect(market.connect(actors.client).cancelJob(jobId))
      .to.be.revertedWithCustomError(market, "JobMarketInvalidState")
      .withArgs(jobId, JobState.Running);
  });
});

describe("expireJob: Created -> Expired after the accept window (v2: its own state), provider slashed", function () {
  it("lets anyone refund the client in full and slashes expirySlashBps of cost to the client", async function () {
    const env = await loadFixture(marketFixture);
    const { market, staking, payment, stake, actors, offerId } = env;
    const { client, provider, stranger } = actors;
    const jobId = await createJob(env, client, { gpus: GPUS, duration: DURATION });
    const deadline = (await market.getJob(jobId)).acceptDeadline;
    const before = await clientProviderLedger(env);
    const slash = bpsDown(COST, 100) * STAKE_PER_PAYMENT_UNIT;
    await time.setNextBlockTimestamp(deadline + 1n);
    const tx = market.connect(stranger).expireJob(jobId);
    await expect(tx).to.emit(market, "JobExpired").withArgs(jobId, ESCROW, slash);
    await expect(tx)
      .to.emit(staking, "Slashed")
      .withArgs(provider.address, jobId, client.address, slash, actors.treasury.address, 0n, 1_000n * 10n ** 18n - slash);
    await expect(tx).to.emit(staking, "CollateralUnlocked").withArgs(provider.address, jobId, COLLATERAL, 0n);
    await expect(tx).to.changeTokenBalances(payment, [client, market], [ESCROW, -ESCROW]);
    await expect(tx).to.changeTokenBalances(stake, [client, staking], [slash, -slash]);
    await expectMoneyIdentity(env, jobId, before, { refund: ESCROW, providerPay: 0n, fee: 0n });
    expect((await staking.account(provider.address)).staked).to.equal(1_000n * 10n ** 18n - slash);
    expect((await market.getJob(jobId)).state).to.equal(JobState.Expired);
    expect((await market.getOffer(offerId)).gpusLeased).to.equal(0n);
  });

  it("cannot expire while the accept window is open (the deadline second included)", async function () {
    const env = await loadFixture(marketFixture);
    const { market, actors } = env;
    const jobId = await createJob(env, actors.client);
    const deadline = (await market.getJob(jobId)).acceptDeadline;
    await time.setNextBlockTimestamp(deadline);
    await expect(market.connect(actors.stranger).expireJob(jobId))
      .to.be.revertedWithCustomError(market, "JobMarketAcceptWindowOpen")
      .withArgs(jobId, deadline);
  });

  it("cannot expire an accepted job", async function () {
    const env = await loadFixture(marketFixture);
    const { market, actors } = env;
    const jobId = await createJob(env, actors.client);
    await market.connect(actors.provider).acceptJob(jobId);
    await time.increase(HOUR);
    await expect(market.connect(actors.stranger).expireJob(jobId))
      .to.be.revertedWithCustomError(market, "JobMarketInvalidState")
      .withArgs(jobId, JobState.Running);
  });

  it("still refunds in full when nothing is slashed; a waiting job's collateral cannot be withdrawn to dodge the slash (v2)", async function () {
    const env = await loadFixture(marketFixture);
    const { market, staking, actors } = env;
    await market.setParameter(3, 0); // no expiry slash for jobs created from now on
    const jobId = await createJob(env, actors.client);
    const { escrow, collateral } = await amountsOf(env, jobId);
    const staked = 1_000n * 10n ** 18n;
    await expect(staking.connect(actors.provider).requestUnstake(staked))
      .to.be.revertedWithCustomError(staking, "ProviderStakingInsufficientUnlocked")
      .withArgs(staked, staked - collateral);
    await staking.connect(actors.provider).requestUnstake(staked - collateral);
    await time.increase(7 * 24 * HOUR);
    await staking.connect(actors.provider).withdrawStake();
    const tx = market.connect(actors.stranger).expireJob(jobId);
    await expect(tx).to.emit(market, "JobExpired").withArgs(jobId, escrow, 0n);
    await expect(tx).to.changeTokenBalance(env.payment, actors.client, escrow);
    await expect(tx).not.to.emit(staking, "Slashed");
    const account = await staking.account(actors.provider.address);
    expect([account.staked, account.locked]).to.deep.equal([collateral, 0n]);
  });
});

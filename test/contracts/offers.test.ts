import { expect } from "chai";
import { ethers } from "hardhat";
import { loadFixture, time } from "@nomicfoundation/hardhat-toolbox/network-helpers";
import {
  A100,
  H100,
  HOUR,
  MESH,
  MIN_STAKE,
  OfferField,
  PRICE,
  RESULT_HASH,
  SPEC_HASH,
  STAKE_PER_PAYMENT_UNIT,
  bpsUp,
  costUp,
  createJob,
  createOffer,
  deployedFixture,
  marketFixture,
  offerExpiry,
  offerParams,
  region,
  registerAndStake,
  runningJob,
} from "./helpers";

describe("createOffer", function () {
  it("stores the offer and emits OfferCreated with every attribute the indexer needs", async function () {
    const env = await loadFixture(deployedFixture);
    const { market, actors } = env;
    await registerAndStake(env, actors.provider);
    const params = await offerParams({ gpus: 4, carbonIntensity: 35, renewableBps: 10_000, region: region("us-east-2") });
    await expect(market.connect(actors.provider).createOffer(params))
      .to.emit(market, "OfferCreated")
      .withArgs(
        1n,
        actors.provider.address,
        H100,
        4,
        PRICE,
        600,
        7 * 24 * HOUR,
        region("us-east-2"),
        35,
        10_000,
        params.expiresAt,
      );
    const offer = await market.getOffer(1n);
    expect(offer.provider).to.equal(actors.provider.address);
    expect([offer.gpus, offer.gpusLeased, offer.pricePerGpuHour, offer.closed]).to.deep.equal([4n, 0n, PRICE, false]);
    expect(offer.gpuModel).to.equal(H100);
    expect(await market.nextOfferId()).to.equal(2n);
  });

  it("needs at least minStake of unlocked stake", async function () {
    const env = await loadFixture(deployedFixture);
    const { market, staking, actors } = env;
    const { provider } = actors;
    const params = await offerParams();
    await expect(market.connect(provider).createOffer(params))
      .to.be.revertedWithCustomError(market, "JobMarketInsufficientStake")
      .withArgs(provider.address, 0n, MIN_STAKE);
    await registerAndStake(env, provider, MIN_STAKE - 1n);
    await expect(market.connect(provider).createOffer(params))
      .to.be.revertedWithCustomError(market, "JobMarketInsufficientStake")
      .withArgs(provider.address, MIN_STAKE - 1n, MIN_STAKE);
    await staking.connect(provider).stake(1n);
    await expect(market.connect(provider).createOffer(params)).to.emit(market, "OfferCreated");
  });

  it("counts only unlocked stake: collateral locked for jobs does not back new offers", async function () {
    const env = await loadFixture(marketFixture);
    const { market, staking, actors } = env;
    const { provider } = actors;
    // Leave just enough unlocked for minStake, then lock some of it for a job.
    await staking.connect(provider).requestUnstake(900n * MESH);
    const { jobId } = await runningJob(env, { gpus: 1, duration: 5_000 });
    const collateral = bpsUp(costUp(PRICE, 1, 5_000), 5_000) * STAKE_PER_PAYMENT_UNIT;
    expect((await market.getJob(jobId)).state).to.equal(2n);
    await expect(createOffer(env, provider))
      .to.be.revertedWithCustomError(market, "JobMarketInsufficientStake")
      .withArgs(provider.address, MIN_STAKE - collateral, MIN_STAKE);
  });

  it("also needs non-zero stake when minStake is zero", async function () {
    const env = await loadFixture(deployedFixture);
    const { market, staking, actors } = env;
    await staking.setMinStake(0n);
    await staking.connect(actors.provider).register("ipfs://p");
    await expect(market.connect(actors.provider).createOffer(await offerParams()))
      .to.be.revertedWithCustomError(market, "JobMarketInsufficientStake")
      .withArgs(actors.provider.address, 0n, 0n);
  });

  it("refuses GPU models that are not listed (never listed or delisted)", async function () {
    const env = await loadFixture(marketFixture);
    const { market, catalog, actors } = env;
    const unknown = ethers.keccak256(ethers.toUtf8Bytes("h100"));
    await expect(createOffer(env, actors.provider, { gpuModel: unknown }))
      .to.be.revertedWithCustomError(market, "JobMarketUnknownGpuModel")
      .withArgs(unknown);
    await catalog.delistModel(A100);
    await expect(createOffer(env, actors.provider, { gpuModel: A100 }))
      .to.be.revertedWithCustomError(market, "JobMarketUnknownGpuModel")
      .withArgs(A100);
  });

  it("validates the region code: 2-16 of [a-z0-9-], starting with a letter, zero-padded", async function () {
    const env = await loadFixture(marketFixture);
    const { market, actors } = env;
    const bad = [
      region("e"),
      region("EU-WEST"),
      region("1eu"),
      region("-eu"),
      region("eu_west"),
      region("eu west"),
      ethers.ZeroHash.slice(0, 34),
      // A valid prefix followed by a zero and then garbage.
      ethers.hexlify(ethers.concat([ethers.toUtf8Bytes("eu"), "0x00", ethers.toUtf8Bytes("x"), new Uint8Array(12)])),
    ];
    for (const code of bad) {
      await expect(createOffer(env, actors.provider, { region: code }))
        .to.be.revertedWithCustomError(market, "JobMarketInvalidRegion")
        .withArgs(code);
    }
    for (const code of ["eu", "us-east-2", "ap-southeast-1xy", "a1"]) {
      const params = await offerParams({ region: region(code) });
      await expect(market.connect(actors.provider).createOffer(params)).to.emit(market, "OfferCreated");
    }
  });

  it("refuses malformed offers, naming the field, its value and its bounds (v2)", async function () {
    const env = await loadFixture(marketFixture);
    const { market, actors } = env;
    const YEAR = 365 * 24 * HOUR;
    const cases: Array<[Parameters<typeof offerParams>[0], number, bigint | number, bigint | number, bigint | number]> = [
      [{ gpus: 0 }, OfferField.Gpus, 0, 1, 100_000],
      [{ pricePerGpuHour: 0n }, OfferField.PricePerGpuHour, 0, 1, 2n ** 96n - 1n],
      [{ minDuration: 0 }, OfferField.MinDuration, 0, 1, 7 * 24 * HOUR],
      [{ minDuration: 7200, maxDuration: 3600 }, OfferField.MinDuration, 7200, 1, 3600],
      [{ maxDuration: YEAR + 1 }, OfferField.MaxDuration, YEAR + 1, 1, YEAR],
      [{ maxDuration: 0, minDuration: 0 }, OfferField.MaxDuration, 0, 1, YEAR],
      [{ renewableBps: 10_001 }, OfferField.RenewableBps, 10_001, 0, 10_000],
      [{ gpus: 100_001 }, OfferField.Gpus, 100_001, 1, 100_000],
    ];
    for (const [overrides, field, value, min, max] of cases) {
      await expect(createOffer(env, actors.provider, overrides))
        .to.be.revertedWithCustomError(market, "JobMarketInvalidOffer")
        .withArgs(field, value, min, max);
    }
  });

  it("refuses an expiry that is not in the future (v2: JobMarketInvalidOffer naming ExpiresAt and its bounds)", async function () {
    const env = await loadFixture(marketFixture);
    const { market, actors } = env;
    const now = (await time.latest()) + 1;
    await time.setNextBlockTimestamp(now);
    await expect(createOffer(env, actors.provider, { expiresAt: now }))
      .to.be.revertedWithCustomError(market, "JobMarketInvalidOffer")
      .withArgs(OfferField.ExpiresAt, now, now + 1, now + 365 * 24 * HOUR);
  });
});

describe("offer bounds: at most 100,000 GPUs and a year of lifetime", function () {
  it("createOffer and updateOffer refuse more GPUs or a later expiry, and take the limits themselves", async function () {
    const env = await loadFixture(marketFixture);
    const { market, staking, actors, offerId } = env;
    // 100,000 GPUs must be backed by stake at their minimum duration (v2): ~16,667 MESH at 50 % collateral.
    await staking.connect(actors.provider).stake(20_000n * MESH);
    const yearFromNextBlock = async (extraSeconds: number) => {
      const next = (await time.latest()) + 1;
      await time.setNextBlockTimestamp(next);
      return next + 365 * 24 * HOUR + extraSeconds;
    };
    const tooLate = await offerParams({ expiresAt: await yearFromNextBlock(1) });
    await expect(market.connect(actors.provider).createOffer(tooLate))
      .to.be.revertedWithCustomError(market, "JobMarketInvalidOffer")
      .withArgs(OfferField.ExpiresAt, tooLate.expiresAt, BigInt(tooLate.expiresAt) - BigInt(365 * 24 * HOUR), BigInt(tooLate.expiresAt) - 1n);
    const atTheLimits = await offerParams({ gpus: 100_000, expiresAt: await yearFromNextBlock(0) });
    await expect(market.connect(actors.provider).createOffer(atTheLimits)).to.emit(market, "OfferCreated");
    await expect(market.connect(actors.provider).updateOffer(offerId, 100_001, PRICE, await offerExpiry()))
      .to.be.revertedWithCustomError(market, "JobMarketInvalidOffer")
      .withArgs(OfferField.Gpus, 100_001, 1, 100_000);
    const late = await yearFromNextBlock(1);
    await expect(market.connect(actors.provider).updateOffer(offerId, 8, PRICE, late))
      .to.be.revertedWithCustomError(market, "JobMarketInvalidOffer")
      .withArgs(OfferField.ExpiresAt, late, late - 365 * 24 * HOUR, late - 1);
  });
});

describe("updateOffer: reprice and resize, never below what is leased", function () {
  it("reprices, resizes and extends, emitting OfferUpdated", async function () {
    const { market, actors, offerId } = await loadFixture(marketFixture);
    const expiresAt = await offerExpiry(60 * 24 * HOUR);
    await expect(market.connect(actors.provider).updateOffer(offerId, 16, 3_000_000n, expiresAt))
      .to.emit(market, "OfferUpdated")
      .withArgs(offerId, 16, 3_000_000n, expiresAt);
    const offer = await market.getOffer(offerId);
    expect([offer.gpus, offer.pricePerGpuHour, offer.expiresAt]).to.deep.equal([16n, 3_000_000n, BigInt(expiresAt)]);
  });

  it("resizes down to exactly the leased GPUs and no further", async function () {
    const env = await loadFixture(marketFixture);
    const { market, actors, offerId } = env;
    await createJob(env, actors.client, { gpus: 3 });
    const expiresAt = await offerExpiry();
    await expect(market.connect(actors.provider).updateOffer(offerId, 2, PRICE, expiresAt))
      .to.be.revertedWithCustomError(market, "JobMarketGpusBelowLeased")
      .withArgs(2, 3);
    await market.connect(actors.provider).updateOffer(offerId, 3, PRICE, expiresAt);
    await expect(market.connect(actors.client2).createJob(offerId, 1, 3_600, PRICE, ethers.MaxUint256, SPEC_HASH))
      .to.be.revertedWithCustomError(market, "JobMarketInsufficientCapacity")
      .withArgs(1, 0);
  });

  it("refuses zero GPUs, a zero price and a past expiry (v2: JobMarketInvalidOffer names the field and bounds)", async function () {
    const { market, actors, offerId } = await loadFixture(marketFixture);
    const expiresAt = await offerExpiry();
    await expect(market.connect(actors.provider).updateOffer(offerId, 0, PRICE, expiresAt))
      .to.be.revertedWithCustomError(market, "JobMarketInvalidOffer")
      .withArgs(OfferField.Gpus, 0, 1, 100_000);
    await expect(market.connect(actors.provider).updateOffer(offerId, 8, 0n, expiresAt))
      .to.be.revertedWithCustomError(market, "JobMarketInvalidOffer")
      .withArgs(OfferField.PricePerGpuHour, 0, 1, 2n ** 96n - 1n);
    const past = await time.latest();
    await time.setNextBlockTimestamp(past + 1);
    await expect(market.connect(actors.provider).updateOffer(offerId, 8, PRICE, past))
      .to.be.revertedWithCustomError(market, "JobMarketInvalidOffer")
      .withArgs(OfferField.ExpiresAt, past, past + 2, past + 1 + 365 * 24 * HOUR);
  });

  it("only the offer's provider updates, an existing open offer", async function () {
    const { market, actors, offerId } = await loadFixture(marketFixture);
    const expiresAt = await offerExpiry();
    await expect(market.connect(actors.stranger).updateOffer(offerId, 8, PRICE, expiresAt))
      .to.be.revertedWithCustomError(market, "JobMarketNotOfferProvider")
      .withArgs(offerId, actors.stranger.address);
    await expect(market.connect(actors.provider).updateOffer(77n, 8, PRICE, expiresAt))
      .to.be.revertedWithCustomError(market, "JobMarketUnknownOffer")
      .withArgs(77n);
    await market.connect(actors.provider).closeOffer(offerId);
    await expect(market.connect(actors.provider).updateOffer(offerId, 8, PRICE, expiresAt))
      .to.be.revertedWithCustomError(market, "JobMarketOfferClosed")
      .withArgs(offerId);
  });

  it("a running job keeps its price when the offer is repriced; new jobs pay the new price", async function () {
    const env = await loadFixture(marketFixture);
    const { market, actors, offerId } = env;
    const { jobId, startedAt } = await runningJob(env, { gpus: 2, duration: 5_000 });
    await market.connect(actors.provider).updateOffer(offerId, 4, PRICE * 2n, await offerExpiry());
    expect((await market.getJob(jobId)).pricePerGpuHour).to.equal(PRICE);
    await time.setNextBlockTimestamp(startedAt + 1_000n);
    await expect(market.connect(actors.provider).claim(jobId))
      .to.emit(market, "JobClaimed")
      .withArgs(jobId, costUp(PRICE, 2, 1_000), costUp(PRICE, 2, 1_000), 0n);
    const newJob = await createJob(env, actors.client2, { gpus: 2, duration: 5_000, maxPrice: PRICE * 2n });
    expect((await market.getJob(newJob)).pricePerGpuHour).to.equal(PRICE * 2n);
    expect((await market.getOffer(offerId)).gpusLeased).to.equal(4n);
  });
});

describe("closeOffer", function () {
  it("stops new jobs; running jobs finish and settle on their terms", async function () {
    const env = await loadFixture(marketFixture);
    const { market, actors, offerId } = env;
    const { jobId } = await runningJob(env);
    await expect(market.connect(actors.provider).closeOffer(offerId)).to.emit(market, "OfferClosed").withArgs(offerId);
    expect((await market.getOffer(offerId)).closed).to.equal(true);
    await expect(market.connect(actors.client2).createJob(offerId, 1, 3_600, PRICE, ethers.MaxUint256, SPEC_HASH))
      .to.be.revertedWithCustomError(market, "JobMarketOfferClosed")
      .withArgs(offerId);
    await time.increase(HOUR);
    await market.connect(actors.provider).completeJob(jobId, RESULT_HASH);
    expect((await market.getOffer(offerId)).gpusLeased).to.equal(0n);
    await time.increase(24 * HOUR + 1);
    await expect(market.settleJob(jobId)).to.emit(market, "JobSettled");
  });

  it("only the provider closes, an existing open offer, once", async function () {
    const { market, actors, offerId } = await loadFixture(marketFixture);
    await expect(market.connect(actors.client).closeOffer(offerId))
      .to.be.revertedWithCustomError(market, "JobMarketNotOfferProvider")
      .withArgs(offerId, actors.client.address);
    await expect(market.connect(actors.provider).closeOffer(0n))
      .to.be.revertedWithCustomError(market, "JobMarketUnknownOffer")
      .withArgs(0n);
    await market.connect(actors.provider).closeOffer(offerId);
    await expect(market.connect(actors.provider).closeOffer(offerId))
      .to.be.revertedWithCustomError(market, "JobMarketOfferClosed")
      .withArgs(offerId);
  });
});

describe("capacity reservation", function () {
  it("reserves GPUs per job and frees them on every exit: cancel, decline (v2), expire, complete, early end, dispute, dark report (v2), reclaim", async function () {
    const env = await loadFixture(marketFixture);
    const { market, actors, offerId } = env;
    const { client, client2, provider } = actors;
    const leased = async () => (await market.getOffer(offerId)).gpusLeased;
    const cancelled = await createJob(env, client, { gpus: 1 });
    const expired = await createJob(env, client2, { gpus: 1 });
    const completed = await createJob(env, client, { gpus: 1 });
    const endedEarly = await createJob(env, client2, { gpus: 1 });
    const disputed = await createJob(env, client, { gpus: 1 });
    const reclaimed = await createJob(env, client2, { gpus: 1, duration: 600 });
    const declined = await createJob(env, client, { gpus: 1 });
    const dark = await createJob(env, client2, { gpus: 1 });
    expect(await leased()).to.equal(8n);
    for (const jobId of [completed, endedEarly, disputed, reclaimed, dark]) await market.connect(provider).acceptJob(jobId);
    await market.connect(client).cancelJob(cancelled);
    expect(await leased()).to.equal(7n);
    await market.connect(provider).declineJob(declined, RESULT_HASH);
    expect(await leased()).to.equal(6n);
    await market.connect(provider).completeJob(completed, RESULT_HASH);
    expect(await leased()).to.equal(5n);
    await market.connect(client2).endJobEarly(endedEarly);
    expect(await leased()).to.equal(4n);
    await market.connect(client).disputeJob(disputed, RESULT_HASH);
    expect(await leased()).to.equal(3n);
    await time.increase(2 * HOUR);
    await market.expireJob(expired);
    expect(await leased()).to.equal(2n);
    await market.reportDark(dark);
    expect(await leased()).to.equal(1n);
    await market.connect(client2).reclaimAbandoned(reclaimed);
    expect(await leased()).to.equal(0n);
    // Settlement and resolution do not free GPUs a second time.
    await time.increase(24 * HOUR);
    await market.settleJob(completed);
    await market.resolveDispute(disputed, 5_000, 0n);
    expect(await leased()).to.equal(0n);
  });

});

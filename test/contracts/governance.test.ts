import { expect } from "chai";
import { ethers } from "hardhat";
import { loadFixture, time } from "@nomicfoundation/hardhat-toolbox/network-helpers";
import { DEFAULT_PARAMETERS, PARAMETER_NAMES } from "../../src/protocol";
import {
  DECLINE_REASON,
  HOUR,
  MESH,
  PRICE,
  Parameter,
  type ParameterKey,
  REASON_HASH,
  RESULT_HASH,
  SPEC_HASH,
  STAKE_PER_PAYMENT_UNIT,
  UNBONDING_PERIOD,
  amountsOf,
  bpsDown,
  costUp,
  createJob,
  deploy,
  deployedFixture,
  marketFixture,
  offerExpiry,
  offerParams,
  parameterField,
  runningJob,
  signPermit,
  signReceipt,
} from "./helpers";

const DAY = 24 * HOUR;
const BOUNDS: Array<[ParameterKey, number, number]> = [
  ["ProtocolFeeBps", 0, 1_000],
  ["CancelFeeBps", 0, 500],
  ["CollateralBps", 0, 30_000],
  ["ExpirySlashBps", 0, 1_000],
  ["AcceptWindow", 60, 7 * DAY],
  ["DisputeWindow", HOUR, 30 * DAY],
  ["AbandonGrace", 60, 7 * DAY],
  // v2
  ["DarkSlashBps", 0, 10_000],
  ["DisputeBondBps", 0, 2_000],
  ["LivenessTimeout", 60, DAY],
  ["ResolveWindow", DAY, 30 * DAY],
];

describe("governance parameters: hard bounds in code", function () {
  it("starts from DEFAULT_PARAMETERS (src/protocol), each within its bounds, as terms snapshot 1", async function () {
    const { market } = await loadFixture(deployedFixture);
    for (const [index, name] of PARAMETER_NAMES.entries()) {
      const [min, max] = await market.parameterBounds(index);
      const value = BigInt(DEFAULT_PARAMETERS[name]);
      expect(value >= min && value <= max, `${name} = ${value} outside [${min}, ${max}]`).to.equal(true);
      expect((await market.parameters())[name]).to.equal(value);
      expect((await market.terms(1n))[name]).to.equal(value);
    }
    expect(await market.currentTermsId()).to.equal(1n);
  });

  it("exposes the bounds of all 11 parameters (v2: 4 more)", async function () {
    const { market } = await loadFixture(deployedFixture);
    expect(BOUNDS).to.have.length(Object.keys(Parameter).length);
    for (const [name, min, max] of BOUNDS) {
      expect(await market.parameterBounds(Parameter[name])).to.deep.equal([BigInt(min), BigInt(max)]);
    }
  });

  for (const [name, min, max] of BOUNDS) {
    it(`${name}: accepts ${min}..${max}, emits ParameterSet with the new terms id (v2), refuses values outside`, async function () {
      const { market } = await loadFixture(deployedFixture);
      const parameter = Parameter[name];
      const field = parameterField(name);
      await expect(market.setParameter(parameter, max))
        .to.emit(market, "ParameterSet")
        .withArgs(parameter, DEFAULT_PARAMETERS[field], max, 2n);
      await expect(market.setParameter(parameter, min)).to.emit(market, "ParameterSet").withArgs(parameter, max, min, 3n);
      expect((await market.parameters())[field]).to.equal(BigInt(min));
      expect(await market.currentTermsId()).to.equal(3n);
      // Snapshots are immutable: the first and the second still hold what they held.
      expect((await market.terms(1n))[field]).to.equal(BigInt(DEFAULT_PARAMETERS[field]));
      expect((await market.terms(2n))[field]).to.equal(BigInt(max));
      await expect(market.setParameter(parameter, max + 1))
        .to.be.revertedWithCustomError(market, "JobMarketParameterOutOfBounds")
        .withArgs(parameter, max + 1, min, max);
      if (min > 0) {
        await expect(market.setParameter(parameter, min - 1))
          .to.be.revertedWithCustomError(market, "JobMarketParameterOutOfBounds")
          .withArgs(parameter, min - 1, min, max);
      }
      // Values are never truncated into their narrow fields.
      await expect(market.setParameter(parameter, 2n ** 32n + BigInt(min)))
        .to.be.revertedWithCustomError(market, "JobMarketParameterOutOfBounds")
        .withArgs(parameter, 2n ** 32n + BigInt(min), min, max);
    });
  }

  it("setTreasury: emits, refuses zero, and fees go to the new treasury", async function () {
    const env = await loadFixture(marketFixture);
    const { market, staking, payment, actors } = env;
    await expect(market.setTreasury(ethers.ZeroAddress)).to.be.revertedWithCustomError(market, "JobMarketZeroAddress");
    await expect(market.setTreasury(actors.stranger.address)).to.emit(market, "TreasurySet").withArgs(actors.stranger.address);
    expect(await market.treasury()).to.equal(actors.stranger.address);
    const { jobId } = await runningJob(env);
    await time.increase(HOUR);
    await market.connect(actors.provider).completeJob(jobId, RESULT_HASH);
    await time.increase(DAY + 1);
    await market.settleJob(jobId);
    const fees = await market.feesAccrued();
    await expect(market.withdrawFees()).to.changeTokenBalance(payment, actors.stranger, fees);

    await expect(staking.setTreasury(ethers.ZeroAddress)).to.be.revertedWithCustomError(staking, "ProviderStakingZeroAddress");
    await expect(staking.setTreasury(actors.stranger.address)).to.emit(staking, "TreasurySet").withArgs(actors.stranger.address);
  });

  it("staking: unbonding period within 1 hour..90 days, minStake at most 1e30", async function () {
    const { staking } = await loadFixture(deployedFixture);
    await expect(staking.setUnbondingPeriod(HOUR - 1))
      .to.be.revertedWithCustomError(staking, "ProviderStakingParameterOutOfBounds")
      .withArgs(HOUR - 1, HOUR, 90 * DAY);
    await expect(staking.setUnbondingPeriod(90 * DAY + 1))
      .to.be.revertedWithCustomError(staking, "ProviderStakingParameterOutOfBounds")
      .withArgs(90 * DAY + 1, HOUR, 90 * DAY);
    await expect(staking.setUnbondingPeriod(HOUR)).to.emit(staking, "UnbondingPeriodSet").withArgs(UNBONDING_PERIOD, HOUR);
    await expect(staking.setUnbondingPeriod(90 * DAY)).to.emit(staking, "UnbondingPeriodSet").withArgs(HOUR, 90 * DAY);
    await expect(staking.setMinStake(10n ** 30n + 1n))
      .to.be.revertedWithCustomError(staking, "ProviderStakingParameterOutOfBounds")
      .withArgs(10n ** 30n + 1n, 0, 10n ** 30n);
    await expect(staking.setMinStake(10n ** 30n)).to.emit(staking, "MinStakeSet").withArgs(100n * MESH, 10n ** 30n);
    await expect(staking.setMinStake(0)).to.emit(staking, "MinStakeSet").withArgs(10n ** 30n, 0);
  });

  it("staking binds its market once", async function () {
    const { staking, market, actors } = await loadFixture(deployedFixture);
    const marketAddress = await market.getAddress();
    await expect(staking.setMarket(actors.stranger.address))
      .to.be.revertedWithCustomError(staking, "ProviderStakingMarketAlreadySet")
      .withArgs(marketAddress);
    const fresh = await (await ethers.getContractFactory("ProviderStaking")).deploy(
      await staking.stakeToken(),
      actors.governance.address,
      actors.treasury.address,
      UNBONDING_PERIOD,
      0,
    );
    await expect(fresh.setMarket(ethers.ZeroAddress)).to.be.revertedWithCustomError(fresh, "ProviderStakingZeroAddress");
    await expect(fresh.setMarket(marketAddress)).to.emit(fresh, "MarketSet").withArgs(marketAddress);
  });
});

describe("parameter changes never reach the money of jobs already created", function () {
  it("a raised cancellation fee or expiry slash applies to new jobs only", async function () {
    const env = await loadFixture(marketFixture);
    const { market, actors } = env;
    const cost = costUp(PRICE, 2, 2 * HOUR);
    const cancelled = await createJob(env, actors.client);
    const expired = await createJob(env, actors.client2);
    await market.setParameter(Parameter.CancelFeeBps, 500);
    await market.setParameter(Parameter.ExpirySlashBps, 1_000);
    await expect(market.connect(actors.client).cancelJob(cancelled))
      .to.emit(market, "JobCancelled")
      .withArgs(cancelled, (await amountsOf(env, cancelled)).escrow - bpsDown(cost, DEFAULT_PARAMETERS.cancelFeeBps), bpsDown(cost, DEFAULT_PARAMETERS.cancelFeeBps));
    await time.increase(DEFAULT_PARAMETERS.acceptWindow + 1);
    const slash = bpsDown(cost, DEFAULT_PARAMETERS.expirySlashBps) * STAKE_PER_PAYMENT_UNIT;
    await expect(market.expireJob(expired))
      .to.emit(market, "JobExpired")
      .withArgs(expired, (await amountsOf(env, expired)).escrow, slash);
    const terms = await market.jobTerms(await createJob(env, actors.client));
    expect([terms.cancelFeeBps, terms.expirySlashBps]).to.deep.equal([500n, 1_000n]);
  });
});

describe("wiring views", function () {
  it("the market names its payment token, staking contract, catalog and stake rate", async function () {
    const { market, payment, staking, catalog } = await loadFixture(deployedFixture);
    expect(await market.paymentToken()).to.equal(await payment.getAddress());
    expect(await market.staking()).to.equal(await staking.getAddress());
    expect(await market.catalog()).to.equal(await catalog.getAddress());
    expect(await market.stakePerPaymentUnit()).to.equal(STAKE_PER_PAYMENT_UNIT);
    expect(await staking.market()).to.equal(await market.getAddress());
  });
});

describe("constructors validate their arguments", function () {
  it("JobMarket: zero addresses, stake rate, parameter bounds", async function () {
    const { market, staking, catalog, payment, actors, deployment } = await loadFixture(deployedFixture);
    // v2: JobMarket links its two libraries.
    const factory = await ethers.getContractFactory("JobMarket", { libraries: { ...deployment.libraries! } });
    const args = [
      await payment.getAddress(),
      await staking.getAddress(),
      await catalog.getAddress(),
      actors.governance.address,
      actors.treasury.address,
    ];
    for (let i = 0; i < args.length; i++) {
      const withZero = args.map((a, j) => (j === i ? ethers.ZeroAddress : a));
      await expect(
        factory.deploy(withZero[0], withZero[1], withZero[2], withZero[3], withZero[4], 1n, DEFAULT_PARAMETERS),
      ).to.be.revertedWithCustomError(market, "JobMarketZeroAddress");
    }
    const [p, s, c, g, t] = args;
    for (const rate of [0n, 10n ** 24n + 1n]) {
      await expect(factory.deploy(p, s, c, g, t, rate, DEFAULT_PARAMETERS))
        .to.be.revertedWithCustomError(market, "JobMarketInvalidStakeRate")
        .withArgs(rate);
    }
    await expect(factory.deploy(p, s, c, g, t, 1n, { ...DEFAULT_PARAMETERS, protocolFeeBps: 1_001 }))
      .to.be.revertedWithCustomError(market, "JobMarketParameterOutOfBounds")
      .withArgs(Parameter.ProtocolFeeBps, 1_001, 0, 1_000);
    await expect(factory.deploy(p, s, c, g, t, 1n, { ...DEFAULT_PARAMETERS, disputeWindow: 60 }))
      .to.be.revertedWithCustomError(market, "JobMarketParameterOutOfBounds")
      .withArgs(Parameter.DisputeWindow, 60, HOUR, 30 * DAY);
    const deployed = await factory.deploy(p, s, c, g, t, 10n ** 24n, DEFAULT_PARAMETERS);
    const tx = deployed.deploymentTransaction()!;
    await expect(tx).to.emit(deployed, "TreasurySet").withArgs(t);
    await expect(tx).to.emit(deployed, "ParameterSet").withArgs(Parameter.AbandonGrace, 0, DEFAULT_PARAMETERS.abandonGrace, 1n);
    await expect(tx).to.emit(deployed, "ParameterSet").withArgs(Parameter.ResolveWindow, 0, DEFAULT_PARAMETERS.resolveWindow, 1n);
    await expect(factory.deploy(p, s, c, g, t, 1n, { ...DEFAULT_PARAMETERS, livenessTimeout: DAY + 1 }))
      .to.be.revertedWithCustomError(market, "JobMarketParameterOutOfBounds")
      .withArgs(Parameter.LivenessTimeout, DAY + 1, 60, DAY);
  });

  it("ProviderStaking: zero addresses and bounds", async function () {
    const { staking, stake, actors } = await loadFixture(deployedFixture);
    const factory = await ethers.getContractFactory("ProviderStaking");
    const token = await stake.getAddress();
    const { governance, treasury } = actors;
    for (const [t, g, tr] of [
      [ethers.ZeroAddress, governance.address, treasury.address],
      [token, ethers.ZeroAddress, treasury.address],
      [token, governance.address, ethers.ZeroAddress],
    ]) {
      await expect(factory.deploy(t, g, tr, UNBONDING_PERIOD, 0)).to.be.revertedWithCustomError(
        staking,
        "ProviderStakingZeroAddress",
      );
    }
    await expect(factory.deploy(token, governance.address, treasury.address, 0, 0))
      .to.be.revertedWithCustomError(staking, "ProviderStakingParameterOutOfBounds")
      .withArgs(0, HOUR, 90 * DAY);
    await expect(factory.deploy(token, governance.address, treasury.address, HOUR, 10n ** 31n))
      .to.be.revertedWithCustomError(staking, "ProviderStakingParameterOutOfBounds")
      .withArgs(10n ** 31n, 0, 10n ** 30n);
  });
});

describe("access control: every role function refuses everyone else", function () {
  it("market, staking and catalog admin, pauser and arbiter functions", async function () {
    const env = await loadFixture(marketFixture);
    const { market, staking, catalog, actors } = env;
    const { stranger, provider } = actors;
    const admin = await market.DEFAULT_ADMIN_ROLE();
    const pauser = await market.PAUSER_ROLE();
    const arbiter = await market.ARBITER_ROLE();
    const cases: Array<[string, () => Promise<unknown>, { interface: unknown }, string]> = [
      ["market.setParameter", () => market.connect(stranger).setParameter(0, 0), market, admin],
      ["market.setTreasury", () => market.connect(stranger).setTreasury(stranger.address), market, admin],
      ["market.pause", () => market.connect(stranger).pause(), market, pauser],
      ["market.unpause", () => market.connect(stranger).unpause(), market, pauser],
      ["market.resolveDispute", () => market.connect(provider).resolveDispute(1n, 10_000, 0n), market, arbiter],
      ["market.grantRole", () => market.connect(stranger).grantRole(arbiter, stranger.address), market, admin],
      ["staking.setMarket", () => staking.connect(stranger).setMarket(stranger.address), staking, admin],
      ["staking.setTreasury", () => staking.connect(stranger).setTreasury(stranger.address), staking, admin],
      ["staking.setUnbondingPeriod", () => staking.connect(stranger).setUnbondingPeriod(HOUR), staking, admin],
      ["staking.setMinStake", () => staking.connect(stranger).setMinStake(0), staking, admin],
      ["staking.pause", () => staking.connect(stranger).pause(), staking, pauser],
      ["staking.unpause", () => staking.connect(stranger).unpause(), staking, pauser],
      ["catalog.listModel", () => catalog.connect(stranger).listModel("NEW-GPU", 16), catalog, admin],
      ["catalog.delistModel", () => catalog.connect(stranger).delistModel(ethers.ZeroHash), catalog, admin],
    ];
    for (const [, call, contract, role] of cases) {
      await expect(call())
        .to.be.revertedWithCustomError(contract as typeof market, "AccessControlUnauthorizedAccount")
        .withArgs(role === arbiter ? provider.address : stranger.address, role);
    }
  });

  it("staking: lockCollateral and releaseCollateral (v2: replaces unlockCollateral and slash) only by the market", async function () {
    const { staking, actors } = await loadFixture(marketFixture);
    const { governance, provider, client } = actors;
    // Even governance cannot move stake.
    for (const caller of [governance, provider]) {
      await expect(staking.connect(caller).lockCollateral(provider.address, 1n, 1n))
        .to.be.revertedWithCustomError(staking, "ProviderStakingNotMarket")
        .withArgs(caller.address);
      await expect(staking.connect(caller).releaseCollateral(provider.address, 1n, 0n, 0n, client.address, 0n))
        .to.be.revertedWithCustomError(staking, "ProviderStakingNotMarket")
        .withArgs(caller.address);
      await expect(staking.connect(caller).releaseCollateral(provider.address, 1n, MESH, MESH, client.address, MESH))
        .to.be.revertedWithCustomError(staking, "ProviderStakingNotMarket")
        .withArgs(caller.address);
    }
  });

  it("deployGpuMesh hands every role to governance and keeps none for the deployer", async function () {
    const [deployer, , , , , , , , governance] = await ethers.getSigners();
    const { market, staking, catalog } = await deploy({ governance: governance.address });
    await expect(market.connect(deployer).setParameter(0, 0)).to.be.revertedWithCustomError(
      market,
      "AccessControlUnauthorizedAccount",
    );
    await expect(market.connect(deployer).pause()).to.be.revertedWithCustomError(market, "AccessControlUnauthorizedAccount");
    await expect(staking.connect(deployer).setMinStake(0)).to.be.revertedWithCustomError(
      staking,
      "AccessControlUnauthorizedAccount",
    );
    await expect(catalog.connect(deployer).listModel("NEW-GPU", 16)).to.be.revertedWithCustomError(
      catalog,
      "AccessControlUnauthorizedAccount",
    );
    await expect(market.connect(governance).setParameter(0, 0)).to.emit(market, "ParameterSet");
    await expect(market.connect(governance).pause()).to.emit(market, "Paused");
    expect(await market.hasRole(await market.ARBITER_ROLE(), governance.address)).to.equal(true);
    expect(await market.hasRole(await market.ARBITER_ROLE(), deployer.address)).to.equal(false);
  });
});

describe("pause: stops new business, never stops money leaving by the rules", function () {
  it("blocks register, stake, stakeWithPermit, createOffer, every createJob variant and extendJob (v2)", async function () {
    const env = await loadFixture(marketFixture);
    const { market, staking, stake, payment, actors, offerId, marketAddress, stakingAddress } = env;
    const { provider, client, sponsor, stranger } = actors;
    await expect(market.pause()).to.emit(market, "Paused").withArgs(actors.governance.address);
    await expect(staking.pause()).to.emit(staking, "Paused").withArgs(actors.governance.address);
    await expect(market.pause()).to.be.revertedWithCustomError(market, "EnforcedPause");
    const deadline = BigInt(await time.latest()) + 3_600n;
    const stakePermit = await signPermit(stake, provider, stakingAddress, MESH, deadline);
    const payPermit = await signPermit(payment, sponsor, marketAddress, 10n ** 9n, deadline);
    await market.unpause();
    const { jobId: running } = await runningJob(env, { gpus: 1 });
    await market.pause();
    const MAX = ethers.MaxUint256;
    const blocked: Array<[() => Promise<unknown>, typeof market | typeof staking]> = [
      [() => staking.connect(stranger).register("ipfs://s"), staking],
      [() => staking.connect(provider).stake(MESH), staking],
      [() => staking.connect(provider).stakeWithPermit(MESH, stakePermit), staking],
      [async () => market.connect(provider).createOffer(await offerParams()), market],
      [() => market.connect(client).createJob(offerId, 1, 3_600, PRICE, MAX, SPEC_HASH), market],
      [() => market.connect(sponsor).createJobFor(client.address, offerId, 1, 3_600, PRICE, MAX, SPEC_HASH), market],
      [
        () => market.connect(sponsor).createJobWithPermit(client.address, offerId, 1, 3_600, PRICE, MAX, SPEC_HASH, payPermit),
        market,
      ],
      [() => market.connect(client).extendJob(running, 600, MAX), market],
    ];
    for (const [call, contract] of blocked) {
      await expect(call()).to.be.revertedWithCustomError(contract, "EnforcedPause");
    }
    await expect(market.unpause()).to.emit(market, "Unpaused").withArgs(actors.governance.address);
    await expect(staking.unpause()).to.emit(staking, "Unpaused");
    await expect(market.unpause()).to.be.revertedWithCustomError(market, "ExpectedPause");
    await expect(market.connect(client).createJob(offerId, 1, 3_600, PRICE, MAX, SPEC_HASH)).to.emit(market, "JobCreated");
    await expect(market.connect(client).extendJob(running, 600, MAX)).to.emit(market, "JobExtended");
    await expect(staking.connect(provider).stakeWithPermit(MESH, stakePermit)).to.emit(staking, "Staked");
  });

  it("allows accept, decline (v2), cancel, expire, heartbeat (v2), claims with and without receipts (v2), complete, end early, dark reports (v2), dispute, settle, resolve, finalize (v2), reclaim, fee and stake withdrawals, offer updates", async function () {
    const env = await loadFixture(marketFixture);
    const { market, staking, actors, offerId } = env;
    const { provider, client, client2, stranger } = actors;
    await market.connect(provider).updateOffer(offerId, 16, PRICE, await offerExpiry());
    const toCancel = await createJob(env, client, { gpus: 1 });
    const toExpire = await createJob(env, client2, { gpus: 1 });
    const toAccept = await createJob(env, client, { gpus: 1 });
    const toDecline = await createJob(env, client2, { gpus: 1 });
    const { jobId: toSettle } = await runningJob(env, { gpus: 1, duration: 600 });
    const { jobId: toResolve } = await runningJob(env, { gpus: 1 });
    const { jobId: toFinalize } = await runningJob(env, { gpus: 1 });
    const { jobId: toReclaim } = await runningJob(env, { gpus: 1, duration: 600 });
    const { jobId: toComplete } = await runningJob(env, { gpus: 1, duration: 7 * 24 * HOUR });
    const { jobId: toEnd } = await runningJob(env, { gpus: 1, duration: 7 * 24 * HOUR });
    const { jobId: toReportDark } = await runningJob(env, { gpus: 1 });
    await market.connect(provider).completeJob(toSettle, RESULT_HASH);
    await staking.connect(provider).requestUnstake(10n * MESH);
    await market.pause();
    await staking.pause();

    await expect(market.connect(provider).acceptJob(toAccept)).to.emit(market, "JobAccepted");
    await expect(market.connect(provider).declineJob(toDecline, DECLINE_REASON)).to.emit(market, "JobDeclined");
    await expect(market.connect(client).cancelJob(toCancel)).to.emit(market, "JobCancelled");
    await expect(market.connect(client).disputeJob(toResolve, REASON_HASH)).to.emit(market, "JobDisputed");
    await expect(market.connect(client).disputeJob(toFinalize, REASON_HASH)).to.emit(market, "JobDisputed");
    await expect(market.connect(provider).heartbeat()).to.emit(market, "ProviderHeartbeat");
    const servedUntil = BigInt(await time.latest());
    const receipt = await signReceipt(env, client, toComplete, servedUntil);
    await expect(market.connect(provider).claimWithReceipt(toComplete, servedUntil, receipt)).to.emit(market, "JobClaimed");
    await time.increase(DAY + 1);
    await expect(market.connect(stranger).expireJob(toExpire)).to.emit(market, "JobExpired");
    await expect(market.connect(stranger).reportDark(toReportDark)).to.emit(market, "JobDark");
    await expect(market.connect(provider).claim(toComplete)).to.emit(market, "JobClaimed");
    await expect(market.connect(provider).completeJob(toComplete, RESULT_HASH)).to.emit(market, "JobCompleted");
    await expect(market.connect(client).endJobEarly(toEnd)).to.emit(market, "JobEndedEarly");
    await expect(market.connect(stranger).settleJob(toSettle)).to.emit(market, "JobSettled");
    await expect(market.resolveDispute(toResolve, 5_000, 0n)).to.emit(market, "JobResolved");
    await expect(market.connect(client).reclaimAbandoned(toReclaim)).to.emit(market, "JobReclaimed");
    await expect(market.withdrawFees()).to.emit(market, "FeesWithdrawn");
    await expect(market.connect(provider).updateOffer(offerId, 16, PRICE, await offerExpiry())).to.emit(
      market,
      "OfferUpdated",
    );
    await expect(market.connect(provider).closeOffer(offerId)).to.emit(market, "OfferClosed");
    await expect(staking.connect(provider).requestUnstake(MESH)).to.emit(staking, "UnstakeRequested");
    await time.increase(UNBONDING_PERIOD);
    await expect(market.connect(stranger).finalizeStaleDispute(toFinalize)).to.emit(market, "JobDisputeFinalized");
    await expect(staking.connect(provider).withdrawStake()).to.emit(staking, "StakeWithdrawn");
    await expect(staking.connect(provider).updateMetadata("ipfs://v2")).to.emit(staking, "ProviderMetadataUpdated");
  });
});

import { expect } from "chai";
import { ethers } from "hardhat";
import {
  impersonateAccount,
  loadFixture,
  setBalance,
  stopImpersonatingAccount,
  time,
} from "@nomicfoundation/hardhat-toolbox/network-helpers";
import {
  HOUR,
  MESH,
  PRICE,
  STAKE_PER_PAYMENT_UNIT,
  UNBONDING_PERIOD,
  bpsDown,
  bpsUp,
  costUp,
  createJob,
  deployedFixture,
  marketFixture,
  registerAndStake,
  signPermit,
} from "./helpers";

describe("register and updateMetadata", function () {
  it("registers once with a metadata URI and lets the provider update it", async function () {
    const { staking, actors } = await loadFixture(deployedFixture);
    const { provider } = actors;
    await expect(staking.connect(provider).register("ipfs://provider-v1"))
      .to.emit(staking, "ProviderRegistered")
      .withArgs(provider.address, "ipfs://provider-v1");
    expect((await staking.account(provider.address)).registered).to.equal(true);
    expect(await staking.metadataURI(provider.address)).to.equal("ipfs://provider-v1");
    await expect(staking.connect(provider).register("ipfs://again"))
      .to.be.revertedWithCustomError(staking, "ProviderStakingAlreadyRegistered")
      .withArgs(provider.address);
    await expect(staking.connect(provider).updateMetadata("ipfs://provider-v2"))
      .to.emit(staking, "ProviderMetadataUpdated")
      .withArgs(provider.address, "ipfs://provider-v2");
    expect(await staking.metadataURI(provider.address)).to.equal("ipfs://provider-v2");
  });

  it("updateMetadata needs a registration", async function () {
    const { staking, actors } = await loadFixture(deployedFixture);
    await expect(staking.connect(actors.stranger).updateMetadata("ipfs://x"))
      .to.be.revertedWithCustomError(staking, "ProviderStakingNotRegistered")
      .withArgs(actors.stranger.address);
  });
});

describe("stake and stakeWithPermit", function () {
  it("pulls the stake and adds it up", async function () {
    const { staking, stake, actors } = await loadFixture(deployedFixture);
    const { provider } = actors;
    await staking.connect(provider).register("ipfs://p");
    const first = staking.connect(provider).stake(300n * MESH);
    await expect(first).to.emit(staking, "Staked").withArgs(provider.address, 300n * MESH, 300n * MESH);
    await expect(first).to.changeTokenBalances(stake, [provider, staking], [-300n * MESH, 300n * MESH]);
    await expect(staking.connect(provider).stake(50n * MESH))
      .to.emit(staking, "Staked")
      .withArgs(provider.address, 50n * MESH, 350n * MESH);
    expect(await staking.unlockedStake(provider.address)).to.equal(350n * MESH);
  });

  it("refuses zero and unregistered stakers", async function () {
    const { staking, actors } = await loadFixture(deployedFixture);
    await expect(staking.connect(actors.provider).stake(1n))
      .to.be.revertedWithCustomError(staking, "ProviderStakingNotRegistered")
      .withArgs(actors.provider.address);
    await staking.connect(actors.provider).register("ipfs://p");
    await expect(staking.connect(actors.provider).stake(0n)).to.be.revertedWithCustomError(
      staking,
      "ProviderStakingZeroAmount",
    );
  });

  it("stakeWithPermit: a real EIP-2612 signature, no prior approval, one transaction", async function () {
    const { staking, stake, actors, stakingAddress } = await loadFixture(deployedFixture);
    const { provider } = actors;
    await staking.connect(provider).register("ipfs://p");
    await stake.connect(provider).approve(stakingAddress, 0n);
    const amount = 250n * MESH;
    const permit = await signPermit(stake, provider, stakingAddress, amount, BigInt(await time.latest()) + 600n);
    const tx = staking.connect(provider).stakeWithPermit(amount, permit);
    await expect(tx).to.emit(staking, "Staked").withArgs(provider.address, amount, amount);
    await expect(tx).to.changeTokenBalances(stake, [provider, staking], [-amount, amount]);
    expect(await stake.nonces(provider.address)).to.equal(1n);
    // Replaying the same permit fails inside the try/catch, and with no allowance left the pull fails.
    await expect(staking.connect(provider).stakeWithPermit(amount, permit))
      .to.be.revertedWithCustomError(stake, "ERC20InsufficientAllowance")
      .withArgs(stakingAddress, 0n, amount);
  });
});

describe("requestUnstake and withdrawStake: two-step unbonding", function () {
  it("moves unlocked stake into unbonding and releases it after the unbonding period", async function () {
    const env = await loadFixture(deployedFixture);
    const { staking, stake, actors } = env;
    const { provider } = actors;
    await registerAndStake(env, provider, 1_000n * MESH);
    const requestedAt = (await time.latest()) + 10;
    await time.setNextBlockTimestamp(requestedAt);
    const readyAt = requestedAt + UNBONDING_PERIOD;
    await expect(staking.connect(provider).requestUnstake(400n * MESH))
      .to.emit(staking, "UnstakeRequested")
      .withArgs(provider.address, 400n * MESH, 600n * MESH, 400n * MESH, readyAt, 0n);
    const account = await staking.account(provider.address);
    expect([account.staked, account.unbonding, account.unbondingReadyAt]).to.deep.equal([
      600n * MESH,
      400n * MESH,
      BigInt(readyAt),
    ]);

    await time.setNextBlockTimestamp(readyAt - 1);
    await expect(staking.connect(provider).withdrawStake())
      .to.be.revertedWithCustomError(staking, "ProviderStakingStillUnbonding")
      .withArgs(readyAt);
    await time.setNextBlockTimestamp(readyAt);
    const tx = staking.connect(provider).withdrawStake();
    await expect(tx).to.emit(staking, "StakeWithdrawn").withArgs(provider.address, 400n * MESH, 0n);
    await expect(tx).to.changeTokenBalances(stake, [provider, staking], [400n * MESH, -400n * MESH]);
    await expect(staking.connect(provider).withdrawStake()).to.be.revertedWithCustomError(
      staking,
      "ProviderStakingNothingToWithdraw",
    );
  });

  it("a second request has a clock of its own: it no longer restarts the first one's (v2)", async function () {
    const env = await loadFixture(deployedFixture);
    const { staking, actors } = env;
    await registerAndStake(env, actors.provider, 1_000n * MESH);
    await staking.connect(actors.provider).requestUnstake(100n * MESH);
    const firstReadyAt = (await staking.account(actors.provider.address)).unbondingReadyAt;
    await time.increase(UNBONDING_PERIOD / 2);
    await staking.connect(actors.provider).requestUnstake(100n * MESH);
    const readyAt = (await staking.account(actors.provider.address)).unbondingReadyAt;
    expect(readyAt).to.equal(BigInt((await time.latest()) + UNBONDING_PERIOD));
    expect((await staking.account(actors.provider.address)).unbonding).to.equal(200n * MESH);
    await time.setNextBlockTimestamp(firstReadyAt);
    await expect(staking.connect(actors.provider).withdrawStake())
      .to.emit(staking, "StakeWithdrawn")
      .withArgs(actors.provider.address, 100n * MESH, 100n * MESH);
  });

  it("refuses zero and more than the unlocked stake (locked collateral cannot leave)", async function () {
    const env = await loadFixture(marketFixture);
    const { staking, market, actors } = env;
    const { provider } = actors;
    await expect(staking.connect(provider).requestUnstake(0n)).to.be.revertedWithCustomError(
      staking,
      "ProviderStakingZeroAmount",
    );
    // The job's collateral is locked from its creation (v2), and stays locked while it runs.
    const jobId = await createJob(env, actors.client, { gpus: 2, duration: 5_000 });
    const collateral = bpsUp(costUp(PRICE, 2, 5_000), 5_000) * STAKE_PER_PAYMENT_UNIT;
    expect(await staking.unlockedStake(provider.address)).to.equal(1_000n * MESH - collateral);
    await market.connect(provider).acceptJob(jobId);
    const unlocked = 1_000n * MESH - collateral;
    expect(await staking.unlockedStake(provider.address)).to.equal(unlocked);
    await expect(staking.connect(provider).requestUnstake(unlocked + 1n))
      .to.be.revertedWithCustomError(staking, "ProviderStakingInsufficientUnlocked")
      .withArgs(unlocked + 1n, unlocked);
    await staking.connect(provider).requestUnstake(unlocked);
    expect((await staking.account(provider.address)).locked).to.equal(collateral);
  });

  it("unbonding stake cannot be locked for new jobs (v2: the job is refused at createJob)", async function () {
    const env = await loadFixture(marketFixture);
    const { staking, actors } = env;
    await staking.connect(actors.provider).requestUnstake(1_000n * MESH);
    const collateral = bpsUp(costUp(PRICE, 2, 2 * HOUR), 5_000) * STAKE_PER_PAYMENT_UNIT;
    await expect(createJob(env, actors.client))
      .to.be.revertedWithCustomError(staking, "ProviderStakingInsufficientCollateral")
      .withArgs(actors.provider.address, collateral, 0n);
  });

  it("a waiting job's collateral cannot be unstaked, and its expiry slash leaves unbonding stake alone (v2)", async function () {
    const env = await loadFixture(marketFixture);
    const { staking, stake, market, actors } = env;
    const { provider, client, treasury } = actors;
    const jobId = await createJob(env, client, { gpus: 2, duration: 5_000 });
    const collateral = bpsUp(costUp(PRICE, 2, 5_000), 5_000) * STAKE_PER_PAYMENT_UNIT;
    // The provider tries to walk away with everything while the job waits for it: only the unlocked part can go.
    await expect(staking.connect(provider).requestUnstake(1_000n * MESH))
      .to.be.revertedWithCustomError(staking, "ProviderStakingInsufficientUnlocked")
      .withArgs(1_000n * MESH, 1_000n * MESH - collateral);
    await staking.connect(provider).requestUnstake(1_000n * MESH - collateral);
    await time.increase(HOUR);
    const slash = bpsDown(costUp(PRICE, 2, 5_000), 100) * STAKE_PER_PAYMENT_UNIT;
    const tx = market.expireJob(jobId);
    await expect(tx)
      .to.emit(staking, "Slashed")
      .withArgs(provider.address, jobId, client.address, slash, treasury.address, 0n, collateral - slash);
    await expect(tx).to.changeTokenBalance(stake, client, slash);
    expect((await staking.account(provider.address)).unbonding).to.equal(1_000n * MESH - collateral);
    await time.increase(UNBONDING_PERIOD);
    await expect(staking.connect(provider).withdrawStake())
      .to.emit(staking, "StakeWithdrawn")
      .withArgs(provider.address, 1_000n * MESH - collateral, 0n);
  });

  it("a slash takes only the job's collateral, never unbonding stake (v2: v1 took unlocked, then unbonding stake)", async function () {
    const env = await loadFixture(marketFixture);
    const { staking, market, actors } = env;
    const { provider, client, treasury } = actors;
    await market.setParameter(3, 1_000); // expiry slash 10 % of cost
    const jobId = await createJob(env, client, { gpus: 4, duration: 7 * 24 * HOUR });
    const cost = costUp(PRICE, 4, 7 * 24 * HOUR);
    const collateral = bpsUp(cost, 5_000) * STAKE_PER_PAYMENT_UNIT; // ~672 MESH
    const slash = bpsDown(cost, 1_000) * STAKE_PER_PAYMENT_UNIT; // ~134.4 MESH
    const unbonding = 1_000n * MESH - collateral;
    await staking.connect(provider).requestUnstake(unbonding);
    await time.increase(HOUR);
    await expect(market.expireJob(jobId))
      .to.emit(staking, "Slashed")
      .withArgs(provider.address, jobId, client.address, slash, treasury.address, 0n, collateral - slash);
    const account = await staking.account(provider.address);
    expect([account.staked, account.locked, account.unbonding]).to.deep.equal([collateral - slash, 0n, unbonding]);
  });
});

describe("withdrawCredit: guards", function () {
  it("refuses the zero address and an empty credit", async function () {
    const { staking, actors } = await loadFixture(deployedFixture);
    await expect(staking.connect(actors.client).withdrawCredit(ethers.ZeroAddress)).to.be.revertedWithCustomError(
      staking,
      "ProviderStakingZeroAddress",
    );
    await expect(staking.connect(actors.client).withdrawCredit(actors.client.address)).to.be.revertedWithCustomError(
      staking,
      "ProviderStakingNothingToWithdraw",
    );
  });
});

describe("releaseCollateral: bounded even for the market (v2)", function () {
  it("refuses a slash above the collateral released, and a release above what is locked", async function () {
    const env = await loadFixture(marketFixture);
    const { staking, actors, marketAddress } = env;
    const jobId = await createJob(env, actors.client);
    const collateral = bpsUp(costUp(PRICE, 2, 2 * HOUR), 5_000) * STAKE_PER_PAYMENT_UNIT;
    // Speak as the market itself: no rule of the market can ask for these, and staking refuses them anyway.
    await impersonateAccount(marketAddress);
    await setBalance(marketAddress, 10n ** 18n);
    const asMarket = staking.connect(await ethers.getSigner(marketAddress));
    await expect(asMarket.releaseCollateral(actors.provider.address, jobId, collateral, collateral + 1n, actors.client.address, collateral))
      .to.be.revertedWithCustomError(staking, "ProviderStakingSlashAboveCollateral")
      .withArgs(collateral + 1n, collateral);
    await expect(
      asMarket.releaseCollateral(actors.provider.address, jobId, collateral + 1n, 0n, actors.client.address, 0n),
    ).to.be.revertedWithPanic(0x11);
    await expect(asMarket.lockCollateral(actors.provider.address, jobId, 1_000n * MESH))
      .to.be.revertedWithCustomError(staking, "ProviderStakingInsufficientCollateral")
      .withArgs(actors.provider.address, 1_000n * MESH, 1_000n * MESH - collateral);
    await stopImpersonatingAccount(marketAddress);
  });
});

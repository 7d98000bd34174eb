import { expect } from "chai";
import { loadFixture, time } from "@nomicfoundation/hardhat-toolbox/network-helpers";
import { HOUR, MESH, UNBONDING_PERIOD, deployedFixture, registerAndStake } from "./helpers";

async function stakedFixture() {
  const env = await deployedFixture();
  await registerAndStake(env, env.actors.provider, 1_000n * MESH);
  return env;
}

describe("unbonding queue: each request matures on its own (v2)", function () {
  it("a later request never delays a matured earlier one", async function () {
    const { staking, stake, actors } = await loadFixture(stakedFixture);
    const { provider } = actors;
    const first = await time.latest() + 1;
    await time.setNextBlockTimestamp(first);
    await expect(staking.connect(provider).requestUnstake(100n * MESH))
      .to.emit(staking, "UnstakeRequested")
      .withArgs(provider.address, 100n * MESH, 900n * MESH, 100n * MESH, first + UNBONDING_PERIOD, 0n);
    const second = first + UNBONDING_PERIOD / 2;
    await time.setNextBlockTimestamp(second);
    await expect(staking.connect(provider).requestUnstake(200n * MESH))
      .to.emit(staking, "UnstakeRequested")
      .withArgs(provider.address, 200n * MESH, 700n * MESH, 300n * MESH, second + UNBONDING_PERIOD, 1n);
    const request = await staking.unbondingRequest(provider.address, 1n);
    expect([request.amount, request.readyAt]).to.deep.equal([200n * MESH, BigInt(second + UNBONDING_PERIOD)]);

    await time.setNextBlockTimestamp(first + UNBONDING_PERIOD);
    const tx = staking.connect(provider).withdrawStake();
    await expect(tx).to.emit(staking, "StakeWithdrawn").withArgs(provider.address, 100n * MESH, 200n * MESH);
    await expect(tx).to.changeTokenBalances(stake, [provider, staking], [100n * MESH, -100n * MESH]);
    expect((await staking.unbondingRequest(provider.address, 0n)).amount).to.equal(0n);
    const account = await staking.account(provider.address);
    expect([account.firstUnbondingRequest, account.nextUnbondingRequest, account.unbonding]).to.deep.equal([1n, 2n, 200n * MESH]);

    await expect(staking.connect(provider).withdrawStake())
      .to.be.revertedWithCustomError(staking, "ProviderStakingStillUnbonding")
      .withArgs(second + UNBONDING_PERIOD);
    await time.setNextBlockTimestamp(second + UNBONDING_PERIOD);
    await expect(staking.connect(provider).withdrawStake())
      .to.emit(staking, "StakeWithdrawn")
      .withArgs(provider.address, 200n * MESH, 0n);
    await expect(staking.connect(provider).withdrawStake()).to.be.revertedWithCustomError(
      staking,
      "ProviderStakingNothingToWithdraw",
    );
  });

  it("StillUnbonding names the first pending request's readyAt, not the latest", async function () {
    const { staking, actors } = await loadFixture(stakedFixture);
    const { provider } = actors;
    await staking.connect(provider).requestUnstake(100n * MESH);
    const firstReadyAt = (await staking.unbondingRequest(provider.address, 0n)).readyAt;
    await time.increase(HOUR);
    await staking.connect(provider).requestUnstake(100n * MESH);
    expect((await staking.account(provider.address)).unbondingReadyAt).to.equal(firstReadyAt + BigInt(HOUR) + 1n);
    await expect(staking.connect(provider).withdrawStake())
      .to.be.revertedWithCustomError(staking, "ProviderStakingStillUnbonding")
      .withArgs(firstReadyAt);
  });

  it("withdraws every matured request in one call and leaves the rest", async function () {
    const { staking, actors } = await loadFixture(stakedFixture);
    const { provider } = actors;
    for (const amount of [10n, 20n, 30n]) {
      await staking.connect(provider).requestUnstake(amount * MESH);
      await time.increase(HOUR);
    }
    const lastReadyAt = (await staking.unbondingRequest(provider.address, 2n)).readyAt;
    await time.setNextBlockTimestamp(lastReadyAt - 1n);
    await expect(staking.connect(provider).withdrawStake())
      .to.emit(staking, "StakeWithdrawn")
      .withArgs(provider.address, 30n * MESH, 30n * MESH);
  });

  it("a shorter unbonding period never lets a later request mature before an earlier one", async function () {
    const { staking, actors } = await loadFixture(stakedFixture);
    const { provider } = actors;
    await staking.connect(provider).requestUnstake(100n * MESH);
    const firstReadyAt = (await staking.unbondingRequest(provider.address, 0n)).readyAt;
    await staking.setUnbondingPeriod(HOUR);
    await expect(staking.connect(provider).requestUnstake(100n * MESH))
      .to.emit(staking, "UnstakeRequested")
      .withArgs(provider.address, 100n * MESH, 800n * MESH, 200n * MESH, firstReadyAt, 1n);
    await time.setNextBlockTimestamp(firstReadyAt);
    await expect(staking.connect(provider).withdrawStake())
      .to.emit(staking, "StakeWithdrawn")
      .withArgs(provider.address, 200n * MESH, 0n);
    // Once nothing is pending, the new period applies as is.
    const now = (await time.latest()) + 1;
    await time.setNextBlockTimestamp(now);
    await expect(staking.connect(provider).requestUnstake(100n * MESH))
      .to.emit(staking, "UnstakeRequested")
      .withArgs(provider.address, 100n * MESH, 700n * MESH, 100n * MESH, now + HOUR, 2n);
  });
});

import { expect } from "chai";
import { ethers } from "hardhat";
import { loadFixture, time } from "@nomicfoundation/hardhat-toolbox/network-helpers";
import type { BlocklistToken, DevStakeToken, FeeOnTransferToken, ReentrantToken } from "../../typechain-types";
import {
  HOUR,
  MESH,
  PRICE,
  REASON_HASH,
  RESULT_HASH,
  SPEC_HASH,
  bpsDown,
  bpsUp,
  clientProviderLedger,
  amountsOf,
  costUp,
  createJob,
  createOffer,
  deploy,
  expectMoneyIdentity,
  registerAndStake,
  runningJob,
  type MarketEnv,
} from "./helpers";

const DAY = 24 * HOUR;
const UNIT = 10n ** 6n;

/** Mints and approves `token` for every actor towards market and staking. */
async function fund(
  token: { mint(to: string, amount: bigint): Promise<unknown>; connect(s: never): unknown },
  deployed: Awaited<ReturnType<typeof deploy>>,
  amount: bigint,
) {
  const market = await deployed.market.getAddress();
  const staking = await deployed.staking.getAddress();
  for (const signer of Object.values(deployed.actors)) {
    await token.mint(signer.address, amount);
    const connected = token.connect(signer as never) as { approve(spender: string, value: bigint): Promise<unknown> };
    await connected.approve(market, ethers.MaxUint256);
    await connected.approve(staking, ethers.MaxUint256);
  }
}

async function asMarketEnv(deployed: Awaited<ReturnType<typeof deploy>>, offerId: bigint, payment: unknown) {
  return {
    ...deployed,
    payment,
    marketAddress: await deployed.market.getAddress(),
    stakingAddress: await deployed.staking.getAddress(),
    offerId,
  } as unknown as MarketEnv;
}

describe("fee-on-transfer tokens are refused", function () {
  async function feePaymentFixture() {
    const token = (await (await ethers.getContractFactory("FeeOnTransferToken")).deploy()) as FeeOnTransferToken;
    const deployed = await deploy({ paymentToken: await token.getAddress() });
    await fund(token as never, deployed, 1_000_000n * MESH);
    await fund(deployed.stake as never, deployed, 1_000_000n * MESH);
    return { deployed, token };
  }

  it("as payment token: createJob reverts JobMarketTransferAmountMismatch", async function () {
    const { deployed, token } = await loadFixture(feePaymentFixture);
    const env = await asMarketEnv(deployed, 0n, token);
    await registerAndStake(env, deployed.actors.provider);
    const offerId = await createOffer(env, deployed.actors.provider, { pricePerGpuHour: 10n ** 18n });
    const [, , escrow] = await deployed.market.quote(offerId, 1, 3_600);
    await expect(deployed.market.connect(deployed.actors.client).createJob(offerId, 1, 3_600, 10n ** 18n, escrow, SPEC_HASH))
      .to.be.revertedWithCustomError(deployed.market, "JobMarketTransferAmountMismatch")
      .withArgs(escrow, escrow - escrow / 100n);
  });

  it("as stake token: stake reverts ProviderStakingTransferAmountMismatch", async function () {
    const token = (await (await ethers.getContractFactory("FeeOnTransferToken")).deploy()) as FeeOnTransferToken;
    const deployed = await deploy({ stakeToken: await token.getAddress() });
    await fund(token as never, deployed, 1_000_000n * MESH);
    const { staking, actors } = deployed;
    await staking.connect(actors.provider).register("ipfs://p");
    const amount = 500n * MESH;
    await expect(staking.connect(actors.provider).stake(amount))
      .to.be.revertedWithCustomError(staking, "ProviderStakingTransferAmountMismatch")
      .withArgs(amount, amount - amount / 100n);
    expect((await staking.account(actors.provider.address)).staked).to.equal(0n);
  });
});

describe("reentrancy through a token hook (ERC-777 style) fails and pays nothing twice", function () {
  async function reentrantFixture() {
    const token = (await (await ethers.getContractFactory("ReentrantToken")).deploy()) as ReentrantToken;
    const deployed = await deploy({ paymentToken: await token.getAddress() });
    await fund(token as never, deployed, 1_000_000n * UNIT);
    await fund(deployed.stake as never, deployed, 1_000_000n * MESH);
    const env0 = await asMarketEnv(deployed, 0n, token);
    await registerAndStake(env0, deployed.actors.provider);
    const offerId = await createOffer(env0, deployed.actors.provider);
    const env = await asMarketEnv(deployed, offerId, token);
    // Job 1 runs; job 2 is completed and past its dispute window, ready to settle.
    const { jobId: running, startedAt } = await runningJob(env, { gpus: 2, duration: 5_000 });
    const { jobId: completed } = await runningJob(env, { gpus: 2, duration: 5_000 });
    await time.increase(1_000);
    await deployed.market.connect(deployed.actors.provider).completeJob(completed, RESULT_HASH);
    await time.increase(DAY + 1);
    return { env, token, running, completed, startedAt };
  }

  const REENTRANT_SELECTOR = ethers.id("ReentrancyGuardReentrantCall()").slice(0, 10);

  it("the hook really calls the market: outside a market call, the same reentrant settle succeeds", async function () {
    const { env, token, completed } = await loadFixture(reentrantFixture);
    await token.arm(env.marketAddress, env.market.interface.encodeFunctionData("settleJob", [completed]));
    await token.connect(env.actors.stranger).transfer(env.actors.client2.address, 1n);
    expect(await token.lastCallSucceeded()).to.equal(true);
    expect((await env.market.getJob(completed)).state).to.equal(5n);
  });

  it("claim that reenters settleJob: the reentrant call reverts ReentrancyGuardReentrantCall, the claim pays once", async function () {
    const { env, token, running, completed } = await loadFixture(reentrantFixture);
    const { market, actors } = env;
    await token.arm(env.marketAddress, market.interface.encodeFunctionData("settleJob", [completed]));
    // Past its end: the claim streams up to the v2 claim cap (the collateral's worth), once.
    const claimable = await market.claimable(running);
    const tx = market.connect(actors.provider).claim(running);
    await expect(tx).to.emit(market, "JobClaimed");
    const claimed = (await market.getJob(running)).claimed;
    expect(claimed).to.equal(claimable);
    await expect(tx).to.changeTokenBalance(token, actors.provider, claimed);
    expect(await token.reentryAttempts()).to.equal(1n);
    expect(await token.lastCallSucceeded()).to.equal(false);
    expect(await token.lastRevertData()).to.equal(REENTRANT_SELECTOR);
    expect(market.interface.parseError(await token.lastRevertData())!.name).to.equal("ReentrancyGuardReentrantCall");
    expect((await market.getJob(completed)).state).to.equal(3n);
  });

  it("settleJob that reenters itself: both payouts try to reenter, both fail, each party is paid exactly once", async function () {
    const { env, token, completed } = await loadFixture(reentrantFixture);
    const { market, actors } = env;
    const before = await clientProviderLedger(env);
    const job = await market.getJob(completed);
    const earned = costUp(PRICE, 2, job.endedAt - job.startedAt);
    const fee = bpsUp(earned, 250);
    const { escrow } = await amountsOf(env, completed);
    await token.arm(env.marketAddress, market.interface.encodeFunctionData("settleJob", [completed]));
    await expect(market.connect(actors.stranger).settleJob(completed))
      .to.emit(market, "JobSettled")
      .withArgs(completed, earned, fee, escrow - earned - fee);
    expect(await token.reentryAttempts()).to.equal(2n); // provider payout, then client refund
    expect(await token.lastRevertData()).to.equal(REENTRANT_SELECTOR);
    // `before` was taken after both jobs were funded, so only this job's money moved.
    await expectMoneyIdentity(env, completed, before, { refund: escrow - earned - fee, providerPay: earned, fee });
    await token.arm(ethers.ZeroAddress, "0x");
    await expect(market.settleJob(completed))
      .to.be.revertedWithCustomError(market, "JobMarketInvalidState")
      .withArgs(completed, 5n);
  });

  it("a payout that reenters withdrawBalance or claim is refused by the guard", async function () {
    const { env, token, completed } = await loadFixture(reentrantFixture);
    const { market, actors } = env;
    const { jobId: running } = await runningJob(env, { gpus: 2, duration: 7 * DAY });
    for (const data of [
      market.interface.encodeFunctionData("withdrawBalance", [actors.stranger.address]),
      market.interface.encodeFunctionData("claim", [running]),
      market.interface.encodeFunctionData("withdrawFees"),
    ]) {
      await token.arm(env.marketAddress, data);
      const attemptsBefore = await token.reentryAttempts();
      await market.connect(actors.provider).claim(running);
      expect(await token.reentryAttempts()).to.equal(attemptsBefore + 1n);
      expect(await token.lastRevertData()).to.equal(REENTRANT_SELECTOR);
      await time.increase(60);
    }
    await token.arm(env.marketAddress, market.interface.encodeFunctionData("claim", [running]));
    await expect(market.connect(actors.stranger).settleJob(completed)).to.emit(market, "JobSettled");
    expect(await token.lastRevertData()).to.equal(REENTRANT_SELECTOR);
  });
});

describe("blocklisted accounts are credited, everyone else is still paid", function () {
  async function blocklistFixture() {
    const token = (await (await ethers.getContractFactory("BlocklistToken")).deploy()) as BlocklistToken;
    const address = await token.getAddress();
    // The same token for payment and stake: the protocol allows it, and both payout paths are exercised.
    const deployed = await deploy({ paymentToken: address, stakeToken: address });
    await fund(token as never, deployed, 1_000_000n * UNIT);
    const env0 = await asMarketEnv(deployed, 0n, token);
    await registerAndStake(env0, deployed.actors.provider, 1_000n * UNIT);
    const offerId = await createOffer(env0, deployed.actors.provider);
    return { env: await asMarketEnv(deployed, offerId, token), token };
  }

  it("a blocklisted client: the provider is paid, the refund is credited, and withdrawn to another address", async function () {
    const { env, token } = await loadFixture(blocklistFixture);
    const { market, actors } = env;
    const { client, client2, provider } = actors;
    const { jobId, startedAt } = await runningJob(env, { gpus: 2, duration: 5_000 });
    const before = await clientProviderLedger(env);
    await token.setBlocked(client.address, true);
    await time.setNextBlockTimestamp(startedAt + 2_000n);
    await market.connect(provider).completeJob(jobId, RESULT_HASH);
    await time.increase(DAY + 1);
    const earned = costUp(PRICE, 2, 2_000);
    const fee = bpsUp(earned, 250);
    const refund = (await amountsOf(env, jobId)).escrow - earned - fee;
    const tx = market.settleJob(jobId);
    await expect(tx).to.emit(market, "PayoutCredited").withArgs(client.address, refund);
    await expect(tx).to.changeTokenBalances(token, [provider, client], [earned, 0n]);
    expect(await market.balanceOf(client.address)).to.equal(refund);
    await expectMoneyIdentity(env, jobId, before, { refund, providerPay: earned, fee });

    await expect(market.connect(client).withdrawBalance(client.address))
      .to.be.revertedWithCustomError(token, "BlocklistTokenBlocked")
      .withArgs(client.address);
    expect(await market.balanceOf(client.address)).to.equal(refund);
    const withdrawal = market.connect(client).withdrawBalance(client2.address);
    await expect(withdrawal).to.emit(market, "BalanceWithdrawn").withArgs(client.address, client2.address, refund);
    await expect(withdrawal).to.changeTokenBalances(token, [client2, market], [refund, -refund]);
    expect(await market.balanceOf(client.address)).to.equal(0n);
  });

  it("a blocklisted provider: claims, cancel fees and settlement pay are credited; the client is refunded", async function () {
    const { env, token } = await loadFixture(blocklistFixture);
    const { market, actors } = env;
    const { client, client2, provider, provider2 } = actors;
    const cancelled = await createJob(env, client2, { gpus: 1, duration: 5_000 });
    const { jobId, startedAt } = await runningJob(env, { gpus: 2, duration: 5_000 });
    await token.setBlocked(provider.address, true);

    const cancelFee = bpsDown(costUp(PRICE, 1, 5_000), 200);
    const cancel = market.connect(client2).cancelJob(cancelled);
    await expect(cancel).to.emit(market, "PayoutCredited").withArgs(provider.address, cancelFee);
    await expect(cancel).to.changeTokenBalance(token, client2, (await amountsOf(env, cancelled)).escrow - cancelFee);
    const before = await clientProviderLedger(env);

    await time.setNextBlockTimestamp(startedAt + 1_000n);
    const claimedNow = costUp(PRICE, 2, 1_000);
    await expect(market.connect(provider).claim(jobId)).to.emit(market, "PayoutCredited").withArgs(provider.address, claimedNow);
    await time.setNextBlockTimestamp(startedAt + 3_000n);
    await market.connect(provider).completeJob(jobId, RESULT_HASH);
    await time.increase(DAY + 1);
    const earned = costUp(PRICE, 2, 3_000);
    const fee = bpsUp(earned, 250);
    const refund = (await amountsOf(env, jobId)).escrow - earned - fee;
    const settle = market.settleJob(jobId);
    await expect(settle).to.emit(market, "PayoutCredited").withArgs(provider.address, earned - claimedNow);
    await expect(settle).to.changeTokenBalance(token, client, refund);
    // The provider's ledger counts its credits (claim + settlement), as if it had received them.
    await expectMoneyIdentity(env, jobId, before, { refund, providerPay: earned, fee });
    const credited = cancelFee + earned;
    expect(await market.balanceOf(provider.address)).to.equal(credited);
    await expect(market.connect(provider).withdrawBalance(provider2.address))
      .to.emit(market, "BalanceWithdrawn")
      .withArgs(provider.address, provider2.address, credited);
  });

  it("slash payouts to a blocklisted client are credited in staking and withdrawn with withdrawCredit, even while paused", async function () {
    const { env, token } = await loadFixture(blocklistFixture);
    const { market, staking, actors } = env;
    const { client, client2, provider, treasury } = actors;
    const jobId = await createJob(env, client, { gpus: 2, duration: 5_000 });
    await token.setBlocked(client.address, true);
    await time.increase(HOUR);
    const cost = costUp(PRICE, 2, 5_000);
    const slash = bpsDown(cost, 100);
    const { escrow } = await amountsOf(env, jobId);
    const tx = market.connect(actors.stranger).expireJob(jobId);
    await expect(tx)
      .to.emit(staking, "Slashed")
      .withArgs(provider.address, jobId, client.address, slash, treasury.address, 0n, 1_000n * UNIT - slash);
    await expect(tx).to.emit(staking, "PayoutCredited").withArgs(client.address, slash);
    await expect(tx).to.emit(market, "PayoutCredited").withArgs(client.address, escrow);
    expect(await staking.credit(client.address)).to.equal(slash);

    await market.pause();
    await staking.pause();
    await expect(staking.connect(client).withdrawCredit(client2.address))
      .to.emit(staking, "CreditWithdrawn")
      .withArgs(client.address, client2.address, slash);
    await expect(market.connect(client).withdrawBalance(client2.address))
      .to.emit(market, "BalanceWithdrawn")
      .withArgs(client.address, client2.address, escrow);
    expect(await token.balanceOf(client2.address)).to.equal(1_000_000n * UNIT + slash + escrow);
  });

  it("a blocklisted treasury: the slash share above the job's cost is credited to it", async function () {
    const { env, token } = await loadFixture(blocklistFixture);
    const { market, staking, actors } = env;
    const { client, provider, treasury } = actors;
    await market.setParameter(2, 30_000); // collateral 3x cost
    const { jobId } = await runningJob(env, { gpus: 2, duration: 5_000 });
    await market.connect(client).disputeJob(jobId, REASON_HASH);
    await token.setBlocked(treasury.address, true);
    const cost = costUp(PRICE, 2, 5_000);
    const collateral = bpsUp(cost, 30_000);
    const { bond } = await market.getDispute(jobId);
    expect(bond).to.equal(bpsUp(cost, 500));
    const tx = market.resolveDispute(jobId, 0, collateral);
    await expect(tx)
      .to.emit(staking, "Slashed")
      .withArgs(provider.address, jobId, client.address, cost, treasury.address, collateral - cost, 1_000n * UNIT - collateral);
    await expect(tx).to.emit(staking, "PayoutCredited").withArgs(treasury.address, collateral - cost);
    // The client gets the slash up to the cost, its whole escrow back (nothing earned) and its bond (v2).
    await expect(tx).to.changeTokenBalance(token, client, cost + (await amountsOf(env, jobId)).escrow + bond);
  });
});

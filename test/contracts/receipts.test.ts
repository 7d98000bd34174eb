import { expect } from "chai";
import { ethers } from "hardhat";
import { loadFixture, time } from "@nomicfoundation/hardhat-toolbox/network-helpers";
import { RECEIPT_DOMAIN, USAGE_RECEIPT_TYPES } from "../../src/protocol";
import {
  HOUR,
  JobState,
  PRICE,
  Parameter,
  REASON_HASH,
  RESULT_HASH,
  STAKE_PER_PAYMENT_UNIT,
  amountsOf,
  bpsUp,
  clientProviderLedger,
  costUp,
  createJob,
  expectMoneyIdentity,
  marketFixture,
  receiptDomain,
  runningJob,
  signReceipt,
} from "./helpers";

const GPUS = 2;
const DURATION = 5_000;
const COST = costUp(PRICE, GPUS, DURATION);
/** Unreceipted claims stop at the collateral's worth (v2). */
const CLAIM_CAP = bpsUp(COST, 5_000);
const pay = (seconds: number | bigint) => costUp(PRICE, GPUS, seconds);

describe("claimWithReceipt: pay the client acknowledged is final (v2)", function () {
  it("signs EIP-712 UsageReceipt(jobId, servedUntil) in the domain {GPU Mesh JobMarket, 2, chainId, market}", async function () {
    const env = await loadFixture(marketFixture);
    const { market } = env;
    const domain = await receiptDomain(env);
    expect(domain).to.deep.include({ name: "GPU Mesh JobMarket", version: "2" });
    const [, name, version, chainId, verifyingContract] = await market.eip712Domain();
    expect([name, version, chainId, verifyingContract]).to.deep.equal([
      RECEIPT_DOMAIN.name,
      RECEIPT_DOMAIN.version,
      domain.chainId,
      env.marketAddress,
    ]);
    const types = { UsageReceipt: USAGE_RECEIPT_TYPES.UsageReceipt.map((field) => ({ ...field })) };
    expect(await market.USAGE_RECEIPT_TYPEHASH()).to.equal(ethers.id("UsageReceipt(uint256 jobId,uint64 servedUntil)"));
    expect(await market.receiptDigest(7n, 1_234n)).to.equal(
      ethers.TypedDataEncoder.hash(domain, types, { jobId: 7n, servedUntil: 1_234n }),
    );
  });

  it("pays up to servedUntil with the client's EOA signature, beyond the claim cap; later plain claims stream on from there", async function () {
    const env = await loadFixture(marketFixture);
    const { market, payment, actors } = env;
    const { jobId, startedAt } = await runningJob(env, { gpus: GPUS, duration: DURATION });
    const servedUntil = startedAt + 4_000n;
    expect(pay(4_000)).to.be.greaterThan(CLAIM_CAP);
    const signature = await signReceipt(env, actors.client, jobId, servedUntil);
    await time.setNextBlockTimestamp(servedUntil);
    const tx = market.connect(actors.provider).claimWithReceipt(jobId, servedUntil, signature);
    await expect(tx).to.emit(market, "JobClaimed").withArgs(jobId, pay(4_000), pay(4_000), servedUntil);
    await expect(tx).to.changeTokenBalance(payment, actors.provider, pay(4_000));
    const job = await market.getJob(jobId);
    expect([job.claimed, job.receiptedSeconds]).to.deep.equal([pay(4_000), 4_000n]);
    await time.setNextBlockTimestamp(startedAt + 4_500n);
    await expect(market.connect(actors.provider).claim(jobId))
      .to.emit(market, "JobClaimed")
      .withArgs(jobId, pay(4_500) - pay(4_000), pay(4_500), servedUntil);
  });

  it("a receipt for time that has not passed yet counts only up to now", async function () {
    const env = await loadFixture(marketFixture);
    const { market, actors } = env;
    const { jobId, startedAt } = await runningJob(env, { gpus: GPUS, duration: DURATION });
    const future = startedAt + 1_000_000n;
    const signature = await signReceipt(env, actors.client, jobId, future);
    await time.setNextBlockTimestamp(startedAt + 1_000n);
    await expect(market.connect(actors.provider).claimWithReceipt(jobId, future, signature))
      .to.emit(market, "JobClaimed")
      .withArgs(jobId, pay(1_000), pay(1_000), startedAt + 1_000n);
    expect((await market.getJob(jobId)).receiptedSeconds).to.equal(1_000n);
  });

  it("refuses a signature that is not the client's for this job and time: JobMarketInvalidReceipt(jobId, client)", async function () {
    const env = await loadFixture(marketFixture);
    const { market, actors } = env;
    const { client, provider, stranger } = actors;
    const { jobId, startedAt } = await runningJob(env, { gpus: GPUS, duration: DURATION });
    const { jobId: otherJob } = await runningJob(env, { gpus: 1 });
    const servedUntil = startedAt + 100n;
    const forgeries = [
      await signReceipt(env, provider, jobId, servedUntil),
      await signReceipt(env, stranger, jobId, servedUntil),
      await signReceipt(env, client, otherJob, servedUntil),
      await signReceipt(env, client, jobId, servedUntil + 1n),
      "0x",
    ];
    await time.increase(1_000);
    for (const signature of forgeries) {
      await expect(market.connect(provider).claimWithReceipt(jobId, servedUntil, signature))
        .to.be.revertedWithCustomError(market, "JobMarketInvalidReceipt")
        .withArgs(jobId, client.address);
    }
  });

  it("a contract client is checked through ERC-1271: one without isValidSignature is refused", async function () {
    const env = await loadFixture(marketFixture);
    const { market, actors, offerId } = env;
    // Any contract will do as a client that cannot sign: here the stake token.
    const contractClient = await env.stake.getAddress();
    const jobId = await market.nextJobId();
    await market.connect(actors.sponsor).createJobFor(contractClient, offerId, 1, 3_600, PRICE, ethers.MaxUint256, REASON_HASH);
    await market.connect(actors.provider).acceptJob(jobId);
    await time.increase(600);
    const signature = await signReceipt(env, actors.sponsor, jobId, 600n);
    await expect(market.connect(actors.provider).claimWithReceipt(jobId, 600n, signature))
      .to.be.revertedWithCustomError(market, "JobMarketInvalidReceipt")
      .withArgs(jobId, ethers.getAddress(contractClient));
  });

  it("a contract-wallet client's ERC-1271 receipt pays; its owner's signature is what the wallet accepts", async function () {
    const env = await loadFixture(marketFixture);
    const { market, actors, offerId, payment } = env;
    const wallet = await (await ethers.getContractFactory("ContractWallet")).deploy(actors.client.address);
    const walletAddress = await wallet.getAddress();
    const jobId = await market.nextJobId();
    await market.connect(actors.sponsor).createJobFor(walletAddress, offerId, 1, 3_600, PRICE, ethers.MaxUint256, REASON_HASH);
    await market.connect(actors.provider).acceptJob(jobId);
    const startedAt = (await market.getJob(jobId)).startedAt;
    const servedUntil = startedAt + 600n;
    await time.setNextBlockTimestamp(servedUntil);
    const byStranger = await signReceipt(env, actors.stranger, jobId, servedUntil);
    await expect(market.connect(actors.provider).claimWithReceipt(jobId, servedUntil, byStranger))
      .to.be.revertedWithCustomError(market, "JobMarketInvalidReceipt")
      .withArgs(jobId, walletAddress);
    const byOwner = await signReceipt(env, actors.client, jobId, servedUntil);
    // While the job runs, a receipted claim streams to now (capped at receipted pay + collateral): 601 s here.
    await time.setNextBlockTimestamp(servedUntil + 1n);
    const expected = costUp((await market.getJob(jobId)).pricePerGpuHour, 1, 601);
    const tx = market.connect(actors.provider).claimWithReceipt(jobId, servedUntil, byOwner);
    await expect(tx).to.emit(market, "JobClaimed").withArgs(jobId, expected, expected, servedUntil);
    await expect(tx).to.changeTokenBalance(payment, actors.provider, expected);
    expect((await market.getJob(jobId)).receiptedSeconds).to.equal(600n);
  });

  it("after completion: pays receipted time up to the job's end, never past it; the same receipt twice pays nothing", async function () {
    const env = await loadFixture(marketFixture);
    const { market, actors } = env;
    const { client, provider } = actors;
    const { jobId, startedAt } = await runningJob(env, { gpus: GPUS, duration: DURATION });
    const before = await clientProviderLedger(env);
    await time.setNextBlockTimestamp(startedAt + 1_000n);
    await market.connect(provider).claim(jobId);
    await time.setNextBlockTimestamp(startedAt + 2_000n);
    await market.connect(provider).completeJob(jobId, RESULT_HASH);
    const servedUntil = startedAt + 4_000n;
    const signature = await signReceipt(env, client, jobId, servedUntil);
    await time.increase(HOUR);
    await expect(market.connect(provider).claimWithReceipt(jobId, servedUntil, signature))
      .to.emit(market, "JobClaimed")
      .withArgs(jobId, pay(2_000) - pay(1_000), pay(2_000), startedAt + 2_000n);
    await expect(market.connect(provider).claimWithReceipt(jobId, servedUntil, signature))
      .to.be.revertedWithCustomError(market, "JobMarketNothingToClaim")
      .withArgs(jobId);
    await time.increase(24 * HOUR);
    const fee = bpsUp(pay(2_000), 250);
    const { escrow } = await amountsOf(env, jobId);
    await expect(market.settleJob(jobId)).to.emit(market, "JobSettled").withArgs(jobId, 0n, fee, escrow - pay(2_000) - fee);
    await expectMoneyIdentity(env, jobId, before, { refund: escrow - pay(2_000) - fee, providerPay: pay(2_000), fee });
  });

  it("during a dispute: receipted time survives a ruling of 0; only unreceipted streamed pay is taken back", async function () {
    const env = await loadFixture(marketFixture);
    const { market, staking, actors } = env;
    const { client, provider } = actors;
    const { jobId, startedAt } = await runningJob(env, { gpus: GPUS, duration: DURATION });
    const before = await clientProviderLedger(env);
    const receiptAt = startedAt + 1_000n;
    const signature = await signReceipt(env, client, jobId, receiptAt);
    await time.setNextBlockTimestamp(startedAt + 2_000n);
    await market.connect(provider).claim(jobId);
    await time.setNextBlockTimestamp(startedAt + 3_000n);
    await market.connect(client).disputeJob(jobId, REASON_HASH);
    const { bond } = await market.getDispute(jobId);
    // Recorded although it pays nothing new: it makes the first 1,000 seconds final.
    await expect(market.connect(provider).claimWithReceipt(jobId, receiptAt, signature))
      .to.emit(market, "JobClaimed")
      .withArgs(jobId, 0n, pay(2_000), receiptAt);
    const clawback = (pay(2_000) - pay(1_000)) * STAKE_PER_PAYMENT_UNIT;
    const fee = bpsUp(pay(1_000), 250);
    const { escrow } = await amountsOf(env, jobId);
    const tx = market.resolveDispute(jobId, 0, 0n);
    await expect(tx).to.emit(market, "JobResolved").withArgs(jobId, 0, pay(1_000), 0n, fee, escrow - pay(2_000) - fee, clawback, false);
    await expect(tx).to.emit(staking, "Slashed").withArgs(provider.address, jobId, client.address, clawback,
      actors.treasury.address, 0n, 1_000n * 10n ** 18n - clawback);
    await expectMoneyIdentity(env, jobId, before, { refund: escrow - pay(2_000) - fee, providerPay: pay(2_000), fee, bond });
  });

  it("a receipt claimed during a dispute pays up to the stopped clock and is final against the ruling", async function () {
    const env = await loadFixture(marketFixture);
    const { market, staking, actors } = env;
    const { client, provider } = actors;
    const { jobId, startedAt } = await runningJob(env, { gpus: GPUS, duration: DURATION });
    await time.setNextBlockTimestamp(startedAt + 2_000n);
    await market.connect(provider).claim(jobId);
    await time.setNextBlockTimestamp(startedAt + 3_000n);
    await market.connect(client).disputeJob(jobId, REASON_HASH);
    // The client acknowledges service until 4,000 s, but the clock stopped at 3,000 s.
    const signature = await signReceipt(env, client, jobId, startedAt + 4_000n);
    await expect(market.connect(provider).claimWithReceipt(jobId, startedAt + 4_000n, signature))
      .to.emit(market, "JobClaimed")
      .withArgs(jobId, pay(3_000) - pay(2_000), pay(3_000), startedAt + 3_000n);
    const fee = bpsUp(pay(3_000), 250);
    const { escrow } = await amountsOf(env, jobId);
    const tx = market.resolveDispute(jobId, 0, 0n);
    await expect(tx).to.emit(market, "JobResolved").withArgs(jobId, 0, pay(3_000), 0n, fee, escrow - pay(3_000) - fee, 0n, false);
    await expect(tx).not.to.emit(staking, "Slashed");
  });

  it("an older receipt never lowers what was receipted", async function () {
    const env = await loadFixture(marketFixture);
    const { market, actors } = env;
    const { client, provider } = actors;
    const { jobId, startedAt } = await runningJob(env, { gpus: GPUS, duration: DURATION });
    const late = await signReceipt(env, client, jobId, startedAt + 2_000n);
    const early = await signReceipt(env, client, jobId, startedAt + 1_000n);
    await time.setNextBlockTimestamp(startedAt + 2_000n);
    await market.connect(provider).claimWithReceipt(jobId, startedAt + 2_000n, late);
    await market.connect(provider).completeJob(jobId, RESULT_HASH);
    await expect(market.connect(provider).claimWithReceipt(jobId, startedAt + 1_000n, early))
      .to.be.revertedWithCustomError(market, "JobMarketNothingToClaim")
      .withArgs(jobId);
    expect((await market.getJob(jobId)).receiptedSeconds).to.equal(2_000n);
  });

  it("only the provider claims, only while Running, Completed or Disputed", async function () {
    const env = await loadFixture(marketFixture);
    const { market, actors } = env;
    const { client, provider } = actors;
    const created = await createJob(env, client);
    await expect(market.connect(provider).claimWithReceipt(created, 1n, await signReceipt(env, client, created, 1n)))
      .to.be.revertedWithCustomError(market, "JobMarketInvalidState")
      .withArgs(created, JobState.Created);
    await expect(market.connect(provider).claimWithReceipt(99n, 1n, "0x"))
      .to.be.revertedWithCustomError(market, "JobMarketUnknownJob")
      .withArgs(99n);
    const { jobId, startedAt } = await runningJob(env, { gpus: GPUS, duration: DURATION });
    const signature = await signReceipt(env, client, jobId, startedAt + 100n);
    await time.increase(200);
    await expect(market.connect(client).claimWithReceipt(jobId, startedAt + 100n, signature))
      .to.be.revertedWithCustomError(market, "JobMarketNotProvider")
      .withArgs(jobId, client.address);
    await market.connect(provider).completeJob(jobId, RESULT_HASH);
    await time.increase(25 * HOUR);
    await market.settleJob(jobId);
    await expect(market.connect(provider).claimWithReceipt(jobId, startedAt + 100n, signature))
      .to.be.revertedWithCustomError(market, "JobMarketInvalidState")
      .withArgs(jobId, JobState.Settled);
  });
});

describe("claim cap: unreceipted pay stops at what the collateral can take back (v2)", function () {
  it("claimable and claim stop at receipted pay + the collateral's worth; then JobMarketNothingToClaim until a receipt lifts it", async function () {
    const env = await loadFixture(marketFixture);
    const { market, actors } = env;
    const { client, provider } = actors;
    const { jobId, startedAt } = await runningJob(env, { gpus: GPUS, duration: DURATION });
    await time.setNextBlockTimestamp(startedAt + 4_000n);
    await expect(market.connect(provider).claim(jobId)).to.emit(market, "JobClaimed").withArgs(jobId, CLAIM_CAP, CLAIM_CAP, 0n);
    await time.increase(100);
    expect(await market.claimable(jobId)).to.equal(CLAIM_CAP);
    await expect(market.connect(provider).claim(jobId))
      .to.be.revertedWithCustomError(market, "JobMarketNothingToClaim")
      .withArgs(jobId);
    // A receipt for the first 1,000 s raises the cap by their pay.
    const signature = await signReceipt(env, client, jobId, startedAt + 1_000n);
    await expect(market.connect(provider).claimWithReceipt(jobId, startedAt + 1_000n, signature))
      .to.emit(market, "JobClaimed")
      .withArgs(jobId, pay(1_000), CLAIM_CAP + pay(1_000), startedAt + 1_000n);
    expect(await market.claimable(jobId)).to.equal(CLAIM_CAP + pay(1_000));
  });

  it("with collateralBps 0 nothing streams without a receipt", async function () {
    const env = await loadFixture(marketFixture);
    const { market, actors } = env;
    await market.setParameter(Parameter.CollateralBps, 0);
    const { jobId, startedAt } = await runningJob(env, { gpus: GPUS, duration: DURATION });
    await time.setNextBlockTimestamp(startedAt + 1_000n);
    await expect(market.connect(actors.provider).claim(jobId))
      .to.be.revertedWithCustomError(market, "JobMarketNothingToClaim")
      .withArgs(jobId);
    expect(await market.claimable(jobId)).to.equal(0n);
    const signature = await signReceipt(env, actors.client, jobId, startedAt + 1_000n);
    await expect(market.connect(actors.provider).claimWithReceipt(jobId, startedAt + 1_000n, signature))
      .to.emit(market, "JobClaimed")
      .withArgs(jobId, pay(1_000), pay(1_000), startedAt + 1_000n);
  });

  it("claimable of a job that is not running is what was claimed", async function () {
    const env = await loadFixture(marketFixture);
    const { market, actors } = env;
    const { jobId, startedAt } = await runningJob(env, { gpus: GPUS, duration: DURATION });
    await time.setNextBlockTimestamp(startedAt + 1_000n);
    await market.connect(actors.provider).claim(jobId);
    await market.connect(actors.provider).completeJob(jobId, RESULT_HASH);
    await time.increase(1_000);
    expect(await market.claimable(jobId)).to.equal(pay(1_000));
  });
});

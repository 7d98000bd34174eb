import { expect } from "chai";
import { ethers } from "hardhat";
import { loadFixture, time } from "@nomicfoundation/hardhat-toolbox/network-helpers";
import {
  A100,
  MESH,
  PRICE,
  SPEC_HASH,
  bpsUp,
  costUp,
  createJob,
  deployedFixture,
  marketFixture,
  offerParams,
  region,
  registerAndStake,
  signPermit,
} from "./helpers";

describe("Multicall: several calls in one transaction", function () {
  it("lists several offers at once", async function () {
    const env = await loadFixture(deployedFixture);
    const { market, actors } = env;
    await registerAndStake(env, actors.provider);
    const calls = [
      market.interface.encodeFunctionData("createOffer", [await offerParams({ gpus: 8 })]),
      market.interface.encodeFunctionData("createOffer", [await offerParams({ gpuModel: A100, gpus: 4 })]),
      market.interface.encodeFunctionData("createOffer", [await offerParams({ region: region("us-west"), gpus: 2 })]),
    ];
    const results = await market.connect(actors.provider).multicall.staticCall(calls);
    expect(results.map((r) => market.interface.decodeFunctionResult("createOffer", r)[0])).to.deep.equal([1n, 2n, 3n]);
    const tx = market.connect(actors.provider).multicall(calls);
    await expect(tx).to.emit(market, "OfferCreated").withArgs(3n, actors.provider.address, (v: string) => v.length === 66,
      2, PRICE, 600, 7 * 24 * 3600, region("us-west"), 120, 6_500, (v: bigint) => v > 0n);
    const receipt = await (await tx).wait();
    expect(receipt!.logs.filter((log) => log.topics[0] === market.interface.getEvent("OfferCreated").topicHash)).to.have.length(3);
    expect(await market.nextOfferId()).to.equal(4n);
  });

  it("permit + two createJob calls: a sponsor without any approval funds two jobs in one transaction", async function () {
    const env = await loadFixture(marketFixture);
    const { market, payment, actors, offerId, marketAddress } = env;
    const { sponsor, client, client2 } = actors;
    await payment.connect(sponsor).approve(marketAddress, 0n);
    const cost = costUp(PRICE, 2, 3_600);
    const escrow = cost + bpsUp(cost, 250);
    const permit = await signPermit(payment, sponsor, marketAddress, 2n * escrow, BigInt(await time.latest()) + 600n);
    const calls = [
      market.interface.encodeFunctionData("createJobWithPermit", [client.address, offerId, 2, 3_600, PRICE, escrow, SPEC_HASH, permit]),
      market.interface.encodeFunctionData("createJobFor", [client2.address, offerId, 2, 3_600, PRICE, escrow, SPEC_HASH]),
    ];
    const tx = market.connect(sponsor).multicall(calls);
    await expect(tx).to.changeTokenBalances(payment, [sponsor, market], [-2n * escrow, 2n * escrow]);
    await expect(tx)
      .to.emit(market, "JobCreated")
      .withArgs(2n, offerId, client2.address, actors.provider.address, sponsor.address, 2, PRICE, 3_600, cost, escrow,
        (v: bigint) => v > 0n, SPEC_HASH, bpsUp(cost, 5_000) * 10n ** 12n);
    expect((await market.getJob(1n)).client).to.equal(client.address);
    expect(await payment.allowance(sponsor.address, marketAddress)).to.equal(0n);
    expect((await market.getOffer(offerId)).gpusLeased).to.equal(4n);
  });

  it("a provider accepts several jobs at once", async function () {
    const env = await loadFixture(marketFixture);
    const { market, actors } = env;
    const first = await createJob(env, actors.client);
    const second = await createJob(env, actors.client2);
    const calls = [first, second].map((id) => market.interface.encodeFunctionData("acceptJob", [id]));
    const tx = market.connect(actors.provider).multicall(calls);
    await expect(tx).to.emit(market, "JobAccepted").withArgs(first, actors.provider.address, (v: bigint) => v > 0n);
    await expect(tx).to.emit(market, "JobAccepted").withArgs(second, actors.provider.address, (v: bigint) => v > 0n);
  });

  it("register + stakeWithPermit in one transaction on staking", async function () {
    const env = await loadFixture(deployedFixture);
    const { staking, stake, actors, stakingAddress } = env;
    const { provider2 } = actors;
    await stake.connect(provider2).approve(stakingAddress, 0n);
    const permit = await signPermit(stake, provider2, stakingAddress, 500n * MESH, BigInt(await time.latest()) + 600n);
    const tx = staking.connect(provider2).multicall([
      staking.interface.encodeFunctionData("register", ["ipfs://provider2"]),
      staking.interface.encodeFunctionData("stakeWithPermit", [500n * MESH, permit]),
    ]);
    await expect(tx).to.emit(staking, "ProviderRegistered").withArgs(provider2.address, "ipfs://provider2");
    await expect(tx).to.emit(staking, "Staked").withArgs(provider2.address, 500n * MESH, 500n * MESH);
  });

  it("is atomic: one failing call reverts the batch with its own error", async function () {
    const env = await loadFixture(marketFixture);
    const { market, actors } = env;
    const before = await market.nextOfferId();
    const calls = [
      market.interface.encodeFunctionData("createOffer", [await offerParams()]),
      market.interface.encodeFunctionData("createOffer", [await offerParams({ region: region("EU") })]),
    ];
    await expect(market.connect(actors.provider).multicall(calls))
      .to.be.revertedWithCustomError(market, "JobMarketInvalidRegion")
      .withArgs(region("EU"));
    expect(await market.nextOfferId()).to.equal(before);
  });

  it("keeps the caller: a batch cannot borrow a role", async function () {
    const { market, actors } = await loadFixture(deployedFixture);
    await expect(
      market.connect(actors.stranger).multicall([market.interface.encodeFunctionData("setParameter", [0, 0])]),
    )
      .to.be.revertedWithCustomError(market, "AccessControlUnauthorizedAccount")
      .withArgs(actors.stranger.address, ethers.ZeroHash);
  });
});

// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IJobMarket} from "../../contracts/interfaces/IJobMarket.sol";
import {Job, JobState} from "../../contracts/types/Job.sol";
import {OfferParams} from "../../contracts/types/Offer.sol";
import {JobMath} from "../../contracts/libraries/JobMath.sol";
import {DevStablecoin} from "../../contracts/dev/DevStablecoin.sol";
import {DevStakeToken} from "../../contracts/dev/DevStakeToken.sol";
import {GpuMeshFixture} from "./utils/GpuMeshFixture.sol";

/// @notice One job through the deployed contracts with the dev tokens, for random prices, sizes, durations, fee
///         rates and timings: every way a job can end pays out exactly its escrow, with the cost rounded up.
contract JobMarketFuzzTest is GpuMeshFixture {
    DevStablecoin internal paymentToken;
    DevStakeToken internal stakeToken;
    address internal provider;
    address internal client;

    /// @dev How a fuzzed job ends.
    enum Ending {
        Complete,
        EndEarly,
        DisputeWhileRunning,
        DisputeAfterCompletion,
        Reclaim
    }

    struct Run {
        uint256 jobId;
        uint256 cost;
        uint256 escrow;
        uint256 clientStart;
        uint256 claimed;
        uint256 earned;
        uint256 awarded;
    }

    function setUp() public {
        paymentToken = new DevStablecoin();
        stakeToken = new DevStakeToken();
        deployGpuMesh(IERC20(address(paymentToken)), IERC20(address(stakeToken)), defaultParameters());
        provider = makeAddr("provider");
        client = makeAddr("client");
        stakeToken.mint(provider, 1e36);
        vm.startPrank(provider);
        staking.register("https://provider.example/gpumesh.json");
        stakeToken.approve(address(staking), type(uint256).max);
        staking.stake(1e36);
        vm.stopPrank();
        vm.prank(client);
        paymentToken.approve(address(market), type(uint256).max);
    }

    /// @notice createJob pulls exactly cost + fee, cost rounded up; then however the job ends, client refund +
    ///         provider pay + protocol fee == escrow, and a second payout of any kind reverts.
    function testFuzz_everyEndingPaysOutEscrowExactly(
        uint256 price,
        uint256 gpus,
        uint256 duration,
        uint256 feeBps,
        uint256 claimAfter,
        uint256 endAfter,
        uint256 ending,
        uint256 shareBps
    ) public {
        vm.prank(governance);
        market.setParameter(IJobMarket.Parameter.ProtocolFeeBps, bound(feeBps, 0, 1_000));
        Run memory run = _createAndAccept(price, gpus, duration);
        Job memory job = market.getJob(run.jobId);

        // Streamed pay part-way through (or past the end).
        vm.warp(block.timestamp + bound(claimAfter, 0, uint256(job.duration) * 2));
        if (market.earned(run.jobId) != 0) {
            vm.prank(provider);
            run.claimed = market.claim(run.jobId);
        }
        vm.warp(block.timestamp + bound(endAfter, 0, job.duration));
        _end(run, Ending(bound(ending, 0, 4)), uint16(bound(shareBps, 0, 10_000)));

        job = market.getJob(run.jobId);
        uint256 fee = market.feesAccrued();
        uint256 refund = paymentToken.balanceOf(client) + run.escrow - run.clientStart;
        uint256 providerPay = paymentToken.balanceOf(provider);
        assertEq(refund + providerPay + fee, run.escrow, "refund + pay + fee != escrow");
        assertEq(providerPay, run.awarded, "provider pay != award");
        assertEq(fee, JobMath.bpsUp(run.awarded, job.protocolFeeBps), "fee != fee on award rounded up");
        assertEq(paymentToken.balanceOf(address(market)), fee, "market keeps more than the fee");
        assertEq(staking.account(provider).locked, 0, "collateral still locked");
        _assertNoSecondPayout(run.jobId);

        if (fee != 0) market.withdrawFees();
        assertEq(paymentToken.balanceOf(address(market)), 0, "market keeps money after the job");
        assertEq(paymentToken.balanceOf(treasury), fee, "treasury did not get the fee");
    }

    /// @notice Cancelling before acceptance costs at most the bounded cancel fee; the rest comes back exactly.
    function testFuzz_cancelRefundsAllButTheCancelFee(uint256 price, uint256 gpus, uint256 duration, uint256 cancelBps)
        public
    {
        vm.prank(governance);
        market.setParameter(IJobMarket.Parameter.CancelFeeBps, bound(cancelBps, 0, 500));
        Run memory run = _create(price, gpus, duration);
        vm.prank(client);
        market.cancelJob(run.jobId);
        uint256 cancelFee = paymentToken.balanceOf(provider);
        assertEq(cancelFee, JobMath.bpsDown(run.cost, market.getJob(run.jobId).cancelFeeBps), "cancel fee off its rate");
        assertLe(cancelFee * 20, run.cost, "cancel fee above 5 % of cost");
        assertEq(paymentToken.balanceOf(client), run.clientStart - cancelFee, "client lost more than the cancel fee");
        assertEq(paymentToken.balanceOf(address(market)), 0, "market kept money");
        _assertNoSecondPayout(run.jobId);
    }

    /// @notice An ignored job comes back in full after the accept window; the provider loses at most 10 % of cost.
    function testFuzz_expiryRefundsInFull(uint256 price, uint256 gpus, uint256 duration, uint256 lateBy) public {
        Run memory run = _create(price, gpus, duration);
        uint256 stakeBefore = staking.account(provider).staked;
        vm.warp(market.getJob(run.jobId).acceptDeadline + bound(lateBy, 1, 30 days));
        market.expireJob(run.jobId);
        uint256 slashed = stakeBefore - staking.account(provider).staked;
        assertEq(paymentToken.balanceOf(client), run.clientStart, "client not refunded in full");
        assertEq(slashed, JobMath.bpsDown(run.cost, 100) * STAKE_PER_PAYMENT_UNIT, "expiry slash off its rate");
        assertEq(stakeToken.balanceOf(client), slashed, "slash did not go to the client");
        _assertNoSecondPayout(run.jobId);
    }

    /// @notice A reprice racing the client's transaction reverts instead of charging more than the client's maximum.
    function testFuzz_repriceAboveMaxReverts(uint256 price, uint256 newPrice) public {
        price = bound(price, 1, 1e12);
        newPrice = bound(newPrice, price + 1, type(uint96).max);
        uint256 offerId = _offer(price, 8, 1 hours, 1 days);
        vm.prank(provider);
        market.updateOffer(offerId, 8, uint96(newPrice), uint32(block.timestamp + 1 days));
        vm.expectRevert(abi.encodeWithSelector(IJobMarket.JobMarketPriceAboveMax.selector, newPrice, price));
        vm.prank(client);
        market.createJob(offerId, 1, 1 hours, price, bytes32(0));
    }

    // ------------------------------------------------------------------ helpers
    function _offer(uint256 price, uint256 gpus, uint256 minDuration, uint256 maxDuration)
        internal
        returns (uint256 offerId)
    {
        vm.prank(provider);
        offerId = market.createOffer(
            OfferParams({
                gpuModel: h100,
                gpus: uint32(gpus),
                pricePerGpuHour: uint96(price),
                minDuration: uint32(minDuration),
                maxDuration: uint32(maxDuration),
                region: REGION,
                carbonIntensity: 0,
                renewableBps: 0,
                expiresAt: uint32(block.timestamp + 1 days)
            })
        );
    }

    /// @dev A job of up to 1,000 GPUs for up to a year at up to 10^6 stablecoins per GPU-hour.
    function _create(uint256 price, uint256 gpus, uint256 duration) internal returns (Run memory run) {
        price = bound(price, 1, 1e12);
        gpus = bound(gpus, 1, 1_000);
        duration = bound(duration, 1, 365 days);
        uint256 offerId = _offer(price, gpus, 1, 365 days);
        (uint256 cost, uint256 fee, uint256 escrow) = market.quote(offerId, uint32(gpus), uint32(duration));
        assertEq(cost, JobMath.costUp(price, gpus, duration), "quoted cost is not rounded up");
        assertEq(escrow, cost + fee, "quoted escrow != cost + fee");
        assertGe(cost * 3600, price * gpus * duration, "cost below the exact price");
        paymentToken.mint(client, escrow);
        run.clientStart = paymentToken.balanceOf(client);
        vm.prank(client);
        run.jobId = market.createJob(offerId, uint32(gpus), uint32(duration), price, keccak256("spec"));
        assertEq(run.clientStart - paymentToken.balanceOf(client), escrow, "client paid != quoted escrow");
        assertEq(market.getJob(run.jobId).escrow, escrow, "stored escrow != quoted escrow");
        run.cost = cost;
        run.escrow = escrow;
    }

    function _createAndAccept(uint256 price, uint256 gpus, uint256 duration) internal returns (Run memory run) {
        run = _create(price, gpus, duration);
        vm.prank(provider);
        market.acceptJob(run.jobId);
    }

    /// @dev Ends the job as `ending` says and records what the provider is awarded in total (claims included).
    function _end(Run memory run, Ending ending, uint16 shareBps) internal {
        uint256 jobId = run.jobId;
        if (ending == Ending.Reclaim) {
            Job memory job = market.getJob(jobId);
            vm.warp(uint256(job.startedAt) + job.duration + market.parameters().abandonGrace + 1);
            vm.prank(client);
            market.reclaimAbandoned(jobId);
            run.awarded = run.claimed;
            return;
        }
        vm.prank(ending == Ending.Complete || ending == Ending.DisputeAfterCompletion ? provider : client);
        if (ending == Ending.Complete || ending == Ending.DisputeAfterCompletion) {
            market.completeJob(jobId, keccak256("result"));
        } else if (ending == Ending.EndEarly) {
            market.endJobEarly(jobId);
        } else {
            market.disputeJob(jobId, keccak256("reason"));
        }
        run.earned = market.earned(jobId);
        if (ending == Ending.Complete || ending == Ending.EndEarly) {
            vm.warp(block.timestamp + market.parameters().disputeWindow + 1);
            market.settleJob(jobId);
            run.awarded = run.earned;
            return;
        }
        if (ending == Ending.DisputeAfterCompletion) {
            vm.prank(client);
            market.disputeJob(jobId, keccak256("reason"));
        }
        vm.prank(governance);
        market.resolveDispute(jobId, shareBps, 0);
        run.awarded = run.claimed + JobMath.bpsDown(run.earned - run.claimed, shareBps);
    }

    /// @dev Invariant 4's "at most once": every rule that pays a job out reverts on a job that has ended.
    function _assertNoSecondPayout(uint256 jobId) internal {
        JobState state = market.getJob(jobId).state;
        bytes memory invalidState = abi.encodeWithSelector(IJobMarket.JobMarketInvalidState.selector, jobId, state);
        vm.expectRevert(invalidState);
        market.settleJob(jobId);
        vm.expectRevert(invalidState);
        vm.prank(governance);
        market.resolveDispute(jobId, 10_000, 0);
        vm.expectRevert(invalidState);
        vm.prank(client);
        market.reclaimAbandoned(jobId);
        vm.expectRevert(invalidState);
        vm.prank(client);
        market.cancelJob(jobId);
        vm.expectRevert(invalidState);
        market.expireJob(jobId);
        vm.expectRevert(invalidState);
        vm.prank(provider);
        market.claim(jobId);
    }
}

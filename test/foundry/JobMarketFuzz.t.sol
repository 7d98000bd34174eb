// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IJobMarket} from "../../contracts/interfaces/IJobMarket.sol";
import {IProviderStaking} from "../../contracts/interfaces/IProviderStaking.sol";
import {Job, JobState} from "../../contracts/types/Job.sol";
import {OfferParams} from "../../contracts/types/Offer.sol";
import {JobMath} from "../../contracts/libraries/JobMath.sol";
import {DevStablecoin} from "../../contracts/dev/DevStablecoin.sol";
import {DevStakeToken} from "../../contracts/dev/DevStakeToken.sol";
import {GpuMeshFixture} from "./utils/GpuMeshFixture.sol";

/// @notice One job through the deployed contracts with the dev tokens, for random prices, sizes, durations, rates,
///         receipts and timings: every way a job can end pays out exactly everything pulled for it (escrow and
///         dispute bond), refunds reach the payer, slashes come only from the job's collateral, and streamed pay
///         never exceeds receipted pay plus what the collateral can take back.
contract JobMarketFuzzTest is GpuMeshFixture {
    uint256 internal constant BPS = 10_000;

    DevStablecoin internal paymentToken;
    DevStakeToken internal stakeToken;
    address internal provider;
    address internal client;
    uint256 internal clientKey;
    address internal sponsor;
    uint256 internal stakeStart;

    /// @dev How a fuzzed job that ran ends.
    enum Ending {
        Complete,
        EndEarly,
        DisputeWhileRunning,
        DisputeAfterCompletion,
        FinalizeWhileRunning,
        FinalizeAfterCompletion,
        Reclaim,
        Dark
    }

    /// @dev How a fuzzed job that never ran ends.
    enum EarlyEnding {
        Decline,
        Cancel,
        Expire
    }

    /// @dev One job's facts and the model's expectations for it.
    struct Run {
        uint256 jobId;
        address payer;
        uint256 cost;
        uint256 escrow;
        uint256 collateral;
        uint256 payerBefore; // payer's balance before createJob
        uint256 clientBefore; // client's balance before createJob, plus any bond minted to it since
        uint256 bond;
        bool bondToProvider;
        uint256 receiptedSeconds; // as the client's receipts cover it
        uint256 lastLifeAt; // the provider's last accept, claim or completion
        uint256 awarded; // the provider's final pay for the job
        uint256 slashed; // stake the rules take from the provider for the job
    }

    function setUp() public {
        paymentToken = new DevStablecoin();
        stakeToken = new DevStakeToken();
        deployGpuMesh(IERC20(address(paymentToken)), IERC20(address(stakeToken)), defaultParameters());
        provider = makeAddr("provider");
        (client, clientKey) = makeAddrAndKey("client");
        sponsor = makeAddr("sponsor");
        stakeStart = 1e36;
        stakeToken.mint(provider, stakeStart);
        vm.startPrank(provider);
        staking.register("https://provider.example/gpumesh.json");
        stakeToken.approve(address(staking), type(uint256).max);
        staking.stake(stakeStart);
        vm.stopPrank();
        vm.prank(client);
        paymentToken.approve(address(market), type(uint256).max);
        vm.prank(sponsor);
        paymentToken.approve(address(market), type(uint256).max);
    }

    // ------------------------------------------------------------------ endings
    /// @notice createJob pulls exactly cost + fee, cost rounded up, from the payer (the client or a sponsor) and
    ///         locks the collateral; the job streams pay and takes receipts; then however it ends (settled,
    ///         resolved with any share and slash, finalized stale, reclaimed, reported dark), payer refund +
    ///         provider pay + fee + bond == everything pulled, the fee is on the final pay, the slash is the rule's,
    ///         and a second payout of any kind reverts.
    function testFuzz_everyEndingPaysOutEverythingPulled(
        uint256 price,
        uint256 gpus,
        uint256 duration,
        uint256 rates,
        uint256 claimAfter,
        uint256 receiptSeed,
        uint256 endAfter,
        uint256 ending,
        uint256 ruling,
        bool sponsored
    ) public {
        _setRates(rates);
        Run memory run = _create(price, gpus, duration, sponsored);
        _accept(run);
        Job memory job = market.getJob(run.jobId);

        // Streamed pay part-way through (or past the end), then maybe a receipt for some of the time so far.
        vm.warp(_now() + bound(claimAfter, 0, uint256(job.duration) * 2));
        _claimIfAny(run);
        if (receiptSeed % 2 == 0) _receipt(run, bound(receiptSeed >> 1, job.startedAt, _now() + 1 hours));
        vm.warp(_now() + bound(endAfter, 0, job.duration));
        _end(run, Ending(ending % 8), ruling);

        _assertPaidOutExactly(run);
        _assertNoSecondPayout(run.jobId);
    }

    /// @notice Before acceptance: a decline refunds the payer in full and slashes nothing; a cancellation costs at
    ///         most the bounded cancel fee; an expiry refunds in full and slashes expirySlashBps of cost, never more
    ///         than the job's collateral (collateralBps may be below expirySlashBps, or zero).
    function testFuzz_beforeStartEndingsRefundThePayer(
        uint256 price,
        uint256 gpus,
        uint256 duration,
        uint256 rates,
        uint256 ending,
        uint256 lateBy,
        bool sponsored
    ) public {
        _setRates(rates);
        Run memory run = _create(price, gpus, duration, sponsored);
        IJobMarket.Parameters memory t = market.jobTerms(run.jobId);
        EarlyEnding early = EarlyEnding(ending % 3);
        if (early == EarlyEnding.Decline) {
            vm.warp(_now() + bound(lateBy, 0, t.acceptWindow));
            vm.prank(provider);
            market.declineJob(run.jobId, "no capacity");
        } else if (early == EarlyEnding.Cancel) {
            run.awarded = JobMath.bpsDown(run.cost, t.cancelFeeBps);
            assertLe(run.awarded * 20, run.cost, "cancel fee above 5 % of cost");
            vm.prank(client);
            market.cancelJob(run.jobId);
        } else {
            vm.warp(market.getJob(run.jobId).acceptDeadline + bound(lateBy, 1, 30 days));
            uint256 slash = JobMath.bpsDown(run.cost, t.expirySlashBps) * STAKE_PER_PAYMENT_UNIT;
            run.slashed = slash < run.collateral ? slash : run.collateral;
            market.expireJob(run.jobId);
        }
        uint256 refund = paymentToken.balanceOf(run.payer) + run.escrow - run.payerBefore;
        assertEq(paymentToken.balanceOf(provider), run.awarded, "provider got other than the cancel fee");
        assertEq(refund + run.awarded, run.escrow, "refund + cancel fee != escrow");
        if (sponsored) assertEq(paymentToken.balanceOf(client), run.clientBefore, "a sponsor's refund went to the client");
        assertEq(paymentToken.balanceOf(address(market)), 0, "market kept money");
        _assertStake(run);
        _assertNoSecondPayout(run.jobId);
    }

    // ------------------------------------------------------------------ claim cap (invariant 7)
    /// @notice Random claims, receipts, heartbeats and warps: at every step claimed <= pay for the receipted time +
    ///         the collateral's worth, claim pays exactly up to that cap, and an arbiter ruling fully for the client
    ///         can always take back every unreceipted payment from the collateral, so the client ends up paying
    ///         exactly the receipted pay and its fee.
    function testFuzz_claimsNeverExceedReceiptsPlusCollateral(
        uint256 price,
        uint256 gpus,
        uint256 duration,
        uint256 collateralBps,
        uint256[12] memory steps
    ) public {
        vm.prank(governance);
        market.setParameter(IJobMarket.Parameter.CollateralBps, bound(collateralBps, 0, 30_000));
        Run memory run = _create(price, gpus, duration, false);
        _accept(run);
        Job memory job = market.getJob(run.jobId);
        uint256 collateralValue = run.collateral / STAKE_PER_PAYMENT_UNIT;
        for (uint256 i; i < steps.length; ++i) {
            uint256 step = steps[i];
            uint256 kind = step % 4;
            if (kind == 0) {
                vm.warp(_now() + bound(step >> 8, 1, uint256(job.duration) / 3 + 1));
            } else if (kind == 1) {
                _claimIfAny(run);
            } else if (kind == 2) {
                _receipt(run, bound(step >> 8, job.startedAt, _now() + 1 hours));
            } else {
                vm.warp(_now() + bound(step >> 8, 1, 1 hours));
                vm.prank(provider);
                market.heartbeat();
                run.lastLifeAt = _now();
            }
            job = market.getJob(run.jobId);
            uint256 cap = JobMath.costUp(job.pricePerGpuHour, job.gpus, run.receiptedSeconds) + collateralValue;
            assertEq(job.receiptedSeconds, run.receiptedSeconds, "receipted time != what the client signed");
            assertLe(job.claimed, cap, "claimed > receipted pay + collateral value");
            assertLe(job.claimed, market.earned(run.jobId), "claimed > earned");
            uint256 earnedNow = market.earned(run.jobId);
            assertEq(market.claimable(run.jobId), earnedNow < cap ? earnedNow : cap, "claimable != min(earned, cap)");
        }

        // The client disputes; the arbiter rules fully for it and takes back everything unreceipted.
        _dispute(run);
        job = market.getJob(run.jobId);
        uint256 receipted = JobMath.costUp(job.pricePerGpuHour, job.gpus, run.receiptedSeconds);
        uint256 clawback = job.claimed > receipted ? job.claimed - receipted : 0;
        vm.prank(governance);
        market.resolveDispute(run.jobId, 0, 0);
        run.awarded = receipted;
        run.slashed = clawback * STAKE_PER_PAYMENT_UNIT;
        _assertPaidOutExactly(run);
        uint256 clientPaid = run.clientBefore - paymentToken.balanceOf(client);
        uint256 clientTookBack = stakeToken.balanceOf(client) / STAKE_PER_PAYMENT_UNIT;
        uint256 fee = JobMath.bpsUp(receipted, market.jobTerms(run.jobId).protocolFeeBps);
        assertEq(clientPaid - clientTookBack, receipted + fee, "the client was not made whole for unreceipted pay");
    }

    // ------------------------------------------------------------------ collateral, extensions, terms
    /// @notice A provider whose unlocked stake cannot back a job's collateral cannot be handed the job: createJob
    ///         reverts naming what is needed and what is unlocked; when it can, the collateral is locked at once and
    ///         can neither be unstaked nor stretched by an extension the stake cannot back.
    function testFuzz_collateralIsReservedAtCreation(uint256 stakeAmount, uint256 duration, uint256 extra) public {
        address thin = makeAddr("thin-provider");
        uint256 price = 1e6;
        uint256 gpus = 4;
        // Enough to back the offer for its one-hour minimum, and up to about a week of one job.
        uint256 hourCollateral = JobMath.bpsUp(JobMath.costUp(price, gpus, 1 hours), 5_000) * STAKE_PER_PAYMENT_UNIT;
        stakeAmount = bound(stakeAmount, MIN_STAKE + hourCollateral, MIN_STAKE + hourCollateral * 24 * 7);
        stakeToken.mint(thin, stakeAmount);
        vm.startPrank(thin);
        staking.register("https://thin.example/gpumesh.json");
        stakeToken.approve(address(staking), type(uint256).max);
        staking.stake(stakeAmount);
        uint256 offerId = market.createOffer(_offerParams(price, gpus, 1 hours, 30 days));
        vm.stopPrank();

        duration = bound(duration, 1 hours, 30 days);
        (, , uint256 escrow, uint256 collateral) = market.quote(offerId, uint32(gpus), uint32(duration));
        paymentToken.mint(client, escrow);
        if (collateral > stakeAmount) {
            vm.expectRevert(
                abi.encodeWithSelector(
                    IProviderStaking.ProviderStakingInsufficientCollateral.selector, thin, collateral, stakeAmount
                )
            );
            vm.prank(client);
            market.createJob(offerId, uint32(gpus), uint32(duration), price, escrow, bytes32(0));
            return;
        }
        vm.prank(client);
        uint256 jobId = market.createJob(offerId, uint32(gpus), uint32(duration), price, escrow, bytes32(0));
        assertEq(staking.account(thin).locked, collateral, "collateral not locked at creation");
        uint256 unlocked = stakeAmount - collateral;
        assertEq(staking.unlockedStake(thin), unlocked, "unlocked stake != stake - collateral");
        vm.expectRevert(
            abi.encodeWithSelector(IProviderStaking.ProviderStakingInsufficientUnlocked.selector, unlocked + 1, unlocked)
        );
        vm.prank(thin);
        staking.requestUnstake(unlocked + 1);

        vm.prank(thin);
        market.acceptJob(jobId);
        assertEq(staking.account(thin).locked, collateral, "accepting locked more collateral");
        extra = bound(extra, 1, 30 days - duration + 1);
        if (duration + extra > 30 days) extra = 30 days - duration;
        if (extra == 0) return;
        (, , uint256 escrowAfter, uint256 collateralAfter) = market.quote(offerId, uint32(gpus), uint32(duration + extra));
        uint256 extraCollateral = collateralAfter - collateral;
        paymentToken.mint(client, escrowAfter - escrow);
        if (extraCollateral > unlocked) {
            vm.expectRevert(
                abi.encodeWithSelector(
                    IProviderStaking.ProviderStakingInsufficientCollateral.selector, thin, extraCollateral, unlocked
                )
            );
            vm.prank(client);
            market.extendJob(jobId, uint32(extra), type(uint256).max);
        } else {
            vm.prank(client);
            market.extendJob(jobId, uint32(extra), escrowAfter - escrow);
            assertEq(staking.account(thin).locked, collateralAfter, "extension did not lock the extra collateral");
        }
    }

    /// @notice An extension keeps the job's price and its terms: governance raising the fee, collateral or bond
    ///         after creation changes neither the extra escrow, nor the extra collateral, nor the settlement fee;
    ///         the extension pulls at most maxEscrow and only the payer may buy it.
    function testFuzz_extensionKeepsTheJobsTerms(
        uint256 price,
        uint256 gpus,
        uint256 duration,
        uint256 extra,
        uint256 newRates,
        bool sponsored
    ) public {
        Run memory run = _create(price, gpus, duration, sponsored);
        _accept(run);
        IJobMarket.Parameters memory t = market.jobTerms(run.jobId);
        _setRates(newRates);
        Job memory job = market.getJob(run.jobId);
        extra = bound(extra, 1, 365 days - job.duration + 1);
        if (job.duration + extra > 365 days) return;

        uint256 costAfter = JobMath.costUp(job.pricePerGpuHour, job.gpus, job.duration + extra);
        uint256 extraEscrow = costAfter + JobMath.bpsUp(costAfter, t.protocolFeeBps) - run.escrow;
        uint256 extraCollateral = JobMath.bpsUp(costAfter, t.collateralBps) * STAKE_PER_PAYMENT_UNIT - run.collateral;
        paymentToken.mint(run.payer, extraEscrow);
        if (extraEscrow != 0) {
            vm.expectRevert(
                abi.encodeWithSelector(IJobMarket.JobMarketEscrowAboveMax.selector, extraEscrow, extraEscrow - 1)
            );
            vm.prank(run.payer);
            market.extendJob(run.jobId, uint32(extra), extraEscrow - 1);
        }
        if (sponsored) {
            vm.expectRevert(abi.encodeWithSelector(IJobMarket.JobMarketNotPayer.selector, run.jobId, client));
            vm.prank(client);
            market.extendJob(run.jobId, uint32(extra), type(uint256).max);
        }
        uint256 lockedBefore = staking.account(provider).locked;
        vm.prank(run.payer);
        market.extendJob(run.jobId, uint32(extra), extraEscrow);
        assertEq(staking.account(provider).locked - lockedBefore, extraCollateral, "extra collateral off the job's rate");
        assertEq(run.payerBefore - paymentToken.balanceOf(run.payer), run.escrow, "extension pulled off the job's terms");
        assertEq(
            keccak256(abi.encode(market.jobTerms(run.jobId))), keccak256(abi.encode(t)), "the job's terms changed"
        );
        run.escrow += extraEscrow;
        run.payerBefore += extraEscrow;
        if (!sponsored) run.clientBefore += extraEscrow;
        run.cost = costAfter;
        run.collateral += extraCollateral;

        vm.warp(_now() + bound(extra, 1, job.duration + extra));
        vm.prank(provider);
        market.completeJob(run.jobId, "result");
        job = market.getJob(run.jobId);
        vm.warp(job.endedAt + t.disputeWindow + 1);
        market.settleJob(run.jobId);
        run.awarded = _earnedAt(job, job.endedAt);
        _assertPaidOutExactly(run);
    }

    // ------------------------------------------------------------------ races, receipts, unbonding
    /// @notice A reprice racing the client's transaction reverts instead of charging more than the client's maximum.
    function testFuzz_repriceAboveMaxReverts(uint256 price, uint256 newPrice) public {
        price = bound(price, 1, 1e12);
        // Up to what the provider's stake backs for the offer's 8 GPUs for an hour at 50 % collateral.
        newPrice = bound(newPrice, price + 1, 1e20);
        uint256 offerId = _offer(price, 8, 1 hours, 1 days);
        vm.prank(provider);
        market.updateOffer(offerId, 8, uint96(newPrice), uint32(_now() + 1 days));
        vm.expectRevert(abi.encodeWithSelector(IJobMarket.JobMarketPriceAboveMax.selector, newPrice, price));
        vm.prank(client);
        market.createJob(offerId, 1, 1 hours, price, type(uint256).max, bytes32(0));
    }

    /// @notice A fee raise racing the client's transaction reverts instead of pulling more than its maxEscrow.
    function testFuzz_feeRaiseAboveMaxEscrowReverts(uint256 price, uint256 gpus, uint256 duration, uint256 newFeeBps)
        public
    {
        price = bound(price, 1, 1e12);
        gpus = bound(gpus, 1, 1_000);
        duration = bound(duration, 1, 365 days);
        uint256 offerId = _offer(price, gpus, 1, 365 days);
        (uint256 cost,, uint256 quoted,) = market.quote(offerId, uint32(gpus), uint32(duration));
        newFeeBps = bound(newFeeBps, 251, 1_000);
        vm.prank(governance);
        market.setParameter(IJobMarket.Parameter.ProtocolFeeBps, newFeeBps);
        uint256 escrow = cost + JobMath.bpsUp(cost, newFeeBps);
        vm.assume(escrow > quoted);
        paymentToken.mint(client, escrow);
        vm.expectRevert(abi.encodeWithSelector(IJobMarket.JobMarketEscrowAboveMax.selector, escrow, quoted));
        vm.prank(client);
        market.createJob(offerId, uint32(gpus), uint32(duration), price, quoted, bytes32(0));
    }

    /// @notice Only the client's own receipt for this job pays: one signed by another key, or by the client for
    ///         another job, reverts; so does a valid one sent by anyone but the provider.
    function testFuzz_forgedReceiptsRevert(uint256 otherKey, uint256 otherJob, uint256 servedAfter) public {
        Run memory run = _create(1e6, 1, 1 days, false);
        _accept(run);
        vm.warp(_now() + bound(servedAfter, 1, 1 days));
        uint64 servedUntil = uint64(_now());
        otherKey = bound(otherKey, 1, 1e30);
        vm.assume(otherKey != clientKey);
        otherJob = bound(otherJob, 0, type(uint128).max);
        vm.assume(otherJob != run.jobId);
        bytes memory byAnotherKey = _sign(otherKey, run.jobId, servedUntil);
        bytes memory forAnotherJob = _sign(clientKey, otherJob, servedUntil);
        bytes memory valid = _sign(clientKey, run.jobId, servedUntil);
        bytes memory expected = abi.encodeWithSelector(IJobMarket.JobMarketInvalidReceipt.selector, run.jobId, client);
        vm.expectRevert(expected);
        vm.prank(provider);
        market.claimWithReceipt(run.jobId, servedUntil, byAnotherKey);
        vm.expectRevert(expected);
        vm.prank(provider);
        market.claimWithReceipt(run.jobId, servedUntil, forAnotherJob);
        vm.expectRevert(abi.encodeWithSelector(IJobMarket.JobMarketNotProvider.selector, run.jobId, client));
        vm.prank(client);
        market.claimWithReceipt(run.jobId, servedUntil, valid);
        vm.prank(provider);
        assertGe(market.claimWithReceipt(run.jobId, servedUntil, valid), 1, "the client's receipt paid nothing");
    }

    /// @notice Unbonding requests mature in order, each unbondingPeriod after it was made (never before an earlier
    ///         one, whatever the period did since); withdrawStake pays exactly the matured ones and reverts with the
    ///         first request's maturity when none has matured.
    function testFuzz_unbondingRequestsMatureInOrder(
        uint256[4] memory amounts,
        uint256[4] memory gaps,
        uint256[4] memory periods,
        uint256[4] memory withdrawAfter
    ) public {
        uint256[4] memory readyAts;
        uint256 lastReadyAt;
        for (uint256 i; i < 4; ++i) {
            uint256 period = bound(periods[i], 1 hours, 30 days);
            vm.prank(governance);
            staking.setUnbondingPeriod(period);
            vm.warp(_now() + bound(gaps[i], 0, 10 days));
            amounts[i] = bound(amounts[i], 1, 1e30);
            readyAts[i] = _now() + period;
            if (readyAts[i] < lastReadyAt) readyAts[i] = lastReadyAt;
            lastReadyAt = readyAts[i];
            vm.prank(provider);
            staking.requestUnstake(amounts[i]);
            assertEq(staking.unbondingRequest(provider, i).readyAt, readyAts[i], "request matures off its rule");
        }
        uint256 next;
        for (uint256 round; round < 4 && next < 4; ++round) {
            vm.warp(_now() + bound(withdrawAfter[round], 0, 20 days));
            uint256 expected;
            uint256 matured = next;
            while (matured < 4 && readyAts[matured] <= _now()) expected += amounts[matured++];
            uint256 balanceBefore = stakeToken.balanceOf(provider);
            if (expected == 0) {
                vm.expectRevert(
                    abi.encodeWithSelector(
                        IProviderStaking.ProviderStakingStillUnbonding.selector, uint64(readyAts[next])
                    )
                );
            }
            vm.prank(provider);
            staking.withdrawStake();
            assertEq(stakeToken.balanceOf(provider) - balanceBefore, expected, "withdrew other than the matured requests");
            next = matured;
        }
        uint256 pending;
        for (uint256 i = next; i < 4; ++i) pending += amounts[i];
        assertEq(staking.account(provider).unbonding, pending, "unbonding != requests not yet withdrawn");
    }

    // ------------------------------------------------------------------ helpers: a job's life
    function _offerParams(uint256 price, uint256 gpus, uint256 minDuration, uint256 maxDuration)
        internal
        view
        returns (OfferParams memory)
    {
        return OfferParams({
            gpuModel: h100,
            gpus: uint32(gpus),
            pricePerGpuHour: uint96(price),
            minDuration: uint32(minDuration),
            maxDuration: uint32(maxDuration),
            region: REGION,
            carbonIntensity: 0,
            renewableBps: 0,
            expiresAt: uint32(_now() + 1 days)
        });
    }

    function _offer(uint256 price, uint256 gpus, uint256 minDuration, uint256 maxDuration)
        internal
        returns (uint256 offerId)
    {
        vm.prank(provider);
        offerId = market.createOffer(_offerParams(price, gpus, minDuration, maxDuration));
    }

    /// @dev Rates from one seed, each within its bound: fee, collateral, dark slash, bond, expiry slash, cancel fee.
    ///      A quarter of the time the collateral rate is at most 10 %, often below the expiry slash rate, where the
    ///      collateral caps the slash.
    function _setRates(uint256 rates) internal {
        uint256 collateralBps = (rates >> 96) % 4 == 0 ? (rates >> 16) % 1_001 : (rates >> 16) % 30_001;
        vm.startPrank(governance);
        market.setParameter(IJobMarket.Parameter.ProtocolFeeBps, rates % 1_001);
        market.setParameter(IJobMarket.Parameter.CollateralBps, collateralBps);
        market.setParameter(IJobMarket.Parameter.DarkSlashBps, (rates >> 32) % 10_001);
        market.setParameter(IJobMarket.Parameter.DisputeBondBps, (rates >> 48) % 2_001);
        market.setParameter(IJobMarket.Parameter.ExpirySlashBps, (rates >> 64) % 1_001);
        market.setParameter(IJobMarket.Parameter.CancelFeeBps, (rates >> 80) % 501);
        vm.stopPrank();
    }

    /// @dev A job of up to 1,000 GPUs for up to a year at up to 10^6 stablecoins per GPU-hour, paid by the client or
    ///      by a sponsor; checks the quote, the pull and the collateral lock.
    function _create(uint256 price, uint256 gpus, uint256 duration, bool sponsored) internal returns (Run memory run) {
        price = bound(price, 1, 1e12);
        gpus = bound(gpus, 1, 1_000);
        duration = bound(duration, 1, 365 days);
        uint256 offerId = _offer(price, gpus, 1, 365 days);
        IJobMarket.Parameters memory p = market.parameters();
        (uint256 cost, uint256 fee, uint256 escrow, uint256 collateral) =
            market.quote(offerId, uint32(gpus), uint32(duration));
        assertEq(cost, JobMath.costUp(price, gpus, duration), "quoted cost is not rounded up");
        assertGe(cost * 3600, price * gpus * duration, "cost below the exact price");
        assertEq(fee, JobMath.bpsUp(cost, p.protocolFeeBps), "quoted fee is not the fee on cost rounded up");
        assertEq(escrow, cost + fee, "quoted escrow != cost + fee");
        assertEq(collateral, JobMath.bpsUp(cost, p.collateralBps) * STAKE_PER_PAYMENT_UNIT, "quoted collateral off");
        run.payer = sponsored ? sponsor : client;
        paymentToken.mint(run.payer, escrow);
        run.payerBefore = paymentToken.balanceOf(run.payer);
        run.clientBefore = paymentToken.balanceOf(client);
        vm.prank(run.payer);
        run.jobId = sponsored
            ? market.createJobFor(client, offerId, uint32(gpus), uint32(duration), price, escrow, keccak256("spec"))
            : market.createJob(offerId, uint32(gpus), uint32(duration), price, escrow, keccak256("spec"));
        assertEq(run.payerBefore - paymentToken.balanceOf(run.payer), escrow, "payer paid != quoted escrow");
        if (sponsored) assertEq(paymentToken.balanceOf(client), run.clientBefore, "client paid for a sponsored job");
        assertEq(market.payerOf(run.jobId), run.payer, "payer is not who paid");
        assertEq(staking.account(provider).locked, collateral, "collateral not locked at creation");
        (uint256 storedCost, uint256 storedEscrow, uint256 storedCollateral) = market.jobAmounts(run.jobId);
        assertEq(storedCost, cost, "job cost != quote");
        assertEq(storedEscrow, escrow, "job escrow != quote");
        assertEq(storedCollateral, collateral, "job collateral != quote");
        run.cost = cost;
        run.escrow = escrow;
        run.collateral = collateral;
    }

    function _accept(Run memory run) internal {
        vm.prank(provider);
        market.acceptJob(run.jobId);
        run.lastLifeAt = _now();
    }

    /// @dev Claims streamed pay when there is any; checks it is exactly min(earned, receipted pay + collateral).
    function _claimIfAny(Run memory run) internal {
        Job memory job = market.getJob(run.jobId);
        uint256 total = _streamable(run, job);
        if (total <= job.claimed) {
            vm.expectRevert(abi.encodeWithSelector(IJobMarket.JobMarketNothingToClaim.selector, run.jobId));
            vm.prank(provider);
            market.claim(run.jobId);
            return;
        }
        vm.prank(provider);
        assertEq(market.claim(run.jobId), total - job.claimed, "claim != min(earned, receipted pay + collateral)");
        run.lastLifeAt = _now();
    }

    /// @dev The provider claims with the client's receipt up to `servedUntil`; checks the pay and the receipted time,
    ///      or the revert of a receipt that pays and covers nothing new.
    function _receipt(Run memory run, uint256 servedUntil) internal {
        Job memory job = market.getJob(run.jobId);
        uint256 clockAt = job.state == JobState.Running ? _now() : job.endedAt;
        uint256 until = servedUntil < clockAt ? servedUntil : clockAt;
        uint256 end = uint256(job.startedAt) + job.duration;
        if (until > end) until = end;
        bool advanced = until > job.startedAt && until - job.startedAt > run.receiptedSeconds;
        uint256 receiptedBefore = run.receiptedSeconds;
        if (advanced) run.receiptedSeconds = until - job.startedAt;
        uint256 total = JobMath.costUp(job.pricePerGpuHour, job.gpus, run.receiptedSeconds);
        if (job.state == JobState.Running) total = _streamable(run, job);
        if (total < job.claimed) total = job.claimed;
        bytes memory signature = _sign(clientKey, run.jobId, uint64(servedUntil));
        if (!advanced && total == job.claimed) {
            vm.expectRevert(abi.encodeWithSelector(IJobMarket.JobMarketNothingToClaim.selector, run.jobId));
            vm.prank(provider);
            market.claimWithReceipt(run.jobId, uint64(servedUntil), signature);
            run.receiptedSeconds = receiptedBefore;
            return;
        }
        vm.prank(provider);
        assertEq(
            market.claimWithReceipt(run.jobId, uint64(servedUntil), signature),
            total - job.claimed,
            "receipt paid other than its receipted and streamable pay"
        );
        assertEq(market.getJob(run.jobId).receiptedSeconds, run.receiptedSeconds, "receipted time off the receipt");
        run.lastLifeAt = _now();
    }

    /// @dev The client posts the bond (minted to it first) and disputes; returns its last sign of life.
    function _dispute(Run memory run) internal returns (uint256 lastLifeAt) {
        Job memory job = market.getJob(run.jobId);
        IJobMarket.Parameters memory t = market.jobTerms(run.jobId);
        run.bond = JobMath.bpsUp(run.cost, t.disputeBondBps);
        paymentToken.mint(client, run.bond);
        run.clientBefore += run.bond;
        lastLifeAt = job.state == JobState.Running ? _lastLife(run, job) : job.endedAt;
        vm.prank(client);
        market.disputeJob(run.jobId, keccak256("reason"));
        assertEq(run.clientBefore - paymentToken.balanceOf(client), run.bond + (run.payer == client ? run.escrow : 0), "bond");
        assertEq(market.disputeBondsHeld(), run.bond, "bond not held");
    }

    /// @dev Ends a job that ran as `ending` says, recording the provider's final pay and the slash the rules take.
    function _end(Run memory run, Ending ending, uint256 ruling) internal {
        uint256 jobId = run.jobId;
        Job memory job = market.getJob(jobId);
        IJobMarket.Parameters memory t = market.jobTerms(jobId);
        uint256 end = uint256(job.startedAt) + job.duration;
        if (ending == Ending.Dark) {
            uint256 darkAt = market.darkAt(jobId);
            // A provider alive through its job's end cannot go dark; the client reclaims instead.
            if (darkAt == 0) {
                assertGe(_lastLife(run, job), end, "darkAt 0 for a provider silent before its job's end");
                ending = Ending.Reclaim;
            } else {
                _reportDark(run, job, t, darkAt);
                return;
            }
        }
        if (ending == Ending.Reclaim) {
            uint256 reclaimableAt = end + t.abandonGrace;
            if (_now() <= reclaimableAt) vm.warp(reclaimableAt + 1);
            _closeAt(run, job, _earnedAt(job, _paidUntil(run, job, _lastLife(run, job))), 0);
            vm.prank(client);
            market.reclaimAbandoned(jobId);
            return;
        }
        bool completes = ending == Ending.Complete || ending == Ending.DisputeAfterCompletion
            || ending == Ending.FinalizeAfterCompletion;
        if (completes) {
            vm.prank(provider);
            market.completeJob(jobId, keccak256("result"));
            run.lastLifeAt = _now();
        } else if (ending == Ending.EndEarly) {
            vm.prank(client);
            market.endJobEarly(jobId);
        }
        if (ending == Ending.Complete || ending == Ending.EndEarly) {
            job = market.getJob(jobId);
            vm.warp(uint256(job.endedAt) + t.disputeWindow + 1);
            _closeAt(run, job, _earnedAt(job, job.endedAt), 0);
            market.settleJob(jobId);
            return;
        }
        uint256 lastLifeAt = _dispute(run);
        job = market.getJob(jobId);
        // Receipts still count after a dispute: the provider may submit one for time up to the clock's stop.
        if ((ruling >> 200) % 2 == 0) {
            _receipt(run, job.endedAt);
            job = market.getJob(jobId);
        }
        if (ending == Ending.DisputeWhileRunning || ending == Ending.DisputeAfterCompletion) {
            _resolve(run, job, ruling);
        } else {
            uint256 deadline = _now() + t.resolveWindow;
            vm.expectRevert(abi.encodeWithSelector(IJobMarket.JobMarketResolveWindowOpen.selector, jobId, uint64(deadline)));
            market.finalizeStaleDispute(jobId);
            vm.warp(deadline + 1);
            vm.expectRevert(abi.encodeWithSelector(IJobMarket.JobMarketResolveWindowClosed.selector, jobId, uint64(deadline)));
            vm.prank(governance);
            market.resolveDispute(jobId, 0, 0);
            _closeAt(run, job, _earnedAt(job, _paidUntil(run, job, lastLifeAt)), 0);
            market.finalizeStaleDispute(jobId);
        }
    }

    function _reportDark(Run memory run, Job memory job, IJobMarket.Parameters memory t, uint256 darkAt) internal {
        uint256 lastLifeAt = _lastLife(run, job);
        assertEq(darkAt, lastLifeAt + t.livenessTimeout, "darkAt != last sign of life + liveness timeout");
        if (_now() <= darkAt) {
            vm.expectRevert(
                abi.encodeWithSelector(
                    IJobMarket.JobMarketProviderNotDark.selector, run.jobId, uint64(lastLifeAt), uint64(darkAt)
                )
            );
            market.reportDark(run.jobId);
            vm.warp(darkAt + 1);
        }
        uint256 end = uint256(job.startedAt) + job.duration;
        uint256 paidUntil = _paidUntil(run, job, lastLifeAt);
        uint256 darkUntil = _now() < end ? _now() : end;
        uint256 credit = JobMath.bpsDown(JobMath.costUp(job.pricePerGpuHour, job.gpus, darkUntil - paidUntil), t.darkSlashBps)
            * STAKE_PER_PAYMENT_UNIT;
        _closeAt(run, job, _earnedAt(job, paidUntil), credit);
        market.reportDark(run.jobId);
    }

    /// @dev An arbiter ruling: a quarter fully for the client, a quarter fully for the provider; the slash anything
    ///      up to the collateral left after the clawback, which is probed to be the ceiling.
    function _resolve(Run memory run, Job memory job, uint256 ruling) internal {
        uint256 share = ruling % 4 == 0 ? 0 : ruling % 4 == 1 ? BPS : bound(ruling >> 8, 0, BPS);
        uint256 receipted = JobMath.costUp(job.pricePerGpuHour, job.gpus, run.receiptedSeconds);
        uint256 awarded = receipted + JobMath.bpsDown(_earnedAt(job, job.endedAt) - receipted, share);
        uint256 clawback = job.claimed > awarded ? (job.claimed - awarded) * STAKE_PER_PAYMENT_UNIT : 0;
        assertLe(clawback, run.collateral, "streamed pay above receipts exceeds the collateral");
        uint256 available = run.collateral - clawback;
        vm.expectRevert(
            abi.encodeWithSelector(IJobMarket.JobMarketSlashAboveCollateral.selector, available + 1, available)
        );
        vm.prank(governance);
        market.resolveDispute(run.jobId, uint16(share), available + 1);
        uint256 slash = bound(ruling >> 100, 0, available);
        _closeAt(run, job, awarded, slash);
        run.bondToProvider = share == BPS;
        vm.prank(governance);
        market.resolveDispute(run.jobId, uint16(share), slash);
    }

    /// @dev Records the final pay and the slash: streamed pay above it taken back, plus `penalty`, within collateral.
    function _closeAt(Run memory run, Job memory job, uint256 earnedTotal, uint256 penalty) internal pure {
        run.awarded = earnedTotal;
        uint256 clawback = job.claimed > earnedTotal ? job.claimed - earnedTotal : 0;
        run.slashed = clawback * STAKE_PER_PAYMENT_UNIT + penalty;
        if (run.slashed > run.collateral) run.slashed = run.collateral;
    }

    // ------------------------------------------------------------------ helpers: the model and the checks
    function _streamable(Run memory run, Job memory job) internal view returns (uint256) {
        uint256 earnedNow = _earnedAt(job, _now());
        uint256 cap = JobMath.costUp(job.pricePerGpuHour, job.gpus, run.receiptedSeconds)
            + run.collateral / STAKE_PER_PAYMENT_UNIT;
        return earnedNow < cap ? earnedNow : cap;
    }

    function _lastLife(Run memory run, Job memory job) internal pure returns (uint256) {
        return run.lastLifeAt > job.startedAt ? run.lastLifeAt : job.startedAt;
    }

    function _paidUntil(Run memory run, Job memory job, uint256 lastLifeAt) internal pure returns (uint256 until) {
        until = uint256(job.startedAt) + run.receiptedSeconds;
        if (lastLifeAt > until) until = lastLifeAt;
        uint256 end = uint256(job.startedAt) + job.duration;
        if (until > end) until = end;
    }

    function _earnedAt(Job memory job, uint256 timestamp) internal pure returns (uint256) {
        uint256 used = timestamp > job.startedAt ? timestamp - job.startedAt : 0;
        if (used > job.duration) used = job.duration;
        return JobMath.costUp(job.pricePerGpuHour, job.gpus, used);
    }

    function _sign(uint256 key, uint256 jobId, uint64 servedUntil) internal view returns (bytes memory) {
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(key, market.receiptDigest(jobId, servedUntil));
        return abi.encodePacked(r, s, v);
    }

    /// @dev Refund + provider pay + fee + bond == escrow + bond; the refund went to the payer, the bond back to the
    ///      client unless the ruling was fully for the provider; the fee is on the final pay; the slash as recorded.
    function _assertPaidOutExactly(Run memory run) internal view {
        Job memory job = market.getJob(run.jobId);
        IJobMarket.Parameters memory t = market.jobTerms(run.jobId);
        uint256 pulled = run.escrow + run.bond;
        uint256 fee = market.feesAccrued();
        uint256 providerPay = paymentToken.balanceOf(provider);
        uint256 bondBack = run.bondToProvider ? 0 : run.bond;
        uint256 paidOut = providerPay + fee;
        if (run.payer == client) {
            paidOut += paymentToken.balanceOf(client) + pulled - run.clientBefore;
        } else {
            uint256 refund = paymentToken.balanceOf(run.payer) + run.escrow - run.payerBefore;
            assertEq(
                paymentToken.balanceOf(client) + run.bond,
                run.clientBefore + bondBack,
                "client got other than its bond back (a payer's refund, or a kept bond)"
            );
            paidOut += refund + bondBack;
        }
        assertEq(paidOut, pulled, "refund + pay + fee + bond != everything pulled");
        uint256 kept = job.claimed > run.awarded ? job.claimed : run.awarded;
        assertEq(providerPay, kept + (run.bondToProvider ? run.bond : 0), "provider pay != its award (and bond)");
        assertEq(fee, JobMath.bpsUp(run.awarded, t.protocolFeeBps), "fee != fee on the final pay rounded up");
        assertEq(paymentToken.balanceOf(address(market)), fee, "market keeps more than the fee");
        assertEq(market.disputeBondsHeld(), 0, "a bond is still held");
        _assertStake(run);
    }

    /// @dev The collateral is released and exactly the recorded slash taken, to the client up to the job's cost.
    function _assertStake(Run memory run) internal view {
        IProviderStaking.ProviderAccount memory account = staking.account(provider);
        assertEq(account.locked, 0, "collateral still locked");
        assertEq(stakeStart - account.staked - account.unbonding, run.slashed, "slash != the rule's");
        assertLe(run.slashed, run.collateral, "slash above the job's collateral");
        uint256 clientCap = run.cost * STAKE_PER_PAYMENT_UNIT;
        uint256 toClient = run.slashed < clientCap ? run.slashed : clientCap;
        assertEq(stakeToken.balanceOf(client), toClient, "slash to client != min(slash, cost)");
        assertEq(stakeToken.balanceOf(treasury), run.slashed - toClient, "slash to treasury != slash beyond cost");
    }

    /// @dev Invariant 4's "at most once": every rule that pays a job out reverts on a job that has ended.
    function _assertNoSecondPayout(uint256 jobId) internal {
        JobState state = market.getJob(jobId).state;
        bytes memory invalidState = abi.encodeWithSelector(IJobMarket.JobMarketInvalidState.selector, jobId, state);
        // Arguments are evaluated before the call, so the receipt and the payer are read before expectRevert.
        bytes memory receipt = _sign(clientKey, jobId, uint64(_now()));
        address payer = market.payerOf(jobId);
        vm.expectRevert(invalidState);
        market.settleJob(jobId);
        vm.expectRevert(invalidState);
        vm.prank(governance);
        market.resolveDispute(jobId, 10_000, 0);
        vm.expectRevert(invalidState);
        market.finalizeStaleDispute(jobId);
        vm.expectRevert(invalidState);
        market.reportDark(jobId);
        vm.expectRevert(invalidState);
        vm.prank(client);
        market.reclaimAbandoned(jobId);
        vm.expectRevert(invalidState);
        vm.prank(client);
        market.cancelJob(jobId);
        vm.expectRevert(invalidState);
        vm.prank(provider);
        market.declineJob(jobId, bytes32(0));
        vm.expectRevert(invalidState);
        market.expireJob(jobId);
        vm.expectRevert(invalidState);
        vm.prank(provider);
        market.claim(jobId);
        vm.expectRevert(invalidState);
        vm.prank(provider);
        market.claimWithReceipt(jobId, uint64(_now()), receipt);
        vm.expectRevert(invalidState);
        vm.prank(payer);
        market.extendJob(jobId, 1, type(uint256).max);
    }
}

// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {JobMath} from "../../contracts/libraries/JobMath.sol";
import {JobLib} from "../../contracts/libraries/JobLib.sol";
import {Job} from "../../contracts/types/Job.sol";
import {TestBase} from "./utils/TestBase.sol";

/// @notice JobMath's rounding, and the escrow splits JobMarket builds on it (JobLib), for random prices, GPU counts,
///         durations, elapsed and receipted times, claims, fee, collateral and share rates within the contracts' own
///         bounds.
contract JobMathTest is TestBase {
    uint256 internal constant MAX_PRICE = type(uint96).max;
    uint256 internal constant MAX_GPUS = type(uint32).max;
    uint256 internal constant MAX_DURATION = 365 days; // JobMarket.MAX_JOB_DURATION
    uint256 internal constant MAX_FEE_BPS = 1_000; // JobMarket.parameterBounds(ProtocolFeeBps)
    uint256 internal constant MAX_CANCEL_FEE_BPS = 500;
    uint256 internal constant MAX_COLLATERAL_BPS = 30_000;
    uint256 internal constant MAX_OFFER_GPUS = 100_000; // JobMarket.MAX_OFFER_GPUS

    Job internal _stored;

    // ------------------------------------------------------------------ rounding
    /// @notice costUp is the exact cost rounded up: never below it, less than one base unit above it.
    function testFuzz_costUpRoundsUpByLessThanOneUnit(uint256 price, uint256 gpus, uint256 seconds_) public pure {
        price = bound(price, 0, MAX_PRICE);
        gpus = bound(gpus, 0, MAX_GPUS);
        seconds_ = bound(seconds_, 0, type(uint40).max);
        uint256 exactTimes3600 = price * gpus * seconds_;
        uint256 cost = JobMath.costUp(price, gpus, seconds_);
        assertGe(cost * 3600, exactTimes3600, "cost below the exact price");
        assertLe(cost * 3600, exactTimes3600 + 3599, "cost a whole unit above the exact price");
        if (exactTimes3600 % 3600 == 0) assertEq(cost, exactTimes3600 / 3600, "exact cost rounded");
    }

    /// @notice Earnings never go down as time passes, so a claim can never underflow (claimed <= earned later).
    function testFuzz_costUpIsMonotonicInTime(uint256 price, uint256 gpus, uint256 earlier, uint256 later)
        public
        pure
    {
        price = bound(price, 0, MAX_PRICE);
        gpus = bound(gpus, 0, MAX_GPUS);
        later = bound(later, 0, MAX_DURATION);
        earlier = bound(earlier, 0, later);
        assertLe(JobMath.costUp(price, gpus, earlier), JobMath.costUp(price, gpus, later), "earnings went down");
    }

    /// @notice Costs are additive up to rounding: the parts of a job's time never cost more than one unit each
    ///         above the whole, so streaming claims cannot overpay.
    function testFuzz_costUpIsSubadditiveWithinRounding(uint256 price, uint256 gpus, uint256 first, uint256 second)
        public
        pure
    {
        price = bound(price, 0, MAX_PRICE);
        gpus = bound(gpus, 0, MAX_GPUS);
        first = bound(first, 0, MAX_DURATION);
        second = bound(second, 0, MAX_DURATION);
        uint256 whole = JobMath.costUp(price, gpus, first + second);
        uint256 parts = JobMath.costUp(price, gpus, first) + JobMath.costUp(price, gpus, second);
        assertGe(parts, whole, "parts cost less than the whole");
        assertLe(parts, whole + 1, "parts cost more than one unit above the whole");
    }

    function testFuzz_bpsUpAndDownBracketTheExactValue(uint256 amount, uint256 bps) public pure {
        amount = bound(amount, 0, type(uint128).max);
        bps = bound(bps, 0, type(uint16).max);
        uint256 up = JobMath.bpsUp(amount, bps);
        uint256 down = JobMath.bpsDown(amount, bps);
        assertLe(down * 10_000, amount * bps, "bpsDown above exact");
        assertGe(up * 10_000, amount * bps, "bpsUp below exact");
        assertEq(up - down, (amount * bps) % 10_000 == 0 ? 0 : 1, "up and down differ by other than rounding");
        if (bps <= 10_000) assertLe(down, amount, "bpsDown above the whole");
    }

    // ------------------------------------------------------------------ splits
    /// @notice Settlement: refund + provider pay + fee == escrow exactly, none negative, for any time used and
    ///         any streamed pay so far.
    function testFuzz_settlementSplitsEscrowExactly(
        uint256 price,
        uint256 gpus,
        uint256 duration,
        uint256 elapsed,
        uint256 claimedAt,
        uint256 feeBps
    ) public pure {
        (price, gpus, duration, feeBps) = _bounded(price, gpus, duration, feeBps);
        (uint256 cost, uint256 escrow, uint256 fee) = _job(price, gpus, duration, feeBps);
        elapsed = bound(elapsed, 0, duration);
        uint256 earned = JobMath.costUp(price, gpus, elapsed);
        uint256 claimed = JobMath.costUp(price, gpus, bound(claimedAt, 0, elapsed));

        assertLe(earned, cost, "earned above cost");
        uint256 providerPay = earned - claimed;
        uint256 protocolFee = JobMath.bpsUp(earned, feeBps);
        assertLe(protocolFee, fee, "fee on earnings above fee escrowed");
        uint256 refund = escrow - earned - protocolFee; // reverts (fails) if the escrow cannot cover it
        assertEq(claimed + providerPay + protocolFee + refund, escrow, "settlement split != escrow");
        assertGe(refund, cost - earned, "client refunded less than the unused time's cost");
    }

    /// @notice Dispute resolution (v2): the provider's final pay is its receipted pay plus any share of the pay for
    ///         the rest of the time used; JobLib.split then splits the escrow exactly, whatever was streamed within
    ///         the claim cap, and the streamed pay it takes back never exceeds the collateral's worth.
    function testFuzz_resolutionSplitsEscrowExactly(
        uint256 price,
        uint256 gpus,
        uint256 duration,
        uint256 elapsed,
        uint256 receiptedAt,
        uint256 claimedAt,
        uint256 rates
    ) public {
        (price, gpus, duration) = _boundedStored(price, gpus, duration);
        uint256 feeBps = rates % (MAX_FEE_BPS + 1);
        uint256 collateralBps = (rates >> 16) % (MAX_COLLATERAL_BPS + 1);
        uint256 shareBps = (rates >> 32) % 10_001;
        elapsed = bound(elapsed, 0, duration);
        _store(price, gpus, duration, bound(receiptedAt, 0, elapsed));
        uint256 receipted = JobLib.receiptedPay(_stored);
        uint256 earned = JobLib.earnedAt(_stored, _stored.startedAt + elapsed);
        // Anything claim and claimWithReceipt can have streamed: up to min(earned, claim cap).
        uint256 cap = JobLib.claimCap(_stored, collateralBps);
        assertEq(cap, receipted + JobMath.bpsUp(JobLib.cost(_stored), collateralBps), "claim cap != receipted + collateral");
        uint256 claimed = bound(claimedAt, receipted, earned < cap ? earned : cap);
        _stored.claimed = uint96(claimed);
        uint256 awarded = receipted + JobMath.bpsDown(earned - receipted, shareBps);
        assertLe(awarded, earned, "award above earnings");

        uint256 escrow = JobLib.escrow(_stored, feeBps);
        (uint256 providerPay, uint256 fee, uint256 refund, uint256 clawback) =
            JobLib.split(_stored, escrow, awarded, feeBps);
        assertEq(claimed + providerPay + fee + refund, escrow, "resolution split != escrow");
        assertEq(fee, JobMath.bpsUp(awarded, feeBps), "fee not on the final pay");
        assertEq(claimed + providerPay - clawback, awarded, "provider keeps other than its award");
        assertLe(clawback, JobLib.collateralValue(_stored, collateralBps), "clawback above the collateral's worth");
    }

    /// @notice Cancellation: the cancel fee fits in the escrow. Abandonment and dark reports (v2): the provider is
    ///         paid to its last sign of life or the receipted time, whichever is later, never past the job's end, and
    ///         the escrow splits exactly.
    function testFuzz_cancelAndLastSignOfLifeSplitEscrowExactly(
        uint256 price,
        uint256 gpus,
        uint256 duration,
        uint256 receiptedAt,
        uint256 lastLifeAt,
        uint256 feeBps,
        uint256 cancelFeeBps
    ) public {
        (price, gpus, duration) = _boundedStored(price, gpus, duration);
        feeBps = bound(feeBps, 0, MAX_FEE_BPS);
        (uint256 cost, uint256 escrow,) = _job(price, gpus, duration, feeBps);

        uint256 cancelFee = JobMath.bpsDown(cost, bound(cancelFeeBps, 0, MAX_CANCEL_FEE_BPS));
        uint256 cancelRefund = escrow - cancelFee;
        assertEq(cancelFee + cancelRefund, escrow, "cancel split != escrow");

        _store(price, gpus, duration, bound(receiptedAt, 0, duration));
        lastLifeAt = bound(lastLifeAt, _stored.startedAt, _stored.startedAt + 2 * duration);
        uint256 until = JobLib.paidUntil(_stored, lastLifeAt);
        assertLe(until, JobLib.endsAt(_stored), "paid past the job's end");
        assertGe(until, _stored.startedAt + _stored.receiptedSeconds, "paid less than the receipted time");
        if (lastLifeAt <= JobLib.endsAt(_stored)) assertGe(until, lastLifeAt, "paid less than to the last sign of life");
        uint256 earned = JobLib.earnedAt(_stored, until);
        // Claims are signs of life, so what was streamed is at most the pay up to the last one.
        _stored.claimed = uint96(earned);
        (uint256 providerPay, uint256 fee, uint256 refund, uint256 clawback) =
            JobLib.split(_stored, JobLib.escrow(_stored, feeBps), earned, feeBps);
        assertEq(clawback + providerPay, 0, "nothing more owed when everything earned was streamed");
        assertEq(earned + fee + refund, escrow, "last-sign-of-life split != escrow");
    }

    /// @dev A job whose amounts fit the Job struct's uint96 `claimed` (as JobMarket assumes): offers' GPU bound, up to
    ///      a year, up to 10^12 whole 6-decimal units per GPU-hour.
    function _boundedStored(uint256 price, uint256 gpus, uint256 duration)
        internal
        pure
        returns (uint256, uint256, uint256)
    {
        return (bound(price, 1, 1e18), bound(gpus, 1, MAX_OFFER_GPUS), bound(duration, 1, MAX_DURATION));
    }

    /// @dev A running job in storage (JobLib reads storage), started at a fixed time.
    function _store(uint256 price, uint256 gpus, uint256 duration, uint256 receiptedSeconds) internal {
        _stored.pricePerGpuHour = uint96(price);
        _stored.gpus = uint32(gpus);
        _stored.duration = uint32(duration);
        _stored.startedAt = 1_000_000;
        _stored.receiptedSeconds = uint32(receiptedSeconds);
        _stored.claimed = 0;
    }

    /// @dev Any job the market can hold: uint96 price, uint32 GPUs, up to a year, fee up to its 10 % bound.
    function _bounded(uint256 price, uint256 gpus, uint256 duration, uint256 feeBps)
        internal
        pure
        returns (uint256, uint256, uint256, uint256)
    {
        return (bound(price, 1, MAX_PRICE), bound(gpus, 1, MAX_GPUS), bound(duration, 1, MAX_DURATION), bound(feeBps, 0, MAX_FEE_BPS));
    }

    /// @dev As JobMarket prices a job: escrow = cost + fee on cost, both rounded up.
    function _job(uint256 price, uint256 gpus, uint256 duration, uint256 feeBps)
        internal
        pure
        returns (uint256 cost, uint256 escrow, uint256 fee)
    {
        cost = JobMath.costUp(price, gpus, duration);
        fee = JobMath.bpsUp(cost, feeBps);
        escrow = cost + fee;
    }
}

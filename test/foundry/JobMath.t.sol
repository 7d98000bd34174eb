// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {JobMath} from "../../contracts/libraries/JobMath.sol";
import {TestBase} from "./utils/TestBase.sol";

/// @notice JobMath's rounding, and the escrow splits JobMarket builds on it, for random prices, GPU counts,
///         durations, elapsed times, claims, fee and share rates within the contracts' own bounds.
contract JobMathTest is TestBase {
    uint256 internal constant MAX_PRICE = type(uint96).max;
    uint256 internal constant MAX_GPUS = type(uint32).max;
    uint256 internal constant MAX_DURATION = 365 days; // JobMarket.MAX_JOB_DURATION
    uint256 internal constant MAX_FEE_BPS = 1_000; // JobMarket.parameterBounds(ProtocolFeeBps)
    uint256 internal constant MAX_CANCEL_FEE_BPS = 500;

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

    /// @notice Dispute resolution: any provider share of the unclaimed earnings splits the escrow exactly.
    function testFuzz_resolutionSplitsEscrowExactly(
        uint256 price,
        uint256 gpus,
        uint256 duration,
        uint256 elapsed,
        uint256 claimedAt,
        uint256 feeBps,
        uint256 shareBps
    ) public pure {
        (price, gpus, duration, feeBps) = _bounded(price, gpus, duration, feeBps);
        (, uint256 escrow,) = _job(price, gpus, duration, feeBps);
        elapsed = bound(elapsed, 0, duration);
        uint256 earned = JobMath.costUp(price, gpus, elapsed);
        uint256 claimed = JobMath.costUp(price, gpus, bound(claimedAt, 0, elapsed));
        uint256 awarded = claimed + JobMath.bpsDown(earned - claimed, bound(shareBps, 0, 10_000));

        assertLe(awarded, earned, "award above earnings");
        uint256 protocolFee = JobMath.bpsUp(awarded, feeBps);
        uint256 refund = escrow - awarded - protocolFee;
        assertEq(claimed + (awarded - claimed) + protocolFee + refund, escrow, "resolution split != escrow");
    }

    /// @notice Cancellation and abandonment: the cancel fee and the fee on streamed pay fit in the escrow.
    function testFuzz_cancelAndReclaimSplitEscrowExactly(
        uint256 price,
        uint256 gpus,
        uint256 duration,
        uint256 claimedAt,
        uint256 feeBps,
        uint256 cancelFeeBps
    ) public pure {
        (price, gpus, duration, feeBps) = _bounded(price, gpus, duration, feeBps);
        (uint256 cost, uint256 escrow,) = _job(price, gpus, duration, feeBps);

        uint256 cancelFee = JobMath.bpsDown(cost, bound(cancelFeeBps, 0, MAX_CANCEL_FEE_BPS));
        uint256 cancelRefund = escrow - cancelFee;
        assertEq(cancelFee + cancelRefund, escrow, "cancel split != escrow");

        uint256 claimed = JobMath.costUp(price, gpus, bound(claimedAt, 0, duration));
        uint256 reclaimFee = JobMath.bpsUp(claimed, feeBps);
        uint256 reclaimRefund = escrow - claimed - reclaimFee;
        assertEq(claimed + reclaimFee + reclaimRefund, escrow, "reclaim split != escrow");
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

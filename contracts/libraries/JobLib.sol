// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {Job} from "../types/Job.sol";
import {JobMath} from "./JobMath.sol";

/// @notice The money of one job, read from its storage. Amounts in payment-token base units; rounding as in JobMath:
///         what the job is charged rounds up, what goes back is what is left.
library JobLib {
    /// @notice Price x gpus x duration, rounded up.
    function cost(Job storage job) internal view returns (uint256) {
        return JobMath.costUp(job.pricePerGpuHour, job.gpus, job.duration);
    }

    /// @notice What the payer escrowed: cost plus the fee on cost (the most the fee can be).
    function escrow(Job storage job, uint256 protocolFeeBps) internal view returns (uint256) {
        return JobMath.escrowOf(cost(job), protocolFeeBps);
    }

    /// @notice The collateral's worth in payment units; in stake units it is this times the market's fixed rate.
    function collateralValue(Job storage job, uint256 collateralBps) internal view returns (uint256) {
        return JobMath.bpsUp(cost(job), collateralBps);
    }

    function endsAt(Job storage job) internal view returns (uint256) {
        return uint256(job.startedAt) + job.duration;
    }

    /// @notice Pay for the GPU time between the start and `timestamp`, never past the job's duration.
    function earnedAt(Job storage job, uint256 timestamp) internal view returns (uint256) {
        uint256 used = timestamp > job.startedAt ? timestamp - job.startedAt : 0;
        if (used > job.duration) used = job.duration;
        return JobMath.costUp(job.pricePerGpuHour, job.gpus, used);
    }

    /// @notice Pay for the time the client acknowledged with a usage receipt: final, no dispute reaches it.
    function receiptedPay(Job storage job) internal view returns (uint256) {
        return JobMath.costUp(job.pricePerGpuHour, job.gpus, job.receiptedSeconds);
    }

    /// @notice The most the provider may have been paid in total without more receipts (protocol invariant 7): what
    ///         an arbiter ruling fully for the client can always take back from the collateral.
    function claimCap(Job storage job, uint256 collateralBps) internal view returns (uint256) {
        return receiptedPay(job) + collateralValue(job, collateralBps);
    }

    /// @notice The time up to which a provider that stopped showing signs of life at `lastLifeAt` earns: that sign of
    ///         life or the receipted time, whichever is later, never past the job's end.
    function paidUntil(Job storage job, uint256 lastLifeAt) internal view returns (uint256 until) {
        until = uint256(job.startedAt) + job.receiptedSeconds;
        if (lastLifeAt > until) until = lastLifeAt;
        uint256 end = endsAt(job);
        if (until > end) until = end;
    }

    /// @notice Splits a job's escrow at its end, when the provider's final pay for it is `earned`: the fee on `earned`
    ///         (rounded up), what is still owed to the provider, streamed pay above `earned` (`clawback`, taken back
    ///         from the collateral) and the payer's refund, which is what is left.
    /// @dev earned <= cost and claimed <= cost, so fee <= fee on cost and the refund cannot underflow:
    ///      claimed + providerPay + fee + refund == escrow.
    function split(Job storage job, uint256 escrow_, uint256 earned, uint256 protocolFeeBps)
        internal
        view
        returns (uint256 providerPay, uint256 fee, uint256 refund, uint256 clawback)
    {
        uint256 claimed = job.claimed;
        fee = JobMath.bpsUp(earned, protocolFeeBps);
        if (earned >= claimed) {
            providerPay = earned - claimed;
            refund = escrow_ - earned - fee;
        } else {
            clawback = claimed - earned;
            refund = escrow_ - claimed - fee;
        }
    }
}

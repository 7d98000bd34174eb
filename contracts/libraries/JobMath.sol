// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @notice Money arithmetic of jobs. Every rounding direction is in the function's name and favours the
///         side that keeps the contract solvent: charges round up, refunds are what is left.
library JobMath {
    uint256 internal constant SECONDS_PER_HOUR = 3600;
    uint256 internal constant BPS = 10_000;

    /// @notice Cost of `gpus` GPUs for `seconds_` seconds at `pricePerGpuHour`, rounded up (provider's favour).
    /// @dev price < 2^96, gpus < 2^32, seconds < 2^40: the product is below 2^168 and cannot overflow.
    function costUp(uint256 pricePerGpuHour, uint256 gpus, uint256 seconds_) internal pure returns (uint256) {
        unchecked {
            return (pricePerGpuHour * gpus * seconds_ + SECONDS_PER_HOUR - 1) / SECONDS_PER_HOUR;
        }
    }

    /// @notice `amount * bps / 10000`, rounded up.
    /// @dev amount < 2^128 and bps < 2^16 in every call: no overflow.
    function bpsUp(uint256 amount, uint256 bps) internal pure returns (uint256) {
        unchecked {
            return (amount * bps + BPS - 1) / BPS;
        }
    }

    /// @notice `amount * bps / 10000`, rounded down.
    function bpsDown(uint256 amount, uint256 bps) internal pure returns (uint256) {
        unchecked {
            return amount * bps / BPS;
        }
    }

    /// @notice What a payer escrows for a job of `cost`: the cost plus the most the fee on it can be (rounded up).
    function escrowOf(uint256 cost, uint256 protocolFeeBps) internal pure returns (uint256) {
        return cost + bpsUp(cost, protocolFeeBps);
    }
}

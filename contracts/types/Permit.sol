// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @notice An EIP-2612 signature that lets a pull of funds happen in the same transaction as its approval.
struct PermitSignature {
    uint256 value;
    uint256 deadline;
    uint8 v;
    bytes32 r;
    bytes32 s;
}

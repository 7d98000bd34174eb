// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @notice Where a job stands. Terminal states: Cancelled, Settled, Resolved, Reclaimed.
/// @dev Transitions (and nothing else): Created -> Running | Cancelled; Running -> Completed | Disputed | Reclaimed;
///      Completed -> Settled | Disputed; Disputed -> Resolved.
enum JobState {
    None,
    Created,
    Running,
    Completed,
    Disputed,
    Settled,
    Resolved,
    Cancelled,
    Reclaimed
}

/// @notice A rental of `gpus` GPUs of one offer for up to `duration` seconds, paid from escrow.
/// @dev Invariant: claimed <= earned(endedAt or now) <= cost <= escrow - fee(cost), so every payout fits the escrow.
///      Terms (price, fee, collateral, cancellation-fee and expiry-slash rates) are fixed at creation: later governance
///      changes never reach open jobs' money. The time windows (accept deadline aside) follow the current parameters.
struct Job {
    // slot 0
    address client;
    uint64 offerId;
    uint32 gpus;
    // slot 1
    uint96 pricePerGpuHour;
    uint32 duration; // seconds of GPU time bought
    uint40 acceptDeadline;
    uint40 startedAt;
    uint40 endedAt; // completion, early end, dispute from Running, cancellation or reclaim
    JobState state;
    // slot 2
    uint96 escrow; // cost + protocol fee on cost, pulled at creation
    uint96 claimed; // provider pay already streamed out; final, disputes never reach it
    uint16 protocolFeeBps;
    uint16 collateralBps;
    uint16 cancelFeeBps;
    uint16 expirySlashBps;
}

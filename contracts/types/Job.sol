// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @notice Where a job stands. Terminal states: Settled, Resolved, Cancelled, Reclaimed, Declined, Expired, Dark.
/// @dev Transitions (and nothing else): Created -> Running | Cancelled | Declined | Expired;
///      Running -> Completed | Disputed | Reclaimed | Dark; Completed -> Settled | Disputed; Disputed -> Resolved.
///      v2 states are appended so that v1's numbers keep their meaning.
enum JobState {
    None,
    Created,
    Running,
    Completed,
    Disputed,
    Settled,
    Resolved,
    Cancelled,
    Reclaimed,
    Declined,
    Expired,
    Dark
}

/// @notice A rental of `gpus` GPUs of one offer for up to `duration` seconds, paid from escrow.
/// @dev Invariants: claimed <= earned(endedAt or now) <= cost <= escrow - fee(cost), so every payout fits the escrow;
///      claimed <= pay for `receiptedSeconds` + the collateral's worth in payment units (protocol invariant 7).
///      Escrow, cost and collateral are not stored: they follow from price, gpus, duration and the terms
///      (JobLib.escrowOf), which saves a storage slot per job. Every rate and window of the job is in the immutable
///      parameter snapshot `termsId`: governance changes never reach open jobs.
///      Slot 2 is written only by claims, so creating a job writes two slots.
struct Job {
    // slot 0
    address client;
    uint32 offerId;
    uint32 gpus;
    uint24 termsId; // JobMarket.jobTerms(jobId): the parameters in force when the job was created
    bool sponsored; // paid by someone other than the client: refunds go to JobMarket.payerOf(jobId)
    // slot 1
    uint96 pricePerGpuHour;
    uint32 duration; // seconds of GPU time bought (extensions included)
    uint40 acceptDeadline;
    uint40 startedAt;
    uint40 endedAt; // completion, early end, dispute from Running, dark report, cancellation, decline, expiry, reclaim
    JobState state;
    // slot 2
    uint96 claimed; // provider pay already streamed out
    uint32 receiptedSeconds; // GPU time the client acknowledged with a UsageReceipt, from startedAt
}

/// @notice A dispute's frozen facts, written once by `disputeJob`.
struct Dispute {
    uint40 disputedAt;
    uint40 lastLifeAt; // the provider's last sign of life for this job when it was disputed, at most endedAt
    uint96 bond; // payment-token units, pulled from the client
}

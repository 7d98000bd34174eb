// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {Job, JobState, Dispute} from "../types/Job.sol";
import {Offer, OfferParams, OfferField} from "../types/Offer.sol";
import {PermitSignature} from "../types/Permit.sol";

/// @title GPU Mesh job market (protocol v2)
/// @notice Offers of GPU capacity and jobs that rent it, with payment held in escrow and released only for GPU time
///         that was delivered. Every state change emits one event carrying what an indexer needs, so the whole state
///         can be rebuilt from events alone. Refunds go to the job's payer; slashes to its client.
interface IJobMarket {
    /// @notice Governance parameters, each with hard bounds in the contract. One slot; every job points at the
    ///         snapshot in force when it was created (`jobTerms`), so later changes never reach open jobs.
    struct Parameters {
        uint16 protocolFeeBps; // fee on what providers finally earn, escrowed by the payer on top of cost
        uint16 cancelFeeBps; // share of cost a client pays the provider to cancel before acceptance
        uint16 collateralBps; // stake locked per job at creation, share of its cost
        uint16 expirySlashBps; // collateral slashed when a provider lets the accept window pass, share of cost
        uint16 darkSlashBps; // SLA credit slashed to the client when a provider goes dark, share of the dark time's cost
        uint16 disputeBondBps; // bond a client posts to dispute, share of cost
        uint32 acceptWindow; // seconds after creation for the provider to accept or decline
        uint32 disputeWindow; // seconds after a job ends for the client to dispute
        uint32 abandonGrace; // seconds after a job's end before the client may reclaim it
        uint32 livenessTimeout; // seconds without a sign of life after which a running job's provider is dark
        uint32 resolveWindow; // seconds the arbiter has to resolve a dispute before anyone may finalize it
    }

    enum Parameter {
        ProtocolFeeBps,
        CancelFeeBps,
        CollateralBps,
        ExpirySlashBps,
        AcceptWindow,
        DisputeWindow,
        AbandonGrace,
        DarkSlashBps,
        DisputeBondBps,
        LivenessTimeout,
        ResolveWindow
    }

    // --- offers ---
    event OfferCreated(
        uint256 indexed offerId,
        address indexed provider,
        bytes32 indexed gpuModel,
        uint32 gpus,
        uint256 pricePerGpuHour,
        uint32 minDuration,
        uint32 maxDuration,
        bytes16 region,
        uint16 carbonIntensity,
        uint16 renewableBps,
        uint32 expiresAt
    );
    event OfferUpdated(uint256 indexed offerId, uint32 gpus, uint256 pricePerGpuHour, uint32 expiresAt);
    event OfferClosed(uint256 indexed offerId);

    // --- jobs ---
    /// @param payer who funded the escrow and receives every refund (the client unless sponsored)
    /// @param escrow cost + fee on cost, pulled from `payer`
    /// @param collateral stake locked for the job from the provider's unlocked stake, in stake-token units
    /// @dev The job follows the parameter snapshot in force at creation (the latest ParameterSet's termsId).
    event JobCreated(
        uint256 indexed jobId,
        uint256 indexed offerId,
        address indexed client,
        address provider,
        address payer,
        uint32 gpus,
        uint256 pricePerGpuHour,
        uint32 duration,
        uint256 cost,
        uint256 escrow,
        uint64 acceptDeadline,
        bytes32 specHash,
        uint256 collateral
    );
    /// @notice The job's clock started. Like JobClaimed and JobCompleted, it is also a sign of life of the provider
    ///         (no ProviderHeartbeat is emitted for those).
    event JobAccepted(uint256 indexed jobId, address indexed provider, uint64 startedAt);
    /// @notice The provider turned the job down: the payer is refunded in full, the collateral released, no slash.
    event JobDeclined(uint256 indexed jobId, address indexed provider, uint256 refund, bytes32 reason);
    /// @notice The client cancelled before acceptance and paid the provider `cancelFee`; the payer got `refund`.
    event JobCancelled(uint256 indexed jobId, uint256 refund, uint256 cancelFee);
    /// @notice The accept window passed: the payer is refunded in full; `slashed` came from the job's collateral.
    event JobExpired(uint256 indexed jobId, uint256 refund, uint256 slashed);
    /// @notice A provider's sign of life, covering all its running jobs.
    event ProviderHeartbeat(address indexed provider, uint64 at);
    /// @param claimed the provider's streamed pay for this job so far
    /// @param receiptedUntil the time up to which the client has acknowledged service (0: no receipt yet)
    event JobClaimed(uint256 indexed jobId, uint256 amount, uint256 claimed, uint64 receiptedUntil);
    /// @notice The payer bought more time at the job's terms.
    /// @param duration the job's new total duration; `cost`, `escrow` and `collateral` are the new totals
    event JobExtended(
        uint256 indexed jobId,
        uint32 duration,
        uint256 cost,
        uint256 escrow,
        uint256 extraEscrow,
        uint256 collateral
    );
    /// @param earned what the provider earns for the time used, streamed pay included
    event JobCompleted(uint256 indexed jobId, uint64 endedAt, uint256 earned, bytes32 resultHash);
    event JobEndedEarly(uint256 indexed jobId, uint64 endedAt, uint256 earned);
    /// @notice The provider showed no sign of life for the job's liveness timeout; the job ended at once.
    /// @param paidUntil the provider's last sign of life (at most the job's end): it earns up to there
    /// @param earned the provider's total pay for the job, streamed pay included; fee on it to the treasury
    /// @param slashed the SLA credit taken from the collateral, to the client
    event JobDark(
        uint256 indexed jobId,
        uint64 endedAt,
        uint64 paidUntil,
        uint256 earned,
        uint256 providerPay,
        uint256 protocolFee,
        uint256 refund,
        uint256 slashed
    );
    /// @param endedAt when the job's clock stopped (the dispute time when disputed while running)
    /// @param bond pulled from the client; `resolveDeadline` is when anyone may finalize without the arbiter
    event JobDisputed(
        uint256 indexed jobId, uint64 endedAt, uint256 earned, bytes32 reasonHash, uint256 bond, uint64 resolveDeadline
    );
    /// @param providerPay paid to the provider now (earned less streamed pay)
    event JobSettled(uint256 indexed jobId, uint256 providerPay, uint256 protocolFee, uint256 refund);
    /// @param earned the provider's final pay for the job (receipted pay + its share of the disputed pay)
    /// @param slashed taken from the collateral to the client: streamed pay the ruling took back, plus the penalty
    /// @param bondToProvider true when the ruling was fully for the provider and the bond went to it
    event JobResolved(
        uint256 indexed jobId,
        uint16 providerShareBps,
        uint256 earned,
        uint256 providerPay,
        uint256 protocolFee,
        uint256 refund,
        uint256 slashed,
        bool bondToProvider
    );
    /// @notice Nobody resolved the dispute within the resolve window: no-fault outcome, paid to the last sign of
    ///         life (or the receipted time, if later), bond back to the client, no slash.
    event JobDisputeFinalized(uint256 indexed jobId, uint256 earned, uint256 providerPay, uint256 protocolFee, uint256 refund);
    /// @notice The provider left the job running past its end and the grace period; paid to its last sign of life.
    event JobReclaimed(uint256 indexed jobId, uint64 endedAt, uint256 earned, uint256 providerPay, uint256 protocolFee, uint256 refund);

    // --- money and governance ---
    /// @notice A payout could not be pushed to `account` (it cannot receive); it is credited for `withdrawBalance`.
    event PayoutCredited(address indexed account, uint256 amount);
    event BalanceWithdrawn(address indexed account, address indexed to, uint256 amount);
    event FeesWithdrawn(address indexed treasury, uint256 amount);
    /// @param termsId the new parameter snapshot that jobs created from now on follow
    event ParameterSet(Parameter indexed parameter, uint256 oldValue, uint256 newValue, uint256 termsId);
    event TreasurySet(address indexed treasury);

    // --- errors ---
    error JobMarketZeroAddress();
    error JobMarketInvalidStakeRate(uint256 stakePerPaymentUnit);
    error JobMarketParameterOutOfBounds(Parameter parameter, uint256 value, uint256 min, uint256 max);
    error JobMarketUnknownGpuModel(bytes32 gpuModel);
    error JobMarketInvalidRegion(bytes16 region);
    /// @notice `field` is `value`, outside [min, max].
    error JobMarketInvalidOffer(OfferField field, uint256 value, uint256 min, uint256 max);
    error JobMarketInsufficientStake(address provider, uint256 unlocked, uint256 minStake);
    /// @notice The provider's unlocked stake cannot back an offer's whole capacity for its minimum duration.
    error JobMarketOfferNotBacked(address provider, uint256 unlocked, uint256 required);
    error JobMarketUnknownOffer(uint256 offerId);
    error JobMarketNotOfferProvider(uint256 offerId, address caller);
    error JobMarketOfferClosed(uint256 offerId);
    error JobMarketOfferExpired(uint256 offerId, uint32 expiresAt);
    error JobMarketGpusBelowLeased(uint32 gpus, uint32 gpusLeased);
    error JobMarketInsufficientCapacity(uint32 requested, uint32 available);
    error JobMarketDurationOutOfRange(uint256 duration, uint256 minDuration, uint256 maxDuration);
    error JobMarketPriceAboveMax(uint256 offerPrice, uint256 maxPrice);
    /// @notice The escrow the call would pull is above the most the caller agreed to.
    error JobMarketEscrowAboveMax(uint256 escrow, uint256 maxEscrow);
    error JobMarketSelfDealing(address account);
    error JobMarketUnknownJob(uint256 jobId);
    error JobMarketInvalidState(uint256 jobId, JobState state);
    error JobMarketNotClient(uint256 jobId, address caller);
    error JobMarketNotPayer(uint256 jobId, address caller);
    error JobMarketNotProvider(uint256 jobId, address caller);
    error JobMarketAcceptWindowClosed(uint256 jobId, uint64 acceptDeadline);
    error JobMarketAcceptWindowOpen(uint256 jobId, uint64 acceptDeadline);
    error JobMarketNothingToClaim(uint256 jobId);
    /// @notice The receipt's signature is not the client's (EOA or EIP-1271 contract wallet).
    error JobMarketInvalidReceipt(uint256 jobId, address client);
    error JobMarketJobEnded(uint256 jobId, uint64 endsAt);
    /// @notice The provider is not dark: it showed a sign of life at `lastLifeAt`; dark from `darkAt`.
    error JobMarketProviderNotDark(uint256 jobId, uint64 lastLifeAt, uint64 darkAt);
    error JobMarketDisputeWindowClosed(uint256 jobId, uint64 deadline);
    error JobMarketDisputeWindowOpen(uint256 jobId, uint64 deadline);
    error JobMarketResolveWindowClosed(uint256 jobId, uint64 deadline);
    error JobMarketResolveWindowOpen(uint256 jobId, uint64 deadline);
    error JobMarketNotAbandoned(uint256 jobId, uint64 reclaimableAt);
    error JobMarketInvalidShare(uint256 providerShareBps);
    /// @notice `available` is the collateral left after taking back streamed pay the ruling does not award.
    error JobMarketSlashAboveCollateral(uint256 slashAmount, uint256 available);
    error JobMarketTransferAmountMismatch(uint256 expected, uint256 received);
    error JobMarketTermsExhausted();
    error JobMarketNothingToWithdraw();

    // --- offers ---
    /// @notice Lists capacity. The provider's unlocked stake must reach `minStake` and back the whole offer at its
    ///         minimum duration (collateral of gpus x price x minDuration), so listed supply is rentable.
    function createOffer(OfferParams calldata params) external returns (uint256 offerId);
    /// @notice Reprices or resizes an offer; never below what is leased. Running jobs keep their terms.
    function updateOffer(uint256 offerId, uint32 gpus, uint96 pricePerGpuHour, uint32 expiresAt) external;
    function closeOffer(uint256 offerId) external;

    // --- jobs ---
    /// @notice Rents `gpus` GPUs of an offer for up to `duration` seconds; pulls cost + fee (at most `maxEscrow`) from
    ///         the caller and locks the job's collateral from the provider's unlocked stake.
    function createJob(
        uint256 offerId,
        uint32 gpus,
        uint32 duration,
        uint256 maxPricePerGpuHour,
        uint256 maxEscrow,
        bytes32 specHash
    ) external returns (uint256 jobId);
    /// @notice As createJob, paid by the caller (a sponsor) for `client`, who runs the job; refunds go to the caller.
    function createJobFor(
        address client,
        uint256 offerId,
        uint32 gpus,
        uint32 duration,
        uint256 maxPricePerGpuHour,
        uint256 maxEscrow,
        bytes32 specHash
    ) external returns (uint256 jobId);
    /// @notice As createJobFor, with an EIP-2612 permit from the caller so one transaction suffices.
    function createJobWithPermit(
        address client,
        uint256 offerId,
        uint32 gpus,
        uint32 duration,
        uint256 maxPricePerGpuHour,
        uint256 maxEscrow,
        bytes32 specHash,
        PermitSignature calldata permit
    ) external returns (uint256 jobId);
    /// @notice Approves the market for the caller's payment token with an EIP-2612 permit. With `multicall`, this makes
    ///         any pull (extendJob, disputeJob) a single transaction: multicall([selfPermit(p), extendJob(...)]).
    function selfPermit(PermitSignature calldata permit) external;
    /// @notice Provider: starts the job's clock. Counts as a heartbeat.
    function acceptJob(uint256 jobId) external;
    /// @notice Provider: turns a job down before accepting it; full refund, collateral released, no slash.
    function declineJob(uint256 jobId, bytes32 reason) external;
    function cancelJob(uint256 jobId) external;
    function expireJob(uint256 jobId) external;
    /// @notice Provider: one sign of life for all its running jobs.
    function heartbeat() external;
    /// @notice Provider: streams pay for elapsed time, never more than receipted pay plus what the job's collateral
    ///         can take back. Counts as a heartbeat.
    function claim(uint256 jobId) external returns (uint256 amount);
    /// @notice Provider: pays up to `servedUntil` with the client's EIP-712 UsageReceipt(jobId, servedUntil); that pay
    ///         is final. Allowed while Running, Completed or Disputed. Counts as a heartbeat.
    function claimWithReceipt(uint256 jobId, uint64 servedUntil, bytes calldata signature)
        external
        returns (uint256 amount);
    /// @notice Payer: buys `extraDuration` more seconds at the job's price and terms, pulling at most `maxEscrow`.
    function extendJob(uint256 jobId, uint32 extraDuration, uint256 maxEscrow) external;
    function completeJob(uint256 jobId, bytes32 resultHash) external;
    function endJobEarly(uint256 jobId) external;
    /// @notice Anyone: ends a running job whose provider is dark; paid to its last sign of life, the rest refunded,
    ///         SLA credit slashed to the client.
    function reportDark(uint256 jobId) external;
    /// @notice Client: disputes a running job, or a completed one within the dispute window, posting the bond.
    function disputeJob(uint256 jobId, bytes32 reasonHash) external;
    function settleJob(uint256 jobId) external;
    /// @notice Arbiter, within the resolve window: the provider gets its receipted pay plus `providerShareBps` of the
    ///         rest of the time used; streamed pay above that is taken back from the collateral, and `slashAmount`
    ///         more may be slashed from what collateral is left.
    function resolveDispute(uint256 jobId, uint16 providerShareBps, uint256 slashAmount) external;
    /// @notice Anyone, after the resolve window: the no-fault outcome.
    function finalizeStaleDispute(uint256 jobId) external;
    function reclaimAbandoned(uint256 jobId) external;

    // --- money ---
    function withdrawBalance(address to) external;
    function withdrawFees() external;

    // --- governance ---
    function setParameter(Parameter parameter, uint256 value) external;
    function setTreasury(address treasury) external;
    function pause() external;
    function unpause() external;

    // --- views ---
    function getOffer(uint256 offerId) external view returns (Offer memory);
    function getJob(uint256 jobId) external view returns (Job memory);
    /// @notice The parameters the job follows, fixed at its creation.
    function jobTerms(uint256 jobId) external view returns (Parameters memory);
    function payerOf(uint256 jobId) external view returns (address);
    /// @notice Cost, escrow (cost + fee on cost) and collateral (stake-token units) of a job as it stands.
    function jobAmounts(uint256 jobId) external view returns (uint256 cost, uint256 escrow, uint256 collateral);
    function getDispute(uint256 jobId) external view returns (Dispute memory);
    /// @notice What the provider has earned on a job so far (time used at the job's price, streamed pay included).
    function earned(uint256 jobId) external view returns (uint256);
    /// @notice The most `claim` would pay in total now (streamed pay included).
    function claimable(uint256 jobId) external view returns (uint256);
    function lastHeartbeat(address provider) external view returns (uint64);
    /// @notice When a running job's provider becomes dark if it shows no further sign of life (0: it cannot, the job
    ///         is not running or its provider was alive through its end).
    function darkAt(uint256 jobId) external view returns (uint64);
    /// @notice The EIP-712 digest the client signs for a UsageReceipt.
    function receiptDigest(uint256 jobId, uint64 servedUntil) external view returns (bytes32);
    /// @notice Cost, fee, escrow and collateral of a job that `createJob` would create now.
    function quote(uint256 offerId, uint32 gpus, uint32 duration)
        external
        view
        returns (uint256 cost, uint256 fee, uint256 escrow, uint256 collateral);
    function parameters() external view returns (Parameters memory);
    function currentTermsId() external view returns (uint256);
    function terms(uint256 termsId) external view returns (Parameters memory);
    function parameterBounds(Parameter parameter) external pure returns (uint256 min, uint256 max);
    function balanceOf(address account) external view returns (uint256);
    function feesAccrued() external view returns (uint256);
    function disputeBondsHeld() external view returns (uint256);
    function nextOfferId() external view returns (uint256);
    function nextJobId() external view returns (uint256);
    function paymentToken() external view returns (address);
    function staking() external view returns (address);
    function catalog() external view returns (address);
    function treasury() external view returns (address);
}

// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {Job, JobState} from "../types/Job.sol";
import {Offer, OfferParams} from "../types/Offer.sol";
import {PermitSignature} from "../types/Permit.sol";

/// @title GPU Mesh job market
/// @notice Offers of GPU capacity and jobs that rent it, with payment held in escrow until settlement.
///         Every state change emits one event carrying what an indexer needs, so the whole state can be rebuilt
///         from events alone.
interface IJobMarket {
    /// @notice Governance parameters, each with hard bounds in the contract. Packed in one slot.
    struct Parameters {
        uint16 protocolFeeBps; // fee on what providers earn, paid by the client on top of cost
        uint16 cancelFeeBps; // share of cost a client pays the provider to cancel before acceptance
        uint16 collateralBps; // stake locked per accepted job, share of its cost
        uint16 expirySlashBps; // stake slashed when a provider lets the accept window pass, share of cost
        uint32 acceptWindow; // seconds
        uint32 disputeWindow; // seconds after a job ends
        uint32 abandonGrace; // seconds after a job's end before the client may reclaim it
    }

    enum Parameter {
        ProtocolFeeBps,
        CancelFeeBps,
        CollateralBps,
        ExpirySlashBps,
        AcceptWindow,
        DisputeWindow,
        AbandonGrace
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
    /// @param escrow cost + fee, pulled from `payer`
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
        bytes32 specHash
    );
    /// @param collateral stake locked for the job, in stake-token units
    event JobAccepted(uint256 indexed jobId, address indexed provider, uint64 startedAt, uint256 collateral);
    /// @notice The client cancelled before acceptance and paid the provider `cancelFee`.
    event JobCancelled(uint256 indexed jobId, uint256 refund, uint256 cancelFee);
    /// @notice The accept window passed: the client is refunded in full; the provider may be slashed (see Slashed).
    event JobExpired(uint256 indexed jobId, uint256 refund, uint256 slashed);
    /// @param claimed the provider's streamed pay for this job so far
    event JobClaimed(uint256 indexed jobId, uint256 amount, uint256 claimed);
    /// @param earned what the provider earns for the time used, streamed pay included
    event JobCompleted(uint256 indexed jobId, uint64 endedAt, uint256 earned, bytes32 resultHash);
    event JobEndedEarly(uint256 indexed jobId, uint64 endedAt, uint256 earned);
    /// @param endedAt when the job's clock stopped (the dispute time when disputed while running)
    event JobDisputed(uint256 indexed jobId, uint64 endedAt, uint256 earned, bytes32 reasonHash);
    /// @param providerPay paid to the provider now (earned less streamed pay)
    event JobSettled(uint256 indexed jobId, uint256 providerPay, uint256 protocolFee, uint256 refund);
    event JobResolved(
        uint256 indexed jobId,
        uint16 providerShareBps,
        uint256 providerPay,
        uint256 protocolFee,
        uint256 refund,
        uint256 slashed
    );
    /// @notice The provider left the job running past its end and the grace period: unclaimed escrow went back.
    event JobReclaimed(uint256 indexed jobId, uint64 endedAt, uint256 protocolFee, uint256 refund);

    // --- money and governance ---
    /// @notice A payout could not be pushed to `account` (it cannot receive); it is credited for `withdrawBalance`.
    event PayoutCredited(address indexed account, uint256 amount);
    event BalanceWithdrawn(address indexed account, address indexed to, uint256 amount);
    event FeesWithdrawn(address indexed treasury, uint256 amount);
    event ParameterSet(Parameter indexed parameter, uint256 oldValue, uint256 newValue);
    event TreasurySet(address indexed treasury);

    // --- errors ---
    error JobMarketZeroAddress();
    error JobMarketInvalidStakeRate(uint256 stakePerPaymentUnit);
    error JobMarketParameterOutOfBounds(Parameter parameter, uint256 value, uint256 min, uint256 max);
    error JobMarketUnknownGpuModel(bytes32 gpuModel);
    error JobMarketInvalidRegion(bytes16 region);
    error JobMarketInvalidOffer();
    error JobMarketInsufficientStake(address provider, uint256 unlocked, uint256 minStake);
    error JobMarketUnknownOffer(uint256 offerId);
    error JobMarketNotOfferProvider(uint256 offerId, address caller);
    error JobMarketOfferClosed(uint256 offerId);
    error JobMarketOfferExpired(uint256 offerId, uint32 expiresAt);
    error JobMarketGpusBelowLeased(uint32 gpus, uint32 gpusLeased);
    error JobMarketInsufficientCapacity(uint32 requested, uint32 available);
    error JobMarketDurationOutOfRange(uint32 duration, uint32 minDuration, uint32 maxDuration);
    error JobMarketPriceAboveMax(uint256 offerPrice, uint256 maxPrice);
    error JobMarketSelfDealing(address account);
    error JobMarketUnknownJob(uint256 jobId);
    error JobMarketInvalidState(uint256 jobId, JobState state);
    error JobMarketNotClient(uint256 jobId, address caller);
    error JobMarketNotProvider(uint256 jobId, address caller);
    error JobMarketAcceptWindowClosed(uint256 jobId, uint64 acceptDeadline);
    error JobMarketAcceptWindowOpen(uint256 jobId, uint64 acceptDeadline);
    error JobMarketNothingToClaim(uint256 jobId);
    error JobMarketDisputeWindowClosed(uint256 jobId, uint64 deadline);
    error JobMarketDisputeWindowOpen(uint256 jobId, uint64 deadline);
    error JobMarketNotAbandoned(uint256 jobId, uint64 reclaimableAt);
    error JobMarketInvalidShare(uint256 providerShareBps);
    error JobMarketSlashAboveCollateral(uint256 slashAmount, uint256 collateral);
    error JobMarketTransferAmountMismatch(uint256 expected, uint256 received);
    error JobMarketNothingToWithdraw();

    // --- offers ---
    function createOffer(OfferParams calldata params) external returns (uint256 offerId);
    /// @notice Reprices or resizes an offer; never below what is leased. Running jobs keep their terms.
    function updateOffer(uint256 offerId, uint32 gpus, uint96 pricePerGpuHour, uint32 expiresAt) external;
    function closeOffer(uint256 offerId) external;

    // --- jobs ---
    /// @notice Rents `gpus` GPUs of an offer for up to `duration` seconds; pulls cost + fee from the caller.
    function createJob(uint256 offerId, uint32 gpus, uint32 duration, uint256 maxPricePerGpuHour, bytes32 specHash)
        external
        returns (uint256 jobId);
    /// @notice As createJob, paid by the caller (a sponsor) for `client`, who owns the job and its refunds.
    function createJobFor(
        address client,
        uint256 offerId,
        uint32 gpus,
        uint32 duration,
        uint256 maxPricePerGpuHour,
        bytes32 specHash
    ) external returns (uint256 jobId);
    /// @notice As createJobFor, with an EIP-2612 permit from the caller so one transaction suffices.
    function createJobWithPermit(
        address client,
        uint256 offerId,
        uint32 gpus,
        uint32 duration,
        uint256 maxPricePerGpuHour,
        bytes32 specHash,
        PermitSignature calldata permit
    ) external returns (uint256 jobId);
    function acceptJob(uint256 jobId) external;
    function cancelJob(uint256 jobId) external;
    function expireJob(uint256 jobId) external;
    function claim(uint256 jobId) external returns (uint256 amount);
    function completeJob(uint256 jobId, bytes32 resultHash) external;
    function endJobEarly(uint256 jobId) external;
    function disputeJob(uint256 jobId, bytes32 reasonHash) external;
    function settleJob(uint256 jobId) external;
    function resolveDispute(uint256 jobId, uint16 providerShareBps, uint256 slashAmount) external;
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
    /// @notice What the provider has earned on a job so far (time used at the job's price, streamed pay included).
    function earned(uint256 jobId) external view returns (uint256);
    /// @notice Cost, fee and escrow of a job that `createJob` would create now.
    function quote(uint256 offerId, uint32 gpus, uint32 duration)
        external
        view
        returns (uint256 cost, uint256 fee, uint256 escrow);
    function parameters() external view returns (Parameters memory);
    function parameterBounds(Parameter parameter) external pure returns (uint256 min, uint256 max);
    function balanceOf(address account) external view returns (uint256);
    function feesAccrued() external view returns (uint256);
    function nextOfferId() external view returns (uint256);
    function nextJobId() external view returns (uint256);
    function paymentToken() external view returns (address);
    function staking() external view returns (address);
    function catalog() external view returns (address);
    function treasury() external view returns (address);
}

// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {Multicall} from "@openzeppelin/contracts/utils/Multicall.sol";
import {SignatureChecker} from "@openzeppelin/contracts/utils/cryptography/SignatureChecker.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Permit.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {IJobMarket} from "./interfaces/IJobMarket.sol";
import {IGpuCatalog} from "./interfaces/IGpuCatalog.sol";
import {IProviderStaking} from "./interfaces/IProviderStaking.sol";
import {Job, JobState, Dispute} from "./types/Job.sol";
import {Offer, OfferParams, OfferField} from "./types/Offer.sol";
import {PermitSignature} from "./types/Permit.sol";
import {JobMath} from "./libraries/JobMath.sol";
import {JobLib} from "./libraries/JobLib.sol";
import {OfferBook} from "./libraries/OfferBook.sol";
import {ParameterBook} from "./libraries/ParameterBook.sol";

/// @title JobMarket
/// @notice Offers of GPU capacity and jobs with escrowed payment, released only for GPU time that was delivered.
///         For every job, at its end: payer refund + provider pay + protocol fee == escrow, exactly, and a dispute
///         bond goes back to the client or, on a ruling fully for the provider, to the provider.
/// @dev Money rules: cost rounds up (provider's favour), the fee rounds up (protocol's favour), the refund is what is
///      left, so the contract never owes more than it holds. Governance sets bounded parameters and pauses new
///      business; it has no path to escrow. Every token-moving function is nonReentrant.
contract JobMarket is IJobMarket, AccessControl, Pausable, ReentrancyGuardTransient, Multicall, EIP712 {
    using SafeERC20 for IERC20;
    using SafeCast for uint256;
    using JobLib for Job;

    // ------------------------------------------------------------------ constants
    bytes32 public constant PAUSER_ROLE = keccak256("PAUSER_ROLE");
    bytes32 public constant ARBITER_ROLE = keccak256("ARBITER_ROLE");
    bytes32 public constant USAGE_RECEIPT_TYPEHASH = keccak256("UsageReceipt(uint256 jobId,uint64 servedUntil)");
    uint32 public constant MAX_JOB_DURATION = OfferBook.MAX_JOB_DURATION;
    uint32 public constant MAX_OFFER_GPUS = OfferBook.MAX_OFFER_GPUS;
    uint32 public constant MAX_OFFER_LIFETIME = OfferBook.MAX_OFFER_LIFETIME;
    uint256 internal constant BPS = 10_000;

    /// @dev How the escrow of a job that ran is paid out at its end (stake units for `slashed`).
    struct Payout {
        uint256 providerPay;
        uint256 fee;
        uint256 refund;
        uint256 slashed;
    }

    // ------------------------------------------------------------------ storage
    IERC20 internal immutable _paymentToken;
    IProviderStaking internal immutable _staking;
    IGpuCatalog internal immutable _catalog;
    /// @notice Stake-token base units that one payment-token base unit of job cost is worth for collateral and
    ///         slashes (1 when both tokens are the same; 1e12 for a 6-decimal stablecoin against an 18-decimal stake
    ///         token valued one to one). Fixed at deployment, like the tokens.
    uint256 public immutable stakePerPaymentUnit;

    // Slot 1, shared with Pausable's `_paused` (8 bits): the pause check, the counters, accrued fees and the current
    // terms are one slot, so createJob and settlement each pay for one warm write here. uint96 fees hold 7.9e28 base
    // units, more than any escrow total this market can hold between two withdrawals.
    uint32 internal _nextOfferId;
    uint64 internal _nextJobId;
    uint96 internal _feesAccrued;
    uint24 internal _currentTermsId;

    address public treasury;
    /// @dev Dispute bonds of open disputes. Invariant 1: the market's payment-token balance equals the unpaid escrow
    ///      of open jobs + these bonds + credited balances + accrued fees.
    uint256 internal _bondsHeld;

    /// @dev Immutable snapshots: an id is written once, when governance changes a parameter; jobs point at one.
    mapping(uint256 termsId => Parameters) internal _terms;
    mapping(uint256 offerId => Offer) internal _offers;
    mapping(uint256 jobId => Job) internal _jobs;
    /// @dev Written only for sponsored jobs (Job.sponsored); the payer of any other job is its client.
    mapping(uint256 jobId => address) internal _sponsors;
    mapping(uint256 jobId => Dispute) internal _disputes;
    /// @dev One write covers all of a provider's running jobs.
    mapping(address provider => uint64) internal _lastHeartbeat;
    /// @dev Payouts that could not be pushed.
    mapping(address account => uint256) internal _balances;

    // ------------------------------------------------------------------ constructor
    constructor(
        IERC20 paymentToken_,
        IProviderStaking staking_,
        IGpuCatalog catalog_,
        address governance,
        address treasury_,
        uint256 stakePerPaymentUnit_,
        Parameters memory parameters_
    ) EIP712("GPU Mesh JobMarket", "2") {
        if (
            address(paymentToken_) == address(0) || address(staking_) == address(0)
                || address(catalog_) == address(0) || governance == address(0) || treasury_ == address(0)
        ) revert JobMarketZeroAddress();
        if (stakePerPaymentUnit_ == 0 || stakePerPaymentUnit_ > 1e24) revert JobMarketInvalidStakeRate(stakePerPaymentUnit_);
        stakePerPaymentUnit = stakePerPaymentUnit_;
        _paymentToken = paymentToken_;
        _staking = staking_;
        _catalog = catalog_;
        _nextOfferId = 1;
        _nextJobId = 1;
        treasury = treasury_;
        _grantRole(DEFAULT_ADMIN_ROLE, governance);
        _grantRole(PAUSER_ROLE, governance);
        _grantRole(ARBITER_ROLE, governance);
        ParameterBook.publish(_terms, 1, parameters_);
        _currentTermsId = 1;
        emit TreasurySet(treasury_);
    }

    // ------------------------------------------------------------------ admin
    /// @inheritdoc IJobMarket
    function setParameter(Parameter parameter, uint256 value) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _currentTermsId = uint24(ParameterBook.change(_terms, _currentTermsId, parameter, value));
    }

    /// @inheritdoc IJobMarket
    function setTreasury(address treasury_) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (treasury_ == address(0)) revert JobMarketZeroAddress();
        treasury = treasury_;
        emit TreasurySet(treasury_);
    }

    /// @inheritdoc IJobMarket
    function pause() external onlyRole(PAUSER_ROLE) {
        _pause();
    }

    /// @inheritdoc IJobMarket
    function unpause() external onlyRole(PAUSER_ROLE) {
        _unpause();
    }

    // ------------------------------------------------------------------ offers
    /// @inheritdoc IJobMarket
    function createOffer(OfferParams calldata params) external whenNotPaused returns (uint256 offerId) {
        offerId = _nextOfferId++;
        OfferBook.create(_offers, offerId, params, _backing());
    }

    /// @inheritdoc IJobMarket
    function updateOffer(uint256 offerId, uint32 gpus, uint96 pricePerGpuHour, uint32 expiresAt) external {
        OfferBook.update(_offers, offerId, gpus, pricePerGpuHour, expiresAt, _backing());
    }

    /// @inheritdoc IJobMarket
    function closeOffer(uint256 offerId) external {
        OfferBook.ownOpenOffer(_offers, offerId).closed = true;
        emit OfferClosed(offerId);
    }

    // ------------------------------------------------------------------ jobs: creation
    /// @inheritdoc IJobMarket
    function createJob(
        uint256 offerId,
        uint32 gpus,
        uint32 duration,
        uint256 maxPricePerGpuHour,
        uint256 maxEscrow,
        bytes32 specHash
    ) external whenNotPaused nonReentrant returns (uint256 jobId) {
        return _createJob(msg.sender, offerId, gpus, duration, maxPricePerGpuHour, maxEscrow, specHash);
    }

    /// @inheritdoc IJobMarket
    function createJobFor(
        address client,
        uint256 offerId,
        uint32 gpus,
        uint32 duration,
        uint256 maxPricePerGpuHour,
        uint256 maxEscrow,
        bytes32 specHash
    ) external whenNotPaused nonReentrant returns (uint256 jobId) {
        return _createJob(client, offerId, gpus, duration, maxPricePerGpuHour, maxEscrow, specHash);
    }

    /// @inheritdoc IJobMarket
    function createJobWithPermit(
        address client,
        uint256 offerId,
        uint32 gpus,
        uint32 duration,
        uint256 maxPricePerGpuHour,
        uint256 maxEscrow,
        bytes32 specHash,
        PermitSignature calldata permit
    ) external whenNotPaused nonReentrant returns (uint256 jobId) {
        _permit(permit);
        return _createJob(client, offerId, gpus, duration, maxPricePerGpuHour, maxEscrow, specHash);
    }

    /// @inheritdoc IJobMarket
    function selfPermit(PermitSignature calldata permit) external {
        _permit(permit);
    }

    // ------------------------------------------------------------------ jobs: before acceptance
    /// @inheritdoc IJobMarket
    /// @dev Not stopped by pause: the job's money is already escrowed, and refusing acceptance would only push the
    ///      provider towards an expiry slash.
    function acceptJob(uint256 jobId) external {
        Job storage job = _jobInState(jobId, JobState.Created);
        address provider = _providerOnly(jobId, job);
        if (block.timestamp > job.acceptDeadline) revert JobMarketAcceptWindowClosed(jobId, job.acceptDeadline);
        job.startedAt = uint40(block.timestamp);
        job.state = JobState.Running;
        _lastHeartbeat[provider] = uint64(block.timestamp);
        emit JobAccepted(jobId, provider, uint64(block.timestamp));
    }

    /// @inheritdoc IJobMarket
    function declineJob(uint256 jobId, bytes32 reason) external nonReentrant {
        Job storage job = _jobInState(jobId, JobState.Created);
        address provider = _providerOnly(jobId, job);
        // After the deadline the job can only expire: declining then would dodge the expiry slash.
        if (block.timestamp > job.acceptDeadline) revert JobMarketAcceptWindowClosed(jobId, job.acceptDeadline);
        Parameters memory t = _terms[job.termsId];
        uint256 refund = job.escrow(t.protocolFeeBps);
        _endBeforeStart(job, JobState.Declined);
        emit JobDeclined(jobId, provider, refund, reason);
        _staking.releaseCollateral(provider, jobId, _collateralOf(job, t), 0, job.client, 0);
        _pay(_payerOf(jobId, job), refund);
    }

    /// @inheritdoc IJobMarket
    function cancelJob(uint256 jobId) external nonReentrant {
        Job storage job = _jobInState(jobId, JobState.Created);
        _clientOnly(jobId, job);
        Parameters memory t = _terms[job.termsId];
        uint256 cancelFee = JobMath.bpsDown(job.cost(), t.cancelFeeBps);
        uint256 refund = job.escrow(t.protocolFeeBps) - cancelFee;
        address provider = _endBeforeStart(job, JobState.Cancelled);
        emit JobCancelled(jobId, refund, cancelFee);
        _staking.releaseCollateral(provider, jobId, _collateralOf(job, t), 0, job.client, 0);
        _pay(provider, cancelFee);
        _pay(_payerOf(jobId, job), refund);
    }

    /// @inheritdoc IJobMarket
    function expireJob(uint256 jobId) external nonReentrant {
        Job storage job = _jobInState(jobId, JobState.Created);
        if (block.timestamp <= job.acceptDeadline) revert JobMarketAcceptWindowOpen(jobId, job.acceptDeadline);
        Parameters memory t = _terms[job.termsId];
        uint256 cost = job.cost();
        uint256 refund = job.escrow(t.protocolFeeBps);
        uint256 collateral = _collateralOf(job, t);
        uint256 slash = JobMath.bpsDown(cost, t.expirySlashBps) * stakePerPaymentUnit;
        if (slash > collateral) slash = collateral;
        address provider = _endBeforeStart(job, JobState.Expired);
        emit JobExpired(jobId, refund, slash);
        _staking.releaseCollateral(provider, jobId, collateral, slash, job.client, cost * stakePerPaymentUnit);
        _pay(_payerOf(jobId, job), refund);
    }

    // ------------------------------------------------------------------ jobs: running
    /// @inheritdoc IJobMarket
    function heartbeat() external {
        _lastHeartbeat[msg.sender] = uint64(block.timestamp);
        emit ProviderHeartbeat(msg.sender, uint64(block.timestamp));
    }

    /// @inheritdoc IJobMarket
    function claim(uint256 jobId) external nonReentrant returns (uint256 amount) {
        Job storage job = _jobInState(jobId, JobState.Running);
        address provider = _providerOnly(jobId, job);
        uint256 total = job.earnedAt(block.timestamp);
        // Without a receipt, pay stops where the collateral could no longer make a wronged client whole.
        uint256 cap = job.claimCap(_terms[job.termsId].collateralBps);
        if (total > cap) total = cap;
        if (total <= job.claimed) revert JobMarketNothingToClaim(jobId);
        _lastHeartbeat[provider] = uint64(block.timestamp);
        amount = _recordClaim(jobId, job, total);
        _pay(provider, amount);
    }

    /// @inheritdoc IJobMarket
    function claimWithReceipt(uint256 jobId, uint64 servedUntil, bytes calldata signature)
        external
        nonReentrant
        returns (uint256 amount)
    {
        Job storage job = _existingJob(jobId);
        JobState state = job.state;
        if (state != JobState.Running && state != JobState.Completed && state != JobState.Disputed) {
            revert JobMarketInvalidState(jobId, state);
        }
        address provider = _providerOnly(jobId, job);
        address client = job.client;
        if (!SignatureChecker.isValidSignatureNow(client, receiptDigest(jobId, servedUntil), signature)) {
            revert JobMarketInvalidReceipt(jobId, client);
        }
        // A receipt never covers time that has not passed, or that came after the clock stopped.
        uint256 until = state == JobState.Running ? block.timestamp : job.endedAt;
        if (servedUntil < until) until = servedUntil;
        uint256 end = job.endsAt();
        if (until > end) until = end;
        uint256 startedAt = job.startedAt;
        bool advanced = until > startedAt && until - startedAt > job.receiptedSeconds;
        // until <= end = startedAt + duration, and duration < 2^32.
        if (advanced) job.receiptedSeconds = uint32(until - startedAt);
        uint256 total = job.receiptedPay();
        if (state == JobState.Running) {
            uint256 streamable = job.earnedAt(block.timestamp);
            uint256 cap = job.claimCap(_terms[job.termsId].collateralBps);
            total = streamable < cap ? streamable : cap;
        }
        if (total < job.claimed) total = job.claimed;
        // A receipt that pays nothing new is still recorded: it makes its time final against a dispute.
        if (total == job.claimed && !advanced) revert JobMarketNothingToClaim(jobId);
        _lastHeartbeat[provider] = uint64(block.timestamp);
        amount = _recordClaim(jobId, job, total);
        _pay(provider, amount);
    }

    /// @inheritdoc IJobMarket
    function extendJob(uint256 jobId, uint32 extraDuration, uint256 maxEscrow) external whenNotPaused nonReentrant {
        _extendJob(jobId, extraDuration, maxEscrow);
    }


    /// @inheritdoc IJobMarket
    function completeJob(uint256 jobId, bytes32 resultHash) external {
        Job storage job = _jobInState(jobId, JobState.Running);
        address provider = _providerOnly(jobId, job);
        _stopClock(job, JobState.Completed);
        _lastHeartbeat[provider] = uint64(block.timestamp);
        emit JobCompleted(jobId, uint64(block.timestamp), job.earnedAt(block.timestamp), resultHash);
    }

    /// @inheritdoc IJobMarket
    function endJobEarly(uint256 jobId) external {
        Job storage job = _jobInState(jobId, JobState.Running);
        _clientOnly(jobId, job);
        _stopClock(job, JobState.Completed);
        emit JobEndedEarly(jobId, uint64(block.timestamp), job.earnedAt(block.timestamp));
    }

    /// @inheritdoc IJobMarket
    function reportDark(uint256 jobId) external nonReentrant {
        Job storage job = _jobInState(jobId, JobState.Running);
        Parameters memory t = _terms[job.termsId];
        address provider = _offers[job.offerId].provider;
        uint256 lastLifeAt = _lastLifeAt(job, provider);
        uint256 darkAt_ = lastLifeAt + t.livenessTimeout;
        uint256 end = job.endsAt();
        if (lastLifeAt >= end || block.timestamp <= darkAt_) {
            revert JobMarketProviderNotDark(jobId, uint64(lastLifeAt), uint64(darkAt_));
        }
        uint256 paidUntil = job.paidUntil(lastLifeAt);
        uint256 earnedTotal = job.earnedAt(paidUntil);
        // The SLA credit: a share of the cost of the time the provider was dark, at most the collateral.
        uint256 darkUntil = block.timestamp < end ? block.timestamp : end;
        uint256 darkCost = JobMath.costUp(job.pricePerGpuHour, job.gpus, darkUntil - paidUntil);
        uint256 credit = JobMath.bpsDown(darkCost, t.darkSlashBps) * stakePerPaymentUnit;
        _stopClock(job, JobState.Dark);
        Payout memory p = _close(job, t, earnedTotal, credit);
        emit JobDark(jobId, uint64(block.timestamp), uint64(paidUntil), earnedTotal, p.providerPay, p.fee, p.refund, p.slashed);
        _payOut(jobId, job, t, provider, p);
    }

    /// @inheritdoc IJobMarket
    function reclaimAbandoned(uint256 jobId) external nonReentrant {
        Job storage job = _jobInState(jobId, JobState.Running);
        _clientOnly(jobId, job);
        Parameters memory t = _terms[job.termsId];
        uint256 reclaimableAt = job.endsAt() + t.abandonGrace;
        if (block.timestamp <= reclaimableAt) revert JobMarketNotAbandoned(jobId, uint64(reclaimableAt));
        address provider = _offers[job.offerId].provider;
        uint256 earnedTotal = job.earnedAt(job.paidUntil(_lastLifeAt(job, provider)));
        _stopClock(job, JobState.Reclaimed);
        Payout memory p = _close(job, t, earnedTotal, 0);
        emit JobReclaimed(jobId, uint64(block.timestamp), earnedTotal, p.providerPay, p.fee, p.refund);
        _payOut(jobId, job, t, provider, p);
    }

    // ------------------------------------------------------------------ jobs: settlement and disputes
    /// @inheritdoc IJobMarket
    function disputeJob(uint256 jobId, bytes32 reasonHash) external nonReentrant {
        _disputeJob(jobId, reasonHash);
    }


    /// @inheritdoc IJobMarket
    function settleJob(uint256 jobId) external nonReentrant {
        Job storage job = _jobInState(jobId, JobState.Completed);
        Parameters memory t = _terms[job.termsId];
        uint256 deadline = uint256(job.endedAt) + t.disputeWindow;
        if (block.timestamp <= deadline) revert JobMarketDisputeWindowOpen(jobId, uint64(deadline));
        Payout memory p = _close(job, t, job.earnedAt(job.endedAt), 0);
        job.state = JobState.Settled;
        emit JobSettled(jobId, p.providerPay, p.fee, p.refund);
        _payOut(jobId, job, t, _offers[job.offerId].provider, p);
    }

    /// @inheritdoc IJobMarket
    function resolveDispute(uint256 jobId, uint16 providerShareBps, uint256 slashAmount)
        external
        onlyRole(ARBITER_ROLE)
        nonReentrant
    {
        Job storage job = _jobInState(jobId, JobState.Disputed);
        Dispute memory dispute = _disputes[jobId];
        Parameters memory t = _terms[job.termsId];
        uint256 deadline = uint256(dispute.disputedAt) + t.resolveWindow;
        if (block.timestamp > deadline) revert JobMarketResolveWindowClosed(jobId, uint64(deadline));
        uint256 earnedTotal = _ruling(job, t, providerShareBps, slashAmount);
        bool bondToProvider = providerShareBps == BPS;
        Payout memory p = _close(job, t, earnedTotal, slashAmount);
        job.state = JobState.Resolved;
        _bondsHeld -= dispute.bond;
        emit JobResolved(jobId, providerShareBps, earnedTotal, p.providerPay, p.fee, p.refund, p.slashed, bondToProvider);
        address provider = _offers[job.offerId].provider;
        _payOut(jobId, job, t, provider, p);
        _pay(bondToProvider ? provider : job.client, dispute.bond);
    }

    /// @inheritdoc IJobMarket
    function finalizeStaleDispute(uint256 jobId) external nonReentrant {
        Job storage job = _jobInState(jobId, JobState.Disputed);
        Dispute memory dispute = _disputes[jobId];
        Parameters memory t = _terms[job.termsId];
        uint256 deadline = uint256(dispute.disputedAt) + t.resolveWindow;
        if (block.timestamp <= deadline) revert JobMarketResolveWindowOpen(jobId, uint64(deadline));
        uint256 earnedTotal = job.earnedAt(job.paidUntil(dispute.lastLifeAt));
        Payout memory p = _close(job, t, earnedTotal, 0);
        job.state = JobState.Resolved;
        _bondsHeld -= dispute.bond;
        emit JobDisputeFinalized(jobId, earnedTotal, p.providerPay, p.fee, p.refund);
        _payOut(jobId, job, t, _offers[job.offerId].provider, p);
        _pay(job.client, dispute.bond);
    }

    // ------------------------------------------------------------------ money
    /// @inheritdoc IJobMarket
    function withdrawBalance(address to) external nonReentrant {
        if (to == address(0)) revert JobMarketZeroAddress();
        uint256 amount = _balances[msg.sender];
        if (amount == 0) revert JobMarketNothingToWithdraw();
        _balances[msg.sender] = 0;
        emit BalanceWithdrawn(msg.sender, to, amount);
        _paymentToken.safeTransfer(to, amount);
    }

    /// @inheritdoc IJobMarket
    function withdrawFees() external nonReentrant {
        uint256 amount = _feesAccrued;
        if (amount == 0) revert JobMarketNothingToWithdraw();
        _feesAccrued = 0;
        address treasury_ = treasury;
        emit FeesWithdrawn(treasury_, amount);
        _paymentToken.safeTransfer(treasury_, amount);
    }

    // ------------------------------------------------------------------ internal: job flows
    function _createJob(
        address client,
        uint256 offerId,
        uint32 gpus,
        uint32 duration,
        uint256 maxPricePerGpuHour,
        uint256 maxEscrow,
        bytes32 specHash
    ) internal returns (uint256 jobId) {
        (address provider, uint96 price) = _reserveGpus(client, offerId, gpus, duration, maxPricePerGpuHour);
        uint24 termsId = _currentTermsId;
        Parameters memory t = _terms[termsId];
        uint256 cost = JobMath.costUp(price, gpus, duration);
        uint256 escrow = JobMath.escrowOf(cost, t.protocolFeeBps);
        _checkEscrow(escrow, maxEscrow);
        uint256 collateral = JobMath.bpsUp(cost, t.collateralBps) * stakePerPaymentUnit;
        uint40 acceptDeadline = uint40(block.timestamp + t.acceptWindow);
        jobId = _nextJobId++;
        // Slots 0 and 1 written once each; slot 2 (claims) is left untouched, zero until the first claim.
        Job storage job = _jobs[jobId];
        (job.client, job.offerId, job.gpus, job.termsId, job.sponsored) =
            (client, uint32(offerId), gpus, termsId, msg.sender != client);
        (job.pricePerGpuHour, job.duration, job.acceptDeadline, job.state) =
            (price, duration, acceptDeadline, JobState.Created);
        if (msg.sender != client) _sponsors[jobId] = msg.sender;
        emit JobCreated(
            jobId, offerId, client, provider, msg.sender, gpus, price, duration, cost, escrow, acceptDeadline, specHash, collateral
        );
        _staking.lockCollateral(provider, jobId, collateral);
        _pull(msg.sender, escrow);
    }

    /// @dev Checks an offer can take the job and reserves its GPUs; returns the offer's provider and price.
    function _reserveGpus(address client, uint256 offerId, uint32 gpus, uint32 duration, uint256 maxPricePerGpuHour)
        internal
        returns (address provider, uint96 price)
    {
        if (client == address(0)) revert JobMarketZeroAddress();
        Offer storage offer = _offers[offerId];
        provider = offer.provider;
        if (provider == address(0)) revert JobMarketUnknownOffer(offerId);
        _checkOfferOpen(offerId, offer);
        if (client == provider || msg.sender == provider) revert JobMarketSelfDealing(provider);
        uint32 available = offer.gpus - offer.gpusLeased;
        if (gpus == 0 || gpus > available) revert JobMarketInsufficientCapacity(gpus, available);
        if (duration < offer.minDuration || duration > offer.maxDuration) {
            revert JobMarketDurationOutOfRange(duration, offer.minDuration, offer.maxDuration);
        }
        price = offer.pricePerGpuHour;
        if (price > maxPricePerGpuHour) revert JobMarketPriceAboveMax(price, maxPricePerGpuHour);
        // gpus <= gpus - gpusLeased checked above.
        unchecked {
            offer.gpusLeased += gpus;
        }
    }

    function _extendJob(uint256 jobId, uint32 extraDuration, uint256 maxEscrow) internal {
        Job storage job = _jobInState(jobId, JobState.Running);
        if (msg.sender != _payerOf(jobId, job)) revert JobMarketNotPayer(jobId, msg.sender);
        uint256 end = job.endsAt();
        if (block.timestamp >= end) revert JobMarketJobEnded(jobId, uint64(end));
        Offer storage offer = _offers[job.offerId];
        // An extension is new business for the provider: a closed or expired offer takes none.
        _checkOfferOpen(job.offerId, offer);
        uint256 duration = uint256(job.duration) + extraDuration;
        if (extraDuration == 0 || duration > offer.maxDuration) {
            revert JobMarketDurationOutOfRange(duration, offer.minDuration, offer.maxDuration);
        }
        Parameters memory t = _terms[job.termsId];
        uint256 escrowBefore = job.escrow(t.protocolFeeBps);
        uint256 collateralBefore = _collateralOf(job, t);
        // duration <= maxDuration <= MAX_JOB_DURATION < 2^32.
        job.duration = uint32(duration);
        uint256 escrow = job.escrow(t.protocolFeeBps);
        uint256 collateral = _collateralOf(job, t);
        uint256 extraEscrow = escrow - escrowBefore;
        escrow.toUint96();
        _checkEscrow(extraEscrow, maxEscrow);
        emit JobExtended(jobId, uint32(duration), job.cost(), escrow, extraEscrow, collateral);
        _staking.lockCollateral(offer.provider, jobId, collateral - collateralBefore);
        _pull(msg.sender, extraEscrow);
    }

    function _disputeJob(uint256 jobId, bytes32 reasonHash) internal {
        Job storage job = _existingJob(jobId);
        _clientOnly(jobId, job);
        Parameters memory t = _terms[job.termsId];
        JobState state = job.state;
        uint256 lastLifeAt;
        if (state == JobState.Running) {
            lastLifeAt = _lastLifeAt(job, _offers[job.offerId].provider);
            _stopClock(job, JobState.Disputed);
        } else if (state == JobState.Completed) {
            uint256 deadline = uint256(job.endedAt) + t.disputeWindow;
            if (block.timestamp > deadline) revert JobMarketDisputeWindowClosed(jobId, uint64(deadline));
            // Completing was the provider's last sign of life for the job.
            lastLifeAt = job.endedAt;
            job.state = JobState.Disputed;
        } else {
            revert JobMarketInvalidState(jobId, state);
        }
        uint256 bond = JobMath.bpsUp(job.cost(), t.disputeBondBps);
        // bond <= 20 % of cost < 2^96; the sum of held bonds is bounded by the token's supply.
        _disputes[jobId] =
            Dispute({disputedAt: uint40(block.timestamp), lastLifeAt: uint40(lastLifeAt), bond: uint96(bond)});
        _bondsHeld += bond;
        emit JobDisputed(
            jobId,
            uint64(job.endedAt),
            job.earnedAt(job.endedAt),
            reasonHash,
            bond,
            uint64(block.timestamp + t.resolveWindow)
        );
        if (bond != 0) _pull(msg.sender, bond);
    }

    // ------------------------------------------------------------------ internal: money
    /// @dev Ends a job that never started: frees its GPUs and sets its final state; returns the offer's provider.
    function _endBeforeStart(Job storage job, JobState state) internal returns (address provider) {
        provider = _releaseGpus(job);
        job.endedAt = uint40(block.timestamp);
        job.state = state;
    }

    /// @dev Stops a running job's clock and frees its GPUs.
    function _stopClock(Job storage job, JobState state) internal {
        _releaseGpus(job);
        job.endedAt = uint40(block.timestamp);
        job.state = state;
    }

    /// @dev Returns the GPUs a job reserved to its offer; returns the offer's provider.
    function _releaseGpus(Job storage job) internal returns (address provider) {
        Offer storage offer = _offers[job.offerId];
        // The job's gpus were added to gpusLeased when it was created and are removed once, here.
        unchecked {
            offer.gpusLeased -= job.gpus;
        }
        return offer.provider;
    }

    /// @dev Records a claim up to `total` >= claimed streamed pay; returns the amount to pay now.
    function _recordClaim(uint256 jobId, Job storage job, uint256 total) internal returns (uint256 amount) {
        amount = total - job.claimed;
        // total <= cost < 2^96.
        job.claimed = uint96(total);
        uint256 receipted = job.receiptedSeconds;
        emit JobClaimed(jobId, amount, total, receipted == 0 ? 0 : uint64(job.startedAt + receipted));
    }

    /// @dev The end of a job that ran: the split of its escrow when the provider's final pay is `earnedTotal`, and
    ///      the stake to slash: streamed pay above `earnedTotal` taken back, plus `penalty`, at most the collateral.
    function _close(Job storage job, Parameters memory t, uint256 earnedTotal, uint256 penalty)
        internal
        view
        returns (Payout memory p)
    {
        uint256 clawback;
        (p.providerPay, p.fee, p.refund, clawback) =
            job.split(job.escrow(t.protocolFeeBps), earnedTotal, t.protocolFeeBps);
        p.slashed = clawback * stakePerPaymentUnit + penalty;
        uint256 collateral = _collateralOf(job, t);
        if (p.slashed > collateral) p.slashed = collateral;
    }

    /// @dev Pays out a job that ran: fee accrued, collateral released (and slashed to the client), provider and payer
    ///      paid.
    function _payOut(uint256 jobId, Job storage job, Parameters memory t, address provider, Payout memory p)
        internal
    {
        // fee <= escrow < 2^96; checked addition: an overflow would need 7.9e28 base units of unwithdrawn fees.
        _feesAccrued += uint96(p.fee);
        _staking.releaseCollateral(
            provider, jobId, _collateralOf(job, t), p.slashed, job.client, job.cost() * stakePerPaymentUnit
        );
        _pay(provider, p.providerPay);
        _pay(_payerOf(jobId, job), p.refund);
    }

    /// @dev The provider's final pay under an arbiter's ruling, after checking the ruling's bounds: receipted pay is
    ///      final, so the share applies only to the pay for the time after the latest receipt; streamed pay above the
    ///      result is taken back from the collateral, and the penalty must fit in what collateral is left.
    function _ruling(Job storage job, Parameters memory t, uint256 providerShareBps, uint256 slashAmount)
        internal
        view
        returns (uint256 earnedTotal)
    {
        if (providerShareBps > BPS) revert JobMarketInvalidShare(providerShareBps);
        uint256 receipted = job.receiptedPay();
        earnedTotal = receipted + JobMath.bpsDown(job.earnedAt(job.endedAt) - receipted, providerShareBps);
        uint256 claimed = job.claimed;
        uint256 clawback = claimed > earnedTotal ? (claimed - earnedTotal) * stakePerPaymentUnit : 0;
        // clawback <= (claimed - receipted pay) x rate <= collateral, by the claim cap (invariant 7).
        uint256 available = _collateralOf(job, t) - clawback;
        if (slashAmount > available) revert JobMarketSlashAboveCollateral(slashAmount, available);
    }

    /// @dev A failed permit (already used, front-run) is fine when the allowance is already there.
    function _permit(PermitSignature calldata permit) internal {
        try IERC20Permit(address(_paymentToken)).permit(
            msg.sender, address(this), permit.value, permit.deadline, permit.v, permit.r, permit.s
        ) {} catch {}
    }

    /// @dev Pulls `amount` from `from`, measuring what arrives: fee-on-transfer and rebasing tokens revert.
    function _pull(address from, uint256 amount) internal {
        uint256 balanceBefore = _paymentToken.balanceOf(address(this));
        _paymentToken.safeTransferFrom(from, address(this), amount);
        uint256 received = _paymentToken.balanceOf(address(this)) - balanceBefore;
        if (received != amount) revert JobMarketTransferAmountMismatch(amount, received);
    }

    /// @dev Pushes a payout; when the account cannot receive (a blocklisting token), credits it instead so that
    ///      nobody else's call is blocked.
    function _pay(address to, uint256 amount) internal {
        if (amount == 0) return;
        if (!_paymentToken.trySafeTransfer(to, amount)) {
            _balances[to] += amount;
            emit PayoutCredited(to, amount);
        }
    }

    // ------------------------------------------------------------------ internal: checks and reads
    /// @dev In stake-token units. cost < 2^96 and the rate <= 1e24 < 2^80: no overflow.
    function _collateralOf(Job storage job, Parameters memory t) internal view returns (uint256) {
        return job.collateralValue(t.collateralBps) * stakePerPaymentUnit;
    }

    /// @dev Every amount of a job (cost, escrow, claimed pay, bond, fee) is stored or added in 96 bits: a job whose
    ///      escrow does not fit is refused, so the narrowing casts elsewhere cannot truncate.
    function _checkEscrow(uint256 escrow, uint256 maxEscrow) internal pure {
        if (escrow > maxEscrow) revert JobMarketEscrowAboveMax(escrow, maxEscrow);
        escrow.toUint96();
    }

    function _payerOf(uint256 jobId, Job storage job) internal view returns (address) {
        return job.sponsored ? _sponsors[jobId] : job.client;
    }

    /// @dev The provider's latest sign of life for a running job: its last heartbeat, claim or completion, or the
    ///      job's start if later.
    function _lastLifeAt(Job storage job, address provider) internal view returns (uint256) {
        uint256 lastHeartbeat_ = _lastHeartbeat[provider];
        uint256 startedAt = job.startedAt;
        return lastHeartbeat_ > startedAt ? lastHeartbeat_ : startedAt;
    }

    function _providerOnly(uint256 jobId, Job storage job) internal view returns (address provider) {
        provider = _offers[job.offerId].provider;
        if (msg.sender != provider) revert JobMarketNotProvider(jobId, msg.sender);
    }

    function _clientOnly(uint256 jobId, Job storage job) internal view {
        if (msg.sender != job.client) revert JobMarketNotClient(jobId, msg.sender);
    }

    function _checkOfferOpen(uint256 offerId, Offer storage offer) internal view {
        if (offer.closed) revert JobMarketOfferClosed(offerId);
        if (block.timestamp >= offer.expiresAt) revert JobMarketOfferExpired(offerId, offer.expiresAt);
    }

    function _existingJob(uint256 jobId) internal view returns (Job storage job) {
        job = _jobs[jobId];
        if (job.state == JobState.None) revert JobMarketUnknownJob(jobId);
    }

    function _jobInState(uint256 jobId, JobState expected) internal view returns (Job storage job) {
        job = _existingJob(jobId);
        if (job.state != expected) revert JobMarketInvalidState(jobId, job.state);
    }

    function _backing() internal view returns (OfferBook.Backing memory) {
        return OfferBook.Backing({
            catalog: _catalog,
            staking: _staking,
            collateralBps: _terms[_currentTermsId].collateralBps,
            stakePerPaymentUnit: stakePerPaymentUnit
        });
    }

    // ------------------------------------------------------------------ views
    /// @inheritdoc IJobMarket
    function parameterBounds(Parameter parameter) external pure returns (uint256 min, uint256 max) {
        return ParameterBook.bounds(parameter);
    }

    /// @inheritdoc IJobMarket
    function receiptDigest(uint256 jobId, uint64 servedUntil) public view returns (bytes32) {
        return _hashTypedDataV4(keccak256(abi.encode(USAGE_RECEIPT_TYPEHASH, jobId, servedUntil)));
    }

    /// @inheritdoc IJobMarket
    function getOffer(uint256 offerId) external view returns (Offer memory) {
        return _offers[offerId];
    }

    /// @inheritdoc IJobMarket
    function getJob(uint256 jobId) external view returns (Job memory) {
        return _jobs[jobId];
    }

    /// @inheritdoc IJobMarket
    function jobTerms(uint256 jobId) external view returns (Parameters memory) {
        return _terms[_existingJob(jobId).termsId];
    }

    /// @inheritdoc IJobMarket
    function payerOf(uint256 jobId) external view returns (address) {
        return _payerOf(jobId, _existingJob(jobId));
    }

    /// @inheritdoc IJobMarket
    function jobAmounts(uint256 jobId) external view returns (uint256 cost, uint256 escrow, uint256 collateral) {
        Job storage job = _existingJob(jobId);
        Parameters memory t = _terms[job.termsId];
        return (job.cost(), job.escrow(t.protocolFeeBps), _collateralOf(job, t));
    }

    /// @inheritdoc IJobMarket
    function getDispute(uint256 jobId) external view returns (Dispute memory) {
        return _disputes[jobId];
    }

    /// @inheritdoc IJobMarket
    function earned(uint256 jobId) external view returns (uint256) {
        Job storage job = _existingJob(jobId);
        if (job.startedAt == 0) return 0;
        return job.earnedAt(job.state == JobState.Running ? block.timestamp : job.endedAt);
    }

    /// @inheritdoc IJobMarket
    function claimable(uint256 jobId) external view returns (uint256) {
        Job storage job = _existingJob(jobId);
        if (job.state != JobState.Running) return job.claimed;
        uint256 total = job.earnedAt(block.timestamp);
        uint256 cap = job.claimCap(_terms[job.termsId].collateralBps);
        return total < cap ? total : cap;
    }

    /// @inheritdoc IJobMarket
    function lastHeartbeat(address provider) external view returns (uint64) {
        return _lastHeartbeat[provider];
    }

    /// @inheritdoc IJobMarket
    function darkAt(uint256 jobId) external view returns (uint64) {
        Job storage job = _existingJob(jobId);
        if (job.state != JobState.Running) return 0;
        uint256 lastLifeAt = _lastLifeAt(job, _offers[job.offerId].provider);
        if (lastLifeAt >= job.endsAt()) return 0;
        return uint64(lastLifeAt + _terms[job.termsId].livenessTimeout);
    }

    /// @inheritdoc IJobMarket
    function quote(uint256 offerId, uint32 gpus, uint32 duration)
        external
        view
        returns (uint256 cost, uint256 fee, uint256 escrow, uint256 collateral)
    {
        Offer storage offer = _offers[offerId];
        if (offer.provider == address(0)) revert JobMarketUnknownOffer(offerId);
        Parameters memory t = _terms[_currentTermsId];
        cost = JobMath.costUp(offer.pricePerGpuHour, gpus, duration);
        escrow = JobMath.escrowOf(cost, t.protocolFeeBps);
        fee = escrow - cost;
        collateral = JobMath.bpsUp(cost, t.collateralBps) * stakePerPaymentUnit;
    }

    /// @inheritdoc IJobMarket
    function parameters() external view returns (Parameters memory) {
        return _terms[_currentTermsId];
    }

    /// @inheritdoc IJobMarket
    function currentTermsId() external view returns (uint256) {
        return _currentTermsId;
    }

    /// @inheritdoc IJobMarket
    function terms(uint256 termsId) external view returns (Parameters memory) {
        return _terms[termsId];
    }

    /// @inheritdoc IJobMarket
    function balanceOf(address account) external view returns (uint256) {
        return _balances[account];
    }

    /// @inheritdoc IJobMarket
    function feesAccrued() external view returns (uint256) {
        return _feesAccrued;
    }

    /// @inheritdoc IJobMarket
    function disputeBondsHeld() external view returns (uint256) {
        return _bondsHeld;
    }

    /// @inheritdoc IJobMarket
    function nextOfferId() external view returns (uint256) {
        return _nextOfferId;
    }

    /// @inheritdoc IJobMarket
    function nextJobId() external view returns (uint256) {
        return _nextJobId;
    }

    /// @inheritdoc IJobMarket
    function paymentToken() external view returns (address) {
        return address(_paymentToken);
    }

    /// @inheritdoc IJobMarket
    function staking() external view returns (address) {
        return address(_staking);
    }

    /// @inheritdoc IJobMarket
    function catalog() external view returns (address) {
        return address(_catalog);
    }
}

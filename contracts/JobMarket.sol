// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {Multicall} from "@openzeppelin/contracts/utils/Multicall.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Permit.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {IJobMarket} from "./interfaces/IJobMarket.sol";
import {IGpuCatalog} from "./interfaces/IGpuCatalog.sol";
import {IProviderStaking} from "./interfaces/IProviderStaking.sol";
import {Job, JobState} from "./types/Job.sol";
import {Offer, OfferParams} from "./types/Offer.sol";
import {PermitSignature} from "./types/Permit.sol";
import {JobMath} from "./libraries/JobMath.sol";
import {AsciiCode} from "./libraries/AsciiCode.sol";

/// @title JobMarket
/// @notice Offers of GPU capacity and jobs with escrowed payment. For every job, at its end,
///         client refund + provider pay + protocol fee == escrow, exactly.
/// @dev Money rules: cost rounds up (provider's favour), the fee rounds up (protocol's favour), the refund is what is
///      left, so the contract never owes more than it holds. Governance sets bounded parameters and pauses new
///      business; it has no path to escrow. Every token-moving function is nonReentrant.
contract JobMarket is IJobMarket, AccessControl, Pausable, ReentrancyGuardTransient, Multicall {
    using SafeERC20 for IERC20;
    using SafeCast for uint256;

    // ------------------------------------------------------------------ constants
    bytes32 public constant PAUSER_ROLE = keccak256("PAUSER_ROLE");
    bytes32 public constant ARBITER_ROLE = keccak256("ARBITER_ROLE");
    uint32 public constant MAX_JOB_DURATION = 365 days;
    /// @notice Bounds that keep listings physical and their figures within analytics' 32-bit integers.
    uint32 public constant MAX_OFFER_GPUS = 100_000;
    uint32 public constant MAX_OFFER_LIFETIME = 365 days;
    uint256 internal constant BPS = 10_000;

    // ------------------------------------------------------------------ storage
    IERC20 internal immutable _paymentToken;
    IProviderStaking internal immutable _staking;
    IGpuCatalog internal immutable _catalog;
    /// @notice Stake-token base units that one payment-token base unit of job cost is worth for collateral and
    ///         slashes (1 when both tokens are the same; 1e12 for a 6-decimal stablecoin against an 18-decimal stake
    ///         token valued one to one). Fixed at deployment, like the tokens.
    uint256 public immutable stakePerPaymentUnit;

    // Slot 1, shared with Pausable's `_paused` (8 bits): the pause check, the counters and accrued fees are one slot,
    // so createJob and settlement each pay for one warm write here. uint96 fees hold 7.9e28 base units, more than
    // any escrow total this market can hold between two withdrawals.
    uint64 internal _nextOfferId;
    uint64 internal _nextJobId;
    uint96 internal _feesAccrued;

    Parameters internal _parameters;
    address public treasury;

    mapping(uint256 offerId => Offer) internal _offers;
    mapping(uint256 jobId => Job) internal _jobs;
    /// @dev Payouts that could not be pushed. Invariant 1: the market's payment-token balance equals the unpaid
    ///      escrow of open jobs + these balances + accrued fees.
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
    ) {
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
        _setParameter(Parameter.ProtocolFeeBps, parameters_.protocolFeeBps);
        _setParameter(Parameter.CancelFeeBps, parameters_.cancelFeeBps);
        _setParameter(Parameter.CollateralBps, parameters_.collateralBps);
        _setParameter(Parameter.ExpirySlashBps, parameters_.expirySlashBps);
        _setParameter(Parameter.AcceptWindow, parameters_.acceptWindow);
        _setParameter(Parameter.DisputeWindow, parameters_.disputeWindow);
        _setParameter(Parameter.AbandonGrace, parameters_.abandonGrace);
        emit TreasurySet(treasury_);
    }

    // ------------------------------------------------------------------ admin
    /// @inheritdoc IJobMarket
    function setParameter(Parameter parameter, uint256 value) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _setParameter(parameter, value);
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
        if (!_catalog.isListed(params.gpuModel)) revert JobMarketUnknownGpuModel(params.gpuModel);
        if (!AsciiCode.isValidRegion(params.region)) revert JobMarketInvalidRegion(params.region);
        if (
            params.gpus == 0 || params.gpus > MAX_OFFER_GPUS || params.pricePerGpuHour == 0 || params.minDuration == 0
                || params.minDuration > params.maxDuration || params.maxDuration > MAX_JOB_DURATION
                || params.renewableBps > BPS
        ) revert JobMarketInvalidOffer();
        if (params.expiresAt <= block.timestamp) revert JobMarketOfferExpired(0, params.expiresAt);
        if (params.expiresAt > block.timestamp + MAX_OFFER_LIFETIME) revert JobMarketInvalidOffer();
        uint256 unlocked = _staking.unlockedStake(msg.sender);
        uint256 minStake = _staking.minStake();
        if (unlocked < minStake || unlocked == 0) revert JobMarketInsufficientStake(msg.sender, unlocked, minStake);

        offerId = _nextOfferId++;
        _offers[offerId] = Offer({
            provider: msg.sender,
            gpus: params.gpus,
            gpusLeased: 0,
            expiresAt: params.expiresAt,
            pricePerGpuHour: params.pricePerGpuHour,
            minDuration: params.minDuration,
            maxDuration: params.maxDuration,
            carbonIntensity: params.carbonIntensity,
            renewableBps: params.renewableBps,
            closed: false,
            gpuModel: params.gpuModel
        });
        emit OfferCreated(
            offerId,
            msg.sender,
            params.gpuModel,
            params.gpus,
            params.pricePerGpuHour,
            params.minDuration,
            params.maxDuration,
            params.region,
            params.carbonIntensity,
            params.renewableBps,
            params.expiresAt
        );
    }

    /// @inheritdoc IJobMarket
    function updateOffer(uint256 offerId, uint32 gpus, uint96 pricePerGpuHour, uint32 expiresAt) external {
        Offer storage offer = _ownOpenOffer(offerId);
        if (gpus == 0 || gpus > MAX_OFFER_GPUS || pricePerGpuHour == 0) revert JobMarketInvalidOffer();
        if (gpus < offer.gpusLeased) revert JobMarketGpusBelowLeased(gpus, offer.gpusLeased);
        if (expiresAt <= block.timestamp) revert JobMarketOfferExpired(offerId, expiresAt);
        if (expiresAt > block.timestamp + MAX_OFFER_LIFETIME) revert JobMarketInvalidOffer();
        offer.gpus = gpus;
        offer.expiresAt = expiresAt;
        offer.pricePerGpuHour = pricePerGpuHour;
        emit OfferUpdated(offerId, gpus, pricePerGpuHour, expiresAt);
    }

    /// @inheritdoc IJobMarket
    function closeOffer(uint256 offerId) external {
        Offer storage offer = _ownOpenOffer(offerId);
        offer.closed = true;
        emit OfferClosed(offerId);
    }

    // ------------------------------------------------------------------ jobs
    /// @inheritdoc IJobMarket
    function createJob(uint256 offerId, uint32 gpus, uint32 duration, uint256 maxPricePerGpuHour, bytes32 specHash)
        external
        whenNotPaused
        nonReentrant
        returns (uint256 jobId)
    {
        return _createJob(msg.sender, offerId, gpus, duration, maxPricePerGpuHour, specHash);
    }

    /// @inheritdoc IJobMarket
    function createJobFor(
        address client,
        uint256 offerId,
        uint32 gpus,
        uint32 duration,
        uint256 maxPricePerGpuHour,
        bytes32 specHash
    ) external whenNotPaused nonReentrant returns (uint256 jobId) {
        return _createJob(client, offerId, gpus, duration, maxPricePerGpuHour, specHash);
    }

    /// @inheritdoc IJobMarket
    function createJobWithPermit(
        address client,
        uint256 offerId,
        uint32 gpus,
        uint32 duration,
        uint256 maxPricePerGpuHour,
        bytes32 specHash,
        PermitSignature calldata permit
    ) external whenNotPaused nonReentrant returns (uint256 jobId) {
        // A failed permit (already used, front-run) is fine when the allowance is already there.
        try IERC20Permit(address(_paymentToken)).permit(
            msg.sender, address(this), permit.value, permit.deadline, permit.v, permit.r, permit.s
        ) {} catch {}
        return _createJob(client, offerId, gpus, duration, maxPricePerGpuHour, specHash);
    }

    /// @inheritdoc IJobMarket
    /// @dev Not stopped by pause: the job's money is already escrowed, and refusing acceptance would only push the
    ///      provider towards an expiry slash.
    function acceptJob(uint256 jobId) external nonReentrant {
        Job storage job = _jobInState(jobId, JobState.Created);
        address provider = _offers[job.offerId].provider;
        if (msg.sender != provider) revert JobMarketNotProvider(jobId, msg.sender);
        if (block.timestamp > job.acceptDeadline) revert JobMarketAcceptWindowClosed(jobId, job.acceptDeadline);
        uint256 collateral = _collateralOf(job);
        job.startedAt = uint40(block.timestamp);
        job.state = JobState.Running;
        emit JobAccepted(jobId, provider, uint64(block.timestamp), collateral);
        _staking.lockCollateral(provider, jobId, collateral);
    }

    /// @inheritdoc IJobMarket
    function cancelJob(uint256 jobId) external nonReentrant {
        Job storage job = _jobInState(jobId, JobState.Created);
        if (msg.sender != job.client) revert JobMarketNotClient(jobId, msg.sender);
        uint256 cancelFee = JobMath.bpsDown(_costOf(job), job.cancelFeeBps);
        uint256 refund = job.escrow - cancelFee;
        address provider = _releaseGpus(job);
        job.endedAt = uint40(block.timestamp);
        job.state = JobState.Cancelled;
        emit JobCancelled(jobId, refund, cancelFee);
        _pay(provider, cancelFee);
        _pay(job.client, refund);
    }

    /// @inheritdoc IJobMarket
    function expireJob(uint256 jobId) external nonReentrant {
        Job storage job = _jobInState(jobId, JobState.Created);
        if (block.timestamp <= job.acceptDeadline) revert JobMarketAcceptWindowOpen(jobId, job.acceptDeadline);
        uint256 refund = job.escrow;
        uint256 cost = _costOf(job);
        address provider = _releaseGpus(job);
        address client = job.client;
        job.endedAt = uint40(block.timestamp);
        job.state = JobState.Cancelled;
        // The slash is computed by the staking contract (it takes what is there), so its amount comes back first.
        uint256 slashed = _staking.slash(
            provider,
            jobId,
            JobMath.bpsDown(cost, job.expirySlashBps) * stakePerPaymentUnit,
            client,
            cost * stakePerPaymentUnit
        );
        emit JobExpired(jobId, refund, slashed);
        _pay(client, refund);
    }

    /// @inheritdoc IJobMarket
    function claim(uint256 jobId) external nonReentrant returns (uint256 amount) {
        Job storage job = _jobInState(jobId, JobState.Running);
        address provider = _offers[job.offerId].provider;
        if (msg.sender != provider) revert JobMarketNotProvider(jobId, msg.sender);
        uint256 earnedSoFar = _earnedAt(job, block.timestamp);
        amount = earnedSoFar - job.claimed;
        if (amount == 0) revert JobMarketNothingToClaim(jobId);
        // earnedSoFar <= cost < escrow < 2^96.
        job.claimed = uint96(earnedSoFar);
        emit JobClaimed(jobId, amount, earnedSoFar);
        _pay(provider, amount);
    }

    /// @inheritdoc IJobMarket
    function completeJob(uint256 jobId, bytes32 resultHash) external {
        Job storage job = _jobInState(jobId, JobState.Running);
        if (msg.sender != _offers[job.offerId].provider) revert JobMarketNotProvider(jobId, msg.sender);
        uint256 earnedTotal = _stopClock(job);
        emit JobCompleted(jobId, uint64(block.timestamp), earnedTotal, resultHash);
    }

    /// @inheritdoc IJobMarket
    function endJobEarly(uint256 jobId) external {
        Job storage job = _jobInState(jobId, JobState.Running);
        if (msg.sender != job.client) revert JobMarketNotClient(jobId, msg.sender);
        uint256 earnedTotal = _stopClock(job);
        emit JobEndedEarly(jobId, uint64(block.timestamp), earnedTotal);
    }

    /// @inheritdoc IJobMarket
    function disputeJob(uint256 jobId, bytes32 reasonHash) external {
        Job storage job = _existingJob(jobId);
        if (msg.sender != job.client) revert JobMarketNotClient(jobId, msg.sender);
        JobState state = job.state;
        if (state == JobState.Running) {
            _stopClock(job);
        } else if (state == JobState.Completed) {
            uint64 deadline = uint64(job.endedAt) + _parameters.disputeWindow;
            if (block.timestamp > deadline) revert JobMarketDisputeWindowClosed(jobId, deadline);
        } else {
            revert JobMarketInvalidState(jobId, state);
        }
        job.state = JobState.Disputed;
        emit JobDisputed(jobId, uint64(job.endedAt), _earnedAt(job, job.endedAt), reasonHash);
    }

    /// @inheritdoc IJobMarket
    function settleJob(uint256 jobId) external nonReentrant {
        Job storage job = _jobInState(jobId, JobState.Completed);
        uint64 deadline = uint64(job.endedAt) + _parameters.disputeWindow;
        if (block.timestamp <= deadline) revert JobMarketDisputeWindowOpen(jobId, deadline);
        uint256 earnedTotal = _earnedAt(job, job.endedAt);
        (uint256 providerPay, uint256 fee, uint256 refund) = _split(job, earnedTotal);
        job.state = JobState.Settled;
        emit JobSettled(jobId, providerPay, fee, refund);
        _payOut(jobId, job, providerPay, fee, refund);
    }

    /// @inheritdoc IJobMarket
    function resolveDispute(uint256 jobId, uint16 providerShareBps, uint256 slashAmount)
        external
        onlyRole(ARBITER_ROLE)
        nonReentrant
    {
        Job storage job = _jobInState(jobId, JobState.Disputed);
        if (providerShareBps > BPS) revert JobMarketInvalidShare(providerShareBps);
        uint256 collateral = _collateralOf(job);
        if (slashAmount > collateral) revert JobMarketSlashAboveCollateral(slashAmount, collateral);
        uint256 unclaimed = _earnedAt(job, job.endedAt) - job.claimed;
        uint256 awarded = job.claimed + JobMath.bpsDown(unclaimed, providerShareBps);
        (uint256 providerPay, uint256 fee, uint256 refund) = _split(job, awarded);
        job.state = JobState.Resolved;
        emit JobResolved(jobId, providerShareBps, providerPay, fee, refund, slashAmount);
        // Collateral is unlocked before the slash so the slash can take it: unlocked >= collateral >= slashAmount.
        _payOut(jobId, job, providerPay, fee, refund);
        if (slashAmount != 0) {
            _staking.slash(
                _offers[job.offerId].provider, jobId, slashAmount, job.client, _costOf(job) * stakePerPaymentUnit
            );
        }
    }

    /// @inheritdoc IJobMarket
    function reclaimAbandoned(uint256 jobId) external nonReentrant {
        Job storage job = _jobInState(jobId, JobState.Running);
        if (msg.sender != job.client) revert JobMarketNotClient(jobId, msg.sender);
        uint64 reclaimableAt = uint64(job.startedAt) + job.duration + _parameters.abandonGrace;
        if (block.timestamp <= reclaimableAt) revert JobMarketNotAbandoned(jobId, reclaimableAt);
        _releaseGpus(job);
        job.endedAt = uint40(block.timestamp);
        (uint256 providerPay, uint256 fee, uint256 refund) = _split(job, job.claimed);
        job.state = JobState.Reclaimed;
        emit JobReclaimed(jobId, uint64(block.timestamp), fee, refund);
        _payOut(jobId, job, providerPay, fee, refund);
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

    // ------------------------------------------------------------------ internal
    function _createJob(
        address client,
        uint256 offerId,
        uint32 gpus,
        uint32 duration,
        uint256 maxPricePerGpuHour,
        bytes32 specHash
    ) internal returns (uint256 jobId) {
        (address provider, uint96 price) = _reserveGpus(client, offerId, gpus, duration, maxPricePerGpuHour);
        Parameters memory parameters_ = _parameters;
        uint256 cost = JobMath.costUp(price, gpus, duration);
        uint256 escrow = cost + JobMath.bpsUp(cost, parameters_.protocolFeeBps);
        jobId = _nextJobId++;
        // One struct assignment lets the compiler write each of the three slots once.
        _jobs[jobId] = Job({
            client: client,
            offerId: uint64(offerId),
            gpus: gpus,
            pricePerGpuHour: price,
            duration: duration,
            acceptDeadline: uint40(block.timestamp + parameters_.acceptWindow),
            startedAt: 0,
            endedAt: 0,
            state: JobState.Created,
            escrow: escrow.toUint96(),
            claimed: 0,
            protocolFeeBps: parameters_.protocolFeeBps,
            collateralBps: parameters_.collateralBps,
            cancelFeeBps: parameters_.cancelFeeBps,
            expirySlashBps: parameters_.expirySlashBps
        });
        Job storage job = _jobs[jobId];
        _emitJobCreated(jobId, job, provider, cost, specHash);
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
        if (offer.closed) revert JobMarketOfferClosed(offerId);
        if (block.timestamp >= offer.expiresAt) revert JobMarketOfferExpired(offerId, offer.expiresAt);
        if (client == provider) revert JobMarketSelfDealing(client);
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

    /// @dev Separate from _createJob only to keep the stack shallow; the job's fields are warm here.
    function _emitJobCreated(uint256 jobId, Job storage job, address provider, uint256 cost, bytes32 specHash)
        internal
    {
        emit JobCreated(
            jobId,
            job.offerId,
            job.client,
            provider,
            msg.sender,
            job.gpus,
            job.pricePerGpuHour,
            job.duration,
            cost,
            job.escrow,
            job.acceptDeadline,
            specHash
        );
    }

    /// @dev Stops a running job's clock and frees its GPUs; returns what the provider earned.
    function _stopClock(Job storage job) internal returns (uint256 earnedTotal) {
        _releaseGpus(job);
        job.endedAt = uint40(block.timestamp);
        job.state = JobState.Completed;
        return _earnedAt(job, block.timestamp);
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

    /// @dev Splits a job's escrow at its end: the provider's total earnings `awarded` less streamed pay, the fee on
    ///      `awarded` rounded up, and the rest back to the client. awarded <= cost, so fee <= fee on cost and the
    ///      refund cannot underflow.
    function _split(Job storage job, uint256 awarded)
        internal
        view
        returns (uint256 providerPay, uint256 fee, uint256 refund)
    {
        providerPay = awarded - job.claimed;
        fee = JobMath.bpsUp(awarded, job.protocolFeeBps);
        refund = job.escrow - awarded - fee;
    }

    /// @dev Ends a running-or-later job's money: fee accrued, collateral unlocked, provider and client paid.
    function _payOut(uint256 jobId, Job storage job, uint256 providerPay, uint256 fee, uint256 refund) internal {
        address provider = _offers[job.offerId].provider;
        // fee <= escrow < 2^96; checked addition: an overflow would need 7.9e28 base units of unwithdrawn fees.
        _feesAccrued += uint96(fee);
        _staking.unlockCollateral(provider, jobId, _collateralOf(job));
        _pay(provider, providerPay);
        _pay(job.client, refund);
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

    function _earnedAt(Job storage job, uint256 timestamp) internal view returns (uint256) {
        uint256 used = timestamp - job.startedAt;
        if (used > job.duration) used = job.duration;
        return JobMath.costUp(job.pricePerGpuHour, job.gpus, used);
    }

    function _costOf(Job storage job) internal view returns (uint256) {
        return JobMath.costUp(job.pricePerGpuHour, job.gpus, job.duration);
    }

    /// @dev In stake-token units. cost < 2^96 and the rate <= 1e24 < 2^80: no overflow.
    function _collateralOf(Job storage job) internal view returns (uint256) {
        return JobMath.bpsUp(_costOf(job), job.collateralBps) * stakePerPaymentUnit;
    }

    function _existingJob(uint256 jobId) internal view returns (Job storage job) {
        job = _jobs[jobId];
        if (job.state == JobState.None) revert JobMarketUnknownJob(jobId);
    }

    function _jobInState(uint256 jobId, JobState expected) internal view returns (Job storage job) {
        job = _existingJob(jobId);
        if (job.state != expected) revert JobMarketInvalidState(jobId, job.state);
    }

    function _ownOpenOffer(uint256 offerId) internal view returns (Offer storage offer) {
        offer = _offers[offerId];
        if (offer.provider == address(0)) revert JobMarketUnknownOffer(offerId);
        if (offer.provider != msg.sender) revert JobMarketNotOfferProvider(offerId, msg.sender);
        if (offer.closed) revert JobMarketOfferClosed(offerId);
    }

    function _setParameter(Parameter parameter, uint256 value) internal {
        (uint256 min, uint256 max) = parameterBounds(parameter);
        if (value < min || value > max) revert JobMarketParameterOutOfBounds(parameter, value, min, max);
        Parameters storage p = _parameters;
        uint256 oldValue;
        // Each value fits its field: the bounds are below the field's maximum.
        if (parameter == Parameter.ProtocolFeeBps) (oldValue, p.protocolFeeBps) = (p.protocolFeeBps, uint16(value));
        else if (parameter == Parameter.CancelFeeBps) (oldValue, p.cancelFeeBps) = (p.cancelFeeBps, uint16(value));
        else if (parameter == Parameter.CollateralBps) (oldValue, p.collateralBps) = (p.collateralBps, uint16(value));
        else if (parameter == Parameter.ExpirySlashBps) (oldValue, p.expirySlashBps) = (p.expirySlashBps, uint16(value));
        else if (parameter == Parameter.AcceptWindow) (oldValue, p.acceptWindow) = (p.acceptWindow, uint32(value));
        else if (parameter == Parameter.DisputeWindow) (oldValue, p.disputeWindow) = (p.disputeWindow, uint32(value));
        else (oldValue, p.abandonGrace) = (p.abandonGrace, uint32(value));
        emit ParameterSet(parameter, oldValue, value);
    }

    // ------------------------------------------------------------------ views
    /// @inheritdoc IJobMarket
    function parameterBounds(Parameter parameter) public pure returns (uint256 min, uint256 max) {
        if (parameter == Parameter.ProtocolFeeBps) return (0, 1_000); // at most 10 %
        if (parameter == Parameter.CancelFeeBps) return (0, 500); // at most 5 % of cost
        if (parameter == Parameter.CollateralBps) return (0, 30_000); // up to 3x cost
        if (parameter == Parameter.ExpirySlashBps) return (0, 1_000); // at most 10 % of cost
        if (parameter == Parameter.AcceptWindow) return (1 minutes, 7 days);
        if (parameter == Parameter.DisputeWindow) return (1 hours, 30 days);
        return (1 minutes, 7 days); // AbandonGrace
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
    function earned(uint256 jobId) external view returns (uint256) {
        Job storage job = _existingJob(jobId);
        if (job.startedAt == 0) return 0;
        JobState state = job.state;
        return _earnedAt(job, state == JobState.Running ? block.timestamp : job.endedAt);
    }

    /// @inheritdoc IJobMarket
    function quote(uint256 offerId, uint32 gpus, uint32 duration)
        external
        view
        returns (uint256 cost, uint256 fee, uint256 escrow)
    {
        Offer storage offer = _offers[offerId];
        if (offer.provider == address(0)) revert JobMarketUnknownOffer(offerId);
        cost = JobMath.costUp(offer.pricePerGpuHour, gpus, duration);
        fee = JobMath.bpsUp(cost, _parameters.protocolFeeBps);
        escrow = cost + fee;
    }

    /// @inheritdoc IJobMarket
    function parameters() external view returns (Parameters memory) {
        return _parameters;
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

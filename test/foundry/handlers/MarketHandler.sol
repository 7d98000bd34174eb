// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {JobMarket} from "../../../contracts/JobMarket.sol";
import {ProviderStaking} from "../../../contracts/ProviderStaking.sol";
import {GpuCatalog} from "../../../contracts/GpuCatalog.sol";
import {IJobMarket} from "../../../contracts/interfaces/IJobMarket.sol";
import {IProviderStaking} from "../../../contracts/interfaces/IProviderStaking.sol";
import {Job, JobState} from "../../../contracts/types/Job.sol";
import {Offer, OfferParams} from "../../../contracts/types/Offer.sol";
import {JobMath} from "../../../contracts/libraries/JobMath.sol";
import {BlocklistToken} from "../../../contracts/test/BlocklistToken.sol";
import {TestBase} from "../utils/TestBase.sol";

/// @notice Drives random sequences of GPU Mesh rule calls for 3 providers and 3 clients, plus governance, time and
///         token blocklisting. Every action first checks the rule's preconditions and returns when they do not
///         hold, so each call that reaches the contracts must succeed (the suite runs with fail_on_revert: an exit
///         path that reverts is a failure). After each call the handler compares what moved with a model of the
///         rules and records the first violation per PROTOCOL.md invariant; the invariant test asserts there is none.
/// @dev Ghost ledgers: `ghostEscrowPulled` (all escrow pulled by createJob), `ghostJobPaid` (refund + provider pay +
///      fee that left each job's escrow, measured as balance deltas of the job's parties and of accrued fees),
///      `ghostJobFinalPayouts` (rule calls that ended a job's money) and `ghostState` (each job's last seen state).
contract MarketHandler is TestBase {
    // ------------------------------------------------------------------ constants
    /// @dev Caps keep the per-call loops over offers and jobs short, so CI runs many sequences in a few minutes.
    uint256 internal constant MAX_OFFERS = 12;
    uint256 internal constant MAX_JOBS = 30;
    uint256 internal constant BPS = 10_000;
    uint256 internal constant MAX_STAKE_TOP_UP = 1e23;

    // ------------------------------------------------------------------ system under test
    JobMarket public immutable market;
    ProviderStaking public immutable staking;
    GpuCatalog public immutable catalog;
    BlocklistToken public immutable paymentToken;
    BlocklistToken public immutable stakeToken;
    address public immutable governance;
    uint256 internal immutable _rate;

    // ------------------------------------------------------------------ actors
    address[3] internal _providers;
    address[3] internal _clients;
    address[2] internal _treasuries;
    bytes32[2] internal _modelIds;
    string[2] internal _modelNames;
    /// @dev Where an actor withdraws credits to: never blocklisted, so a blocked account can still get its money out.
    mapping(address account => address) public sinkOf;

    uint256[] internal _offerIds;

    // ------------------------------------------------------------------ ghosts
    uint256 public ghostEscrowPulled;
    mapping(uint256 jobId => uint256) public ghostJobPaid;
    mapping(uint256 jobId => uint256) public ghostJobFinalPayouts;
    mapping(uint256 jobId => JobState) public ghostState;
    /// @dev First violation seen, by PROTOCOL.md invariant number (1 to 6); 0 holds model mismatches of other kinds.
    string[7] internal _violations;
    mapping(string action => uint256) public successes;

    /// @dev What a job's parties hold or are credited, before a rule call.
    struct Parties {
        uint256 client;
        uint256 provider;
        uint256 fees;
        uint256 clientStake;
        uint256 treasuryStake;
        uint256 providerBonded;
        uint256 providerLocked;
    }

    /// @dev What the rules say a call pays out of a job's escrow.
    struct Payout {
        uint256 refund;
        uint256 providerPay;
        uint256 fee;
        bool final_;
    }

    constructor(
        JobMarket market_,
        ProviderStaking staking_,
        GpuCatalog catalog_,
        BlocklistToken paymentToken_,
        BlocklistToken stakeToken_,
        address governance_,
        bytes32[2] memory modelIds_,
        string[2] memory modelNames_
    ) {
        market = market_;
        staking = staking_;
        catalog = catalog_;
        paymentToken = paymentToken_;
        stakeToken = stakeToken_;
        governance = governance_;
        _rate = market_.stakePerPaymentUnit();
        _modelIds = modelIds_;
        _modelNames = modelNames_;
        _treasuries = [market_.treasury(), makeAddr("treasury-2")];
        for (uint256 i; i < 3; ++i) {
            _providers[i] = makeAddr(string.concat("provider-", _toString(i)));
            _clients[i] = makeAddr(string.concat("client-", _toString(i)));
            vm.startPrank(_providers[i]);
            staking.register(string.concat("https://provider-", _toString(i), ".example/gpumesh.json"));
            stakeToken.approve(address(staking), type(uint256).max);
            vm.stopPrank();
            // 10^10 whole stablecoins: no job in these bounds costs more, so clients never need a top-up.
            paymentToken.mint(_clients[i], 1e16);
            vm.prank(_clients[i]);
            paymentToken.approve(address(market), type(uint256).max);
        }
        address[8] memory accounts = _accounts();
        for (uint256 i; i < accounts.length; ++i) {
            sinkOf[accounts[i]] = makeAddr(string.concat("sink-", _toString(i)));
        }
    }

    // ================================================================== staking
    function stake(uint256 providerSeed, uint256 amount) external {
        address provider = _providers[providerSeed % 3];
        if (staking.paused() || stakeToken.blocked(provider)) return;
        _stakeFor(provider, bound(amount, 1, MAX_STAKE_TOP_UP));
        _checkTransitions(0, JobState.None);
        _succeeded("stake");
    }

    function requestUnstake(uint256 providerSeed, uint256 amount) external {
        address provider = _providers[providerSeed % 3];
        IProviderStaking.ProviderAccount memory before = staking.account(provider);
        uint256 unlocked = before.staked - before.locked;
        if (unlocked == 0) return;
        amount = bound(amount, 1, unlocked);
        vm.prank(provider);
        staking.requestUnstake(amount);
        IProviderStaking.ProviderAccount memory afterwards = staking.account(provider);
        if (afterwards.staked != before.staked - amount || afterwards.unbonding != before.unbonding + amount) {
            _violate(2, "requestUnstake: stake did not move from staked to unbonding");
        }
        _checkTransitions(0, JobState.None);
        _succeeded("requestUnstake");
    }

    function withdrawStake(uint256 providerSeed) external {
        address provider = _providers[providerSeed % 3];
        IProviderStaking.ProviderAccount memory before = staking.account(provider);
        if (before.unbonding == 0 || stakeToken.blocked(provider)) return;
        // Waits out the unbonding period (at most 10 days here) rather than hoping a warp comes first.
        _warpTo(before.unbondingReadyAt);
        uint256 balanceBefore = stakeToken.balanceOf(provider);
        vm.prank(provider);
        staking.withdrawStake();
        if (stakeToken.balanceOf(provider) != balanceBefore + before.unbonding || staking.account(provider).unbonding != 0)
        {
            _violate(2, "withdrawStake: provider did not get its unbonding stake");
        }
        _checkTransitions(0, JobState.None);
        _succeeded("withdrawStake");
    }

    function withdrawCredit(uint256 accountSeed) external {
        address[8] memory accounts = _accounts();
        for (uint256 i; i < accounts.length; ++i) {
            address account = accounts[(accountSeed % accounts.length + i) % accounts.length];
            uint256 amount = staking.credit(account);
            if (amount == 0) continue;
            address sink = sinkOf[account];
            uint256 sinkBefore = stakeToken.balanceOf(sink);
            vm.prank(account);
            staking.withdrawCredit(sink);
            if (stakeToken.balanceOf(sink) != sinkBefore + amount || staking.credit(account) != 0) {
                _violate(2, "withdrawCredit: credit did not reach the sink");
            }
            _checkTransitions(0, JobState.None);
            _succeeded("withdrawCredit");
            return;
        }
    }

    // ================================================================== offers
    function createOffer(
        uint256 providerSeed,
        uint256 modelSeed,
        uint256 gpus,
        uint256 price,
        uint256 minDuration,
        uint256 maxDuration,
        uint256 lifetime
    ) external {
        if (market.paused() || _offerIds.length >= MAX_OFFERS) return;
        address provider = _providers[providerSeed % 3];
        bytes32 model = _modelIds[modelSeed % 2];
        if (!catalog.isListed(model)) return;
        uint256 minStake = staking.minStake();
        uint256 unlocked = staking.unlockedStake(provider);
        if (unlocked < minStake || unlocked == 0) {
            if (!_topUp(provider, minStake - unlocked + 1)) return;
        }
        minDuration = bound(minDuration, 1 minutes, 2 hours);
        OfferParams memory params = OfferParams({
            gpuModel: model,
            gpus: uint32(bound(gpus, 1, 8)),
            pricePerGpuHour: uint96(bound(price, 1e4, 1e7)),
            minDuration: uint32(minDuration),
            maxDuration: uint32(bound(maxDuration, minDuration, 7 days)),
            region: "eu-west",
            carbonIntensity: 120,
            renewableBps: 5_000,
            expiresAt: uint32(block.timestamp + bound(lifetime, 1 hours, 30 days))
        });
        uint256 expectedId = market.nextOfferId();
        vm.prank(provider);
        uint256 offerId = market.createOffer(params);
        Offer memory offer = market.getOffer(offerId);
        if (
            offerId != expectedId || offer.provider != provider || offer.gpus != params.gpus || offer.gpusLeased != 0
                || offer.pricePerGpuHour != params.pricePerGpuHour || offer.closed
        ) _violate(0, "createOffer: stored offer differs from its parameters");
        _offerIds.push(offerId);
        _checkTransitions(0, JobState.None);
        _succeeded("createOffer");
    }

    function updateOffer(uint256 offerSeed, uint256 gpus, uint256 price, uint256 lifetime) external {
        uint256 offerId = _findOpenOffer(offerSeed);
        if (offerId == 0) return;
        Offer memory before = market.getOffer(offerId);
        uint256 floor = before.gpusLeased == 0 ? 1 : before.gpusLeased;
        uint32 newGpus = uint32(bound(gpus, floor, floor + 8));
        uint96 newPrice = uint96(bound(price, 1e4, 1e7));
        uint32 expiresAt = uint32(block.timestamp + bound(lifetime, 1 hours, 30 days));
        vm.prank(before.provider);
        market.updateOffer(offerId, newGpus, newPrice, expiresAt);
        Offer memory afterwards = market.getOffer(offerId);
        if (afterwards.gpus != newGpus || afterwards.pricePerGpuHour != newPrice || afterwards.gpusLeased != before.gpusLeased)
        {
            _violate(3, "updateOffer: resize or reprice changed the lease");
        }
        _checkTransitions(0, JobState.None);
        _succeeded("updateOffer");
    }

    function closeOffer(uint256 offerSeed) external {
        uint256 offerId = _findOpenOffer(offerSeed);
        if (offerId == 0) return;
        Offer memory before = market.getOffer(offerId);
        vm.prank(before.provider);
        market.closeOffer(offerId);
        Offer memory afterwards = market.getOffer(offerId);
        if (!afterwards.closed || afterwards.gpusLeased != before.gpusLeased) {
            _violate(3, "closeOffer: running jobs lost their GPUs");
        }
        _checkTransitions(0, JobState.None);
        _succeeded("closeOffer");
    }

    // ================================================================== jobs
    function createJob(uint256 clientSeed, uint256 offerSeed, uint256 gpus, uint256 duration, uint256 priceSlack)
        external
    {
        _createJob(clientSeed, offerSeed, gpus, duration, priceSlack);
    }

    function _createJob(uint256 clientSeed, uint256 offerSeed, uint256 gpus, uint256 duration, uint256 priceSlack)
        internal
    {
        if (market.paused() || market.nextJobId() > MAX_JOBS) return;
        uint256 offerId = _findBookableOffer(offerSeed);
        if (offerId == 0) return;
        Offer memory offer = market.getOffer(offerId);
        address client = _clients[clientSeed % 3];
        uint32 jobGpus = uint32(bound(gpus, 1, offer.gpus - offer.gpusLeased));
        uint32 jobDuration = uint32(bound(duration, offer.minDuration, offer.maxDuration));
        uint256 maxPrice = offer.pricePerGpuHour + bound(priceSlack, 0, 1e6);
        uint256 clientBefore = paymentToken.balanceOf(client);
        uint256 marketBefore = paymentToken.balanceOf(address(market));
        uint256 expectedId = market.nextJobId();

        vm.prank(client);
        uint256 jobId = market.createJob(offerId, jobGpus, jobDuration, maxPrice, keccak256("spec"));

        uint256 escrow = _checkCreated(jobId, expectedId, offer, client);
        if (paymentToken.balanceOf(client) != clientBefore - escrow) _violate(1, "createJob: client paid != escrow");
        if (paymentToken.balanceOf(address(market)) != marketBefore + escrow) {
            _violate(1, "createJob: market received != escrow");
        }
        ghostEscrowPulled += escrow;
        _checkTransitions(jobId, JobState.Created);
        _succeeded("createJob");
    }

    /// @dev Checks a new job's terms against its offer and the parameters; returns the escrow the rules ask for.
    function _checkCreated(uint256 jobId, uint256 expectedId, Offer memory offer, address client)
        internal
        returns (uint256 escrow)
    {
        Job memory job = market.getJob(jobId);
        uint256 cost = JobMath.costUp(offer.pricePerGpuHour, job.gpus, job.duration);
        escrow = cost + JobMath.bpsUp(cost, market.parameters().protocolFeeBps);
        if (jobId != expectedId || job.client != client || job.pricePerGpuHour != offer.pricePerGpuHour) {
            _violate(0, "createJob: job terms differ from the offer");
        }
        if (job.escrow != escrow) _violate(0, "createJob: escrow is not cost + fee on cost rounded up");
        if (market.getOffer(job.offerId).gpusLeased != offer.gpusLeased + job.gpus) {
            _violate(3, "createJob: GPUs not reserved on the offer");
        }
    }

    function acceptJob(uint256 jobSeed) external {
        uint256 jobId = _findJob(jobSeed, _isAcceptable);
        if (jobId != 0) _acceptJob(jobId);
    }

    function _acceptJob(uint256 jobId) internal {
        Job memory job = market.getJob(jobId);
        address provider = _providerOf(job);
        uint256 collateral = _collateralOf(job);
        uint256 unlocked = staking.unlockedStake(provider);
        if (unlocked < collateral && !_topUp(provider, collateral - unlocked)) return;
        uint256 lockedBefore = staking.account(provider).locked;

        vm.prank(provider);
        market.acceptJob(jobId);

        if (staking.account(provider).locked != lockedBefore + collateral) {
            _violate(3, "acceptJob: locked collateral != cost x collateralBps");
        }
        if (market.getJob(jobId).startedAt != block.timestamp) _violate(0, "acceptJob: clock not started now");
        _checkTransitions(jobId, JobState.Running);
        _succeeded("acceptJob");
    }

    function cancelJob(uint256 jobSeed) external {
        uint256 jobId = _findJob(jobSeed, _isCreated);
        if (jobId != 0) _cancelJob(jobId);
    }

    function _cancelJob(uint256 jobId) internal {
        Job memory job = market.getJob(jobId);
        uint256 cancelFee = JobMath.bpsDown(_costOf(job), job.cancelFeeBps);
        Parties memory before = _parties(job);

        vm.prank(job.client);
        market.cancelJob(jobId);

        _recordPayout(jobId, job, before, Payout(job.escrow - cancelFee, cancelFee, 0, true));
        _checkUnlockedBy(job, before, 0, 0);
        _checkTransitions(jobId, JobState.Cancelled);
        _succeeded("cancelJob");
    }

    function expireJob(uint256 jobSeed, uint256 callerSeed) external {
        uint256 jobId = _findJob(jobSeed, _isExpired);
        if (jobId != 0) _expireJob(jobId, callerSeed);
    }

    function _expireJob(uint256 jobId, uint256 callerSeed) internal {
        Job memory job = market.getJob(jobId);
        IProviderStaking.ProviderAccount memory account = staking.account(_providerOf(job));
        uint256 slashable = account.staked - account.locked + account.unbonding;
        uint256 slash = JobMath.bpsDown(_costOf(job), job.expirySlashBps) * _rate;
        if (slash > slashable) slash = slashable;
        Parties memory before = _parties(job);

        vm.prank(_anyone(callerSeed));
        market.expireJob(jobId);

        _recordPayout(jobId, job, before, Payout(job.escrow, 0, 0, true));
        _checkUnlockedBy(job, before, 0, slash);
        _checkTransitions(jobId, JobState.Cancelled);
        _succeeded("expireJob");
    }

    function claim(uint256 jobSeed) external {
        uint256 jobId = _findJob(jobSeed, _hasClaimable);
        if (jobId != 0) _claim(jobId);
    }

    function _claim(uint256 jobId) internal {
        Job memory job = market.getJob(jobId);
        uint256 expected = _earnedAt(job, block.timestamp) - job.claimed;
        Parties memory before = _parties(job);

        vm.prank(_providerOf(job));
        uint256 amount = market.claim(jobId);

        if (amount != expected) _violate(0, "claim: amount != earned so far - claimed");
        _recordPayout(jobId, job, before, Payout(0, expected, 0, false));
        _checkTransitions(jobId, JobState.Running);
        _succeeded("claim");
    }

    function completeJob(uint256 jobSeed) external {
        uint256 jobId = _findJob(jobSeed, _isRunning);
        if (jobId != 0) _completeJob(jobId);
    }

    function _completeJob(uint256 jobId) internal {
        Job memory job = market.getJob(jobId);
        Parties memory before = _parties(job);
        vm.prank(_providerOf(job));
        market.completeJob(jobId, keccak256("result"));
        _afterClockStop(jobId, job, before);
        _checkTransitions(jobId, JobState.Completed);
        _succeeded("completeJob");
    }

    function endJobEarly(uint256 jobSeed) external {
        uint256 jobId = _findJob(jobSeed, _isRunning);
        if (jobId != 0) _endJobEarly(jobId);
    }

    function _endJobEarly(uint256 jobId) internal {
        Job memory job = market.getJob(jobId);
        Parties memory before = _parties(job);
        vm.prank(job.client);
        market.endJobEarly(jobId);
        _afterClockStop(jobId, job, before);
        _checkTransitions(jobId, JobState.Completed);
        _succeeded("endJobEarly");
    }

    function disputeJob(uint256 jobSeed) external {
        uint256 jobId = _findJob(jobSeed, _isDisputable);
        if (jobId != 0) _disputeJob(jobId);
    }

    function _disputeJob(uint256 jobId) internal {
        Job memory job = market.getJob(jobId);
        Parties memory before = _parties(job);
        vm.prank(job.client);
        market.disputeJob(jobId, keccak256("reason"));
        if (job.state == JobState.Running) {
            _afterClockStop(jobId, job, before);
        } else {
            _recordPayout(jobId, job, before, Payout(0, 0, 0, false));
            if (market.getJob(jobId).endedAt != job.endedAt) _violate(0, "disputeJob: completed job's end moved");
        }
        _checkTransitions(jobId, JobState.Disputed);
        _succeeded("disputeJob");
    }

    function settleJob(uint256 jobSeed, uint256 callerSeed) external {
        uint256 jobId = _findJob(jobSeed, _isSettleable);
        if (jobId != 0) _settleJob(jobId, callerSeed);
    }

    function _settleJob(uint256 jobId, uint256 callerSeed) internal {
        Job memory job = market.getJob(jobId);
        uint256 earnedTotal = _earnedAt(job, job.endedAt);
        uint256 fee = JobMath.bpsUp(earnedTotal, job.protocolFeeBps);
        Parties memory before = _parties(job);

        vm.prank(_anyone(callerSeed));
        market.settleJob(jobId);

        _recordPayout(jobId, job, before, Payout(job.escrow - earnedTotal - fee, earnedTotal - job.claimed, fee, true));
        _checkUnlockedBy(job, before, _collateralOf(job), 0);
        _checkTransitions(jobId, JobState.Settled);
        _succeeded("settleJob");
    }

    /// @notice The arbiter's power: any split of the unclaimed earnings and any slash up to the job's collateral.
    function resolveDispute(uint256 jobSeed, uint256 providerShareBps, uint256 slashAmount) external {
        uint256 jobId = _findJob(jobSeed, _isDisputed);
        if (jobId != 0) _resolveDispute(jobId, providerShareBps, slashAmount);
    }

    function _resolveDispute(uint256 jobId, uint256 providerShareBps, uint256 slashAmount) internal {
        Job memory job = market.getJob(jobId);
        uint256 collateral = _collateralOf(job);
        providerShareBps = bound(providerShareBps, 0, BPS);
        // A third of resolutions slash nothing; the rest anything up to the collateral.
        slashAmount = slashAmount % 3 == 0 ? 0 : bound(slashAmount, 0, collateral);
        uint256 earnedTotal = _earnedAt(job, job.endedAt);
        uint256 awarded = job.claimed + JobMath.bpsDown(earnedTotal - job.claimed, providerShareBps);
        uint256 fee = JobMath.bpsUp(awarded, job.protocolFeeBps);
        Parties memory before = _parties(job);

        vm.prank(governance);
        market.resolveDispute(jobId, uint16(providerShareBps), slashAmount);

        _recordPayout(jobId, job, before, Payout(job.escrow - awarded - fee, awarded - job.claimed, fee, true));
        // Collateral is unlocked before the slash, so the whole slash is always there to take.
        _checkUnlockedBy(job, before, collateral, slashAmount);
        _checkTransitions(jobId, JobState.Resolved);
        _succeeded("resolveDispute");
    }

    function reclaimAbandoned(uint256 jobSeed) external {
        uint256 jobId = _findJob(jobSeed, _isAbandoned);
        if (jobId != 0) _reclaimAbandoned(jobId);
    }

    function _reclaimAbandoned(uint256 jobId) internal {
        Job memory job = market.getJob(jobId);
        uint256 fee = JobMath.bpsUp(job.claimed, job.protocolFeeBps);
        Parties memory before = _parties(job);

        vm.prank(job.client);
        market.reclaimAbandoned(jobId);

        _recordPayout(jobId, job, before, Payout(job.escrow - job.claimed - fee, 0, fee, true));
        _checkUnlockedBy(job, before, _collateralOf(job), 0);
        if (market.getOffer(job.offerId).gpusLeased > market.getOffer(job.offerId).gpus) {
            _violate(3, "reclaimAbandoned: lease above capacity");
        }
        _checkTransitions(jobId, JobState.Reclaimed);
        _succeeded("reclaimAbandoned");
    }

    /// @notice Takes one job one step along an edge the state machine allows, waiting out a window when the step
    ///         needs it (settle after the dispute window, reclaim after end + grace). The single-rule actions above
    ///         pick a job by state; this one follows a job, so sequences of ~100 calls reach every state.
    function advanceJob(uint256 jobSeed, uint256 choice, uint256 arg) external {
        uint256 jobCount = market.nextJobId() - 1;
        uint256 jobId = jobCount == 0 ? 0 : 1 + jobSeed % jobCount;
        Job memory job = market.getJob(jobId);
        choice %= 6;
        if (jobId == 0 || job.state > JobState.Disputed) {
            // Nothing to follow (no job yet, or it has ended): start a new one.
            _createJob(jobSeed, choice, arg, arg >> 64, arg >> 128);
        } else if (job.state == JobState.Created) {
            if (_isExpired(job)) _expireJob(jobId, arg);
            else if (choice == 0) _cancelJob(jobId);
            else _acceptJob(jobId);
        } else if (job.state == JobState.Running) {
            if (choice == 0 || choice == 1) {
                _warpBy(bound(arg, 1, job.duration));
                if (_hasClaimable(market.getJob(jobId))) _claim(jobId);
            } else if (choice == 2) {
                _completeJob(jobId);
            } else if (choice == 3) {
                _endJobEarly(jobId);
            } else if (choice == 4) {
                _disputeJob(jobId);
            } else {
                _warpTo(uint256(job.startedAt) + job.duration + market.parameters().abandonGrace + 1);
                _reclaimAbandoned(jobId);
            }
        } else if (job.state == JobState.Completed) {
            if (choice == 0 && !_isSettleable(job)) {
                _disputeJob(jobId);
            } else {
                _warpTo(_disputeDeadline(job) + 1);
                _settleJob(jobId, arg);
            }
        } else if (job.state == JobState.Disputed) {
            _resolveDispute(jobId, arg, arg >> 128);
        }
    }

    /// @notice Calls every job rule the state machine forbids now on one job, as its client, its provider and a third
    ///         account (wrong state, wrong caller, window not open or already shut), and one amount the rules forbid
    ///         (above unlocked stake or free capacity, new business while paused). Every such call must revert.
    function tryForbiddenCalls(uint256 jobSeed, uint256 actorSeed, uint256 amountRule) external {
        uint256 jobCount = market.nextJobId() - 1;
        if (jobCount != 0) {
            uint256 jobId = 1 + jobSeed % jobCount;
            Job memory job = market.getJob(jobId);
            address[3] memory actors = [job.client, _providerOf(job), _anyone(actorSeed)];
            for (uint256 rule; rule < 10; ++rule) {
                for (uint256 i; i < 3; ++i) {
                    if (_ruleAllows(rule, job, actors[i])) continue;
                    vm.prank(actors[i]);
                    (bool success,) = address(market).call(_ruleCall(rule, jobId));
                    if (success) _violate(5, string.concat("a forbidden job rule succeeded: ", _toString(rule)));
                }
            }
        }
        _tryForbiddenAmount(amountRule % 3, jobSeed, actorSeed);
        _checkTransitions(0, JobState.None);
        _succeeded("tryForbiddenCalls");
    }

    /// @dev The state machine's guards, written out from PROTOCOL.md, for rule numbers as in `_ruleCall`.
    function _ruleAllows(uint256 rule, Job memory job, address actor) internal view returns (bool) {
        address provider = _providerOf(job);
        bool isProvider = actor == provider;
        bool isClient = actor == job.client;
        if (rule == 0) {
            return job.state == JobState.Created && isProvider && block.timestamp <= job.acceptDeadline
                && staking.unlockedStake(provider) >= _collateralOf(job);
        }
        if (rule == 1) return job.state == JobState.Created && isClient;
        if (rule == 2) return _isExpired(job);
        if (rule == 3) return _hasClaimable(job) && isProvider;
        if (rule == 4) return job.state == JobState.Running && isProvider;
        if (rule == 5) return job.state == JobState.Running && isClient;
        if (rule == 6) return _isDisputable(job) && isClient;
        if (rule == 7) return _isSettleable(job);
        if (rule == 8) return job.state == JobState.Disputed && actor == governance;
        return _isAbandoned(job) && isClient;
    }

    function _ruleCall(uint256 rule, uint256 jobId) internal pure returns (bytes memory) {
        if (rule == 0) return abi.encodeCall(JobMarket.acceptJob, (jobId));
        if (rule == 1) return abi.encodeCall(JobMarket.cancelJob, (jobId));
        if (rule == 2) return abi.encodeCall(JobMarket.expireJob, (jobId));
        if (rule == 3) return abi.encodeCall(JobMarket.claim, (jobId));
        if (rule == 4) return abi.encodeCall(JobMarket.completeJob, (jobId, bytes32(0)));
        if (rule == 5) return abi.encodeCall(JobMarket.endJobEarly, (jobId));
        if (rule == 6) return abi.encodeCall(JobMarket.disputeJob, (jobId, bytes32(0)));
        if (rule == 7) return abi.encodeCall(JobMarket.settleJob, (jobId));
        if (rule == 8) return abi.encodeCall(JobMarket.resolveDispute, (jobId, 5_000, 0));
        return abi.encodeCall(JobMarket.reclaimAbandoned, (jobId));
    }

    /// @dev Amounts beyond what the rules allow: unstaking locked stake, shrinking an offer below its lease, renting
    ///      more GPUs than are free or at a price above the client's maximum, and renting while paused.
    function _tryForbiddenAmount(uint256 rule, uint256 seed, uint256 actorSeed) internal {
        if (rule == 0) {
            address provider = _providers[actorSeed % 3];
            IProviderStaking.ProviderAccount memory account = staking.account(provider);
            uint256 unlocked = account.staked - account.locked;
            vm.prank(provider);
            try staking.requestUnstake(unlocked + 1 + seed % (account.locked + 1)) {
                _violate(3, "unstaked more than the unlocked stake");
            } catch {}
            return;
        }
        if (_offerIds.length == 0) return;
        uint256 offerId = _offerIds[seed % _offerIds.length];
        Offer memory offer = market.getOffer(offerId);
        if (rule == 1) {
            if (offer.gpusLeased == 0 || offer.closed) return;
            vm.prank(offer.provider);
            try market.updateOffer(offerId, offer.gpusLeased - 1, offer.pricePerGpuHour, offer.expiresAt) {
                _violate(3, "an offer shrank below its lease");
            } catch {}
            return;
        }
        address client = _clients[actorSeed % 3];
        uint256 free = offer.gpus - offer.gpusLeased;
        bool overCapacity = seed % 3 == 0;
        bool underPrice = seed % 3 == 1;
        uint32 gpus = uint32(overCapacity ? free + 1 : 1);
        uint256 maxPrice = underPrice ? offer.pricePerGpuHour - 1 : offer.pricePerGpuHour;
        // Otherwise only a pause (or an offer that cannot take jobs anyway) forbids the job.
        if (!overCapacity && !underPrice && !market.paused()) return;
        vm.prank(client);
        try market.createJob(offerId, gpus, offer.minDuration, maxPrice, bytes32(0)) {
            _violate(3, "a job was created beyond capacity, above the price limit or while paused");
        } catch {}
    }

    // ================================================================== money
    function withdrawBalance(uint256 accountSeed) external {
        address[8] memory accounts = _accounts();
        for (uint256 i; i < accounts.length; ++i) {
            address account = accounts[(accountSeed % accounts.length + i) % accounts.length];
            uint256 amount = market.balanceOf(account);
            if (amount == 0) continue;
            address sink = sinkOf[account];
            uint256 sinkBefore = paymentToken.balanceOf(sink);
            vm.prank(account);
            market.withdrawBalance(sink);
            if (paymentToken.balanceOf(sink) != sinkBefore + amount || market.balanceOf(account) != 0) {
                _violate(1, "withdrawBalance: credit did not reach the sink");
            }
            _checkTransitions(0, JobState.None);
            _succeeded("withdrawBalance");
            return;
        }
    }

    function withdrawFees(uint256 callerSeed) external {
        uint256 fees = market.feesAccrued();
        address treasury = market.treasury();
        if (fees == 0 || paymentToken.blocked(treasury)) return;
        uint256 treasuryBefore = paymentToken.balanceOf(treasury);
        vm.prank(_anyone(callerSeed));
        market.withdrawFees();
        if (paymentToken.balanceOf(treasury) != treasuryBefore + fees || market.feesAccrued() != 0) {
            _violate(1, "withdrawFees: fees did not reach the treasury");
        }
        _checkTransitions(0, JobState.None);
        _succeeded("withdrawFees");
    }

    // ================================================================== environment
    /// @notice Moves time: mostly minutes (inside accept windows and jobs), sometimes days (past disputes, unbonding).
    function warp(uint256 seconds_) external {
        _warpBy(seconds_ % 4 == 0 ? bound(seconds_, 1 hours, 8 days) : bound(seconds_, 1, 2 hours));
        _checkTransitions(0, JobState.None);
        _succeeded("warp");
    }

    /// @notice Blocklists or unblocks an actor on one token, as USDC can: payouts to it must be credited, not block.
    function setBlocked(uint256 accountSeed, bool onStakeToken, bool blocked) external {
        address account = _accounts()[accountSeed % 8];
        (onStakeToken ? stakeToken : paymentToken).setBlocked(account, blocked);
        _checkTransitions(0, JobState.None);
        _succeeded("setBlocked");
    }

    /// @notice Governance's powers, and a few it must not have. None of them may move a token or a ledger entry.
    function governanceAct(uint256 action, uint256 value) external {
        bytes32 ledgerBefore = _ledgerHash();
        vm.startPrank(governance);
        action %= 10;
        if (action == 0) {
            IJobMarket.Parameter parameter = IJobMarket.Parameter(value % 7);
            (uint256 min, uint256 max) = market.parameterBounds(parameter);
            // Windows stay within a day here so that sequences of ~100 calls still reach their ends.
            if (parameter >= IJobMarket.Parameter.AcceptWindow && max > 1 days) max = 1 days;
            market.setParameter(parameter, bound(value >> 8, min, max));
        } else if (action == 1) {
            if (market.paused()) market.unpause();
            else market.pause();
        } else if (action == 2) {
            if (staking.paused()) staking.unpause();
            else staking.pause();
        } else if (action == 3) {
            market.setTreasury(_treasuries[value % 2]);
            staking.setTreasury(_treasuries[(value >> 1) % 2]);
        } else if (action == 4) {
            staking.setMinStake(bound(value, 0, 1_000e18));
        } else if (action == 5) {
            staking.setUnbondingPeriod(bound(value, 1 hours, 10 days));
        } else if (action == 6) {
            uint256 index = value % 2;
            if (catalog.isListed(_modelIds[index])) catalog.delistModel(_modelIds[index]);
            else catalog.listModel(_modelNames[index], 80);
        } else if (action == 7) {
            _tryForbidden(value);
        } else {
            if (market.paused()) market.unpause();
            if (staking.paused()) staking.unpause();
        }
        vm.stopPrank();
        if (_ledgerHash() != ledgerBefore) _violate(6, "a governance call moved funds or job state");
        _checkTransitions(0, JobState.None);
        _succeeded("governanceAct");
    }

    // ================================================================== views for the invariant test
    function violation(uint256 invariantNumber) external view returns (string memory) {
        return _violations[invariantNumber];
    }

    function providers() external view returns (address[3] memory) {
        return _providers;
    }

    function clients() external view returns (address[3] memory) {
        return _clients;
    }

    function treasuries() external view returns (address[2] memory) {
        return _treasuries;
    }

    function offerIds() external view returns (uint256[] memory) {
        return _offerIds;
    }

    function collateralOf(Job memory job) external view returns (uint256) {
        return _collateralOf(job);
    }

    // ================================================================== internal: model checks
    /// @dev Measures what left the job's escrow in one rule call, checks it against the rules and books it.
    function _recordPayout(uint256 jobId, Job memory job, Parties memory before, Payout memory expected) internal {
        address provider = _providerOf(job);
        uint256 clientAfter = _paymentValue(job.client);
        uint256 providerAfter = _paymentValue(provider);
        uint256 feesAfter = market.feesAccrued();
        if (clientAfter < before.client || providerAfter < before.provider || feesAfter < before.fees) {
            _violate(4, "a job rule took money from a party");
            return;
        }
        uint256 refund = clientAfter - before.client;
        uint256 providerPay = providerAfter - before.provider;
        uint256 fee = feesAfter - before.fees;
        if (refund != expected.refund) _violate(4, "client refund differs from the rules");
        if (providerPay != expected.providerPay) _violate(4, "provider pay differs from the rules");
        if (fee != expected.fee) _violate(4, "protocol fee differs from the rules");
        ghostJobPaid[jobId] += refund + providerPay + fee;
        if (expected.final_) {
            ghostJobFinalPayouts[jobId] += 1;
            if (ghostJobPaid[jobId] != job.escrow) _violate(4, "refund + pay + fee != escrow at the job's end");
        }
    }

    /// @dev A clock stop (complete, early end, dispute while running) moves no money, frees the GPUs, stamps now.
    function _afterClockStop(uint256 jobId, Job memory job, Parties memory before) internal {
        _recordPayout(jobId, job, before, Payout(0, 0, 0, false));
        _checkUnlockedBy(job, before, 0, 0);
        if (market.getJob(jobId).endedAt != block.timestamp) _violate(0, "clock stop: endedAt is not now");
    }

    /// @dev Checks the provider's collateral went down by `unlocked` and its stake by exactly `slashed`, which went to
    ///      the client up to the job's cost and to the treasury beyond it.
    function _checkUnlockedBy(Job memory job, Parties memory before, uint256 unlocked, uint256 slashed) internal {
        IProviderStaking.ProviderAccount memory account = staking.account(_providerOf(job));
        if (account.locked + unlocked != before.providerLocked) _violate(3, "collateral unlocked != job's collateral");
        if (account.staked + account.unbonding + slashed != before.providerBonded) {
            _violate(2, "provider stake moved by other than the slash");
        }
        uint256 clientCap = _costOf(job) * _rate;
        uint256 toClient = slashed < clientCap ? slashed : clientCap;
        if (_stakeValue(job.client) != before.clientStake + toClient) _violate(2, "slash to client != min(slash, cost)");
        if (_stakeValue(staking.treasury()) != before.treasuryStake + slashed - toClient) {
            _violate(2, "slash to treasury != slash beyond cost");
        }
    }

    /// @dev Invariant 5: the touched job moved to `expected` along an edge of the state machine; no other job moved.
    function _checkTransitions(uint256 touchedJobId, JobState expected) internal {
        uint256 jobCount = market.nextJobId() - 1;
        for (uint256 jobId = 1; jobId <= jobCount; ++jobId) {
            JobState previous = ghostState[jobId];
            JobState current = market.getJob(jobId).state;
            if (jobId == touchedJobId) {
                if (current != expected) _violate(5, "a rule left its job in an unexpected state");
                if (!_allowed(previous, current)) _violate(5, "a transition outside the state machine happened");
            } else if (current != previous) {
                _violate(5, "a job changed state without a rule call on it");
            }
            ghostState[jobId] = current;
        }
    }

    function _allowed(JobState from, JobState to) internal pure returns (bool) {
        if (from == JobState.None) return to == JobState.Created;
        if (from == JobState.Created) return to == JobState.Running || to == JobState.Cancelled;
        if (from == JobState.Running) {
            // Running -> Running is a claim.
            return to == JobState.Running || to == JobState.Completed || to == JobState.Disputed
                || to == JobState.Reclaimed;
        }
        if (from == JobState.Completed) return to == JobState.Settled || to == JobState.Disputed;
        if (from == JobState.Disputed) return to == JobState.Resolved;
        return false; // Settled, Resolved, Cancelled and Reclaimed are terminal.
    }

    /// @dev Governance must not reach stake or escrow through the market-only entry points or by re-binding.
    function _tryForbidden(uint256 value) internal {
        address provider = _providers[value % 3];
        uint256 amount = bound(value, 1, 1e24);
        try staking.slash(provider, 1, amount, governance, amount) {
            _violate(6, "governance slashed stake");
        } catch {}
        try staking.lockCollateral(provider, 1, amount) {
            _violate(6, "governance locked stake");
        } catch {}
        try staking.unlockCollateral(provider, 1, 0) {
            _violate(6, "governance unlocked stake");
        } catch {}
        try staking.setMarket(governance) {
            _violate(6, "governance re-bound the staking market");
        } catch {}
        try market.setParameter(IJobMarket.Parameter.ProtocolFeeBps, 1_001) {
            _violate(6, "governance set a fee above 10 %");
        } catch {}
        uint256 jobCount = market.nextJobId() - 1;
        if (jobCount == 0) return;
        uint256 jobId = 1 + value % jobCount;
        try market.claim(jobId) {
            _violate(6, "governance claimed a provider's pay");
        } catch {}
        try market.cancelJob(jobId) {
            _violate(6, "governance cancelled a client's job");
        } catch {}
        try market.reclaimAbandoned(jobId) {
            _violate(6, "governance reclaimed a client's escrow");
        } catch {}
    }

    // ================================================================== internal: job and offer choice
    /// @dev The first job, from a seeded start, for which `accepts` holds; 0 when none does.
    function _findJob(uint256 seed, function(Job memory) internal view returns (bool) accepts)
        internal
        view
        returns (uint256)
    {
        uint256 jobCount = market.nextJobId() - 1;
        for (uint256 i; i < jobCount; ++i) {
            uint256 jobId = 1 + (seed % jobCount + i) % jobCount;
            if (accepts(market.getJob(jobId))) return jobId;
        }
        return 0;
    }

    function _isCreated(Job memory job) internal pure returns (bool) {
        return job.state == JobState.Created;
    }

    function _isAcceptable(Job memory job) internal view returns (bool) {
        return job.state == JobState.Created && block.timestamp <= job.acceptDeadline;
    }

    function _isExpired(Job memory job) internal view returns (bool) {
        return job.state == JobState.Created && block.timestamp > job.acceptDeadline;
    }

    function _isRunning(Job memory job) internal pure returns (bool) {
        return job.state == JobState.Running;
    }

    function _hasClaimable(Job memory job) internal view returns (bool) {
        return job.state == JobState.Running && _earnedAt(job, block.timestamp) > job.claimed;
    }

    function _isDisputable(Job memory job) internal view returns (bool) {
        if (job.state == JobState.Running) return true;
        return job.state == JobState.Completed && block.timestamp <= _disputeDeadline(job);
    }

    function _isSettleable(Job memory job) internal view returns (bool) {
        return job.state == JobState.Completed && block.timestamp > _disputeDeadline(job);
    }

    function _isDisputed(Job memory job) internal pure returns (bool) {
        return job.state == JobState.Disputed;
    }

    function _isAbandoned(Job memory job) internal view returns (bool) {
        return job.state == JobState.Running
            && block.timestamp > uint256(job.startedAt) + job.duration + market.parameters().abandonGrace;
    }

    function _disputeDeadline(Job memory job) internal view returns (uint256) {
        return uint256(job.endedAt) + market.parameters().disputeWindow;
    }

    function _findOpenOffer(uint256 seed) internal view returns (uint256) {
        uint256 count = _offerIds.length;
        for (uint256 i; i < count; ++i) {
            uint256 offerId = _offerIds[(seed % count + i) % count];
            if (!market.getOffer(offerId).closed) return offerId;
        }
        return 0;
    }

    function _findBookableOffer(uint256 seed) internal view returns (uint256) {
        uint256 count = _offerIds.length;
        for (uint256 i; i < count; ++i) {
            uint256 offerId = _offerIds[(seed % count + i) % count];
            Offer memory offer = market.getOffer(offerId);
            if (!offer.closed && block.timestamp < offer.expiresAt && offer.gpusLeased < offer.gpus) return offerId;
        }
        return 0;
    }

    // ================================================================== internal: helpers
    function _stakeFor(address provider, uint256 amount) internal {
        stakeToken.mint(provider, amount);
        uint256 stakedBefore = staking.account(provider).staked;
        uint256 heldBefore = stakeToken.balanceOf(address(staking));
        vm.prank(provider);
        staking.stake(amount);
        if (staking.account(provider).staked != stakedBefore + amount) _violate(2, "stake: staked grew by != amount");
        if (stakeToken.balanceOf(address(staking)) != heldBefore + amount) _violate(2, "stake: staking got != amount");
    }

    /// @dev A provider stakes what it lacks, as it would before accepting a job; false when it cannot.
    function _topUp(address provider, uint256 amount) internal returns (bool) {
        if (staking.paused() || stakeToken.blocked(provider) || amount > MAX_STAKE_TOP_UP) return false;
        _stakeFor(provider, amount);
        return true;
    }

    function _warpBy(uint256 seconds_) internal {
        vm.warp(block.timestamp + seconds_);
    }

    function _warpTo(uint256 timestamp) internal {
        if (timestamp > block.timestamp) vm.warp(timestamp);
    }

    function _parties(Job memory job) internal view returns (Parties memory parties) {
        address provider = _providerOf(job);
        IProviderStaking.ProviderAccount memory account = staking.account(provider);
        parties.client = _paymentValue(job.client);
        parties.provider = _paymentValue(provider);
        parties.fees = market.feesAccrued();
        parties.clientStake = _stakeValue(job.client);
        parties.treasuryStake = _stakeValue(staking.treasury());
        parties.providerBonded = account.staked + account.unbonding;
        parties.providerLocked = account.locked;
    }

    /// @dev Everything governance must not be able to change: every balance and credit of every account and
    ///      contract, accrued fees, every provider's stake and every job's money and state.
    function _ledgerHash() internal view returns (bytes32 hash) {
        address[8] memory accounts = _accounts();
        for (uint256 i; i < accounts.length; ++i) {
            hash = keccak256(
                abi.encode(
                    hash,
                    paymentToken.balanceOf(accounts[i]),
                    market.balanceOf(accounts[i]),
                    stakeToken.balanceOf(accounts[i]),
                    staking.credit(accounts[i]),
                    staking.account(accounts[i])
                )
            );
        }
        hash = keccak256(
            abi.encode(
                hash,
                paymentToken.balanceOf(address(market)),
                stakeToken.balanceOf(address(staking)),
                paymentToken.balanceOf(governance),
                stakeToken.balanceOf(governance),
                market.feesAccrued()
            )
        );
        uint256 jobCount = market.nextJobId() - 1;
        for (uint256 jobId = 1; jobId <= jobCount; ++jobId) {
            Job memory job = market.getJob(jobId);
            hash = keccak256(abi.encode(hash, job.state, job.escrow, job.claimed, job.endedAt));
        }
    }

    function _accounts() internal view returns (address[8] memory) {
        return [
            _providers[0], _providers[1], _providers[2], _clients[0], _clients[1], _clients[2], _treasuries[0],
            _treasuries[1]
        ];
    }

    /// @dev Any of the 8 accounts, or governance.
    function _anyone(uint256 seed) internal view returns (address) {
        return seed % 9 == 8 ? governance : _accounts()[seed % 9];
    }

    function _paymentValue(address account) internal view returns (uint256) {
        return paymentToken.balanceOf(account) + market.balanceOf(account);
    }

    function _stakeValue(address account) internal view returns (uint256) {
        return stakeToken.balanceOf(account) + staking.credit(account);
    }

    function _providerOf(Job memory job) internal view returns (address) {
        return market.getOffer(job.offerId).provider;
    }

    function _costOf(Job memory job) internal pure returns (uint256) {
        return JobMath.costUp(job.pricePerGpuHour, job.gpus, job.duration);
    }

    function _collateralOf(Job memory job) internal view returns (uint256) {
        return JobMath.bpsUp(_costOf(job), job.collateralBps) * _rate;
    }

    function _earnedAt(Job memory job, uint256 timestamp) internal pure returns (uint256) {
        uint256 used = timestamp - job.startedAt;
        if (used > job.duration) used = job.duration;
        return JobMath.costUp(job.pricePerGpuHour, job.gpus, used);
    }

    function _violate(uint256 invariantNumber, string memory message) internal {
        if (bytes(_violations[invariantNumber]).length == 0) _violations[invariantNumber] = message;
    }

    function _succeeded(string memory action) internal {
        successes[action] += 1;
    }
}

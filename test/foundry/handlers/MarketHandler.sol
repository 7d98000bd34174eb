// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {JobMarket} from "../../../contracts/JobMarket.sol";
import {ProviderStaking} from "../../../contracts/ProviderStaking.sol";
import {GpuCatalog} from "../../../contracts/GpuCatalog.sol";
import {IJobMarket} from "../../../contracts/interfaces/IJobMarket.sol";
import {IProviderStaking} from "../../../contracts/interfaces/IProviderStaking.sol";
import {Job, JobState, Dispute} from "../../../contracts/types/Job.sol";
import {Offer, OfferParams} from "../../../contracts/types/Offer.sol";
import {PermitSignature} from "../../../contracts/types/Permit.sol";
import {JobMath} from "../../../contracts/libraries/JobMath.sol";
import {BlocklistToken} from "../../../contracts/test/BlocklistToken.sol";
import {TestBase} from "../utils/TestBase.sol";

/// @notice Drives random sequences of every GPU Mesh v2 rule for 3 providers and 3 clients (who also sponsor each
///         other's jobs), plus governance (also the arbiter), time and token blocklisting. Every action first checks
///         the rule's preconditions and returns when they do not hold, so each call that reaches the contracts must
///         succeed (the suite runs with fail_on_revert: an exit path that reverts is a failure); calls the rules
///         forbid are probed with try/catch and must revert, with the error the rules name where there is one.
///         After each call the handler compares what moved with its own model of PROTOCOL.md and records the first
///         violation per invariant; the invariant test asserts there is none and checks the totals.
/// @dev The model never reads a job's rates from the market: each job's terms are the handler's copy of the
///      parameters governance had set when the job was created (`GhostJob.terms`), its receipted time is what the
///      client's signed receipts cover, and each provider's last sign of life is the handler's record of its accepts,
///      claims, completions and heartbeats. Money is booked from balance deltas of the job's payer, client and
///      provider (balances plus market credits) and of accrued fees.
contract MarketHandler is TestBase {
    // ------------------------------------------------------------------ constants
    /// @dev Caps keep the per-call loops over offers and jobs short, so CI runs many sequences in a few minutes.
    uint256 internal constant MAX_OFFERS = 12;
    uint256 internal constant MAX_JOBS = 30;
    uint256 internal constant BPS = 10_000;
    uint256 internal constant MAX_STAKE_TOP_UP = 1e23;
    uint256 internal constant PARAMETER_COUNT = 11;
    uint256 internal constant JOB_RULE_COUNT = 15;
    bytes32 internal constant RECEIPT_TYPEHASH = keccak256("UsageReceipt(uint256 jobId,uint64 servedUntil)");
    bytes32 internal constant DOMAIN_TYPEHASH =
        keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)");

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
    uint256[3] internal _clientKeys;
    address[2] internal _treasuries;
    bytes32[2] internal _modelIds;
    string[2] internal _modelNames;
    /// @dev Where an actor withdraws credits to: never blocklisted, so a blocked account can still get its money out.
    mapping(address account => address) public sinkOf;

    uint256[] internal _offerIds;

    // ------------------------------------------------------------------ ghosts
    /// @notice The handler's record of one job.
    struct GhostJob {
        IJobMarket.Parameters terms; // the parameters governance had set when the job was created
        address payer;
        address provider;
        uint256 pulled; // escrow, extensions and dispute bond pulled for the job
        uint256 paidOut; // refunds, provider pay, fees and bond paid out of it (balance and fee deltas)
        uint256 finalPayouts; // rule calls that ended the job's money
        uint256 reserved; // collateral locked for it (stake units), measured at creation and extensions
        uint256 slashed; // stake taken from its provider in rule calls on it
        uint256 receiptedSeconds; // service time the client's submitted receipts cover
        uint256 bond;
        uint256 disputedAt;
        uint256 disputeLastLifeAt;
    }

    struct UnbondingRequest {
        uint256 amount;
        uint256 readyAt;
    }

    mapping(uint256 jobId => GhostJob) internal _ghostJobs;
    mapping(uint256 jobId => JobState) public ghostState;
    /// @dev Invariant 8: changed only by stake, requestUnstake and measured slashes in rule calls on the provider's jobs.
    mapping(address provider => uint256) public ghostStaked;
    mapping(address provider => uint256) public ghostHeartbeat;
    mapping(address provider => UnbondingRequest[]) internal _ghostRequests;
    mapping(address provider => uint256) internal _ghostFirstRequest;
    mapping(address provider => uint256) internal _ghostLastReadyAt;
    IJobMarket.Parameters internal _ghostParameters;
    uint256 internal _ghostUnbondingPeriod;
    /// @dev First violation seen, by PROTOCOL.md invariant number (1 to 8); 0 holds model mismatches of other kinds.
    string[9] internal _violations;
    bool public forbiddenCallSucceeded;
    mapping(string action => uint256) public successes;

    /// @dev What a job's parties hold or are credited, before a rule call.
    struct Snapshot {
        uint256 payer;
        uint256 client;
        uint256 provider;
        uint256 fees;
        uint256 bonds;
        uint256 clientStake;
        uint256 treasuryStake;
        uint256 staked;
        uint256 unbonding;
        uint256 locked;
    }

    /// @dev What the rules say one call moves for a job (payment units, stake units for the last three).
    struct Expect {
        uint256 toPayer;
        uint256 toClient;
        uint256 toProvider;
        uint256 fee;
        uint256 pulledFromPayer;
        uint256 pulledFromClient;
        uint256 bondsIn;
        uint256 bondsOut;
        bool final_;
        uint256 locked;
        uint256 unlocked;
        uint256 slashed;
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
        _ghostParameters = market_.parameters();
        _ghostUnbondingPeriod = staking_.unbondingPeriod();
        for (uint256 i; i < 3; ++i) {
            _providers[i] = makeAddr(string.concat("provider-", _toString(i)));
            (_clients[i], _clientKeys[i]) = makeAddrAndKey(string.concat("client-", _toString(i)));
            vm.startPrank(_providers[i]);
            staking.register(string.concat("https://provider-", _toString(i), ".example/gpumesh.json"));
            stakeToken.approve(address(staking), type(uint256).max);
            vm.stopPrank();
            // 10^10 whole stablecoins: no job, extension or bond in these bounds costs more, so no top-ups.
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
        _after(0, JobState.None);
        _succeeded("stake");
    }

    function requestUnstake(uint256 providerSeed, uint256 amount) external {
        address provider = _providers[providerSeed % 3];
        IProviderStaking.ProviderAccount memory before = staking.account(provider);
        uint256 unlocked = before.staked - before.locked;
        if (unlocked == 0) return;
        amount = bound(amount, 1, unlocked);
        uint256 readyAt = _now() + _ghostUnbondingPeriod;
        if (readyAt < _ghostLastReadyAt[provider]) readyAt = _ghostLastReadyAt[provider];
        uint256 requestId = _ghostRequests[provider].length;

        vm.prank(provider);
        staking.requestUnstake(amount);

        IProviderStaking.ProviderAccount memory afterwards = staking.account(provider);
        if (afterwards.staked != before.staked - amount || afterwards.unbonding != before.unbonding + amount) {
            _violate(2, "requestUnstake: stake did not move from staked to unbonding");
        }
        IProviderStaking.UnbondingRequest memory request = staking.unbondingRequest(provider, requestId);
        if (request.amount != amount || request.readyAt != readyAt) {
            _violate(2, "requestUnstake: request differs from amount and max(now + period, previous request)");
        }
        _ghostRequests[provider].push(UnbondingRequest(amount, readyAt));
        _ghostLastReadyAt[provider] = readyAt;
        ghostStaked[provider] -= amount;
        _after(0, JobState.None);
        _succeeded("requestUnstake");
    }

    /// @notice Withdraws the matured prefix of a provider's unbonding requests, waiting for one of the pending ones to
    ///         mature first; sometimes first probes that nothing comes out early.
    function withdrawStake(uint256 providerSeed, uint256 waitSeed) external {
        address provider = _providers[providerSeed % 3];
        UnbondingRequest[] storage requests = _ghostRequests[provider];
        uint256 first = _ghostFirstRequest[provider];
        uint256 count = requests.length;
        if (first == count || stakeToken.blocked(provider)) return;
        if (requests[first].readyAt > _now()) {
            if (waitSeed % 4 == 0) _probeEarlyWithdrawal(provider, requests[first].readyAt);
            if (forbiddenCallSucceeded) return;
            _warpTo(requests[first + (waitSeed >> 8) % (count - first)].readyAt);
        }
        uint256 expected;
        uint256 next = first;
        while (next < count && requests[next].readyAt <= _now()) {
            expected += requests[next].amount;
            ++next;
        }
        uint256 balanceBefore = stakeToken.balanceOf(provider);
        IProviderStaking.ProviderAccount memory before = staking.account(provider);

        vm.prank(provider);
        staking.withdrawStake();

        IProviderStaking.ProviderAccount memory afterwards = staking.account(provider);
        if (stakeToken.balanceOf(provider) != balanceBefore + expected || afterwards.unbonding + expected != before.unbonding)
        {
            _violate(2, "withdrawStake: withdrew other than the matured requests");
        }
        if (afterwards.firstUnbondingRequest != next) _violate(2, "withdrawStake: request queue head off");
        _ghostFirstRequest[provider] = next;
        _after(0, JobState.None);
        _succeeded("withdrawStake");
    }

    function _probeEarlyWithdrawal(address provider, uint256 readyAt) internal {
        vm.prank(provider);
        try staking.withdrawStake() {
            _forbiddenSucceeded(2, "withdrawStake paid out a request before it matured");
        } catch (bytes memory reason) {
            _expectError(
                2,
                reason,
                abi.encodeWithSelector(IProviderStaking.ProviderStakingStillUnbonding.selector, uint64(readyAt)),
                "early withdrawStake reverted with another error"
            );
        }
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
            _after(0, JobState.None);
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
            expiresAt: uint32(_now() + bound(lifetime, 1 hours, 30 days))
        });
        if (!_backOffer(provider, params.gpus, params.pricePerGpuHour, params.minDuration)) return;
        uint256 expectedId = market.nextOfferId();

        vm.prank(provider);
        uint256 offerId = market.createOffer(params);

        Offer memory offer = market.getOffer(offerId);
        if (
            offerId != expectedId || offer.provider != provider || offer.gpus != params.gpus || offer.gpusLeased != 0
                || offer.pricePerGpuHour != params.pricePerGpuHour || offer.closed
        ) _violate(0, "createOffer: stored offer differs from its parameters");
        _offerIds.push(offerId);
        _after(0, JobState.None);
        _succeeded("createOffer");
    }

    function updateOffer(uint256 offerSeed, uint256 gpus, uint256 price, uint256 lifetime) external {
        uint256 offerId = _findOpenOffer(offerSeed);
        if (offerId == 0) return;
        Offer memory before = market.getOffer(offerId);
        uint256 floor = before.gpusLeased == 0 ? 1 : before.gpusLeased;
        uint32 newGpus = uint32(bound(gpus, floor, floor + 8));
        uint96 newPrice = uint96(bound(price, 1e4, 1e7));
        uint32 expiresAt = uint32(_now() + bound(lifetime, 1 hours, 30 days));
        // Leased GPUs are backed by their jobs' collateral; only the free ones need unlocked stake.
        if (!_backOffer(before.provider, newGpus - before.gpusLeased, newPrice, before.minDuration)) return;

        vm.prank(before.provider);
        market.updateOffer(offerId, newGpus, newPrice, expiresAt);

        Offer memory afterwards = market.getOffer(offerId);
        if (afterwards.gpus != newGpus || afterwards.pricePerGpuHour != newPrice || afterwards.gpusLeased != before.gpusLeased)
        {
            _violate(3, "updateOffer: resize or reprice changed the lease");
        }
        _after(0, JobState.None);
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
        _after(0, JobState.None);
        _succeeded("closeOffer");
    }

    /// @dev A provider stakes what it lacks for listing `gpus` GPUs (minStake, and collateral for the minimum
    ///      duration at the current rate), as its agent would; false when it cannot.
    function _backOffer(address provider, uint256 gpus, uint256 price, uint256 minDuration) internal returns (bool) {
        uint256 required = JobMath.bpsUp(JobMath.costUp(price, gpus, minDuration), _ghostParameters.collateralBps) * _rate;
        uint256 minStake = staking.minStake();
        if (required < minStake) required = minStake;
        if (required == 0) required = 1;
        uint256 unlocked = staking.unlockedStake(provider);
        return unlocked >= required || _topUp(provider, required - unlocked);
    }

    // ================================================================== jobs: creation
    /// @notice Creates a job; a quarter are sponsored (another client pays, and gets the refunds), some through the
    ///         permit entry point. Probes first, now and then, that a too-low maxEscrow reverts, and whenever the
    ///         provider's unlocked stake cannot back the collateral, that creation reverts naming both.
    function createJob(uint256 clientSeed, uint256 offerSeed, uint256 gpus, uint256 duration, uint256 slack) external {
        _createJob(clientSeed, offerSeed, gpus, duration, slack);
    }

    function _createJob(uint256 clientSeed, uint256 offerSeed, uint256 gpus, uint256 duration, uint256 slack)
        internal
    {
        if (market.paused() || market.nextJobId() > MAX_JOBS) return;
        uint256 offerId = _findBookableOffer(offerSeed);
        if (offerId == 0) return;
        Offer memory offer = market.getOffer(offerId);
        uint256 clientIndex = clientSeed % 3;
        address client = _clients[clientIndex];
        uint256 mode = (clientSeed >> 8) % 8;
        address payer = mode < 2 ? _clients[(clientIndex + 1) % 3] : client;
        uint32 jobGpus = uint32(bound(gpus, 1, offer.gpus - offer.gpusLeased));
        uint32 jobDuration = uint32(bound(duration, offer.minDuration, offer.maxDuration));
        uint256 maxPrice = offer.pricePerGpuHour + bound(slack, 0, 1e6);
        IJobMarket.Parameters memory t = _ghostParameters;
        uint256 cost = JobMath.costUp(offer.pricePerGpuHour, jobGpus, jobDuration);
        uint256 escrow = _escrowOf(cost, t);
        uint256 collateral = _collateralOf(cost, t);
        _checkQuote(offerId, jobGpus, jobDuration, cost, escrow, collateral);
        if ((slack >> 64) % 6 == 0) _probeEscrowAboveMax(client, offerId, jobGpus, jobDuration, maxPrice, escrow);
        uint256 unlocked = staking.unlockedStake(offer.provider);
        if (collateral > unlocked) {
            _probeUnbackedJob(client, offerId, jobGpus, jobDuration, maxPrice, escrow, collateral, unlocked);
            if (forbiddenCallSucceeded || !_topUp(offer.provider, collateral - unlocked)) return;
        }
        if (forbiddenCallSucceeded) return;
        uint256 expectedId = market.nextJobId();
        GhostJob storage g = _ghostJobs[expectedId];
        g.terms = t;
        g.payer = payer;
        g.provider = offer.provider;
        Snapshot memory before = _snapshot(expectedId, client);
        Expect memory e;
        e.pulledFromPayer = escrow;
        e.locked = collateral;
        uint256 maxEscrow = escrow + bound(slack >> 128, 0, 1e6);

        vm.prank(payer);
        uint256 jobId;
        if (mode == 0) {
            jobId = market.createJobFor(client, offerId, jobGpus, jobDuration, maxPrice, maxEscrow, keccak256("spec"));
        } else if (mode == 1 || mode == 2) {
            // BlocklistToken has no permit: the failed permit is ignored and the allowance pays, as the rules say.
            PermitSignature memory permit = PermitSignature(escrow, _now(), 27, bytes32(0), bytes32(0));
            jobId = market.createJobWithPermit(
                client, offerId, jobGpus, jobDuration, maxPrice, maxEscrow, keccak256("spec"), permit
            );
        } else {
            jobId = market.createJob(offerId, jobGpus, jobDuration, maxPrice, maxEscrow, keccak256("spec"));
        }

        if (jobId != expectedId) _violate(0, "createJob: job id is not the next one");
        _checkCreated(jobId, offer, client, payer, t);
        _book(jobId, before, e);
        _after(jobId, JobState.Created);
        _succeeded("createJob");
    }

    function _checkQuote(uint256 offerId, uint32 gpus, uint32 duration, uint256 cost, uint256 escrow, uint256 collateral)
        internal
    {
        (uint256 qCost, uint256 qFee, uint256 qEscrow, uint256 qCollateral) = market.quote(offerId, gpus, duration);
        if (qCost != cost || qEscrow != escrow || qFee != escrow - cost || qCollateral != collateral) {
            _violate(0, "quote differs from cost, fee on cost, escrow and collateral at the current parameters");
        }
    }

    function _probeEscrowAboveMax(
        address client,
        uint256 offerId,
        uint32 gpus,
        uint32 duration,
        uint256 maxPrice,
        uint256 escrow
    ) internal {
        if (escrow == 0) return;
        vm.prank(client);
        try market.createJob(offerId, gpus, duration, maxPrice, escrow - 1, bytes32(0)) {
            _forbiddenSucceeded(0, "createJob pulled more than maxEscrow");
        } catch (bytes memory reason) {
            _expectError(
                0,
                reason,
                abi.encodeWithSelector(IJobMarket.JobMarketEscrowAboveMax.selector, escrow, escrow - 1),
                "createJob above maxEscrow reverted with another error"
            );
        }
    }

    function _probeUnbackedJob(
        address client,
        uint256 offerId,
        uint32 gpus,
        uint32 duration,
        uint256 maxPrice,
        uint256 escrow,
        uint256 collateral,
        uint256 unlocked
    ) internal {
        address provider = market.getOffer(offerId).provider;
        vm.prank(client);
        try market.createJob(offerId, gpus, duration, maxPrice, escrow, bytes32(0)) {
            _forbiddenSucceeded(8, "a job was created without collateral reserved for it");
        } catch (bytes memory reason) {
            _expectError(
                8,
                reason,
                abi.encodeWithSelector(
                    IProviderStaking.ProviderStakingInsufficientCollateral.selector, provider, collateral, unlocked
                ),
                "unbacked createJob reverted with another error"
            );
        }
        _succeeded("createJobUnbacked");
    }

    /// @dev Checks a new job against its offer, its payer and the parameters in force.
    function _checkCreated(uint256 jobId, Offer memory offer, address client, address payer, IJobMarket.Parameters memory t)
        internal
    {
        Job memory job = market.getJob(jobId);
        if (
            job.client != client || job.pricePerGpuHour != offer.pricePerGpuHour || job.sponsored != (payer != client)
                || job.startedAt != 0 || job.acceptDeadline != _now() + t.acceptWindow
        ) _violate(0, "createJob: job differs from its offer and the accept window");
        if (job.termsId != market.currentTermsId()) _violate(6, "createJob: job does not follow the current terms");
        if (market.payerOf(jobId) != payer) _violate(4, "createJob: payer is not who paid");
        if (market.getOffer(job.offerId).gpusLeased != offer.gpusLeased + job.gpus) {
            _violate(3, "createJob: GPUs not reserved on the offer");
        }
    }

    // ================================================================== jobs: before acceptance
    function acceptJob(uint256 jobSeed) external {
        uint256 jobId = _findJob(jobSeed, _isAcceptable);
        if (jobId != 0) _acceptJob(jobId);
    }

    function _acceptJob(uint256 jobId) internal {
        Snapshot memory before = _snapshot(jobId, market.getJob(jobId).client);
        Expect memory none;
        address provider = _ghostJobs[jobId].provider;

        vm.prank(provider);
        market.acceptJob(jobId);

        ghostHeartbeat[provider] = _now();
        _book(jobId, before, none);
        if (market.getJob(jobId).startedAt != _now()) _violate(0, "acceptJob: clock not started now");
        _after(jobId, JobState.Running);
        _succeeded("acceptJob");
    }

    function declineJob(uint256 jobSeed, bytes32 reason) external {
        uint256 jobId = _findJob(jobSeed, _isAcceptable);
        if (jobId != 0) _declineJob(jobId, reason);
    }

    function _declineJob(uint256 jobId, bytes32 reason) internal {
        Job memory job = market.getJob(jobId);
        GhostJob storage g = _ghostJobs[jobId];
        Expect memory e;
        e.toPayer = _escrowOf(_cost(job), g.terms);
        e.unlocked = _collateralOf(_cost(job), g.terms);
        e.final_ = true;
        Snapshot memory before = _snapshot(jobId, job.client);

        vm.prank(g.provider);
        market.declineJob(jobId, reason);

        _book(jobId, before, e);
        _after(jobId, JobState.Declined);
        _succeeded("declineJob");
    }

    function cancelJob(uint256 jobSeed) external {
        uint256 jobId = _findJob(jobSeed, _isCreated);
        if (jobId != 0) _cancelJob(jobId);
    }

    function _cancelJob(uint256 jobId) internal {
        Job memory job = market.getJob(jobId);
        GhostJob storage g = _ghostJobs[jobId];
        uint256 cancelFee = JobMath.bpsDown(_cost(job), g.terms.cancelFeeBps);
        Expect memory e;
        e.toProvider = cancelFee;
        e.toPayer = _escrowOf(_cost(job), g.terms) - cancelFee;
        e.unlocked = _collateralOf(_cost(job), g.terms);
        e.final_ = true;
        Snapshot memory before = _snapshot(jobId, job.client);

        vm.prank(job.client);
        market.cancelJob(jobId);

        _book(jobId, before, e);
        _after(jobId, JobState.Cancelled);
        _succeeded("cancelJob");
    }

    function expireJob(uint256 jobSeed, uint256 callerSeed) external {
        uint256 jobId = _findJob(jobSeed, _isExpired);
        if (jobId != 0) _expireJob(jobId, callerSeed);
    }

    function _expireJob(uint256 jobId, uint256 callerSeed) internal {
        Job memory job = market.getJob(jobId);
        GhostJob storage g = _ghostJobs[jobId];
        uint256 collateral = _collateralOf(_cost(job), g.terms);
        uint256 slash = JobMath.bpsDown(_cost(job), g.terms.expirySlashBps) * _rate;
        Expect memory e;
        e.toPayer = _escrowOf(_cost(job), g.terms);
        e.unlocked = collateral;
        e.slashed = slash < collateral ? slash : collateral;
        e.final_ = true;
        Snapshot memory before = _snapshot(jobId, job.client);

        vm.prank(_anyone(callerSeed));
        market.expireJob(jobId);

        _book(jobId, before, e);
        _after(jobId, JobState.Expired);
        _succeeded("expireJob");
    }

    // ================================================================== jobs: running
    function heartbeat(uint256 providerSeed, uint256 waitSeed) external {
        address provider = _providers[providerSeed % 3];
        if (waitSeed % 2 == 0) _warpBy(bound(waitSeed >> 8, 1, 30 minutes));
        vm.prank(provider);
        market.heartbeat();
        ghostHeartbeat[provider] = _now();
        _after(0, JobState.None);
        _succeeded("heartbeat");
    }

    function claim(uint256 jobSeed) external {
        uint256 jobId = _findJob(jobSeed, _hasClaimable);
        if (jobId != 0) _claim(jobId);
    }

    function _claim(uint256 jobId) internal {
        Job memory job = market.getJob(jobId);
        address provider = _ghostJobs[jobId].provider;
        Expect memory e;
        e.toProvider = _streamable(jobId, job, _now()) - job.claimed;
        Snapshot memory before = _snapshot(jobId, job.client);

        vm.prank(provider);
        uint256 amount = market.claim(jobId);

        if (amount != e.toProvider) _violate(7, "claim: amount != min(earned, receipted pay + collateral) - claimed");
        ghostHeartbeat[provider] = _now();
        _book(jobId, before, e);
        _after(jobId, JobState.Running);
        _succeeded("claim");
    }

    /// @notice The provider claims with a receipt the client signs now for a random time from the job's start to an
    ///         hour past the job's clock (the market caps it); a receipt that would neither pay nor advance the
    ///         receipted time must revert.
    function claimWithReceipt(uint256 jobSeed, uint256 servedSeed) external {
        uint256 jobId = _findJob(jobSeed, _isReceiptable);
        if (jobId != 0) _claimWithReceipt(jobId, servedSeed);
    }

    function _claimWithReceipt(uint256 jobId, uint256 servedSeed) internal {
        Job memory job = market.getJob(jobId);
        GhostJob storage g = _ghostJobs[jobId];
        uint256 clockAt = job.state == JobState.Running ? _now() : job.endedAt;
        // Mostly a receipt up to the job's clock, as a client's software signs them; sometimes an older one.
        uint256 servedUntil = servedSeed % 3 == 0
            ? bound(servedSeed >> 8, job.startedAt, clockAt + 1 hours)
            : clockAt - bound(servedSeed >> 8, 0, 10 minutes) % (clockAt - job.startedAt + 1);
        (uint256 amount, uint256 receipted, bool advanced) = _receiptOutcome(jobId, job, servedUntil);
        if ((servedSeed >> 200) % 4 == 0) _probeForgedReceipts(jobId, job, servedUntil, servedSeed >> 100);
        if (forbiddenCallSucceeded) return;
        bytes memory signature = _signReceipt(job.client, jobId, servedUntil);
        if (amount == 0 && !advanced) {
            vm.prank(g.provider);
            try market.claimWithReceipt(jobId, uint64(servedUntil), signature) {
                _forbiddenSucceeded(7, "a receipt that pays and covers nothing new was accepted");
            } catch (bytes memory reason) {
                _expectError(
                    7,
                    reason,
                    abi.encodeWithSelector(IJobMarket.JobMarketNothingToClaim.selector, jobId),
                    "an idle receipt reverted with another error"
                );
            }
            _after(0, JobState.None);
            _succeeded("claimWithReceiptIdle");
            return;
        }
        Expect memory e;
        e.toProvider = amount;
        Snapshot memory before = _snapshot(jobId, job.client);

        vm.prank(g.provider);
        uint256 paid = market.claimWithReceipt(jobId, uint64(servedUntil), signature);

        if (paid != amount) _violate(7, "claimWithReceipt paid other than the receipted and streamable pay");
        g.receiptedSeconds = receipted;
        ghostHeartbeat[g.provider] = _now();
        _book(jobId, before, e);
        _after(jobId, job.state);
        _succeeded("claimWithReceipt");
    }

    /// @notice The payer buys more time; probes now and then that a too-low maxEscrow reverts, and whenever the
    ///         provider cannot back the extra collateral, that the extension reverts naming both.
    function extendJob(uint256 jobSeed, uint256 extraSeed) external {
        uint256 jobId = _findJob(jobSeed, _isRunning);
        if (jobId != 0) _extendJob(jobId, extraSeed);
    }

    function _extendJob(uint256 jobId, uint256 extraSeed) internal {
        if (market.paused()) return;
        Job memory job = market.getJob(jobId);
        GhostJob storage g = _ghostJobs[jobId];
        Offer memory offer = market.getOffer(job.offerId);
        if (_now() >= uint256(job.startedAt) + job.duration || offer.closed || _now() >= offer.expiresAt) return;
        if (job.duration >= offer.maxDuration) return;
        uint256 extra = bound(extraSeed, 1, offer.maxDuration - job.duration);
        uint256 costBefore = _cost(job);
        uint256 costAfter = JobMath.costUp(job.pricePerGpuHour, job.gpus, job.duration + extra);
        Expect memory e;
        e.pulledFromPayer = _escrowOf(costAfter, g.terms) - _escrowOf(costBefore, g.terms);
        e.locked = _collateralOf(costAfter, g.terms) - _collateralOf(costBefore, g.terms);
        if ((extraSeed >> 128) % 6 == 0 && e.pulledFromPayer != 0) {
            _probeExtendAboveMax(jobId, g.payer, extra, e.pulledFromPayer);
        }
        uint256 unlocked = staking.unlockedStake(g.provider);
        if (e.locked > unlocked) {
            _probeUnbackedExtension(jobId, g.payer, g.provider, extra, e.locked, unlocked);
            if (forbiddenCallSucceeded || !_topUp(g.provider, e.locked - unlocked)) return;
        }
        if (forbiddenCallSucceeded) return;
        Snapshot memory before = _snapshot(jobId, job.client);

        vm.prank(g.payer);
        market.extendJob(jobId, uint32(extra), e.pulledFromPayer + (extraSeed >> 200) % 2);

        _book(jobId, before, e);
        if (market.getJob(jobId).duration != job.duration + extra) _violate(0, "extendJob: duration not extended");
        _after(jobId, JobState.Running);
        _succeeded("extendJob");
    }

    function _probeExtendAboveMax(uint256 jobId, address payer, uint256 extra, uint256 extraEscrow) internal {
        vm.prank(payer);
        try market.extendJob(jobId, uint32(extra), extraEscrow - 1) {
            _forbiddenSucceeded(0, "extendJob pulled more than maxEscrow");
        } catch (bytes memory reason) {
            _expectError(
                0,
                reason,
                abi.encodeWithSelector(IJobMarket.JobMarketEscrowAboveMax.selector, extraEscrow, extraEscrow - 1),
                "extendJob above maxEscrow reverted with another error"
            );
        }
    }

    function _probeUnbackedExtension(
        uint256 jobId,
        address payer,
        address provider,
        uint256 extra,
        uint256 extraCollateral,
        uint256 unlocked
    ) internal {
        vm.prank(payer);
        try market.extendJob(jobId, uint32(extra), type(uint256).max) {
            _forbiddenSucceeded(8, "a job was extended without collateral reserved for the extra time");
        } catch (bytes memory reason) {
            _expectError(
                8,
                reason,
                abi.encodeWithSelector(
                    IProviderStaking.ProviderStakingInsufficientCollateral.selector, provider, extraCollateral, unlocked
                ),
                "unbacked extendJob reverted with another error"
            );
        }
        _succeeded("extendJobUnbacked");
    }

    function completeJob(uint256 jobSeed) external {
        uint256 jobId = _findJob(jobSeed, _isRunning);
        if (jobId != 0) _completeJob(jobId);
    }

    function _completeJob(uint256 jobId) internal {
        Snapshot memory before = _snapshot(jobId, market.getJob(jobId).client);
        address provider = _ghostJobs[jobId].provider;
        vm.prank(provider);
        market.completeJob(jobId, keccak256("result"));
        ghostHeartbeat[provider] = _now();
        _afterClockStop(jobId, before);
        _after(jobId, JobState.Completed);
        _succeeded("completeJob");
    }

    function endJobEarly(uint256 jobSeed) external {
        uint256 jobId = _findJob(jobSeed, _isRunning);
        if (jobId != 0) _endJobEarly(jobId);
    }

    function _endJobEarly(uint256 jobId) internal {
        address client = market.getJob(jobId).client;
        Snapshot memory before = _snapshot(jobId, client);
        vm.prank(client);
        market.endJobEarly(jobId);
        _afterClockStop(jobId, before);
        _after(jobId, JobState.Completed);
        _succeeded("endJobEarly");
    }

    /// @notice Anyone reports a running job whose provider went silent, after waiting past its liveness timeout;
    ///         sometimes first probes that a report before the timeout reverts.
    function reportDark(uint256 jobSeed, uint256 callerSeed, uint256 lateSeed) external {
        uint256 jobId = _findJob(jobSeed, _canGoDark);
        if (jobId != 0) _reportDark(jobId, callerSeed, lateSeed);
    }

    function _reportDark(uint256 jobId, uint256 callerSeed, uint256 lateSeed) internal {
        Job memory job = market.getJob(jobId);
        GhostJob storage g = _ghostJobs[jobId];
        uint256 lastLifeAt = _lastLifeAt(jobId, job);
        uint256 darkAt = lastLifeAt + g.terms.livenessTimeout;
        if (_now() <= darkAt) {
            if (lateSeed % 4 == 0) _probeNotDark(jobId, lastLifeAt, darkAt);
            if (forbiddenCallSucceeded) return;
            _warpTo(darkAt + 1 + bound(lateSeed >> 8, 0, 2 hours));
        }
        uint256 end = uint256(job.startedAt) + job.duration;
        uint256 paidUntil = _paidUntil(jobId, job, lastLifeAt);
        uint256 darkUntil = _now() < end ? _now() : end;
        uint256 darkCost = JobMath.costUp(job.pricePerGpuHour, job.gpus, darkUntil - paidUntil);
        uint256 credit = JobMath.bpsDown(darkCost, g.terms.darkSlashBps) * _rate;
        Expect memory e = _closing(jobId, job, _earnedAt(job, paidUntil), credit);
        Snapshot memory before = _snapshot(jobId, job.client);

        vm.prank(_anyone(callerSeed));
        market.reportDark(jobId);

        _book(jobId, before, e);
        if (market.getJob(jobId).endedAt != _now()) _violate(0, "reportDark: endedAt is not now");
        _after(jobId, JobState.Dark);
        _succeeded("reportDark");
    }

    function _probeNotDark(uint256 jobId, uint256 lastLifeAt, uint256 darkAt) internal {
        try market.reportDark(jobId) {
            _forbiddenSucceeded(5, "a provider was reported dark within its liveness timeout");
        } catch (bytes memory reason) {
            _expectError(
                5,
                reason,
                abi.encodeWithSelector(
                    IJobMarket.JobMarketProviderNotDark.selector, jobId, uint64(lastLifeAt), uint64(darkAt)
                ),
                "an early dark report reverted with another error"
            );
        }
    }

    function reclaimAbandoned(uint256 jobSeed) external {
        uint256 jobId = _findJob(jobSeed, _isAbandoned);
        if (jobId != 0) _reclaimAbandoned(jobId);
    }

    function _reclaimAbandoned(uint256 jobId) internal {
        Job memory job = market.getJob(jobId);
        Expect memory e = _closing(jobId, job, _earnedAt(job, _paidUntil(jobId, job, _lastLifeAt(jobId, job))), 0);
        Snapshot memory before = _snapshot(jobId, job.client);

        vm.prank(job.client);
        market.reclaimAbandoned(jobId);

        _book(jobId, before, e);
        _after(jobId, JobState.Reclaimed);
        _succeeded("reclaimAbandoned");
    }

    // ================================================================== jobs: settlement and disputes
    function disputeJob(uint256 jobSeed) external {
        uint256 jobId = _findJob(jobSeed, _isDisputable);
        if (jobId != 0) _disputeJob(jobId);
    }

    function _disputeJob(uint256 jobId) internal {
        Job memory job = market.getJob(jobId);
        GhostJob storage g = _ghostJobs[jobId];
        uint256 lastLifeAt = job.state == JobState.Running ? _lastLifeAt(jobId, job) : job.endedAt;
        Expect memory e;
        e.pulledFromClient = JobMath.bpsUp(_cost(job), g.terms.disputeBondBps);
        e.bondsIn = e.pulledFromClient;
        Snapshot memory before = _snapshot(jobId, job.client);

        vm.prank(job.client);
        market.disputeJob(jobId, keccak256("reason"));

        _book(jobId, before, e);
        g.bond = e.pulledFromClient;
        g.disputedAt = _now();
        g.disputeLastLifeAt = lastLifeAt;
        Dispute memory dispute = market.getDispute(jobId);
        if (dispute.disputedAt != _now() || dispute.lastLifeAt != lastLifeAt || dispute.bond != g.bond) {
            _violate(0, "disputeJob: dispute record differs from now, last sign of life and bond");
        }
        uint256 endedAt = market.getJob(jobId).endedAt;
        if (job.state == JobState.Running ? endedAt != _now() : endedAt != job.endedAt) {
            _violate(0, "disputeJob: the clock did not stop at the dispute (or a completed job's end moved)");
        }
        _after(jobId, JobState.Disputed);
        _succeeded("disputeJob");
    }

    function settleJob(uint256 jobSeed, uint256 callerSeed) external {
        uint256 jobId = _findJob(jobSeed, _isSettleable);
        if (jobId != 0) _settleJob(jobId, callerSeed);
    }

    function _settleJob(uint256 jobId, uint256 callerSeed) internal {
        Job memory job = market.getJob(jobId);
        Expect memory e = _closing(jobId, job, _earnedAt(job, job.endedAt), 0);
        Snapshot memory before = _snapshot(jobId, job.client);

        vm.prank(_anyone(callerSeed));
        market.settleJob(jobId);

        _book(jobId, before, e);
        _after(jobId, JobState.Settled);
        _succeeded("settleJob");
    }

    /// @notice The arbiter's power, within the resolve window: any share of the pay after the latest receipt, and
    ///         any slash up to the collateral left after taking back streamed pay the ruling does not award.
    function resolveDispute(uint256 jobSeed, uint256 shareSeed, uint256 slashSeed) external {
        uint256 jobId = _findJob(jobSeed, _isResolvable);
        if (jobId != 0) _resolveDispute(jobId, shareSeed, slashSeed);
    }

    function _resolveDispute(uint256 jobId, uint256 shareSeed, uint256 slashSeed) internal {
        Job memory job = market.getJob(jobId);
        GhostJob storage g = _ghostJobs[jobId];
        // A quarter of rulings are fully for the client and a quarter fully for the provider.
        uint256 share = shareSeed % 4 == 0 ? 0 : shareSeed % 4 == 1 ? BPS : bound(shareSeed >> 8, 0, BPS);
        (uint256 earnedTotal, uint256 available) = _ruling(jobId, job, share);
        // A third of rulings slash nothing; the rest anything up to what is available.
        uint256 slash = slashSeed % 3 == 0 ? 0 : slashSeed % 3 == 1 ? available : bound(slashSeed >> 8, 0, available);
        if ((slashSeed >> 128) % 3 == 0) _probeRulingBeyondBounds(jobId, share, available);
        if (forbiddenCallSucceeded) return;
        Expect memory e = _closing(jobId, job, earnedTotal, slash);
        e.bondsOut = g.bond;
        if (share == BPS) e.toProvider += g.bond;
        else e.toClient = g.bond;
        Snapshot memory before = _snapshot(jobId, job.client);

        vm.prank(governance);
        market.resolveDispute(jobId, uint16(share), slash);

        _book(jobId, before, e);
        _after(jobId, JobState.Resolved);
        _succeeded("resolveDispute");
    }

    /// @notice Anyone ends a dispute the arbiter left unresolved past its window: no-fault outcome.
    function finalizeStaleDispute(uint256 jobSeed, uint256 callerSeed, uint256 lateSeed) external {
        uint256 jobId = _findJob(jobSeed, _isDisputed);
        if (jobId != 0) _finalizeStaleDispute(jobId, callerSeed, lateSeed);
    }

    function _finalizeStaleDispute(uint256 jobId, uint256 callerSeed, uint256 lateSeed) internal {
        GhostJob storage g = _ghostJobs[jobId];
        uint256 deadline = g.disputedAt + g.terms.resolveWindow;
        if (_now() <= deadline) {
            if (lateSeed % 4 == 0) _probeResolveWindowOpen(jobId, deadline);
            if (forbiddenCallSucceeded) return;
            _warpTo(deadline + 1 + bound(lateSeed >> 8, 0, 1 days));
        }
        Job memory job = market.getJob(jobId);
        Expect memory e = _closing(jobId, job, _earnedAt(job, _paidUntil(jobId, job, g.disputeLastLifeAt)), 0);
        e.bondsOut = g.bond;
        e.toClient = g.bond;
        Snapshot memory before = _snapshot(jobId, job.client);

        vm.prank(_anyone(callerSeed));
        market.finalizeStaleDispute(jobId);

        _book(jobId, before, e);
        _after(jobId, JobState.Resolved);
        _succeeded("finalizeStaleDispute");
    }

    function _probeResolveWindowOpen(uint256 jobId, uint256 deadline) internal {
        try market.finalizeStaleDispute(jobId) {
            _forbiddenSucceeded(6, "a dispute was finalized while the arbiter's window was open");
        } catch (bytes memory reason) {
            _expectError(
                6,
                reason,
                abi.encodeWithSelector(IJobMarket.JobMarketResolveWindowOpen.selector, jobId, uint64(deadline)),
                "an early finalize reverted with another error"
            );
        }
    }

    /// @notice Takes one job one step along an edge the state machine allows, waiting out a window when the step
    ///         needs it (settle after the dispute window, reclaim after end + grace, dark after the liveness timeout,
    ///         finalize after the resolve window). The single-rule actions above pick a job by state; this one
    ///         follows a job, so sequences of 50 calls reach every state.
    function advanceJob(uint256 jobSeed, uint256 choice, uint256 arg) external {
        // Follows an open job, from a seeded start; a new one when none is open (and now and then anyway).
        uint256 jobId = choice % 8 == 7 ? 0 : _findJob(jobSeed, _isOpen);
        Job memory job = market.getJob(jobId);
        if (jobId == 0) {
            _createJob(jobSeed, choice >> 8, arg, arg >> 64, arg >> 128);
        } else if (job.state == JobState.Created) {
            if (_isExpired(jobId, job)) _expireJob(jobId, arg);
            else if (choice % 8 == 0) _cancelJob(jobId);
            else if (choice % 8 == 1) _declineJob(jobId, bytes32(arg));
            else _acceptJob(jobId);
        } else if (job.state == JobState.Running) {
            _advanceRunning(jobId, job, choice % 11, arg);
        } else if (job.state == JobState.Completed) {
            choice %= 3;
            if (choice == 0 && _isDisputable(jobId, job)) {
                _disputeJob(jobId);
            } else if (choice == 1) {
                _claimWithReceipt(jobId, arg);
            } else {
                _warpTo(job.endedAt + _ghostJobs[jobId].terms.disputeWindow + 1);
                _settleJob(jobId, arg);
            }
        } else {
            choice %= 3;
            if (choice == 0 && _isResolvable(jobId, job)) _resolveDispute(jobId, arg, arg >> 128);
            else if (choice == 1) _claimWithReceipt(jobId, arg);
            else _finalizeStaleDispute(jobId, arg, arg >> 64);
        }
    }

    function _advanceRunning(uint256 jobId, Job memory job, uint256 choice, uint256 arg) internal {
        if (choice <= 1) {
            _warpBy(bound(arg, 1, job.duration));
            if (_hasClaimable(jobId, market.getJob(jobId))) _claim(jobId);
        } else if (choice == 2) {
            _warpBy(bound(arg >> 128, 1, job.duration));
            _claimWithReceipt(jobId, arg);
        } else if (choice == 3) {
            _completeJob(jobId);
        } else if (choice == 4) {
            _endJobEarly(jobId);
        } else if (choice == 5) {
            _disputeJob(jobId);
        } else if (choice == 6) {
            _warpTo(uint256(job.startedAt) + job.duration + _ghostJobs[jobId].terms.abandonGrace + 1);
            _reclaimAbandoned(jobId);
        } else if (choice == 7 || choice == 8) {
            if (_canGoDark(jobId, job)) _reportDark(jobId, arg, arg >> 64);
        } else if (choice == 9) {
            _extendJob(jobId, arg);
        } else {
            _warpBy(bound(arg, 1, 30 minutes));
            address provider = _ghostJobs[jobId].provider;
            vm.prank(provider);
            market.heartbeat();
            ghostHeartbeat[provider] = _now();
            _after(0, JobState.None);
            _succeeded("heartbeat");
        }
    }

    // ================================================================== forbidden calls
    /// @notice Calls every job rule the state machine forbids now on one job, as its client, its provider and a third
    ///         account (wrong state, wrong caller, window not open or already shut), and one amount, signature or
    ///         ruling the rules forbid. Every such call must revert.
    function tryForbiddenCalls(uint256 jobSeed, uint256 actorSeed, uint256 amountRule) external {
        uint256 jobCount = market.nextJobId() - 1;
        if (jobCount != 0) {
            uint256 jobId = 1 + jobSeed % jobCount;
            Job memory job = market.getJob(jobId);
            address[3] memory actors = [job.client, _ghostJobs[jobId].provider, _anyone(actorSeed)];
            for (uint256 rule; rule < JOB_RULE_COUNT; ++rule) {
                for (uint256 i; i < 3; ++i) {
                    if (_ruleAllows(rule, jobId, job, actors[i])) continue;
                    bytes memory data = _ruleCall(rule, jobId, job);
                    vm.prank(actors[i]);
                    (bool success,) = address(market).call(data);
                    if (success) _forbiddenSucceeded(5, string.concat("a forbidden job rule succeeded: ", _toString(rule)));
                }
            }
        }
        _tryForbiddenAmount(amountRule % 9, jobSeed, actorSeed);
        _after(0, JobState.None);
        _succeeded("tryForbiddenCalls");
    }

    /// @dev The state machine's guards, written out from PROTOCOL.md, for rule numbers as in `_ruleCall`.
    function _ruleAllows(uint256 rule, uint256 jobId, Job memory job, address actor) internal view returns (bool) {
        GhostJob storage g = _ghostJobs[jobId];
        bool isProvider = actor == g.provider;
        bool isClient = actor == job.client;
        if (rule == 0 || rule == 10) return _isAcceptable(jobId, job) && isProvider; // accept, decline
        if (rule == 1) return job.state == JobState.Created && isClient;
        if (rule == 2) return _isExpired(jobId, job);
        if (rule == 3) return _hasClaimable(jobId, job) && isProvider;
        if (rule == 4) return job.state == JobState.Running && isProvider;
        if (rule == 5) return job.state == JobState.Running && isClient;
        if (rule == 6) return _isDisputable(jobId, job) && isClient;
        if (rule == 7) return _isSettleable(jobId, job);
        if (rule == 8) return _isResolvable(jobId, job) && actor == governance;
        if (rule == 9) return _isAbandoned(jobId, job) && isClient;
        if (rule == 11) return _canGoDark(jobId, job) && _now() > _lastLifeAt(jobId, job) + g.terms.livenessTimeout;
        if (rule == 12) return job.state == JobState.Disputed && _now() > g.disputedAt + g.terms.resolveWindow;
        if (rule == 13) return actor == g.payer && _canExtendBy(jobId, job, 1 minutes);
        // rule 14: a receipt the client signed for now
        if (!isProvider || !_isReceiptable(jobId, job)) return false;
        (uint256 amount,, bool advanced) = _receiptOutcome(jobId, job, _now());
        return amount != 0 || advanced;
    }

    function _ruleCall(uint256 rule, uint256 jobId, Job memory job) internal returns (bytes memory) {
        if (rule == 0) return abi.encodeCall(JobMarket.acceptJob, (jobId));
        if (rule == 1) return abi.encodeCall(JobMarket.cancelJob, (jobId));
        if (rule == 2) return abi.encodeCall(JobMarket.expireJob, (jobId));
        if (rule == 3) return abi.encodeCall(JobMarket.claim, (jobId));
        if (rule == 4) return abi.encodeCall(JobMarket.completeJob, (jobId, bytes32(0)));
        if (rule == 5) return abi.encodeCall(JobMarket.endJobEarly, (jobId));
        if (rule == 6) return abi.encodeCall(JobMarket.disputeJob, (jobId, bytes32(0)));
        if (rule == 7) return abi.encodeCall(JobMarket.settleJob, (jobId));
        if (rule == 8) return abi.encodeCall(JobMarket.resolveDispute, (jobId, 5_000, 0));
        if (rule == 9) return abi.encodeCall(JobMarket.reclaimAbandoned, (jobId));
        if (rule == 10) return abi.encodeCall(JobMarket.declineJob, (jobId, bytes32(0)));
        if (rule == 11) return abi.encodeCall(JobMarket.reportDark, (jobId));
        if (rule == 12) return abi.encodeCall(JobMarket.finalizeStaleDispute, (jobId));
        if (rule == 13) return abi.encodeCall(JobMarket.extendJob, (jobId, uint32(1 minutes), type(uint256).max));
        bytes memory signature = _signReceipt(job.client, jobId, _now());
        return abi.encodeCall(JobMarket.claimWithReceipt, (jobId, uint64(_now()), signature));
    }

    /// @dev Amounts, signatures and rulings beyond what the rules allow.
    function _tryForbiddenAmount(uint256 rule, uint256 seed, uint256 actorSeed) internal {
        if (rule == 0) _tryUnstakeLocked(_providers[actorSeed % 3], seed);
        else if (rule == 1) _tryShrinkBelowLease(seed);
        else if (rule == 2) _tryJobBeyondOffer(seed, actorSeed);
        else if (rule == 3) _tryUnbackedOffer(_providers[actorSeed % 3], seed);
        else if (rule == 4) _tryRulingBeyondBounds(seed);
        else if (rule == 5) _tryLateRuling(seed);
        else if (rule == 6) _tryForgedReceipts(seed, actorSeed);
        else if (rule == 7) _tryEarlyWithdrawal(_providers[actorSeed % 3]);
        else _tryExtensionBeyondTerms(seed, actorSeed);
    }

    function _tryUnstakeLocked(address provider, uint256 seed) internal {
        IProviderStaking.ProviderAccount memory account = staking.account(provider);
        uint256 unlocked = account.staked - account.locked;
        vm.prank(provider);
        try staking.requestUnstake(unlocked + 1 + seed % (account.locked + 1)) {
            _forbiddenSucceeded(3, "unstaked more than the unlocked stake");
        } catch {}
    }

    function _tryShrinkBelowLease(uint256 seed) internal {
        if (_offerIds.length == 0) return;
        uint256 offerId = _offerIds[seed % _offerIds.length];
        Offer memory offer = market.getOffer(offerId);
        if (offer.gpusLeased == 0 || offer.closed) return;
        vm.prank(offer.provider);
        try market.updateOffer(offerId, offer.gpusLeased - 1, offer.pricePerGpuHour, offer.expiresAt) {
            _forbiddenSucceeded(3, "an offer shrank below its lease");
        } catch {}
    }

    /// @dev More GPUs than are free, a price above the client's maximum, or any job while paused.
    function _tryJobBeyondOffer(uint256 seed, uint256 actorSeed) internal {
        if (_offerIds.length == 0) return;
        uint256 offerId = _offerIds[seed % _offerIds.length];
        Offer memory offer = market.getOffer(offerId);
        address client = _clients[actorSeed % 3];
        uint256 free = offer.gpus - offer.gpusLeased;
        bool overCapacity = seed % 3 == 0;
        bool underPrice = seed % 3 == 1;
        uint32 gpus = uint32(overCapacity ? free + 1 : 1);
        uint256 maxPrice = underPrice ? offer.pricePerGpuHour - 1 : offer.pricePerGpuHour;
        // Otherwise only a pause (or an offer that cannot take jobs anyway) forbids the job.
        if (!overCapacity && !underPrice && !market.paused()) return;
        vm.prank(client);
        try market.createJob(offerId, gpus, offer.minDuration, maxPrice, type(uint256).max, bytes32(0)) {
            _forbiddenSucceeded(3, "a job was created beyond capacity, above the price limit or while paused");
        } catch {}
    }

    /// @dev Listing capacity the provider's unlocked stake cannot back for the offer's minimum duration.
    function _tryUnbackedOffer(address provider, uint256 seed) internal {
        uint256 collateralBps = _ghostParameters.collateralBps;
        if (collateralBps == 0 || !catalog.isListed(_modelIds[seed % 2])) return;
        uint256 unlocked = staking.unlockedStake(provider);
        uint256 price = 1e7;
        uint256 gpus = 1_000;
        // The shortest minimum duration whose collateral is above the unlocked stake.
        uint256 perHour = JobMath.bpsUp(price * gpus, collateralBps) * _rate;
        uint256 minDuration = (unlocked / perHour + 1) * 1 hours;
        if (minDuration > 365 days) return;
        uint256 required = JobMath.bpsUp(JobMath.costUp(price, gpus, minDuration), collateralBps) * _rate;
        OfferParams memory params = OfferParams({
            gpuModel: _modelIds[seed % 2],
            gpus: uint32(gpus),
            pricePerGpuHour: uint96(price),
            minDuration: uint32(minDuration),
            maxDuration: uint32(minDuration),
            region: "eu-west",
            carbonIntensity: 0,
            renewableBps: 0,
            expiresAt: uint32(_now() + 1 days)
        });
        vm.prank(provider);
        try market.createOffer(params) {
            _forbiddenSucceeded(3, "an offer was listed beyond what the provider's stake backs");
        } catch (bytes memory reason) {
            if (!market.paused() && unlocked >= staking.minStake() && unlocked != 0) {
                _expectError(
                    3,
                    reason,
                    abi.encodeWithSelector(IJobMarket.JobMarketOfferNotBacked.selector, provider, unlocked, required),
                    "an unbacked offer reverted with another error"
                );
            }
        }
    }

    /// @dev The arbiter slashing more than the collateral left after the clawback, or a share above 100 %.
    function _tryRulingBeyondBounds(uint256 seed) internal {
        uint256 jobId = _findJob(seed, _isResolvable);
        if (jobId == 0) return;
        uint256 share = seed % 2 == 0 ? 0 : bound(seed >> 8, 0, BPS);
        (, uint256 available) = _ruling(jobId, market.getJob(jobId), share);
        _probeRulingBeyondBounds(jobId, share, available);
    }

    function _probeRulingBeyondBounds(uint256 jobId, uint256 share, uint256 available) internal {
        vm.startPrank(governance);
        try market.resolveDispute(jobId, uint16(share), available + 1) {
            _forbiddenSucceeded(6, "the arbiter slashed above the job's available collateral");
        } catch (bytes memory reason) {
            _expectError(
                6,
                reason,
                abi.encodeWithSelector(IJobMarket.JobMarketSlashAboveCollateral.selector, available + 1, available),
                "a ruling above the collateral reverted with another error"
            );
        }
        try market.resolveDispute(jobId, uint16(BPS + 1 + share % 1000), 0) {
            _forbiddenSucceeded(6, "the arbiter awarded a share above 100 %");
        } catch {}
        vm.stopPrank();
        _succeeded("tryRulingBeyondBounds");
    }

    function _tryLateRuling(uint256 seed) internal {
        uint256 jobId = _findJob(seed, _isStale);
        if (jobId == 0) return;
        GhostJob storage g = _ghostJobs[jobId];
        uint256 deadline = g.disputedAt + g.terms.resolveWindow;
        vm.prank(governance);
        try market.resolveDispute(jobId, uint16(seed % (BPS + 1)), 0) {
            _forbiddenSucceeded(6, "the arbiter ruled after its resolve window");
        } catch (bytes memory reason) {
            _expectError(
                6,
                reason,
                abi.encodeWithSelector(IJobMarket.JobMarketResolveWindowClosed.selector, jobId, uint64(deadline)),
                "a late ruling reverted with another error"
            );
        }
    }

    /// @dev Receipts the job's client did not sign for this job: signed by another client, or signed by the right
    ///      client for another job; and a valid receipt sent by someone other than the provider.
    function _tryForgedReceipts(uint256 seed, uint256 actorSeed) internal {
        uint256 jobId = _findJob(seed, _isReceiptable);
        if (jobId == 0) return;
        Job memory job = market.getJob(jobId);
        _probeForgedReceipts(jobId, job, job.state == JobState.Running ? _now() : job.endedAt, seed ^ actorSeed);
    }

    function _probeForgedReceipts(uint256 jobId, Job memory job, uint256 servedUntil, uint256 seed) internal {
        GhostJob storage g = _ghostJobs[jobId];
        address otherClient = _clients[(_clientIndex(job.client) + 1 + seed % 2) % 3];
        bytes memory notTheClients = _signReceipt(otherClient, jobId, servedUntil);
        bytes memory anotherJobs = _signReceipt(job.client, jobId + 1 + seed % 5, servedUntil);
        bytes memory expected = abi.encodeWithSelector(IJobMarket.JobMarketInvalidReceipt.selector, jobId, job.client);
        vm.startPrank(g.provider);
        try market.claimWithReceipt(jobId, uint64(servedUntil), notTheClients) {
            _forbiddenSucceeded(7, "a receipt signed by someone else than the client paid out");
        } catch (bytes memory reason) {
            _expectError(7, reason, expected, "a receipt by another signer reverted with another error");
        }
        try market.claimWithReceipt(jobId, uint64(servedUntil), anotherJobs) {
            _forbiddenSucceeded(7, "a receipt for another job paid out");
        } catch (bytes memory reason) {
            _expectError(7, reason, expected, "a receipt for another job reverted with another error");
        }
        vm.stopPrank();
        bytes memory valid = _signReceipt(job.client, jobId, servedUntil);
        vm.prank(job.client);
        try market.claimWithReceipt(jobId, uint64(servedUntil), valid) {
            _forbiddenSucceeded(7, "someone other than the provider claimed with a receipt");
        } catch {}
        _succeeded("tryForgedReceipts");
    }

    function _tryEarlyWithdrawal(address provider) internal {
        uint256 first = _ghostFirstRequest[provider];
        UnbondingRequest[] storage requests = _ghostRequests[provider];
        if (first == requests.length) {
            vm.prank(provider);
            try staking.withdrawStake() {
                _forbiddenSucceeded(2, "withdrawStake paid out without a request");
            } catch {}
        } else if (requests[first].readyAt > _now()) {
            _probeEarlyWithdrawal(provider, requests[first].readyAt);
        }
    }

    /// @dev Someone other than the payer extending, or the payer going past the offer's maximum duration.
    function _tryExtensionBeyondTerms(uint256 seed, uint256 actorSeed) internal {
        uint256 jobId = _findJob(seed, _isRunning);
        if (jobId == 0) return;
        Job memory job = market.getJob(jobId);
        GhostJob storage g = _ghostJobs[jobId];
        address notPayer = _anyone(actorSeed);
        if (notPayer == g.payer) notPayer = g.provider;
        vm.prank(notPayer);
        try market.extendJob(jobId, 1 minutes, type(uint256).max) {
            _forbiddenSucceeded(4, "someone other than the payer extended a job");
        } catch {}
        uint256 maxDuration = market.getOffer(job.offerId).maxDuration;
        uint256 tooMuch = maxDuration - job.duration + 1 + seed % 1 hours;
        vm.prank(g.payer);
        try market.extendJob(jobId, uint32(tooMuch), type(uint256).max) {
            _forbiddenSucceeded(0, "a job was extended past its offer's maximum duration");
        } catch {}
    }

    /// @dev Governance must not reach stake or escrow through the market-only entry points, by re-binding, by
    ///      parameters outside their bounds or by calling the parties' rules. Runs inside governance's prank.
    function _tryForbidden(uint256 value) internal {
        address provider = _providers[value % 3];
        uint256 amount = bound(value, 1, 1e24);
        try staking.releaseCollateral(provider, 1, 0, amount, governance, amount) {
            _forbiddenSucceeded(6, "governance slashed stake");
        } catch {}
        try staking.lockCollateral(provider, 1, amount) {
            _forbiddenSucceeded(6, "governance locked stake");
        } catch {}
        try staking.setMarket(governance) {
            _forbiddenSucceeded(6, "governance re-bound the staking market");
        } catch {}
        IJobMarket.Parameter parameter = IJobMarket.Parameter(value % PARAMETER_COUNT);
        (uint256 min, uint256 max) = market.parameterBounds(parameter);
        try market.setParameter(parameter, max + 1 + (value >> 8) % 1_000) {
            _forbiddenSucceeded(6, "governance set a parameter above its bound");
        } catch {}
        if (min != 0) {
            try market.setParameter(parameter, (value >> 8) % min) {
                _forbiddenSucceeded(6, "governance set a parameter below its bound");
            } catch {}
        }
        uint256 jobCount = market.nextJobId() - 1;
        if (jobCount == 0) return;
        uint256 jobId = 1 + value % jobCount;
        try market.claim(jobId) {
            _forbiddenSucceeded(6, "governance claimed a provider's pay");
        } catch {}
        try market.cancelJob(jobId) {
            _forbiddenSucceeded(6, "governance cancelled a client's job");
        } catch {}
        try market.declineJob(jobId, bytes32(0)) {
            _forbiddenSucceeded(6, "governance declined a provider's job");
        } catch {}
        try market.reclaimAbandoned(jobId) {
            _forbiddenSucceeded(6, "governance reclaimed a client's escrow");
        } catch {}
        try market.extendJob(jobId, 1 minutes, type(uint256).max) {
            _forbiddenSucceeded(6, "governance extended a payer's job");
        } catch {}
        try market.claimWithReceipt(jobId, uint64(_now()), "") {
            _forbiddenSucceeded(6, "governance claimed with a receipt");
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
            _after(0, JobState.None);
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
        _after(0, JobState.None);
        _succeeded("withdrawFees");
    }

    // ================================================================== environment
    /// @notice Moves time: mostly minutes (inside accept windows, liveness timeouts and jobs), sometimes days (past
    ///         disputes, resolve windows, unbonding).
    function warp(uint256 seconds_) external {
        _warpBy(seconds_ % 4 == 0 ? bound(seconds_, 1 hours, 8 days) : bound(seconds_, 1, 2 hours));
        _after(0, JobState.None);
        _succeeded("warp");
    }

    /// @notice Blocklists or unblocks an actor on one token, as USDC can: payouts to it must be credited, not block.
    ///         Half the time one of the clients, who receive refunds, bonds and slashes.
    function setBlocked(uint256 accountSeed, bool onStakeToken, bool blocked) external {
        address account = accountSeed % 2 == 0 ? _clients[(accountSeed >> 1) % 3] : _accounts()[(accountSeed >> 1) % 8];
        (onStakeToken ? stakeToken : paymentToken).setBlocked(account, blocked);
        _after(0, JobState.None);
        _succeeded("setBlocked");
    }

    /// @notice Governance's powers, and a few it must not have. None of them may move a token, a ledger entry or an
    ///         open job's terms.
    function governanceAct(uint256 action, uint256 value) external {
        bytes32 ledgerBefore = _ledgerHash();
        vm.startPrank(governance);
        action %= 11;
        if (action <= 3) {
            _setParameter(value);
        } else if (action == 4) {
            if (market.paused()) market.unpause();
            else market.pause();
        } else if (action == 5) {
            if (staking.paused()) staking.unpause();
            else staking.pause();
        } else if (action == 6) {
            market.setTreasury(_treasuries[value % 2]);
            staking.setTreasury(_treasuries[(value >> 1) % 2]);
        } else if (action == 7) {
            staking.setMinStake(bound(value, 0, 1_000e18));
            _ghostUnbondingPeriod = bound(value >> 128, 1 hours, 10 days);
            staking.setUnbondingPeriod(_ghostUnbondingPeriod);
        } else if (action == 8) {
            uint256 index = value % 2;
            if (catalog.isListed(_modelIds[index])) catalog.delistModel(_modelIds[index]);
            else catalog.listModel(_modelNames[index], 80);
        } else if (action == 9) {
            _tryForbidden(value);
        } else {
            if (market.paused()) market.unpause();
            if (staking.paused()) staking.unpause();
        }
        vm.stopPrank();
        if (_ledgerHash() != ledgerBefore) _violate(6, "a governance call moved funds, stake, a job or its terms");
        _after(0, JobState.None);
        _succeeded("governanceAct");
    }

    /// @dev Any of the eleven parameters: a fifth of the time at its lower bound, a fifth at its upper one, a fifth in
    ///      the lowest twentieth of its range (a collateral rate below the expiry slash rate, short windows), the rest
    ///      anywhere; windows capped so that sequences of 50 calls still reach their ends. Runs inside governance's
    ///      prank.
    function _setParameter(uint256 value) internal {
        IJobMarket.Parameter parameter = IJobMarket.Parameter(value % PARAMETER_COUNT);
        (uint256 min, uint256 max) = market.parameterBounds(parameter);
        if (parameter == IJobMarket.Parameter.ResolveWindow) max = 8 days;
        else if (parameter == IJobMarket.Parameter.DisputeWindow) max = 2 days;
        else if (_isWindow(parameter) && max > 1 days) max = 1 days;
        uint256 pick = (value >> 8) % 5;
        uint256 newValue = pick == 0
            ? min
            : pick == 1 ? max : bound(value >> 16, min, pick == 2 ? min + (max - min) / 20 : max);
        uint256 termsBefore = market.currentTermsId();
        market.setParameter(parameter, newValue);
        _setGhostParameter(parameter, newValue);
        if (market.currentTermsId() != termsBefore + 1) _violate(6, "setParameter did not publish new terms");
    }

    function _isWindow(IJobMarket.Parameter parameter) internal pure returns (bool) {
        return parameter == IJobMarket.Parameter.AcceptWindow || parameter == IJobMarket.Parameter.DisputeWindow
            || parameter == IJobMarket.Parameter.AbandonGrace || parameter == IJobMarket.Parameter.LivenessTimeout
            || parameter == IJobMarket.Parameter.ResolveWindow;
    }

    function _setGhostParameter(IJobMarket.Parameter parameter, uint256 value) internal {
        IJobMarket.Parameters storage p = _ghostParameters;
        if (parameter == IJobMarket.Parameter.ProtocolFeeBps) p.protocolFeeBps = uint16(value);
        else if (parameter == IJobMarket.Parameter.CancelFeeBps) p.cancelFeeBps = uint16(value);
        else if (parameter == IJobMarket.Parameter.CollateralBps) p.collateralBps = uint16(value);
        else if (parameter == IJobMarket.Parameter.ExpirySlashBps) p.expirySlashBps = uint16(value);
        else if (parameter == IJobMarket.Parameter.AcceptWindow) p.acceptWindow = uint32(value);
        else if (parameter == IJobMarket.Parameter.DisputeWindow) p.disputeWindow = uint32(value);
        else if (parameter == IJobMarket.Parameter.AbandonGrace) p.abandonGrace = uint32(value);
        else if (parameter == IJobMarket.Parameter.DarkSlashBps) p.darkSlashBps = uint16(value);
        else if (parameter == IJobMarket.Parameter.DisputeBondBps) p.disputeBondBps = uint16(value);
        else if (parameter == IJobMarket.Parameter.LivenessTimeout) p.livenessTimeout = uint32(value);
        else p.resolveWindow = uint32(value);
    }

    // ================================================================== views for the invariant test
    function violation(uint256 invariantNumber) external view returns (string memory) {
        return _violations[invariantNumber];
    }

    function ghostJob(uint256 jobId) external view returns (GhostJob memory) {
        return _ghostJobs[jobId];
    }

    function ghostParameters() external view returns (IJobMarket.Parameters memory) {
        return _ghostParameters;
    }

    /// @notice What the handler's model says is still unbonding for `provider`: requests not yet withdrawn.
    function ghostUnbonding(address provider) external view returns (uint256 amount) {
        UnbondingRequest[] storage requests = _ghostRequests[provider];
        for (uint256 i = _ghostFirstRequest[provider]; i < requests.length; ++i) {
            amount += requests[i].amount;
        }
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

    // ================================================================== internal: the model of a job's money
    /// @dev How a job that ran ends when the provider's final pay is `earnedTotal` (JobLib.split): the fee on it, what
    ///      is still owed, the payer's refund, and the slash: streamed pay above `earnedTotal` plus `penalty`, at most
    ///      the collateral.
    function _closing(uint256 jobId, Job memory job, uint256 earnedTotal, uint256 penalty)
        internal
        view
        returns (Expect memory e)
    {
        IJobMarket.Parameters memory t = _ghostJobs[jobId].terms;
        uint256 cost = _cost(job);
        uint256 escrow = _escrowOf(cost, t);
        uint256 collateral = _collateralOf(cost, t);
        e.fee = JobMath.bpsUp(earnedTotal, t.protocolFeeBps);
        uint256 clawback;
        if (earnedTotal >= job.claimed) {
            e.toProvider = earnedTotal - job.claimed;
            e.toPayer = escrow - earnedTotal - e.fee;
        } else {
            clawback = job.claimed - earnedTotal;
            e.toPayer = escrow - job.claimed - e.fee;
        }
        e.slashed = clawback * _rate + penalty;
        if (e.slashed > collateral) e.slashed = collateral;
        e.unlocked = collateral;
        e.final_ = true;
    }

    /// @dev An arbiter's ruling with provider share `share`: the provider's final pay (receipted pay + the share of
    ///      the pay for the rest of the time used) and the most it may slash on top of the clawback.
    function _ruling(uint256 jobId, Job memory job, uint256 share)
        internal
        returns (uint256 earnedTotal, uint256 available)
    {
        GhostJob storage g = _ghostJobs[jobId];
        uint256 receipted = JobMath.costUp(job.pricePerGpuHour, job.gpus, g.receiptedSeconds);
        earnedTotal = receipted + JobMath.bpsDown(_earnedAt(job, job.endedAt) - receipted, share);
        uint256 clawback = job.claimed > earnedTotal ? (job.claimed - earnedTotal) * _rate : 0;
        uint256 collateral = _collateralOf(_cost(job), g.terms);
        if (clawback > collateral) {
            _violate(7, "streamed pay above receipted pay exceeds what the collateral can take back");
            return (earnedTotal, 0);
        }
        available = collateral - clawback;
    }

    /// @dev What claimWithReceipt(jobId, servedUntil) pays, the receipted time afterwards and whether it advanced.
    function _receiptOutcome(uint256 jobId, Job memory job, uint256 servedUntil)
        internal
        view
        returns (uint256 amount, uint256 receipted, bool advanced)
    {
        GhostJob storage g = _ghostJobs[jobId];
        uint256 until = job.state == JobState.Running ? _now() : job.endedAt;
        if (servedUntil < until) until = servedUntil;
        uint256 end = uint256(job.startedAt) + job.duration;
        if (until > end) until = end;
        receipted = g.receiptedSeconds;
        advanced = until > job.startedAt && until - job.startedAt > receipted;
        if (advanced) receipted = until - job.startedAt;
        uint256 total = JobMath.costUp(job.pricePerGpuHour, job.gpus, receipted);
        if (job.state == JobState.Running) {
            uint256 streamable = _earnedAt(job, _now());
            uint256 cap = total + JobMath.bpsUp(_cost(job), g.terms.collateralBps);
            total = streamable < cap ? streamable : cap;
        }
        if (total < job.claimed) total = job.claimed;
        amount = total - job.claimed;
    }

    /// @dev What `claim` may have paid in total by `timestamp`: earned pay, capped at receipted pay + collateral value.
    function _streamable(uint256 jobId, Job memory job, uint256 timestamp) internal view returns (uint256) {
        GhostJob storage g = _ghostJobs[jobId];
        uint256 earned = _earnedAt(job, timestamp);
        uint256 cap = JobMath.costUp(job.pricePerGpuHour, job.gpus, g.receiptedSeconds)
            + JobMath.bpsUp(_cost(job), g.terms.collateralBps);
        return earned < cap ? earned : cap;
    }

    /// @dev The provider's latest sign of life for a running job, by the handler's record.
    function _lastLifeAt(uint256 jobId, Job memory job) internal view returns (uint256) {
        uint256 heartbeatAt = ghostHeartbeat[_ghostJobs[jobId].provider];
        return heartbeatAt > job.startedAt ? heartbeatAt : job.startedAt;
    }

    /// @dev Paid up to the later of the last sign of life and the receipted time, never past the job's end.
    function _paidUntil(uint256 jobId, Job memory job, uint256 lastLifeAt) internal view returns (uint256 until) {
        until = uint256(job.startedAt) + _ghostJobs[jobId].receiptedSeconds;
        if (lastLifeAt > until) until = lastLifeAt;
        uint256 end = uint256(job.startedAt) + job.duration;
        if (until > end) until = end;
    }

    function _cost(Job memory job) internal pure returns (uint256) {
        return JobMath.costUp(job.pricePerGpuHour, job.gpus, job.duration);
    }

    function _escrowOf(uint256 cost, IJobMarket.Parameters memory t) internal pure returns (uint256) {
        return cost + JobMath.bpsUp(cost, t.protocolFeeBps);
    }

    function _collateralOf(uint256 cost, IJobMarket.Parameters memory t) internal view returns (uint256) {
        return JobMath.bpsUp(cost, t.collateralBps) * _rate;
    }

    function _earnedAt(Job memory job, uint256 timestamp) internal pure returns (uint256) {
        uint256 used = timestamp > job.startedAt ? timestamp - job.startedAt : 0;
        if (used > job.duration) used = job.duration;
        return JobMath.costUp(job.pricePerGpuHour, job.gpus, used);
    }

    // ================================================================== internal: model checks
    function _snapshot(uint256 jobId, address client) internal view returns (Snapshot memory s) {
        GhostJob storage g = _ghostJobs[jobId];
        IProviderStaking.ProviderAccount memory account = staking.account(g.provider);
        s.payer = _paymentValue(g.payer);
        s.client = _paymentValue(client);
        s.provider = _paymentValue(g.provider);
        s.fees = market.feesAccrued();
        s.bonds = market.disputeBondsHeld();
        s.clientStake = _stakeValue(client);
        s.treasuryStake = _stakeValue(staking.treasury());
        s.staked = account.staked;
        s.unbonding = account.unbonding;
        s.locked = account.locked;
    }

    /// @dev Measures what one rule call moved for a job, checks it against `e` and books it in the job's ghost.
    function _book(uint256 jobId, Snapshot memory b, Expect memory e) internal {
        GhostJob storage g = _ghostJobs[jobId];
        Job memory job = market.getJob(jobId);
        Snapshot memory a = _snapshot(jobId, job.client);
        bool payerIsClient = g.payer == job.client;
        int256 payerDelta = int256(a.payer) - int256(b.payer);
        int256 clientDelta = int256(a.client) - int256(b.client);
        int256 providerDelta = int256(a.provider) - int256(b.provider);
        int256 payerExpected = int256(e.toPayer) - int256(e.pulledFromPayer);
        int256 clientExpected = int256(e.toClient) - int256(e.pulledFromClient);
        if (payerIsClient) payerExpected += clientExpected;
        if (payerDelta != payerExpected) _violate(4, "payer's refund or payment differs from the rules");
        if (!payerIsClient && clientDelta != clientExpected) _violate(4, "client's bond differs from the rules");
        if (providerDelta != int256(e.toProvider)) _violate(4, "provider pay differs from the rules");
        if (a.fees != b.fees + e.fee) _violate(4, "protocol fee differs from the rules");
        if (a.bonds + e.bondsOut != b.bonds + e.bondsIn) _violate(1, "bonds held moved other than by the job's bond");

        // Payouts measured as balance deltas, plus what the call pulled from those same accounts.
        uint256 pulled = e.pulledFromPayer + e.pulledFromClient;
        int256 paidOut = payerDelta + (payerIsClient ? int256(0) : clientDelta) + providerDelta + int256(pulled)
            + (int256(a.fees) - int256(b.fees));
        g.pulled += pulled;
        if (paidOut < 0) _violate(4, "a job rule took money from a party beyond what it pulled");
        else g.paidOut += uint256(paidOut);

        _bookStake(jobId, job, b, a, e);
        if (e.final_) {
            g.finalPayouts += 1;
            if (g.paidOut != g.pulled) _violate(4, "refund + pay + fee + bond != everything pulled at the job's end");
        }
    }

    /// @dev Collateral locked and released exactly; the provider's stake moved only by this job's slash, within
    ///      what was reserved for the job (invariant 8), and the slash went to the client up to the job's cost.
    function _bookStake(uint256 jobId, Job memory job, Snapshot memory b, Snapshot memory a, Expect memory e)
        internal
    {
        GhostJob storage g = _ghostJobs[jobId];
        if (a.locked + e.unlocked != b.locked + e.locked) _violate(3, "locked moved other than by the job's collateral");
        if (a.locked > b.locked) g.reserved += a.locked - b.locked;
        if (a.unbonding != b.unbonding) _violate(8, "a job rule touched unbonding stake");
        if (a.staked > b.staked) {
            _violate(8, "a job rule raised the provider's stake");
            return;
        }
        uint256 slashed = b.staked - a.staked;
        if (slashed != e.slashed) _violate(8, "slash differs from the job's rule");
        if (slashed != 0 && g.reserved == 0) _violate(8, "stake slashed for a job that reserved no collateral");
        g.slashed += slashed;
        if (g.slashed > g.reserved) _violate(8, "slashed more than the collateral reserved for the job");
        ghostStaked[g.provider] -= slashed > ghostStaked[g.provider] ? ghostStaked[g.provider] : slashed;
        uint256 clientCap = _cost(job) * _rate;
        uint256 toClient = slashed < clientCap ? slashed : clientCap;
        if (a.clientStake != b.clientStake + toClient) _violate(2, "slash to client != min(slash, cost)");
        if (a.treasuryStake != b.treasuryStake + slashed - toClient) _violate(2, "slash to treasury != slash beyond cost");
    }

    /// @dev A clock stop (complete, early end) moves no money, frees the GPUs, stamps now.
    function _afterClockStop(uint256 jobId, Snapshot memory before) internal {
        Expect memory none;
        _book(jobId, before, none);
        if (market.getJob(jobId).endedAt != _now()) _violate(0, "clock stop: endedAt is not now");
    }

    /// @dev After every action: invariant 5 (the touched job moved to `expected` along an edge of the state machine;
    ///      no other job moved), invariant 8 (every provider's stake is what stakes, unstakes and slashes of its own
    ///      jobs left), the providers' signs of life and governance's parameters as the model has them.
    function _after(uint256 touchedJobId, JobState expected) internal {
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
        for (uint256 i; i < 3; ++i) {
            address provider = _providers[i];
            if (staking.account(provider).staked != ghostStaked[provider]) {
                _violate(8, "stake moved other than by stakes, unstake requests and slashes of the provider's jobs");
            }
            if (market.lastHeartbeat(provider) != ghostHeartbeat[provider]) {
                _violate(0, "last heartbeat differs from the provider's accepts, claims, completions and heartbeats");
            }
        }
        if (keccak256(abi.encode(market.parameters())) != keccak256(abi.encode(_ghostParameters))) {
            _violate(6, "parameters differ from what governance set");
        }
    }

    function _allowed(JobState from, JobState to) internal pure returns (bool) {
        if (from == JobState.None) return to == JobState.Created;
        if (from == JobState.Created) {
            return to == JobState.Running || to == JobState.Cancelled || to == JobState.Declined
                || to == JobState.Expired;
        }
        if (from == JobState.Running) {
            // Running -> Running is a claim, a receipt or an extension.
            return to == JobState.Running || to == JobState.Completed || to == JobState.Disputed
                || to == JobState.Reclaimed || to == JobState.Dark;
        }
        // Completed -> Completed and Disputed -> Disputed are receipts.
        if (from == JobState.Completed) {
            return to == JobState.Completed || to == JobState.Settled || to == JobState.Disputed;
        }
        if (from == JobState.Disputed) return to == JobState.Disputed || to == JobState.Resolved;
        return false; // Settled, Resolved, Cancelled, Reclaimed, Declined, Expired and Dark are terminal.
    }

    function _expectError(uint256 invariantNumber, bytes memory reason, bytes memory expected, string memory message)
        internal
    {
        if (keccak256(reason) != keccak256(expected)) _violate(invariantNumber, message);
    }

    // ================================================================== internal: job and offer choice
    /// @dev The first job, from a seeded start, for which `accepts` holds; 0 when none does.
    function _findJob(uint256 seed, function(uint256, Job memory) internal view returns (bool) accepts)
        internal
        view
        returns (uint256)
    {
        uint256 jobCount = market.nextJobId() - 1;
        for (uint256 i; i < jobCount; ++i) {
            uint256 jobId = 1 + (seed % jobCount + i) % jobCount;
            if (accepts(jobId, market.getJob(jobId))) return jobId;
        }
        return 0;
    }

    function _isOpen(uint256, Job memory job) internal pure returns (bool) {
        return job.state >= JobState.Created && job.state <= JobState.Disputed;
    }

    function _isCreated(uint256, Job memory job) internal pure returns (bool) {
        return job.state == JobState.Created;
    }

    function _isAcceptable(uint256, Job memory job) internal view returns (bool) {
        return job.state == JobState.Created && _now() <= job.acceptDeadline;
    }

    function _isExpired(uint256, Job memory job) internal view returns (bool) {
        return job.state == JobState.Created && _now() > job.acceptDeadline;
    }

    function _isRunning(uint256, Job memory job) internal pure returns (bool) {
        return job.state == JobState.Running;
    }

    function _hasClaimable(uint256 jobId, Job memory job) internal view returns (bool) {
        return job.state == JobState.Running && _streamable(jobId, job, _now()) > job.claimed;
    }

    function _isReceiptable(uint256, Job memory job) internal pure returns (bool) {
        return job.state == JobState.Running || job.state == JobState.Completed || job.state == JobState.Disputed;
    }

    function _canGoDark(uint256 jobId, Job memory job) internal view returns (bool) {
        return job.state == JobState.Running && _lastLifeAt(jobId, job) < uint256(job.startedAt) + job.duration;
    }

    function _isDisputable(uint256 jobId, Job memory job) internal view returns (bool) {
        if (job.state == JobState.Running) return true;
        return job.state == JobState.Completed
            && _now() <= uint256(job.endedAt) + _ghostJobs[jobId].terms.disputeWindow;
    }

    function _isSettleable(uint256 jobId, Job memory job) internal view returns (bool) {
        return job.state == JobState.Completed
            && _now() > uint256(job.endedAt) + _ghostJobs[jobId].terms.disputeWindow;
    }

    function _isDisputed(uint256, Job memory job) internal pure returns (bool) {
        return job.state == JobState.Disputed;
    }

    function _isResolvable(uint256 jobId, Job memory job) internal view returns (bool) {
        GhostJob storage g = _ghostJobs[jobId];
        return job.state == JobState.Disputed && _now() <= g.disputedAt + g.terms.resolveWindow;
    }

    function _isStale(uint256 jobId, Job memory job) internal view returns (bool) {
        return job.state == JobState.Disputed && !_isResolvable(jobId, job);
    }

    function _isAbandoned(uint256 jobId, Job memory job) internal view returns (bool) {
        return job.state == JobState.Running
            && _now() > uint256(job.startedAt) + job.duration + _ghostJobs[jobId].terms.abandonGrace;
    }

    /// @dev Whether the payer could extend the running job by `extra` seconds now (stake top-ups aside).
    function _canExtendBy(uint256 jobId, Job memory job, uint256 extra) internal view returns (bool) {
        if (job.state != JobState.Running || market.paused()) return false;
        Offer memory offer = market.getOffer(job.offerId);
        if (_now() >= uint256(job.startedAt) + job.duration || offer.closed || _now() >= offer.expiresAt) return false;
        if (job.duration + extra > offer.maxDuration) return false;
        IJobMarket.Parameters memory t = _ghostJobs[jobId].terms;
        uint256 extraCollateral = _collateralOf(JobMath.costUp(job.pricePerGpuHour, job.gpus, job.duration + extra), t)
            - _collateralOf(_cost(job), t);
        return extraCollateral <= staking.unlockedStake(_ghostJobs[jobId].provider);
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
            if (!offer.closed && _now() < offer.expiresAt && offer.gpusLeased < offer.gpus) return offerId;
        }
        return 0;
    }

    // ================================================================== internal: helpers
    /// @dev The client's EIP-712 UsageReceipt signature; checks the market's digest against one built here.
    function _signReceipt(address signer, uint256 jobId, uint256 servedUntil) internal returns (bytes memory) {
        bytes32 digest = market.receiptDigest(jobId, uint64(servedUntil));
        bytes32 domainSeparator = keccak256(
            abi.encode(DOMAIN_TYPEHASH, keccak256("GPU Mesh JobMarket"), keccak256("2"), block.chainid, address(market))
        );
        bytes32 structHash = keccak256(abi.encode(RECEIPT_TYPEHASH, jobId, uint64(servedUntil)));
        if (digest != keccak256(abi.encodePacked("\x19\x01", domainSeparator, structHash))) {
            _violate(7, "receiptDigest is not the EIP-712 digest of UsageReceipt(jobId, servedUntil)");
        }
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(_clientKeys[_clientIndex(signer)], digest);
        return abi.encodePacked(r, s, v);
    }

    function _clientIndex(address client) internal view returns (uint256) {
        for (uint256 i; i < 3; ++i) {
            if (_clients[i] == client) return i;
        }
        revert("not a client");
    }

    function _stakeFor(address provider, uint256 amount) internal {
        stakeToken.mint(provider, amount);
        uint256 stakedBefore = staking.account(provider).staked;
        uint256 heldBefore = stakeToken.balanceOf(address(staking));
        vm.prank(provider);
        staking.stake(amount);
        if (staking.account(provider).staked != stakedBefore + amount) _violate(2, "stake: staked grew by != amount");
        if (stakeToken.balanceOf(address(staking)) != heldBefore + amount) _violate(2, "stake: staking got != amount");
        ghostStaked[provider] += amount;
    }

    /// @dev A provider stakes what it lacks, as its agent would before taking a job; false when it cannot.
    function _topUp(address provider, uint256 amount) internal returns (bool) {
        if (staking.paused() || stakeToken.blocked(provider) || amount > MAX_STAKE_TOP_UP) return false;
        _stakeFor(provider, amount);
        return true;
    }

    function _warpBy(uint256 seconds_) internal {
        vm.warp(_now() + seconds_);
    }

    function _warpTo(uint256 timestamp) internal {
        if (timestamp > _now()) vm.warp(timestamp);
    }

    /// @dev Everything governance must not be able to change: every balance and credit of every account and
    ///      contract, accrued fees and bonds, every provider's stake, and every job's money, state and terms.
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
                market.feesAccrued(),
                market.disputeBondsHeld()
            )
        );
        uint256 jobCount = market.nextJobId() - 1;
        for (uint256 jobId = 1; jobId <= jobCount; ++jobId) {
            (uint256 cost, uint256 escrow, uint256 collateral) = market.jobAmounts(jobId);
            hash = keccak256(abi.encode(hash, market.getJob(jobId), market.jobTerms(jobId), cost, escrow, collateral));
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

    /// @dev A call the rules forbid went through: the contracts' state has left the model, so actions stop after
    ///      their probes and the invariant check reports this violation.
    function _forbiddenSucceeded(uint256 invariantNumber, string memory message) internal {
        forbiddenCallSucceeded = true;
        _violate(invariantNumber, message);
    }

    function _violate(uint256 invariantNumber, string memory message) internal {
        if (bytes(_violations[invariantNumber]).length == 0) _violations[invariantNumber] = message;
    }

    function _succeeded(string memory action) internal {
        successes[action] += 1;
    }
}

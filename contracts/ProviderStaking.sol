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
import {IProviderStaking} from "./interfaces/IProviderStaking.sol";
import {PermitSignature} from "./types/Permit.sol";

/// @title ProviderStaking
/// @notice Holds providers' collateral in the stake token. Governance sets bounded parameters and can pause new
///         registrations and stakes; it can never move stake. Only the market moves stake, by the job rules.
contract ProviderStaking is IProviderStaking, AccessControl, Pausable, ReentrancyGuardTransient, Multicall {
    using SafeERC20 for IERC20;
    using SafeCast for uint256;

    // ------------------------------------------------------------------ constants
    bytes32 public constant PAUSER_ROLE = keccak256("PAUSER_ROLE");
    uint256 public constant MIN_UNBONDING_PERIOD = 1 hours;
    uint256 public constant MAX_UNBONDING_PERIOD = 90 days;
    uint256 public constant MAX_MIN_STAKE = 1e30;

    // ------------------------------------------------------------------ storage
    IERC20 internal immutable _stakeToken;
    address public market;
    address public treasury;
    uint256 public unbondingPeriod;
    uint256 public minStake;
    mapping(address provider => ProviderAccount) internal _accounts;
    mapping(address provider => mapping(uint256 requestId => UnbondingRequest)) internal _unbondingRequests;
    mapping(address provider => string) internal _metadataURIs;
    /// @dev Slash payouts that could not be pushed. Counted in invariant 2 with staked and unbonding stake.
    mapping(address account => uint256) internal _credits;

    // ------------------------------------------------------------------ constructor
    constructor(
        IERC20 stakeToken_,
        address governance,
        address treasury_,
        uint256 unbondingPeriod_,
        uint256 minStake_
    ) {
        if (address(stakeToken_) == address(0) || governance == address(0) || treasury_ == address(0)) {
            revert ProviderStakingZeroAddress();
        }
        _stakeToken = stakeToken_;
        _grantRole(DEFAULT_ADMIN_ROLE, governance);
        _grantRole(PAUSER_ROLE, governance);
        treasury = treasury_;
        _setUnbondingPeriod(unbondingPeriod_);
        _setMinStake(minStake_);
        emit TreasurySet(treasury_);
    }

    modifier onlyMarket() {
        if (msg.sender != market) revert ProviderStakingNotMarket(msg.sender);
        _;
    }

    // ------------------------------------------------------------------ admin
    /// @notice Binds the market once; the market and staking refer to each other and cannot both be immutable.
    function setMarket(address market_) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (market != address(0)) revert ProviderStakingMarketAlreadySet(market);
        if (market_ == address(0)) revert ProviderStakingZeroAddress();
        market = market_;
        emit MarketSet(market_);
    }

    function setTreasury(address treasury_) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (treasury_ == address(0)) revert ProviderStakingZeroAddress();
        treasury = treasury_;
        emit TreasurySet(treasury_);
    }

    function setUnbondingPeriod(uint256 value) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _setUnbondingPeriod(value);
    }

    function setMinStake(uint256 value) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _setMinStake(value);
    }

    function pause() external onlyRole(PAUSER_ROLE) {
        _pause();
    }

    function unpause() external onlyRole(PAUSER_ROLE) {
        _unpause();
    }

    // ------------------------------------------------------------------ provider flows
    /// @inheritdoc IProviderStaking
    function register(string calldata metadataURI_) external whenNotPaused {
        ProviderAccount storage acct = _accounts[msg.sender];
        if (acct.registered) revert ProviderStakingAlreadyRegistered(msg.sender);
        acct.registered = true;
        _metadataURIs[msg.sender] = metadataURI_;
        emit ProviderRegistered(msg.sender, metadataURI_);
    }

    /// @inheritdoc IProviderStaking
    function updateMetadata(string calldata metadataURI_) external {
        if (!_accounts[msg.sender].registered) revert ProviderStakingNotRegistered(msg.sender);
        _metadataURIs[msg.sender] = metadataURI_;
        emit ProviderMetadataUpdated(msg.sender, metadataURI_);
    }

    /// @inheritdoc IProviderStaking
    function stake(uint256 amount) external whenNotPaused nonReentrant {
        _stake(amount);
    }

    /// @inheritdoc IProviderStaking
    function stakeWithPermit(uint256 amount, PermitSignature calldata permit) external whenNotPaused nonReentrant {
        // A failed permit (already used, front-run) is fine when the allowance is already there.
        try IERC20Permit(address(_stakeToken)).permit(
            msg.sender, address(this), permit.value, permit.deadline, permit.v, permit.r, permit.s
        ) {} catch {}
        _stake(amount);
    }

    /// @inheritdoc IProviderStaking
    function requestUnstake(uint256 amount) external nonReentrant {
        if (amount == 0) revert ProviderStakingZeroAmount();
        ProviderAccount storage acct = _accounts[msg.sender];
        uint256 unlocked = acct.staked - acct.locked;
        if (amount > unlocked) revert ProviderStakingInsufficientUnlocked(amount, unlocked);
        // Requests mature in order, so withdrawStake can stop at the first one that has not: a shorter unbonding
        // period set after a request cannot make a later request mature before it.
        uint256 readyAt = block.timestamp + unbondingPeriod;
        if (readyAt < acct.unbondingReadyAt) readyAt = acct.unbondingReadyAt;
        uint256 requestId = acct.nextUnbondingRequest;
        _unbondingRequests[msg.sender][requestId] = UnbondingRequest({amount: uint128(amount), readyAt: uint40(readyAt)});
        // amount <= staked - locked, so neither subtraction nor the unbonding sum (bounded by token supply) overflows.
        unchecked {
            acct.staked -= uint128(amount);
            acct.unbonding += uint128(amount);
        }
        acct.unbondingReadyAt = uint40(readyAt);
        acct.nextUnbondingRequest = (requestId + 1).toUint32();
        emit UnstakeRequested(msg.sender, amount, acct.staked, acct.unbonding, uint64(readyAt), requestId);
    }

    /// @inheritdoc IProviderStaking
    function withdrawStake() external nonReentrant {
        ProviderAccount storage acct = _accounts[msg.sender];
        uint256 first = acct.firstUnbondingRequest;
        uint256 end = acct.nextUnbondingRequest;
        if (first == end) revert ProviderStakingNothingToWithdraw();
        mapping(uint256 => UnbondingRequest) storage requests = _unbondingRequests[msg.sender];
        uint256 amount;
        while (first < end && requests[first].readyAt <= block.timestamp) {
            amount += requests[first].amount;
            delete requests[first];
            ++first;
        }
        if (amount == 0) revert ProviderStakingStillUnbonding(uint64(requests[first].readyAt));
        // The withdrawn requests were part of unbonding; first <= end < 2^32.
        uint128 unbonding = acct.unbonding - uint128(amount);
        acct.unbonding = unbonding;
        acct.firstUnbondingRequest = uint32(first);
        emit StakeWithdrawn(msg.sender, amount, unbonding);
        _stakeToken.safeTransfer(msg.sender, amount);
    }

    /// @inheritdoc IProviderStaking
    function withdrawCredit(address to) external nonReentrant {
        if (to == address(0)) revert ProviderStakingZeroAddress();
        uint256 amount = _credits[msg.sender];
        if (amount == 0) revert ProviderStakingNothingToWithdraw();
        _credits[msg.sender] = 0;
        emit CreditWithdrawn(msg.sender, to, amount);
        _stakeToken.safeTransfer(to, amount);
    }

    // ------------------------------------------------------------------ market flows
    /// @inheritdoc IProviderStaking
    function lockCollateral(address provider, uint256 jobId, uint256 amount) external onlyMarket {
        ProviderAccount storage acct = _accounts[provider];
        uint256 unlocked = acct.staked - acct.locked;
        if (amount > unlocked) revert ProviderStakingInsufficientCollateral(provider, amount, unlocked);
        // locked + amount <= staked, so it fits in uint128.
        uint128 locked = acct.locked + uint128(amount);
        acct.locked = locked;
        emit CollateralLocked(provider, jobId, amount, locked);
    }

    /// @inheritdoc IProviderStaking
    function releaseCollateral(
        address provider,
        uint256 jobId,
        uint256 collateral,
        uint256 slashAmount,
        address client,
        uint256 clientCap
    ) external onlyMarket nonReentrant {
        if (slashAmount > collateral) revert ProviderStakingSlashAboveCollateral(slashAmount, collateral);
        ProviderAccount storage acct = _accounts[provider];
        // The market releases exactly what it locked for the job; more is a bug and reverts on underflow. The slash
        // comes out of that collateral, which is part of staked, so staked - slashAmount >= locked stays true.
        uint128 locked = acct.locked - collateral.toUint128();
        acct.locked = locked;
        emit CollateralUnlocked(provider, jobId, collateral, locked);
        if (slashAmount == 0) return;
        uint128 staked = acct.staked - uint128(slashAmount);
        acct.staked = staked;
        uint256 toClient = slashAmount < clientCap ? slashAmount : clientCap;
        uint256 toTreasury = slashAmount - toClient;
        address treasury_ = treasury;
        emit Slashed(provider, jobId, client, toClient, treasury_, toTreasury, staked);
        _pay(client, toClient);
        _pay(treasury_, toTreasury);
    }

    // ------------------------------------------------------------------ internal
    function _stake(uint256 amount) internal {
        if (amount == 0) revert ProviderStakingZeroAmount();
        ProviderAccount storage acct = _accounts[msg.sender];
        if (!acct.registered) revert ProviderStakingNotRegistered(msg.sender);
        // Pull before the write: the received amount is measured, and fee-on-transfer or rebasing tokens revert.
        // Reentrancy is shut by nonReentrant.
        uint256 balanceBefore = _stakeToken.balanceOf(address(this));
        _stakeToken.safeTransferFrom(msg.sender, address(this), amount);
        uint256 received = _stakeToken.balanceOf(address(this)) - balanceBefore;
        if (received != amount) revert ProviderStakingTransferAmountMismatch(amount, received);
        uint128 staked = acct.staked + amount.toUint128();
        acct.staked = staked;
        emit Staked(msg.sender, amount, staked);
    }

    /// @dev Pushes a payout; when the account cannot receive (a blocklisting token), credits it instead so that
    ///      nobody else's call is blocked.
    function _pay(address to, uint256 amount) internal {
        if (amount == 0) return;
        if (!_stakeToken.trySafeTransfer(to, amount)) {
            _credits[to] += amount;
            emit PayoutCredited(to, amount);
        }
    }

    function _setUnbondingPeriod(uint256 value) internal {
        if (value < MIN_UNBONDING_PERIOD || value > MAX_UNBONDING_PERIOD) {
            revert ProviderStakingParameterOutOfBounds(value, MIN_UNBONDING_PERIOD, MAX_UNBONDING_PERIOD);
        }
        emit UnbondingPeriodSet(unbondingPeriod, value);
        unbondingPeriod = value;
    }

    function _setMinStake(uint256 value) internal {
        if (value > MAX_MIN_STAKE) revert ProviderStakingParameterOutOfBounds(value, 0, MAX_MIN_STAKE);
        emit MinStakeSet(minStake, value);
        minStake = value;
    }

    // ------------------------------------------------------------------ views
    /// @inheritdoc IProviderStaking
    function account(address provider) external view returns (ProviderAccount memory) {
        return _accounts[provider];
    }

    /// @inheritdoc IProviderStaking
    function unlockedStake(address provider) external view returns (uint256) {
        ProviderAccount storage acct = _accounts[provider];
        return acct.staked - acct.locked;
    }

    /// @inheritdoc IProviderStaking
    function unbondingRequest(address provider, uint256 requestId) external view returns (UnbondingRequest memory) {
        return _unbondingRequests[provider][requestId];
    }

    /// @inheritdoc IProviderStaking
    function metadataURI(address provider) external view returns (string memory) {
        return _metadataURIs[provider];
    }

    /// @inheritdoc IProviderStaking
    function credit(address account_) external view returns (uint256) {
        return _credits[account_];
    }

    /// @inheritdoc IProviderStaking
    function stakeToken() external view returns (address) {
        return address(_stakeToken);
    }
}

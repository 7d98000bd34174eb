// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {PermitSignature} from "../types/Permit.sol";

/// @title Provider collateral
/// @notice Providers register, stake, and unstake in two steps. The market locks collateral per accepted job and
///         slashes only as the outcome of a job rule; slashed stake goes to the harmed client first, the rest to
///         the treasury.
interface IProviderStaking {
    /// @dev Invariant: locked <= staked. Unbonding stake is out of `staked`: it cannot be locked for new jobs but can
    ///      still be slashed until it is withdrawn. Delegation can later live in its own mapping keyed by
    ///      (provider, delegator) without touching this layout.
    struct ProviderAccount {
        // slot 0
        uint128 staked;
        uint128 locked;
        // slot 1
        uint128 unbonding;
        uint40 unbondingReadyAt;
        bool registered;
    }

    event ProviderRegistered(address indexed provider, string metadataURI);
    event ProviderMetadataUpdated(address indexed provider, string metadataURI);
    /// @param staked the provider's stake after the call
    event Staked(address indexed provider, uint256 amount, uint256 staked);
    event UnstakeRequested(
        address indexed provider, uint256 amount, uint256 staked, uint256 unbonding, uint64 readyAt
    );
    event StakeWithdrawn(address indexed provider, uint256 amount);
    /// @param locked the provider's locked stake after the call
    event CollateralLocked(address indexed provider, uint256 indexed jobId, uint256 amount, uint256 locked);
    event CollateralUnlocked(address indexed provider, uint256 indexed jobId, uint256 amount, uint256 locked);
    /// @notice Stake was taken from a provider for job `jobId`: `fromStaked + fromUnbonding == toClient + toTreasury`.
    event Slashed(
        address indexed provider,
        uint256 indexed jobId,
        address indexed client,
        uint256 toClient,
        address treasury,
        uint256 toTreasury,
        uint256 fromStaked,
        uint256 fromUnbonding
    );
    /// @notice A slash payout could not be pushed to `account`; it is credited for `withdrawCredit`.
    event PayoutCredited(address indexed account, uint256 amount);
    event CreditWithdrawn(address indexed account, address indexed to, uint256 amount);
    event MarketSet(address indexed market);
    event TreasurySet(address indexed treasury);
    event UnbondingPeriodSet(uint256 oldValue, uint256 newValue);
    event MinStakeSet(uint256 oldValue, uint256 newValue);

    error ProviderStakingNotRegistered(address provider);
    error ProviderStakingAlreadyRegistered(address provider);
    error ProviderStakingZeroAmount();
    error ProviderStakingInsufficientUnlocked(uint256 requested, uint256 unlocked);
    error ProviderStakingNothingToWithdraw();
    error ProviderStakingStillUnbonding(uint64 readyAt);
    error ProviderStakingTransferAmountMismatch(uint256 expected, uint256 received);
    error ProviderStakingNotMarket(address caller);
    error ProviderStakingMarketAlreadySet(address market);
    error ProviderStakingParameterOutOfBounds(uint256 value, uint256 min, uint256 max);
    error ProviderStakingZeroAddress();

    function register(string calldata metadataURI) external;
    function updateMetadata(string calldata metadataURI) external;
    function stake(uint256 amount) external;
    function stakeWithPermit(uint256 amount, PermitSignature calldata permit) external;
    /// @notice Moves unlocked stake into unbonding; the whole unbonding amount is ready `unbondingPeriod` from now.
    function requestUnstake(uint256 amount) external;
    /// @notice Withdraws all unbonding stake once it is ready.
    function withdrawStake() external;
    /// @notice Withdraws slash payouts that could not be pushed, to `to`.
    function withdrawCredit(address to) external;

    /// @notice Market only: locks `amount` of the provider's unlocked stake as collateral for `jobId`.
    function lockCollateral(address provider, uint256 jobId, uint256 amount) external;
    /// @notice Market only.
    function unlockCollateral(address provider, uint256 jobId, uint256 amount) external;
    /// @notice Market only: takes up to `amount` from unlocked stake, then unbonding stake; pays the client up to
    ///         `clientCap` and the treasury the rest.
    /// @return slashed what could be taken
    function slash(address provider, uint256 jobId, uint256 amount, address client, uint256 clientCap)
        external
        returns (uint256 slashed);

    function account(address provider) external view returns (ProviderAccount memory);
    function unlockedStake(address provider) external view returns (uint256);
    function metadataURI(address provider) external view returns (string memory);
    function credit(address account) external view returns (uint256);
    function stakeToken() external view returns (address);
    function market() external view returns (address);
    function treasury() external view returns (address);
    function unbondingPeriod() external view returns (uint256);
    function minStake() external view returns (uint256);
}

// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {PermitSignature} from "../types/Permit.sol";

/// @title Provider collateral
/// @notice Providers register, stake, and unstake in two steps. The market locks collateral when a job is created
///         and slashes only as the outcome of that job's rules, from that job's collateral; slashed stake goes to the
///         harmed client first, the rest to the treasury.
interface IProviderStaking {
    /// @dev Invariants: locked <= staked; locked == the sum of the collateral of the provider's open jobs. Unbonding
    ///      stake is out of `staked`: it can be neither locked nor slashed (v2: collateral is reserved when a job is
    ///      created, and slashes only ever take that job's collateral), and each request matures on its own.
    ///      Delegation can later live in its own mapping keyed by (provider, delegator) without touching this layout.
    struct ProviderAccount {
        // slot 0
        uint128 staked;
        uint128 locked;
        // slot 1
        uint128 unbonding; // sum of the pending unbonding requests
        uint40 unbondingReadyAt; // when the latest request matures
        bool registered;
        uint32 firstUnbondingRequest; // the oldest request not yet withdrawn
        uint32 nextUnbondingRequest;
    }

    /// @notice One `requestUnstake`; requests mature in order (`readyAt` never decreases).
    struct UnbondingRequest {
        uint128 amount;
        uint40 readyAt;
    }

    event ProviderRegistered(address indexed provider, string metadataURI);
    event ProviderMetadataUpdated(address indexed provider, string metadataURI);
    /// @param staked the provider's stake after the call
    event Staked(address indexed provider, uint256 amount, uint256 staked);
    event UnstakeRequested(
        address indexed provider, uint256 amount, uint256 staked, uint256 unbonding, uint64 readyAt, uint256 requestId
    );
    /// @param unbonding what stays unbonding (requests not yet mature)
    event StakeWithdrawn(address indexed provider, uint256 amount, uint256 unbonding);
    /// @param locked the provider's locked stake after the call
    event CollateralLocked(address indexed provider, uint256 indexed jobId, uint256 amount, uint256 locked);
    event CollateralUnlocked(address indexed provider, uint256 indexed jobId, uint256 amount, uint256 locked);
    /// @notice Stake was taken from a provider for job `jobId`: `fromStaked + fromUnbonding == toClient + toTreasury`.
    /// @notice Stake taken from a job's collateral: `toClient` to the job's client, the rest to the treasury.
    /// @param staked the provider's stake after the slash
    event Slashed(
        address indexed provider,
        uint256 indexed jobId,
        address client,
        uint256 toClient,
        address treasury,
        uint256 toTreasury,
        uint256 staked
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
    /// @notice The provider's unlocked stake cannot back a job's collateral.
    error ProviderStakingInsufficientCollateral(address provider, uint256 required, uint256 unlocked);
    error ProviderStakingSlashAboveCollateral(uint256 slashAmount, uint256 collateral);
    error ProviderStakingTransferAmountMismatch(uint256 expected, uint256 received);
    error ProviderStakingNotMarket(address caller);
    error ProviderStakingMarketAlreadySet(address market);
    error ProviderStakingParameterOutOfBounds(uint256 value, uint256 min, uint256 max);
    error ProviderStakingZeroAddress();

    function register(string calldata metadataURI) external;
    function updateMetadata(string calldata metadataURI) external;
    function stake(uint256 amount) external;
    function stakeWithPermit(uint256 amount, PermitSignature calldata permit) external;
    /// @notice Moves unlocked stake into a new unbonding request, ready `unbondingPeriod` from now (or with the
    ///         previous request, if that is later).
    function requestUnstake(uint256 amount) external;
    /// @notice Withdraws every unbonding request that has matured; later requests never delay earlier ones.
    function withdrawStake() external;
    /// @notice Withdraws slash payouts that could not be pushed, to `to`.
    function withdrawCredit(address to) external;

    /// @notice Market only: locks `amount` of the provider's unlocked stake as collateral for `jobId`.
    function lockCollateral(address provider, uint256 jobId, uint256 amount) external;
    /// @notice Market only: unlocks a job's `collateral` and slashes `slashAmount` (at most the collateral) of it,
    ///         paying the client up to `clientCap` and the treasury the rest.
    function releaseCollateral(
        address provider,
        uint256 jobId,
        uint256 collateral,
        uint256 slashAmount,
        address client,
        uint256 clientCap
    ) external;

    function account(address provider) external view returns (ProviderAccount memory);
    function unlockedStake(address provider) external view returns (uint256);
    function unbondingRequest(address provider, uint256 requestId) external view returns (UnbondingRequest memory);
    function metadataURI(address provider) external view returns (string memory);
    function credit(address account) external view returns (uint256);
    function stakeToken() external view returns (address);
    function market() external view returns (address);
    function treasury() external view returns (address);
    function unbondingPeriod() external view returns (uint256);
    function minStake() external view returns (uint256);
}

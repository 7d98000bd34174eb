// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {JobMarket} from "../../../contracts/JobMarket.sol";
import {ProviderStaking} from "../../../contracts/ProviderStaking.sol";
import {GpuCatalog} from "../../../contracts/GpuCatalog.sol";
import {IJobMarket} from "../../../contracts/interfaces/IJobMarket.sol";
import {TestBase} from "./TestBase.sol";

/// @notice Deploys and wires GPU Mesh as src/chain/deploy.ts does: catalog, staking, market (forge deploys and links
///         its libraries OfferBook and ParameterBook), `staking.setMarket(market)`, two listed GPU models. Governance
///         keeps every role (arbiter included).
abstract contract GpuMeshFixture is TestBase {
    /// @dev A 6-decimal payment token against an 18-decimal stake token, valued one to one.
    uint256 internal constant STAKE_PER_PAYMENT_UNIT = 1e12;
    uint256 internal constant MIN_STAKE = 100e18;
    uint256 internal constant UNBONDING_PERIOD = 7 days;
    bytes16 internal constant REGION = "eu-west";
    string internal constant H100 = "H100-SXM-80GB";
    string internal constant L40S = "L40S-48GB";

    address internal governance;
    address internal treasury;
    GpuCatalog internal catalog;
    ProviderStaking internal staking;
    JobMarket internal market;
    bytes32 internal h100;
    bytes32 internal l40s;

    /// @dev src/protocol's DEFAULT_PARAMETERS, the deployment defaults.
    function defaultParameters() internal pure returns (IJobMarket.Parameters memory) {
        return IJobMarket.Parameters({
            protocolFeeBps: 250,
            cancelFeeBps: 200,
            collateralBps: 5_000,
            expirySlashBps: 100,
            darkSlashBps: 1_000,
            disputeBondBps: 500,
            acceptWindow: 30 minutes,
            disputeWindow: 1 days,
            abandonGrace: 1 hours,
            livenessTimeout: 15 minutes,
            resolveWindow: 7 days
        });
    }

    function deployGpuMesh(IERC20 paymentToken, IERC20 stakeToken, IJobMarket.Parameters memory parameters)
        internal
    {
        governance = makeAddr("governance");
        treasury = makeAddr("treasury");
        catalog = new GpuCatalog(governance);
        staking = new ProviderStaking(stakeToken, governance, treasury, UNBONDING_PERIOD, MIN_STAKE);
        market = new JobMarket(
            paymentToken, staking, catalog, governance, treasury, STAKE_PER_PAYMENT_UNIT, parameters
        );
        vm.startPrank(governance);
        staking.setMarket(address(market));
        h100 = catalog.listModel(H100, 80);
        l40s = catalog.listModel(L40S, 48);
        vm.stopPrank();
        vm.label(address(catalog), "catalog");
        vm.label(address(staking), "staking");
        vm.label(address(market), "market");
    }
}

// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {TestBase} from "./TestBase.sol";

/// @notice What Foundry's invariant runner reads from a test contract to choose the calls it fuzzes, in the ABI shape
///         of forge-std's StdInvariant (`targetContracts()`, `targetSelectors()`, `targetSenders()`,
///         `excludeContracts()`, `excludeSenders()`). Foundry calls these views after `setUp`.
abstract contract InvariantBase is TestBase {
    struct FuzzSelector {
        address addr;
        bytes4[] selectors;
    }

    address[] private _targetedContracts;
    FuzzSelector[] private _targetedSelectors;
    address[] private _targetedSenders;
    address[] private _excludedContracts;
    address[] private _excludedSenders;

    function targetContract(address target) internal {
        _targetedContracts.push(target);
    }

    function targetSelector(FuzzSelector memory selector) internal {
        _targetedSelectors.push(selector);
    }

    function targetSender(address sender) internal {
        _targetedSenders.push(sender);
    }

    function excludeContract(address target) internal {
        _excludedContracts.push(target);
    }

    function excludeSender(address sender) internal {
        _excludedSenders.push(sender);
    }

    function targetContracts() public view returns (address[] memory) {
        return _targetedContracts;
    }

    function targetSelectors() public view returns (FuzzSelector[] memory) {
        return _targetedSelectors;
    }

    function targetSenders() public view returns (address[] memory) {
        return _targetedSenders;
    }

    function excludeContracts() public view returns (address[] memory) {
        return _excludedContracts;
    }

    function excludeSenders() public view returns (address[] memory) {
        return _excludedSenders;
    }
}

// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {Vm} from "./Vm.sol";

/// @notice A small self-contained test base: the cheatcode handle, `bound`, actor addresses and asserts that revert
///         with a message (Foundry fails a test, or an invariant, on any revert). Stands in for forge-std, whose npm
///         copy is an old unofficial one and which `forge install` cannot fetch here.
abstract contract TestBase {
    Vm internal constant vm = Vm(address(uint160(uint256(keccak256("hevm cheat code")))));

    /// @notice Maps `x` into [min, max], keeping values already inside unchanged so the fuzzer's edge cases survive.
    function bound(uint256 x, uint256 min, uint256 max) internal pure returns (uint256) {
        require(min <= max, "bound: min > max");
        if (x >= min && x <= max) return x;
        uint256 size = max - min;
        if (size == type(uint256).max) return x;
        return min + x % (size + 1);
    }

    /// @notice A deterministic address for a named actor, labelled in traces.
    function makeAddr(string memory name) internal returns (address account) {
        account = address(uint160(uint256(keccak256(bytes(name)))));
        vm.label(account, name);
    }

    /// @notice A deterministic actor that can sign (EIP-712 usage receipts), labelled in traces.
    function makeAddrAndKey(string memory name) internal returns (address account, uint256 privateKey) {
        privateKey = uint256(keccak256(bytes(name)));
        account = vm.addr(privateKey);
        vm.label(account, name);
    }

    /// @notice The current block time, read through the cheatcode (see Vm.getBlockTimestamp).
    function _now() internal view returns (uint256) {
        return vm.getBlockTimestamp();
    }

    function assertTrue(bool condition, string memory message) internal pure {
        if (!condition) revert(message);
    }

    function assertEq(uint256 actual, uint256 expected, string memory message) internal pure {
        if (actual != expected) revert(_mismatch(message, "==", actual, expected));
    }

    function assertEq(address actual, address expected, string memory message) internal pure {
        if (actual != expected) revert(message);
    }

    function assertEq(bytes32 actual, bytes32 expected, string memory message) internal pure {
        if (actual != expected) revert(message);
    }

    function assertLe(uint256 left, uint256 right, string memory message) internal pure {
        if (left > right) revert(_mismatch(message, "<=", left, right));
    }

    function assertGe(uint256 left, uint256 right, string memory message) internal pure {
        if (left < right) revert(_mismatch(message, ">=", left, right));
    }

    function _mismatch(string memory message, string memory op, uint256 left, uint256 right)
        internal
        pure
        returns (string memory)
    {
        return string.concat(message, ": expected ", _toString(left), " ", op, " ", _toString(right));
    }

    function _toString(uint256 value) internal pure returns (string memory) {
        if (value == 0) return "0";
        uint256 digits;
        for (uint256 v = value; v != 0; v /= 10) ++digits;
        bytes memory buffer = new bytes(digits);
        for (; value != 0; value /= 10) buffer[--digits] = bytes1(uint8(48 + value % 10));
        return string(buffer);
    }
}

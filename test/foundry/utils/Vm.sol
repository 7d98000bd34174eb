// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @notice The Foundry cheatcodes these tests use, and nothing else. Signatures as Foundry's `Vm.sol` declares them.
interface Vm {
    function warp(uint256 newTimestamp) external;
    function prank(address msgSender) external;
    function startPrank(address msgSender) external;
    function stopPrank() external;
    function expectRevert() external;
    function expectRevert(bytes4 revertData) external;
    function expectRevert(bytes calldata revertData) external;
    function assume(bool condition) external pure;
    function label(address account, string calldata newLabel) external;
}

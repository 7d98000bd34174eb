// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @notice The Foundry cheatcodes these tests use, and nothing else. Signatures as Foundry's `Vm.sol` declares them.
interface Vm {
    function warp(uint256 newTimestamp) external;
    /// @dev Read the time through this, not `block.timestamp`: with via_ir the optimizer may reuse a `TIMESTAMP`
    ///      read from before a `warp` in the same function (foundry-rs/foundry#6180).
    function getBlockTimestamp() external view returns (uint256 timestamp);
    function prank(address msgSender) external;
    function startPrank(address msgSender) external;
    function stopPrank() external;
    function expectRevert() external;
    function expectRevert(bytes4 revertData) external;
    function expectRevert(bytes calldata revertData) external;
    function assume(bool condition) external pure;
    function label(address account, string calldata newLabel) external;
    function addr(uint256 privateKey) external pure returns (address keyAddr);
    function deployCode(string calldata artifactPath, bytes calldata constructorArgs)
        external
        returns (address deployedAddress);
    function sign(uint256 privateKey, bytes32 digest) external pure returns (uint8 v, bytes32 r, bytes32 s);
}

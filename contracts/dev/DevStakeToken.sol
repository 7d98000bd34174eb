// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Permit.sol";

/// @title DevStakeToken
/// @notice An 18-decimal stake token with EIP-2612 permit, for local chains and tests only: anyone can mint.
contract DevStakeToken is ERC20, ERC20Permit {
    constructor() ERC20("GPU Mesh Stake", "MESH") ERC20Permit("GPU Mesh Stake") {}

    /// @notice Dev faucet.
    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }
}

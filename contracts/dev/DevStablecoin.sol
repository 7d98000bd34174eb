// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Permit.sol";

/// @title DevStablecoin
/// @notice A 6-decimal stablecoin with EIP-2612 permit, for local chains and tests only: anyone can mint.
contract DevStablecoin is ERC20, ERC20Permit {
    constructor() ERC20("Dev USD Coin", "USDC") ERC20Permit("Dev USD Coin") {}

    function decimals() public pure override returns (uint8) {
        return 6;
    }

    /// @notice Dev faucet.
    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }
}

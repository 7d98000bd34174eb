// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @notice Test token that calls back into a target on every transfer, as an ERC-777 hook would.
contract ReentrantToken is ERC20 {
    address public hookTarget;
    bytes public callData;
    bool public lastCallSucceeded;
    bytes public lastRevertData;
    uint256 public reentryAttempts;
    bool internal _entered;

    constructor() ERC20("Reentrant USD", "RUSD") {}

    function decimals() public pure override returns (uint8) {
        return 6;
    }

    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }

    /// @notice Arms the hook: every transfer afterwards calls `hookTarget` with `data` once.
    function arm(address target_, bytes calldata data) external {
        hookTarget = target_;
        callData = data;
    }

    function _update(address from, address to, uint256 value) internal override {
        super._update(from, to, value);
        if (hookTarget != address(0) && !_entered && from != address(0)) {
            _entered = true;
            reentryAttempts++;
            (bool ok, bytes memory data) = hookTarget.call(callData);
            lastCallSucceeded = ok;
            lastRevertData = data;
            _entered = false;
        }
    }
}

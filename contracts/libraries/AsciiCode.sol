// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @notice Validation of the short ASCII codes the protocol stores, so analytics never split one value into two.
library AsciiCode {
    /// @notice A region code: 2 to 16 characters of [a-z0-9-], starting with a letter, left-aligned, zero-padded.
    function isValidRegion(bytes16 region) internal pure returns (bool) {
        uint256 length;
        for (uint256 i; i < 16; ++i) {
            bytes1 char = region[i];
            if (char == 0) break;
            bool isLetter = char >= "a" && char <= "z";
            bool isDigitOrDash = (char >= "0" && char <= "9") || char == "-";
            if (!(isLetter || (i > 0 && isDigitOrDash))) return false;
            length = i + 1;
        }
        // Everything after the first zero byte must be zero too.
        if (length < 16 && uint128(region) << uint128(length * 8) != 0) return false;
        return length >= 2;
    }

    /// @notice A GPU model name: 1 to 32 characters of [A-Z0-9-], like "H100-SXM-80GB".
    function isValidModelName(string calldata name) internal pure returns (bool) {
        bytes calldata chars = bytes(name);
        if (chars.length == 0 || chars.length > 32) return false;
        for (uint256 i; i < chars.length; ++i) {
            bytes1 char = chars[i];
            bool allowed = (char >= "A" && char <= "Z") || (char >= "0" && char <= "9") || char == "-";
            if (!allowed) return false;
        }
        return true;
    }
}

// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {AsciiCode} from "../../contracts/libraries/AsciiCode.sol";
import {TestBase} from "./utils/TestBase.sol";

/// @notice AsciiCode against plain reference implementations, for random codes and for codes built valid and then
///         broken in one place.
contract AsciiCodeTest is TestBase {
    bytes internal constant REGION_TAIL = "abcdefghijklmnopqrstuvwxyz0123456789-";
    bytes internal constant MODEL_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-";

    /// @dev AsciiCode.isValidModelName reads calldata.
    function isValidModelName(string calldata name) external pure returns (bool) {
        return AsciiCode.isValidModelName(name);
    }

    // ------------------------------------------------------------------ regions
    function testFuzz_regionMatchesReference(bytes16 region) public pure {
        assertTrue(AsciiCode.isValidRegion(region) == _referenceRegion(region), "region check != reference");
    }

    /// @notice Every region of 2 to 16 characters of [a-z][a-z0-9-]* is valid.
    function testFuzz_builtRegionIsValid(uint256 seed, uint256 length) public pure {
        bytes16 region = _buildRegion(seed, bound(length, 2, 16));
        assertTrue(AsciiCode.isValidRegion(region), "valid region rejected");
    }

    /// @notice One wrong byte anywhere (a character outside the set, an upper-case letter, a leading digit or dash,
    ///         a gap of zeros before more characters) makes a valid region invalid.
    function testFuzz_brokenRegionIsInvalid(uint256 seed, uint256 length, uint256 position, uint8 char) public pure {
        length = bound(length, 2, 16);
        position = bound(position, 0, length - 1);
        bool allowed = (char >= 0x61 && char <= 0x7a) || (position > 0 && ((char >= 0x30 && char <= 0x39) || char == 0x2d));
        vm.assume(!allowed && (char != 0 || position < length - 1));
        bytes memory chars = abi.encodePacked(_buildRegion(seed, length));
        chars[position] = bytes1(char);
        assertTrue(!AsciiCode.isValidRegion(bytes16(chars)), "broken region accepted");
    }

    function test_regionEdgeCases() public pure {
        assertTrue(AsciiCode.isValidRegion("eu-west"), "eu-west");
        assertTrue(AsciiCode.isValidRegion("us-east-1"), "us-east-1");
        assertTrue(AsciiCode.isValidRegion("abcdefghijklmnop"), "16 characters");
        assertTrue(!AsciiCode.isValidRegion(""), "empty");
        assertTrue(!AsciiCode.isValidRegion("e"), "one character");
        assertTrue(!AsciiCode.isValidRegion("EU-WEST"), "upper case");
        assertTrue(!AsciiCode.isValidRegion("1eu"), "leading digit");
        assertTrue(!AsciiCode.isValidRegion("-eu"), "leading dash");
        assertTrue(!AsciiCode.isValidRegion("eu west"), "space");
        assertTrue(!AsciiCode.isValidRegion(bytes16(abi.encodePacked("eu", bytes1(0), "w"))), "gap");
    }

    // ------------------------------------------------------------------ model names
    function testFuzz_modelNameMatchesReference(string calldata name) public view {
        assertTrue(this.isValidModelName(name) == _referenceModelName(bytes(name)), "model name check != reference");
    }

    function testFuzz_builtModelNameIsValid(uint256 seed, uint256 length) public view {
        string memory name = _buildModelName(seed, bound(length, 1, 32));
        assertTrue(this.isValidModelName(name), "valid model name rejected");
    }

    function testFuzz_brokenModelNameIsInvalid(uint256 seed, uint256 length, uint256 position, uint8 char)
        public
        view
    {
        length = bound(length, 1, 32);
        bool allowed = (char >= 0x41 && char <= 0x5a) || (char >= 0x30 && char <= 0x39) || char == 0x2d;
        vm.assume(!allowed);
        bytes memory name = bytes(_buildModelName(seed, length));
        name[bound(position, 0, length - 1)] = bytes1(char);
        assertTrue(!this.isValidModelName(string(name)), "broken model name accepted");
    }

    function testFuzz_longModelNameIsInvalid(uint256 seed, uint256 length) public view {
        assertTrue(!this.isValidModelName(_buildModelName(seed, bound(length, 33, 96))), "name above 32 accepted");
    }

    function test_modelNameEdgeCases() public view {
        assertTrue(this.isValidModelName("H100-SXM-80GB"), "H100-SXM-80GB");
        assertTrue(!this.isValidModelName(""), "empty");
        assertTrue(!this.isValidModelName("h100"), "lower case");
        assertTrue(!this.isValidModelName("H100 80G"), "space");
    }

    // ------------------------------------------------------------------ references
    function _referenceRegion(bytes16 region) internal pure returns (bool) {
        bytes memory chars = abi.encodePacked(region);
        uint256 length = 16;
        for (uint256 i; i < 16; ++i) {
            if (chars[i] == 0) {
                length = i;
                break;
            }
        }
        if (length < 2) return false;
        for (uint256 i = length; i < 16; ++i) {
            if (chars[i] != 0) return false;
        }
        for (uint256 i; i < length; ++i) {
            uint8 c = uint8(chars[i]);
            bool letter = c >= 0x61 && c <= 0x7a;
            bool digitOrDash = (c >= 0x30 && c <= 0x39) || c == 0x2d;
            if (!(letter || (i > 0 && digitOrDash))) return false;
        }
        return true;
    }

    function _referenceModelName(bytes memory name) internal pure returns (bool) {
        if (name.length == 0 || name.length > 32) return false;
        for (uint256 i; i < name.length; ++i) {
            uint8 c = uint8(name[i]);
            if (!((c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x39) || c == 0x2d)) return false;
        }
        return true;
    }

    function _buildRegion(uint256 seed, uint256 length) internal pure returns (bytes16) {
        bytes memory chars = new bytes(16);
        for (uint256 i; i < length; ++i) {
            uint256 pick = uint256(keccak256(abi.encode(seed, i)));
            chars[i] = i == 0 ? REGION_TAIL[pick % 26] : REGION_TAIL[pick % REGION_TAIL.length];
        }
        return bytes16(chars);
    }

    function _buildModelName(uint256 seed, uint256 length) internal pure returns (string memory) {
        bytes memory chars = new bytes(length);
        for (uint256 i; i < length; ++i) {
            chars[i] = MODEL_CHARS[uint256(keccak256(abi.encode(seed, i))) % MODEL_CHARS.length];
        }
        return string(chars);
    }
}

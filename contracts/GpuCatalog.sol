// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {IGpuCatalog} from "./interfaces/IGpuCatalog.sol";
import {AsciiCode} from "./libraries/AsciiCode.sol";

/// @title GpuCatalog
/// @notice The governance-kept list of GPU models that offers may name.
contract GpuCatalog is IGpuCatalog, AccessControl {
    // ------------------------------------------------------------------ constants
    uint32 internal constant MAX_VRAM_GB = 4096;

    // ------------------------------------------------------------------ storage
    mapping(bytes32 modelId => GpuModel) internal _models;
    bytes32[] internal _modelIds;

    // ------------------------------------------------------------------ constructor
    constructor(address governance) {
        _grantRole(DEFAULT_ADMIN_ROLE, governance);
    }

    // ------------------------------------------------------------------ admin
    /// @inheritdoc IGpuCatalog
    function listModel(string calldata name, uint32 vramGb) external onlyRole(DEFAULT_ADMIN_ROLE) returns (bytes32 modelId) {
        if (!AsciiCode.isValidModelName(name)) revert GpuCatalogInvalidName(name);
        if (vramGb == 0 || vramGb > MAX_VRAM_GB) revert GpuCatalogInvalidVram(vramGb);
        modelId = keccak256(bytes(name));
        GpuModel storage model = _models[modelId];
        if (model.listed) revert GpuCatalogAlreadyListed(modelId);
        if (bytes(model.name).length == 0) _modelIds.push(modelId);
        model.name = name;
        model.vramGb = vramGb;
        model.listed = true;
        emit GpuModelListed(modelId, name, vramGb);
    }

    /// @inheritdoc IGpuCatalog
    function delistModel(bytes32 modelId) external onlyRole(DEFAULT_ADMIN_ROLE) {
        GpuModel storage model = _models[modelId];
        if (!model.listed) revert GpuCatalogUnknownModel(modelId);
        model.listed = false;
        emit GpuModelDelisted(modelId);
    }

    // ------------------------------------------------------------------ views
    /// @inheritdoc IGpuCatalog
    function isListed(bytes32 modelId) external view returns (bool) {
        return _models[modelId].listed;
    }

    /// @inheritdoc IGpuCatalog
    function getModel(bytes32 modelId) external view returns (GpuModel memory) {
        return _models[modelId];
    }

    /// @inheritdoc IGpuCatalog
    function modelIds() external view returns (bytes32[] memory) {
        return _modelIds;
    }
}

// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @title GPU model catalog kept by governance
/// @notice Offers must name a listed model, so that analytics never split "h100" from "H100 80G".
///         A model's id is keccak256 of its name; names are [A-Z0-9-], at most 32 characters.
interface IGpuCatalog {
    struct GpuModel {
        string name;
        uint32 vramGb;
        bool listed;
    }

    /// @notice A model was added to the catalog (or listed again after a delisting).
    event GpuModelListed(bytes32 indexed modelId, string name, uint32 vramGb);
    /// @notice New offers can no longer name the model; existing offers and jobs are unaffected.
    event GpuModelDelisted(bytes32 indexed modelId);

    error GpuCatalogInvalidName(string name);
    error GpuCatalogInvalidVram(uint32 vramGb);
    error GpuCatalogAlreadyListed(bytes32 modelId);
    error GpuCatalogUnknownModel(bytes32 modelId);

    /// @notice Lists a model. Governance only.
    function listModel(string calldata name, uint32 vramGb) external returns (bytes32 modelId);

    /// @notice Delists a model. Governance only.
    function delistModel(bytes32 modelId) external;

    function isListed(bytes32 modelId) external view returns (bool);

    function getModel(bytes32 modelId) external view returns (GpuModel memory);

    /// @notice Every model ever listed, in listing order (delisted ones included).
    function modelIds() external view returns (bytes32[] memory);
}

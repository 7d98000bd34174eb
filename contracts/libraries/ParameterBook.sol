// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IJobMarket} from "../interfaces/IJobMarket.sol";

/// @notice The market's governance parameters: their hard bounds and the immutable snapshots ("terms") that jobs
///         point at. A change never edits a snapshot: it publishes the next one, so open jobs keep the rates and
///         windows they were created with. A linked library (external functions, run by delegatecall) so that the
///         market's own code stays under the 24,576-byte limit; governance calls are rare.
library ParameterBook {
    /// @notice Validates every parameter of `p` and writes it as snapshot `termsId`.
    function publish(
        mapping(uint256 termsId => IJobMarket.Parameters) storage terms,
        uint256 termsId,
        IJobMarket.Parameters memory p
    ) external {
        for (uint256 i; i <= uint256(type(IJobMarket.Parameter).max); ++i) {
            IJobMarket.Parameter parameter = IJobMarket.Parameter(i);
            uint256 value = valueOf(p, parameter);
            _checkBounds(parameter, value);
            emit IJobMarket.ParameterSet(parameter, 0, value, termsId);
        }
        terms[termsId] = p;
    }

    /// @notice Publishes the snapshot after `currentId` with one parameter changed; returns its id.
    function change(
        mapping(uint256 termsId => IJobMarket.Parameters) storage terms,
        uint256 currentId,
        IJobMarket.Parameter parameter,
        uint256 value
    ) external returns (uint256 termsId) {
        _checkBounds(parameter, value);
        termsId = currentId + 1;
        if (termsId > type(uint24).max) revert IJobMarket.JobMarketTermsExhausted();
        IJobMarket.Parameters memory next = terms[currentId];
        uint256 oldValue = valueOf(next, parameter);
        _setValue(next, parameter, value);
        terms[termsId] = next;
        emit IJobMarket.ParameterSet(parameter, oldValue, value, termsId);
    }

    /// @notice The hard bounds of each parameter, in code: governance can never go past them.
    function bounds(IJobMarket.Parameter parameter) public pure returns (uint256 min, uint256 max) {
        if (parameter == IJobMarket.Parameter.ProtocolFeeBps) return (0, 1_000); // at most 10 %
        if (parameter == IJobMarket.Parameter.CancelFeeBps) return (0, 500); // at most 5 % of cost
        if (parameter == IJobMarket.Parameter.CollateralBps) return (0, 30_000); // up to 3x cost
        if (parameter == IJobMarket.Parameter.ExpirySlashBps) return (0, 1_000); // at most 10 % of cost
        if (parameter == IJobMarket.Parameter.AcceptWindow) return (1 minutes, 7 days);
        if (parameter == IJobMarket.Parameter.DisputeWindow) return (1 hours, 30 days);
        if (parameter == IJobMarket.Parameter.AbandonGrace) return (1 minutes, 7 days);
        if (parameter == IJobMarket.Parameter.DarkSlashBps) return (0, 10_000); // up to the dark time's whole cost
        if (parameter == IJobMarket.Parameter.DisputeBondBps) return (0, 2_000); // at most 20 % of cost
        if (parameter == IJobMarket.Parameter.LivenessTimeout) return (1 minutes, 1 days);
        return (1 days, 30 days); // ResolveWindow
    }

    function valueOf(IJobMarket.Parameters memory p, IJobMarket.Parameter parameter) internal pure returns (uint256) {
        if (parameter == IJobMarket.Parameter.ProtocolFeeBps) return p.protocolFeeBps;
        if (parameter == IJobMarket.Parameter.CancelFeeBps) return p.cancelFeeBps;
        if (parameter == IJobMarket.Parameter.CollateralBps) return p.collateralBps;
        if (parameter == IJobMarket.Parameter.ExpirySlashBps) return p.expirySlashBps;
        if (parameter == IJobMarket.Parameter.AcceptWindow) return p.acceptWindow;
        if (parameter == IJobMarket.Parameter.DisputeWindow) return p.disputeWindow;
        if (parameter == IJobMarket.Parameter.AbandonGrace) return p.abandonGrace;
        if (parameter == IJobMarket.Parameter.DarkSlashBps) return p.darkSlashBps;
        if (parameter == IJobMarket.Parameter.DisputeBondBps) return p.disputeBondBps;
        if (parameter == IJobMarket.Parameter.LivenessTimeout) return p.livenessTimeout;
        return p.resolveWindow;
    }

    function _checkBounds(IJobMarket.Parameter parameter, uint256 value) private pure {
        (uint256 min, uint256 max) = bounds(parameter);
        if (value < min || value > max) revert IJobMarket.JobMarketParameterOutOfBounds(parameter, value, min, max);
    }

    /// @dev Each value fits its field: the bounds are below the field's maximum.
    function _setValue(IJobMarket.Parameters memory p, IJobMarket.Parameter parameter, uint256 value) private pure {
        if (parameter == IJobMarket.Parameter.ProtocolFeeBps) p.protocolFeeBps = uint16(value);
        else if (parameter == IJobMarket.Parameter.CancelFeeBps) p.cancelFeeBps = uint16(value);
        else if (parameter == IJobMarket.Parameter.CollateralBps) p.collateralBps = uint16(value);
        else if (parameter == IJobMarket.Parameter.ExpirySlashBps) p.expirySlashBps = uint16(value);
        else if (parameter == IJobMarket.Parameter.AcceptWindow) p.acceptWindow = uint32(value);
        else if (parameter == IJobMarket.Parameter.DisputeWindow) p.disputeWindow = uint32(value);
        else if (parameter == IJobMarket.Parameter.AbandonGrace) p.abandonGrace = uint32(value);
        else if (parameter == IJobMarket.Parameter.DarkSlashBps) p.darkSlashBps = uint16(value);
        else if (parameter == IJobMarket.Parameter.DisputeBondBps) p.disputeBondBps = uint16(value);
        else if (parameter == IJobMarket.Parameter.LivenessTimeout) p.livenessTimeout = uint32(value);
        else p.resolveWindow = uint32(value);
    }
}

// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @notice Capacity a provider lists: `gpus` GPUs of one catalog model at a price per GPU-hour.
/// @dev Invariant: gpusLeased <= gpus. Resizing never goes below gpusLeased; jobs keep the terms they were created with.
///      The region code is validated and carried by OfferCreated but not stored: the contract never reads it, and a
///      fourth slot would cost every listing 22,100 gas.
struct Offer {
    // slot 0
    address provider;
    uint32 gpus;
    uint32 gpusLeased;
    uint32 expiresAt;
    // slot 1
    uint96 pricePerGpuHour;
    uint32 minDuration;
    uint32 maxDuration;
    uint16 carbonIntensity; // gCO2e per kWh
    uint16 renewableBps; // share of renewable power, basis points
    bool closed;
    // slot 2
    bytes32 gpuModel;
}

/// @notice What a provider sends to list an offer.
struct OfferParams {
    bytes32 gpuModel;
    uint32 gpus;
    uint96 pricePerGpuHour;
    uint32 minDuration;
    uint32 maxDuration;
    bytes16 region;
    uint16 carbonIntensity;
    uint16 renewableBps;
    uint32 expiresAt;
}

/// @notice The field of an offer that broke a bound, carried by JobMarketInvalidOffer.
enum OfferField {
    Gpus,
    PricePerGpuHour,
    MinDuration,
    MaxDuration,
    RenewableBps,
    ExpiresAt
}

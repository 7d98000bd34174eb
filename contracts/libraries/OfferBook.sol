// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IJobMarket} from "../interfaces/IJobMarket.sol";
import {IGpuCatalog} from "../interfaces/IGpuCatalog.sol";
import {IProviderStaking} from "../interfaces/IProviderStaking.sol";
import {Offer, OfferParams, OfferField} from "../types/Offer.sol";
import {AsciiCode} from "./AsciiCode.sol";
import {JobMath} from "./JobMath.sol";

/// @notice Listing, repricing and resizing offers, on the market's storage. A linked library (external functions,
///         run by delegatecall) so that the market's own code stays under the 24,576-byte limit; listing is rare
///         enough that the extra call (about 2,600 gas) does not matter. Events and errors are the market's.
library OfferBook {
    uint32 internal constant MAX_JOB_DURATION = 365 days;
    /// @notice Bounds that keep listings physical and their figures within analytics' 32-bit integers.
    uint32 internal constant MAX_OFFER_GPUS = 100_000;
    uint32 internal constant MAX_OFFER_LIFETIME = 365 days;
    uint256 internal constant BPS = 10_000;

    /// @notice What a listing is checked against: the catalog, the caller's stake and the collateral it must back.
    struct Backing {
        IGpuCatalog catalog;
        IProviderStaking staking;
        uint256 collateralBps;
        uint256 stakePerPaymentUnit;
    }

    function create(
        mapping(uint256 offerId => Offer) storage offers,
        uint256 offerId,
        OfferParams calldata params,
        Backing calldata backing
    ) external {
        if (!backing.catalog.isListed(params.gpuModel)) revert IJobMarket.JobMarketUnknownGpuModel(params.gpuModel);
        if (!AsciiCode.isValidRegion(params.region)) revert IJobMarket.JobMarketInvalidRegion(params.region);
        _checkSize(params.gpus, params.pricePerGpuHour, params.expiresAt);
        _checkField(OfferField.MaxDuration, params.maxDuration, 1, MAX_JOB_DURATION);
        _checkField(OfferField.MinDuration, params.minDuration, 1, params.maxDuration);
        _checkField(OfferField.RenewableBps, params.renewableBps, 0, BPS);
        _checkBacking(backing, params.gpus, params.pricePerGpuHour, params.minDuration);
        offers[offerId] = Offer({
            provider: msg.sender,
            gpus: params.gpus,
            gpusLeased: 0,
            expiresAt: params.expiresAt,
            pricePerGpuHour: params.pricePerGpuHour,
            minDuration: params.minDuration,
            maxDuration: params.maxDuration,
            carbonIntensity: params.carbonIntensity,
            renewableBps: params.renewableBps,
            closed: false,
            gpuModel: params.gpuModel
        });
        emit IJobMarket.OfferCreated(
            offerId,
            msg.sender,
            params.gpuModel,
            params.gpus,
            params.pricePerGpuHour,
            params.minDuration,
            params.maxDuration,
            params.region,
            params.carbonIntensity,
            params.renewableBps,
            params.expiresAt
        );
    }

    function update(
        mapping(uint256 offerId => Offer) storage offers,
        uint256 offerId,
        uint32 gpus,
        uint96 pricePerGpuHour,
        uint32 expiresAt,
        Backing calldata backing
    ) external {
        Offer storage offer = ownOpenOffer(offers, offerId);
        _checkSize(gpus, pricePerGpuHour, expiresAt);
        uint32 leased = offer.gpusLeased;
        if (gpus < leased) revert IJobMarket.JobMarketGpusBelowLeased(gpus, leased);
        // Leased GPUs are backed by their jobs' collateral already; the free ones must be backed by unlocked stake.
        _checkBacking(backing, gpus - leased, pricePerGpuHour, offer.minDuration);
        offer.gpus = gpus;
        offer.expiresAt = expiresAt;
        offer.pricePerGpuHour = pricePerGpuHour;
        emit IJobMarket.OfferUpdated(offerId, gpus, pricePerGpuHour, expiresAt);
    }

    function ownOpenOffer(mapping(uint256 offerId => Offer) storage offers, uint256 offerId)
        internal
        view
        returns (Offer storage offer)
    {
        offer = offers[offerId];
        if (offer.provider == address(0)) revert IJobMarket.JobMarketUnknownOffer(offerId);
        if (offer.provider != msg.sender) revert IJobMarket.JobMarketNotOfferProvider(offerId, msg.sender);
        if (offer.closed) revert IJobMarket.JobMarketOfferClosed(offerId);
    }

    function _checkField(OfferField field, uint256 value, uint256 min, uint256 max) private pure {
        if (value < min || value > max) revert IJobMarket.JobMarketInvalidOffer(field, value, min, max);
    }

    function _checkSize(uint32 gpus, uint96 pricePerGpuHour, uint32 expiresAt) private view {
        _checkField(OfferField.Gpus, gpus, 1, MAX_OFFER_GPUS);
        _checkField(OfferField.PricePerGpuHour, pricePerGpuHour, 1, type(uint96).max);
        _checkField(OfferField.ExpiresAt, expiresAt, block.timestamp + 1, block.timestamp + MAX_OFFER_LIFETIME);
    }

    /// @dev Listed capacity must be rentable: the caller's unlocked stake, at least minStake, must cover the collateral
    ///      of renting `gpus` GPUs at `pricePerGpuHour` for `minDuration`.
    function _checkBacking(Backing calldata backing, uint256 gpus, uint256 pricePerGpuHour, uint256 minDuration)
        private
        view
    {
        uint256 unlocked = backing.staking.unlockedStake(msg.sender);
        uint256 minStake = backing.staking.minStake();
        if (unlocked < minStake || unlocked == 0) {
            revert IJobMarket.JobMarketInsufficientStake(msg.sender, unlocked, minStake);
        }
        uint256 required = JobMath.bpsUp(JobMath.costUp(pricePerGpuHour, gpus, minDuration), backing.collateralBps)
            * backing.stakePerPaymentUnit;
        if (required > unlocked) revert IJobMarket.JobMarketOfferNotBacked(msg.sender, unlocked, required);
    }
}

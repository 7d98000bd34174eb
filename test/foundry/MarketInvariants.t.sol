// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IProviderStaking} from "../../contracts/interfaces/IProviderStaking.sol";
import {IJobMarket} from "../../contracts/interfaces/IJobMarket.sol";
import {Job, JobState} from "../../contracts/types/Job.sol";
import {Offer} from "../../contracts/types/Offer.sol";
import {JobMath} from "../../contracts/libraries/JobMath.sol";
import {BlocklistToken} from "../../contracts/test/BlocklistToken.sol";
import {InvariantBase} from "./utils/InvariantBase.sol";
import {GpuMeshFixture} from "./utils/GpuMeshFixture.sol";
import {MarketHandler} from "./handlers/MarketHandler.sol";

/// @notice PROTOCOL.md's eight invariants, checked after every call of random sequences that MarketHandler drives
///         across 3 providers, 3 clients (sponsoring each other's jobs), governance (also the arbiter), time and
///         token blocklists.
/// @dev Both tokens are blocklisting 6-decimal tokens (as USDC), so payouts to blocked accounts get credited and
///      the credit paths are part of every identity. Stake is valued at 1e12 stake units per payment unit.
contract MarketInvariantsTest is InvariantBase, GpuMeshFixture {
    BlocklistToken internal paymentToken;
    BlocklistToken internal stakeToken;
    MarketHandler internal handler;
    bytes4[] internal _selectors;

    function setUp() public {
        paymentToken = new BlocklistToken();
        stakeToken = new BlocklistToken();
        deployGpuMesh(IERC20(address(paymentToken)), IERC20(address(stakeToken)), defaultParameters());
        // Deployed from its artifact rather than with `new`: with via_ir, solc's bytecode for the handler depends on
        // which files are compiled with it, so after an incremental build the copy embedded in this test can differ
        // from the cached artifact, and Foundry would then fail to identify the fuzz target.
        bytes32[2] memory modelIds = [h100, l40s];
        string[2] memory modelNames = [H100, L40S];
        handler = MarketHandler(
            vm.deployCode(
                "MarketHandler.sol:MarketHandler",
                abi.encode(market, staking, catalog, paymentToken, stakeToken, governance, modelIds, modelNames)
            )
        );
        vm.label(address(handler), "handler");
        // Every provider starts with one offer and just the minimum stake, so collateral at creation runs tight (jobs
        // beyond it are probed to revert, then the provider tops up).
        for (uint256 i; i < 3; ++i) {
            handler.stake(i, MIN_STAKE);
            handler.createOffer(i, i, 8, 2e6, 1 minutes, 1 days, 30 days);
        }

        // Foundry picks uniformly among the listed selectors, so a selector listed n times is n times as likely:
        // the job rules, which need several steps in a row to reach late states, get the most weight.
        _weigh(MarketHandler.advanceJob.selector, 10);
        _weigh(MarketHandler.createJob.selector, 2);
        _weigh(MarketHandler.acceptJob.selector, 2);
        _weigh(MarketHandler.declineJob.selector, 1);
        _weigh(MarketHandler.cancelJob.selector, 1);
        _weigh(MarketHandler.expireJob.selector, 1);
        _weigh(MarketHandler.heartbeat.selector, 1);
        _weigh(MarketHandler.claim.selector, 2);
        _weigh(MarketHandler.claimWithReceipt.selector, 2);
        _weigh(MarketHandler.extendJob.selector, 1);
        _weigh(MarketHandler.completeJob.selector, 1);
        _weigh(MarketHandler.endJobEarly.selector, 1);
        _weigh(MarketHandler.reportDark.selector, 1);
        _weigh(MarketHandler.reclaimAbandoned.selector, 1);
        _weigh(MarketHandler.disputeJob.selector, 1);
        _weigh(MarketHandler.settleJob.selector, 1);
        _weigh(MarketHandler.resolveDispute.selector, 1);
        _weigh(MarketHandler.finalizeStaleDispute.selector, 1);
        _weigh(MarketHandler.warp.selector, 2);
        _weigh(MarketHandler.stake.selector, 1);
        _weigh(MarketHandler.requestUnstake.selector, 1);
        _weigh(MarketHandler.withdrawStake.selector, 1);
        _weigh(MarketHandler.withdrawCredit.selector, 1);
        _weigh(MarketHandler.createOffer.selector, 1);
        _weigh(MarketHandler.updateOffer.selector, 1);
        _weigh(MarketHandler.closeOffer.selector, 1);
        _weigh(MarketHandler.withdrawBalance.selector, 1);
        _weigh(MarketHandler.withdrawFees.selector, 1);
        _weigh(MarketHandler.setBlocked.selector, 2);
        _weigh(MarketHandler.governanceAct.selector, 3);
        _weigh(MarketHandler.tryForbiddenCalls.selector, 2);
        targetContract(address(handler));
        targetSelector(FuzzSelector({addr: address(handler), selectors: _selectors}));
    }

    /// @notice A scripted walk through every handler action, so that a precondition written wrong (an action that
    ///         silently never reaches the contracts) fails here instead of thinning the random sequences unnoticed.
    /// @dev Seeds as the handler reads them: account seeds are providers 0-2, clients 3-5, treasuries 6-7 (setBlocked:
    ///      even seeds 2i are client i); a
    ///      createJob client seed picks the client (seed % 3) and the entry point ((seed >> 8) % 8: 0 sponsored
    ///      createJobFor, 1 sponsored permit, 2 own permit, 3 and up createJob); offer seeds 0-2 pick the setup's offers.
    function test_handlerReachesEveryRule() public {
        uint256 client0 = 3;
        uint256 blockClient0 = 0; // setBlocked's seed for client 0
        uint256 own = 3 << 8;
        // Job 1, sponsored: Created -> Running -> claim, receipt, heartbeat, extension -> Completed -> Settled
        handler.createJob(0, 0, 2, 3 hours, 0);
        handler.acceptJob(0);
        handler.warp(3601);
        handler.claim(0);
        handler.claimWithReceipt(0, 1);
        handler.heartbeat(0, 1);
        handler.extendJob(0, 1 hours);
        handler.completeJob(0);
        handler.warp(2 days);
        handler.settleJob(0, 0);
        // Job 2, sponsored by permit: early end -> Disputed (bonded) -> Resolved fully for the provider, max slash
        handler.createJob(1 + (1 << 8), 1, 1, 3 hours, 0);
        handler.acceptJob(1);
        handler.warp(1801);
        handler.endJobEarly(1);
        handler.disputeJob(1);
        handler.resolveDispute(1, 1, 1);
        // Job 3: Created -> Cancelled, refund credited to a blocked client and withdrawn to its sink
        handler.setBlocked(blockClient0, false, true);
        handler.createJob(own, 2, 1, 3 hours, 0);
        handler.cancelJob(2);
        handler.withdrawBalance(client0);
        handler.setBlocked(blockClient0, false, false);
        // Job 4: Created -> Expired, slash credited to the client blocked on the stake token
        handler.setBlocked(blockClient0, true, true);
        handler.createJob(own, 0, 1, 3 hours, 0);
        handler.warp(3601);
        handler.expireJob(3, 0);
        handler.withdrawCredit(client0);
        handler.setBlocked(blockClient0, true, false);
        // Job 5: Created -> Declined
        handler.createJob(1 + (2 << 8), 1, 1, 3 hours, 0);
        handler.declineJob(4, "busy");
        // Job 6: Running -> Reclaimed after end + grace
        handler.createJob(2 + own, 1, 1, 3 hours, 0);
        handler.acceptJob(5);
        handler.warp(2 days);
        handler.reclaimAbandoned(5);
        // Job 7: the whole offer for a day needs more collateral than the minimum stake (probed, then topped up);
        // Running -> Dark once the provider stays silent past the liveness timeout
        handler.createJob(1 + own, 0, 8, 1 days, 0);
        handler.acceptJob(6);
        handler.reportDark(6, 0, 1);
        // Job 8: claimed, disputed while running; forbidden rulings and forged receipts; Resolved by finalizing
        handler.createJob(2 + own, 2, 4, 3 hours, 0);
        handler.acceptJob(7);
        handler.warp(3601);
        handler.claim(7);
        handler.disputeJob(7);
        handler.tryForbiddenCalls(7, 0, 4);
        handler.tryForbiddenCalls(7, 0, 6);
        handler.warp(8 days);
        handler.tryForbiddenCalls(7, 0, 5);
        handler.finalizeStaleDispute(7, 0, 0);
        // A fresh job followed by advanceJob
        handler.createJob(own, 1, 1, 3 hours, 0);
        handler.advanceJob(8, 2, 0);
        handler.advanceJob(8, 10, 0);
        // Stake, offers, fees, governance
        handler.stake(0, 1e18);
        handler.requestUnstake(0, 1e18);
        handler.withdrawStake(0, 0);
        handler.createOffer(1, 1, 4, 1e6, 1 hours, 2 days, 10 days);
        handler.updateOffer(0, 9, 3e6, 5 days);
        handler.closeOffer(3);
        handler.withdrawFees(0);
        for (uint256 parameter; parameter < 11; ++parameter) {
            handler.governanceAct(0, parameter + (2 << 8) + (parameter << 16));
        }
        for (uint256 action = 4; action < 11; ++action) {
            handler.governanceAct(action, 7 << 8);
        }
        for (uint256 amountRule; amountRule < 9; ++amountRule) {
            handler.tryForbiddenCalls(amountRule, amountRule, amountRule);
        }
        // A broken rule names itself here; an action that silently never ran, below.
        invariant_protocol();

        string[28] memory actions = [
            "stake", "requestUnstake", "withdrawStake", "withdrawCredit", "createOffer", "updateOffer", "closeOffer",
            "createJob", "createJobUnbacked", "acceptJob", "declineJob", "cancelJob", "expireJob", "heartbeat",
            "claim", "claimWithReceipt", "extendJob", "completeJob", "endJobEarly", "reportDark", "reclaimAbandoned",
            "disputeJob", "settleJob", "resolveDispute", "finalizeStaleDispute", "withdrawBalance", "withdrawFees",
            "tryRulingBeyondBounds"
        ];
        for (uint256 i; i < actions.length; ++i) {
            assertGe(handler.successes(actions[i]), 1, string.concat("handler never reached ", actions[i]));
        }
        assertGe(handler.successes("tryForgedReceipts"), 1, "forged receipts not tried");
        assertGe(handler.successes("governanceAct"), 18, "governance actions reverted");
        assertGe(handler.successes("tryForbiddenCalls"), 12, "forbidden calls not tried");
    }

    /// @notice All eight, after every handler call. One invariant function rather than eight: Foundry runs one
    ///         campaign per invariant function, and with a fixed seed eight campaigns would replay the same sequences
    ///         eight times. A failure names its invariant in the revert message ("inv 3: locked > staked").
    function invariant_protocol() public view {
        // What the handler saw in the call itself first: it names the rule that broke (a forbidden call that went
        // through, a payout off the rules); then the totals.
        for (uint256 i; i <= 8; ++i) {
            _assertNoViolation(i);
        }
        _checkPaymentTokenBacksEscrowBondsCreditsAndFees();
        _checkStakeTokenBacksStakeAndCredits();
        _checkCollateralAndCapacity();
        _checkJobsPaidOnceAndExactly();
        _checkOnlyDrawnTransitions();
        _checkGovernanceBounded();
        _checkClaimsWithinReceiptsAndCollateral();
        _checkSlashesOnlyFromReservedCollateral();
    }

    /// @notice 1. Payment token held by the market == unpaid escrow of open jobs + dispute bonds held + credited
    ///         balances + accrued fees; the bonds held are those of the open disputes.
    function _checkPaymentTokenBacksEscrowBondsCreditsAndFees() internal view {
        uint256 owed = market.feesAccrued() + market.disputeBondsHeld();
        uint256 bonds;
        uint256 jobCount = market.nextJobId() - 1;
        for (uint256 jobId = 1; jobId <= jobCount; ++jobId) {
            Job memory job = market.getJob(jobId);
            if (!_isOpen(job.state)) continue;
            (, uint256 escrow,) = market.jobAmounts(jobId);
            owed += escrow - job.claimed;
            if (job.state == JobState.Disputed) {
                bonds += handler.ghostJob(jobId).bond;
                assertEq(market.getDispute(jobId).bond, handler.ghostJob(jobId).bond, "inv 1: dispute bond != bond pulled");
            }
        }
        address[8] memory accounts = _accounts();
        for (uint256 i; i < accounts.length; ++i) {
            owed += market.balanceOf(accounts[i]);
        }
        assertEq(market.disputeBondsHeld(), bonds, "inv 1: bonds held != bonds of open disputes");
        assertEq(
            paymentToken.balanceOf(address(market)), owed, "inv 1: market balance != escrow + bonds + credits + fees"
        );
    }

    /// @notice 2. Stake token held by staking == staked + unbonding of every provider + credited slash payouts;
    ///         unbonding == the requests not yet withdrawn.
    function _checkStakeTokenBacksStakeAndCredits() internal view {
        uint256 owed;
        address[3] memory providers = handler.providers();
        for (uint256 i; i < 3; ++i) {
            IProviderStaking.ProviderAccount memory account = staking.account(providers[i]);
            owed += account.staked + account.unbonding;
            assertEq(account.unbonding, handler.ghostUnbonding(providers[i]), "inv 2: unbonding != pending requests");
        }
        address[8] memory accounts = _accounts();
        for (uint256 i; i < accounts.length; ++i) {
            owed += staking.credit(accounts[i]);
        }
        assertEq(stakeToken.balanceOf(address(staking)), owed, "inv 2: staking balance != stake + unbonding + credits");
    }

    /// @notice 3. locked <= staked and locked == collateral of the provider's open jobs (Created, Running, Completed,
    ///         Disputed); gpusLeased <= gpus and gpusLeased == GPUs of the offer's Created and Running jobs.
    function _checkCollateralAndCapacity() internal view {
        address[3] memory providers = handler.providers();
        uint256[3] memory lockedByJobs;
        uint256[] memory offerIds = handler.offerIds();
        uint256[] memory leasedByJobs = new uint256[](market.nextOfferId());
        uint256 jobCount = market.nextJobId() - 1;
        for (uint256 jobId = 1; jobId <= jobCount; ++jobId) {
            Job memory job = market.getJob(jobId);
            if (job.state == JobState.Created || job.state == JobState.Running) leasedByJobs[job.offerId] += job.gpus;
            if (!_isOpen(job.state)) continue;
            MarketHandler.GhostJob memory g = handler.ghostJob(jobId);
            (uint256 cost,, uint256 collateral) = market.jobAmounts(jobId);
            assertEq(
                collateral,
                JobMath.bpsUp(cost, g.terms.collateralBps) * STAKE_PER_PAYMENT_UNIT,
                "inv 3: collateral != cost x the job's collateralBps"
            );
            for (uint256 i; i < 3; ++i) {
                if (providers[i] == g.provider) lockedByJobs[i] += collateral;
            }
        }
        for (uint256 i; i < 3; ++i) {
            IProviderStaking.ProviderAccount memory account = staking.account(providers[i]);
            assertLe(account.locked, account.staked, "inv 3: locked > staked");
            assertEq(account.locked, lockedByJobs[i], "inv 3: locked != collateral of open jobs");
        }
        for (uint256 i; i < offerIds.length; ++i) {
            Offer memory offer = market.getOffer(offerIds[i]);
            assertLe(offer.gpusLeased, offer.gpus, "inv 3: gpusLeased > gpus");
            assertEq(offer.gpusLeased, leasedByJobs[offerIds[i]], "inv 3: gpusLeased != GPUs of live jobs");
        }
    }

    /// @notice 4. Every job is paid out at most once and, at its end, refund + pay + fee + bond == everything pulled
    ///         for it (escrow with extensions, and the bond); while open, only its streamed pay has left, and
    ///         claimed <= earned <= cost < escrow. Escrow is cost + fee on cost at the job's own fee rate.
    function _checkJobsPaidOnceAndExactly() internal view {
        uint256 jobCount = market.nextJobId() - 1;
        for (uint256 jobId = 1; jobId <= jobCount; ++jobId) {
            Job memory job = market.getJob(jobId);
            MarketHandler.GhostJob memory g = handler.ghostJob(jobId);
            (uint256 cost, uint256 escrow,) = market.jobAmounts(jobId);
            assertEq(cost, JobMath.costUp(job.pricePerGpuHour, job.gpus, job.duration), "inv 4: cost not rounded up");
            assertEq(escrow, cost + JobMath.bpsUp(cost, g.terms.protocolFeeBps), "inv 4: escrow != cost + fee");
            assertEq(g.pulled, escrow + g.bond, "inv 4: pulled != escrow + bond");
            if (_isOpen(job.state)) {
                assertEq(g.paidOut, job.claimed, "inv 4: open job paid other than its claims");
                assertEq(g.finalPayouts, 0, "inv 4: open job has a final payout");
                assertLe(job.claimed, market.earned(jobId), "inv 4: claimed > earned");
                assertLe(market.earned(jobId), cost, "inv 4: earned > cost");
            } else {
                assertEq(g.paidOut, g.pulled, "inv 4: refund + pay + fee + bond != everything pulled");
                assertEq(g.finalPayouts, 1, "inv 4: job paid out more than once");
            }
        }
    }

    /// @notice 5. Only the drawn transitions happen, each by its rule; terminal states stay terminal.
    function _checkOnlyDrawnTransitions() internal view {
        uint256 jobCount = market.nextJobId() - 1;
        for (uint256 jobId = 1; jobId <= jobCount; ++jobId) {
            assertTrue(market.getJob(jobId).state == handler.ghostState(jobId), "inv 5: state moved outside a rule");
        }
    }

    /// @notice 6. Governance changes no balance, stake, job or job terms; every parameter snapshot stays inside the
    ///         hard bounds; each job follows the snapshot in force at its creation; governance and the arbiter never
    ///         hold funds (forbidden rulings and market-only calls are probed by the handler).
    function _checkGovernanceBounded() internal view {
        uint256 termsCount = market.currentTermsId();
        for (uint256 termsId = 1; termsId <= termsCount; ++termsId) {
            uint256[11] memory values = _values(market.terms(termsId));
            for (uint256 i; i < values.length; ++i) {
                (uint256 min, uint256 max) = market.parameterBounds(IJobMarket.Parameter(i));
                assertTrue(values[i] >= min && values[i] <= max, "inv 6: parameter outside its bounds");
            }
        }
        assertEq(
            keccak256(abi.encode(market.parameters())),
            keccak256(abi.encode(handler.ghostParameters())),
            "inv 6: parameters != what governance set"
        );
        uint256 jobCount = market.nextJobId() - 1;
        for (uint256 jobId = 1; jobId <= jobCount; ++jobId) {
            assertEq(
                keccak256(abi.encode(market.jobTerms(jobId))),
                keccak256(abi.encode(handler.ghostJob(jobId).terms)),
                "inv 6: a job's terms changed after its creation"
            );
        }
        assertEq(paymentToken.balanceOf(governance) + stakeToken.balanceOf(governance), 0, "inv 6: governance holds funds");
        assertEq(market.balanceOf(governance) + staking.credit(governance), 0, "inv 6: governance credited funds");
        assertEq(staking.market(), address(market), "inv 6: staking market re-bound");
    }

    /// @notice 7. For every job, claimed <= pay for the time the client's receipts cover + the collateral's worth
    ///         (JobLib.claimCap), with the receipted time as the handler's signed receipts cover it.
    function _checkClaimsWithinReceiptsAndCollateral() internal view {
        uint256 jobCount = market.nextJobId() - 1;
        for (uint256 jobId = 1; jobId <= jobCount; ++jobId) {
            Job memory job = market.getJob(jobId);
            MarketHandler.GhostJob memory g = handler.ghostJob(jobId);
            (uint256 cost,,) = market.jobAmounts(jobId);
            assertEq(job.receiptedSeconds, g.receiptedSeconds, "inv 7: receipted time != what the client signed");
            uint256 cap = JobMath.costUp(job.pricePerGpuHour, job.gpus, g.receiptedSeconds)
                + JobMath.bpsUp(cost, g.terms.collateralBps);
            assertLe(job.claimed, cap, "inv 7: claimed > receipted pay + collateral value");
        }
    }

    /// @notice 8. Stake is slashed only for jobs that reserved collateral, never more than they reserved, and a
    ///         provider's stake moves only by its stakes, unstake requests and those slashes.
    function _checkSlashesOnlyFromReservedCollateral() internal view {
        uint256 jobCount = market.nextJobId() - 1;
        for (uint256 jobId = 1; jobId <= jobCount; ++jobId) {
            MarketHandler.GhostJob memory g = handler.ghostJob(jobId);
            assertLe(g.slashed, g.reserved, "inv 8: slashed more than the job's reserved collateral");
        }
        address[3] memory providers = handler.providers();
        for (uint256 i; i < 3; ++i) {
            assertEq(staking.account(providers[i]).staked, handler.ghostStaked(providers[i]), "inv 8: stake moved");
        }
    }

    function _values(IJobMarket.Parameters memory p) internal pure returns (uint256[11] memory) {
        // In IJobMarket.Parameter order.
        return [
            uint256(p.protocolFeeBps),
            p.cancelFeeBps,
            p.collateralBps,
            p.expirySlashBps,
            p.acceptWindow,
            p.disputeWindow,
            p.abandonGrace,
            p.darkSlashBps,
            p.disputeBondBps,
            p.livenessTimeout,
            p.resolveWindow
        ];
    }

    function _weigh(bytes4 selector, uint256 weight) internal {
        for (uint256 i; i < weight; ++i) {
            _selectors.push(selector);
        }
    }

    function _assertNoViolation(uint256 invariantNumber) internal view {
        string memory message = handler.violation(invariantNumber);
        if (bytes(message).length != 0) revert(string.concat("inv ", _toString(invariantNumber), ": ", message));
    }

    function _isOpen(JobState state) internal pure returns (bool) {
        return state == JobState.Created || state == JobState.Running || state == JobState.Completed
            || state == JobState.Disputed;
    }

    function _accounts() internal view returns (address[8] memory accounts) {
        address[3] memory providers = handler.providers();
        address[3] memory clients = handler.clients();
        address[2] memory treasuries = handler.treasuries();
        accounts = [providers[0], providers[1], providers[2], clients[0], clients[1], clients[2], treasuries[0], treasuries[1]];
    }
}

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

/// @notice PROTOCOL.md's six invariants, checked after every call of random sequences that MarketHandler drives
///         across 3 providers, 3 clients, governance (also the arbiter), time and token blocklists.
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
        handler = new MarketHandler(
            market, staking, catalog, paymentToken, stakeToken, governance, [h100, l40s], [H100, L40S]
        );
        vm.label(address(handler), "handler");
        // Every provider starts with one offer and just the minimum stake, so collateral and slashes run tight.
        for (uint256 i; i < 3; ++i) {
            handler.stake(i, MIN_STAKE);
            handler.createOffer(i, i, 8, 2e6, 1 minutes, 1 days, 30 days);
        }

        // Foundry picks uniformly among the listed selectors, so a selector listed n times is n times as likely:
        // the job rules, which need several steps in a row to reach late states, get the most weight.
        _weigh(MarketHandler.advanceJob.selector, 5);
        _weigh(MarketHandler.createJob.selector, 3);
        _weigh(MarketHandler.acceptJob.selector, 2);
        _weigh(MarketHandler.claim.selector, 1);
        _weigh(MarketHandler.completeJob.selector, 1);
        _weigh(MarketHandler.endJobEarly.selector, 1);
        _weigh(MarketHandler.disputeJob.selector, 1);
        _weigh(MarketHandler.settleJob.selector, 1);
        _weigh(MarketHandler.resolveDispute.selector, 1);
        _weigh(MarketHandler.reclaimAbandoned.selector, 1);
        _weigh(MarketHandler.cancelJob.selector, 1);
        _weigh(MarketHandler.expireJob.selector, 1);
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
        _weigh(MarketHandler.governanceAct.selector, 1);
        _weigh(MarketHandler.tryForbiddenCalls.selector, 2);
        targetContract(address(handler));
        targetSelector(FuzzSelector({addr: address(handler), selectors: _selectors}));
    }

    /// @notice A scripted walk through every handler action, so that a precondition written wrong (an action that
    ///         silently never reaches the contracts) fails here instead of thinning the random sequences unnoticed.
    function test_handlerReachesEveryRule() public {
        uint256 client0 = 3; // account seeds: providers 0-2, clients 3-5, treasuries 6-7
        // Created -> Running -> claim -> Completed -> Settled
        handler.createJob(0, 0, 2, 3 hours, 0);
        handler.acceptJob(0);
        handler.warp(3601);
        handler.claim(0);
        handler.completeJob(0);
        handler.warp(2 days);
        handler.settleJob(0, 0);
        // Running -> Completed (early end) -> Disputed -> Resolved with a slash
        handler.createJob(1, 1, 1, 3 hours, 0);
        handler.acceptJob(1);
        handler.warp(1801);
        handler.endJobEarly(1);
        handler.disputeJob(1);
        handler.resolveDispute(1, 5_000, 1);
        // Created -> Cancelled, refund credited to a blocked client and withdrawn to its sink
        handler.setBlocked(client0, false, true);
        handler.createJob(0, 2, 1, 3 hours, 0);
        handler.cancelJob(2);
        handler.withdrawBalance(client0);
        handler.setBlocked(client0, false, false);
        // Created -> Cancelled by expiry, slash credited to the client blocked on the stake token
        handler.setBlocked(client0, true, true);
        handler.createJob(0, 0, 1, 3 hours, 0);
        handler.warp(3601);
        handler.expireJob(3, 0);
        handler.withdrawCredit(client0);
        handler.setBlocked(client0, true, false);
        // Running -> Reclaimed after end + grace
        handler.createJob(2, 1, 1, 3 hours, 0);
        handler.acceptJob(4);
        handler.warp(2 days);
        handler.reclaimAbandoned(4);
        // Running -> Disputed (while running), then advanceJob through a fresh job
        handler.createJob(1, 2, 1, 3 hours, 0);
        handler.acceptJob(5);
        handler.disputeJob(5);
        handler.advanceJob(5, 0, 0);
        // Stake, offers, fees, governance
        handler.stake(0, 1e18);
        handler.requestUnstake(0, 1e18);
        handler.withdrawStake(0);
        handler.createOffer(1, 1, 4, 1e6, 1 hours, 2 days, 10 days);
        handler.updateOffer(0, 9, 3e6, 5 days);
        handler.closeOffer(3);
        handler.withdrawFees(0);
        for (uint256 action; action < 10; ++action) {
            handler.governanceAct(action, 7 << 8);
        }
        for (uint256 jobSeed; jobSeed < 6; ++jobSeed) {
            handler.tryForbiddenCalls(jobSeed, jobSeed, jobSeed);
        }

        string[20] memory actions = [
            "stake", "requestUnstake", "withdrawStake", "withdrawCredit", "createOffer", "updateOffer", "closeOffer",
            "createJob", "acceptJob", "cancelJob", "expireJob", "claim", "completeJob", "endJobEarly", "disputeJob",
            "settleJob", "resolveDispute", "reclaimAbandoned", "withdrawBalance", "withdrawFees"
        ];
        for (uint256 i; i < actions.length; ++i) {
            assertGe(handler.successes(actions[i]), 1, string.concat("handler never reached ", actions[i]));
        }
        assertGe(handler.successes("governanceAct"), 10, "governance actions reverted");
        assertGe(handler.successes("tryForbiddenCalls"), 6, "forbidden calls not tried");
        invariant_protocol();
    }

    /// @notice All six, after every handler call. One invariant function rather than six: Foundry runs one campaign
    ///         per invariant function, and with a fixed seed six campaigns would replay the same sequences six times.
    ///         A failure names its invariant in the revert message ("inv 3: locked > staked").
    function invariant_protocol() public view {
        _checkPaymentTokenBacksEscrowCreditsAndFees();
        _checkStakeTokenBacksStakeAndCredits();
        _checkCollateralAndCapacity();
        _checkJobsPaidOnceAndExactly();
        _checkOnlyDrawnTransitions();
        _checkGovernanceBounded();
    }

    /// @notice 1. Payment token held by the market == unpaid escrow of open jobs + credited balances + accrued fees.
    function _checkPaymentTokenBacksEscrowCreditsAndFees() internal view {
        uint256 owed = market.feesAccrued();
        uint256 jobCount = market.nextJobId() - 1;
        for (uint256 jobId = 1; jobId <= jobCount; ++jobId) {
            Job memory job = market.getJob(jobId);
            if (_isOpen(job.state)) owed += job.escrow - job.claimed;
        }
        address[8] memory accounts = _accounts();
        for (uint256 i; i < accounts.length; ++i) {
            owed += market.balanceOf(accounts[i]);
        }
        assertEq(paymentToken.balanceOf(address(market)), owed, "inv 1: market balance != escrow + credits + fees");
        _assertNoViolation(1);
    }

    /// @notice 2. Stake token held by staking == staked + unbonding of every provider + credited slash payouts.
    function _checkStakeTokenBacksStakeAndCredits() internal view {
        uint256 owed;
        address[3] memory providers = handler.providers();
        for (uint256 i; i < 3; ++i) {
            IProviderStaking.ProviderAccount memory account = staking.account(providers[i]);
            owed += account.staked + account.unbonding;
        }
        address[8] memory accounts = _accounts();
        for (uint256 i; i < accounts.length; ++i) {
            owed += staking.credit(accounts[i]);
        }
        assertEq(stakeToken.balanceOf(address(staking)), owed, "inv 2: staking balance != stake + credits");
        _assertNoViolation(2);
    }

    /// @notice 3. locked <= staked and locked == collateral of the provider's accepted, unsettled jobs;
    ///         gpusLeased <= gpus and gpusLeased == GPUs of the offer's Created and Running jobs.
    function _checkCollateralAndCapacity() internal view {
        address[3] memory providers = handler.providers();
        uint256[3] memory lockedByJobs;
        uint256[] memory offerIds = handler.offerIds();
        uint256[] memory leasedByJobs = new uint256[](market.nextOfferId());
        uint256 jobCount = market.nextJobId() - 1;
        for (uint256 jobId = 1; jobId <= jobCount; ++jobId) {
            Job memory job = market.getJob(jobId);
            if (job.state == JobState.Created || job.state == JobState.Running) leasedByJobs[job.offerId] += job.gpus;
            if (job.state == JobState.Running || job.state == JobState.Completed || job.state == JobState.Disputed) {
                address provider = market.getOffer(job.offerId).provider;
                for (uint256 i; i < 3; ++i) {
                    if (providers[i] == provider) lockedByJobs[i] += handler.collateralOf(job);
                }
            }
        }
        for (uint256 i; i < 3; ++i) {
            IProviderStaking.ProviderAccount memory account = staking.account(providers[i]);
            assertLe(account.locked, account.staked, "inv 3: locked > staked");
            assertEq(account.locked, lockedByJobs[i], "inv 3: locked != collateral of open accepted jobs");
        }
        for (uint256 i; i < offerIds.length; ++i) {
            Offer memory offer = market.getOffer(offerIds[i]);
            assertLe(offer.gpusLeased, offer.gpus, "inv 3: gpusLeased > gpus");
            assertEq(offer.gpusLeased, leasedByJobs[offerIds[i]], "inv 3: gpusLeased != GPUs of live jobs");
        }
        _assertNoViolation(3);
    }

    /// @notice 4. Every job is paid out at most once and, at its end, refund + pay + fee == escrow; while open, only
    ///         its streamed pay has left, and claimed <= earned <= cost < escrow.
    function _checkJobsPaidOnceAndExactly() internal view {
        uint256 escrowTotal;
        uint256 jobCount = market.nextJobId() - 1;
        for (uint256 jobId = 1; jobId <= jobCount; ++jobId) {
            Job memory job = market.getJob(jobId);
            escrowTotal += job.escrow;
            uint256 cost = JobMath.costUp(job.pricePerGpuHour, job.gpus, job.duration);
            assertEq(job.escrow, cost + JobMath.bpsUp(cost, job.protocolFeeBps), "inv 4: escrow != cost + fee");
            if (_isOpen(job.state)) {
                assertEq(handler.ghostJobPaid(jobId), job.claimed, "inv 4: open job paid other than its claims");
                assertEq(handler.ghostJobFinalPayouts(jobId), 0, "inv 4: open job has a final payout");
                assertLe(job.claimed, market.earned(jobId), "inv 4: claimed > earned");
                assertLe(market.earned(jobId), cost, "inv 4: earned > cost");
            } else {
                assertEq(handler.ghostJobPaid(jobId), job.escrow, "inv 4: refund + pay + fee != escrow");
                assertEq(handler.ghostJobFinalPayouts(jobId), 1, "inv 4: job paid out more than once");
            }
        }
        assertEq(handler.ghostEscrowPulled(), escrowTotal, "inv 4: escrow pulled != escrow of all jobs");
        _assertNoViolation(4);
        _assertNoViolation(0);
    }

    /// @notice 5. Only the drawn transitions happen, each by its rule; terminal states stay terminal.
    function _checkOnlyDrawnTransitions() internal view {
        uint256 jobCount = market.nextJobId() - 1;
        for (uint256 jobId = 1; jobId <= jobCount; ++jobId) {
            assertTrue(market.getJob(jobId).state == handler.ghostState(jobId), "inv 5: state moved outside a rule");
        }
        _assertNoViolation(5);
    }

    /// @notice 6. Governance changes no balance, stake or job; parameters stay inside their hard bounds; governance
    ///         and the arbiter never hold funds.
    function _checkGovernanceBounded() internal view {
        IJobMarket.Parameters memory p = market.parameters();
        uint256[7] memory values = [
            uint256(p.protocolFeeBps),
            p.cancelFeeBps,
            p.collateralBps,
            p.expirySlashBps,
            p.acceptWindow,
            p.disputeWindow,
            p.abandonGrace
        ];
        for (uint256 i; i < values.length; ++i) {
            (uint256 min, uint256 max) = market.parameterBounds(IJobMarket.Parameter(i));
            assertTrue(values[i] >= min && values[i] <= max, "inv 6: parameter outside its bounds");
        }
        assertEq(paymentToken.balanceOf(governance) + stakeToken.balanceOf(governance), 0, "inv 6: governance holds funds");
        assertEq(market.balanceOf(governance) + staking.credit(governance), 0, "inv 6: governance credited funds");
        assertEq(staking.market(), address(market), "inv 6: staking market re-bound");
        _assertNoViolation(6);
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

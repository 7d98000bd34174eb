import { expect } from "chai";
import { KEYS, json, runCli, show, startNode, type LocalNode } from "./helpers";

const PROVIDER = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8";
const CLIENT = "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC";

/** The commands of protocol v2's paths, each against a real local chain: liveness, declines, receipts, extensions, dark reports, bonded disputes and their endings. */
describe("gpumesh: protocol v2 commands", function () {
  let node: LocalNode;
  let offer: string;
  const asArbiter = (args: string[]) => runCli(node, args, { GPUMESH_PRIVATE_KEY: KEYS[0] });
  const asProvider = (args: string[]) => runCli(node, args, { GPUMESH_PRIVATE_KEY: KEYS[1] });
  const asClient = (args: string[]) => runCli(node, args, { GPUMESH_PRIVATE_KEY: KEYS[2] });
  /** Anyone: an account with gas money and nothing else. */
  const asStranger = (args: string[]) => runCli(node, args, { GPUMESH_PRIVATE_KEY: KEYS[3] });
  const ok = async (result: Promise<Awaited<ReturnType<typeof runCli>>>) => {
    const done = await result;
    expect(done.code, show(done)).to.equal(0);
    return done;
  };
  const createJob = async (duration = "2h") =>
    json(await ok(asClient(["client", "create-job", "--offer", offer, "--gpus", "1", "--duration", duration, "--max-price", "2.50", "--yes", "--json"])))
      .jobId as string;
  const runningJob = async () => {
    const jobId = await createJob();
    await ok(asProvider(["provider", "accept", jobId]));
    return jobId;
  };

  before(async function () {
    node = await startNode();
    for (const args of [
      ["wallet", "faucet", "--stake", "2000"],
      ["provider", "register", "--metadata", "https://provider.example"],
      ["provider", "stake", "1000"],
    ]) {
      await ok(asProvider(args));
    }
    offer = json(await ok(asProvider(["provider", "offer", "create", "--model", "h100", "--gpus", "8", "--price", "2.50", "--region", "eu-west", "--json"])))
      .offerId as string;
    await node.mintPayment(CLIENT, 10_000_000_000n);
  });

  after(async function () {
    await node?.stop();
  });

  it("refuses a job the provider's stake cannot back, in the staking contract's words, and an escrow above --max-escrow", async function () {
    // 8 GPUs for 7 days cost 3360 USDC: half of it, 1680 MESH, would be locked from 1000 MESH of stake.
    const unbacked = await asClient(["client", "create-job", "--offer", offer, "--gpus", "8", "--duration", "7d", "--max-price", "2.50", "--yes"]);
    expect(unbacked.code, show(unbacked)).to.equal(1);
    expect(unbacked.stderr).to.contain(`provider ${PROVIDER} cannot back this job: it needs 1680 MESH of collateral but has only 1000 MESH of unlocked stake`);

    const capped = await asClient(["client", "create-job", "--offer", offer, "--gpus", "1", "--duration", "2h", "--max-price", "2.50", "--max-escrow", "5", "--yes"]);
    expect(capped.code, show(capped)).to.equal(1);
    expect(capped.stderr).to.contain("the escrow would be 5.125 USDC, above your maximum 5.00 USDC");
  });

  it("provider heartbeat: a sign of life for all running jobs, shown in status", async function () {
    const beat = json(await ok(asProvider(["provider", "heartbeat", "--json"])));
    expect(beat).to.include({ provider: PROVIDER, nextDueAt: null });
    expect(beat.at).to.be.a("number");
    const status = await ok(asProvider(["provider", "status"]));
    expect(status.stdout).to.match(/alive\s+last sign of life \d{4}-\d{2}-\d{2}T/);
    expect(json(await ok(asProvider(["provider", "status", "--json"]))).lastHeartbeatAt).to.equal(beat.at);
  });

  it("provider decline: full refund to the payer, no slash", async function () {
    const jobId = await createJob();
    const declined = await ok(asProvider(["provider", "decline", jobId, "--reason", "GPUs under maintenance"]));
    expect(declined.stdout).to.contain("declined: refund 5.125 USDC to the payer; collateral released").and.to.contain(`job #${jobId} is Declined`);
    const again = await asProvider(["provider", "decline", jobId]);
    expect(again.code).to.equal(1);
    expect(again.stderr).to.contain(`job #${jobId} is Declined, which does not allow this`);
  });

  let receipted: string;
  it("client receipt + provider claim --receipt: receipted pay is claimed and final", async function () {
    receipted = await runningJob();
    await node.advance(1800);
    const signed = json(await ok(asClient(["client", "receipt", receipted, "--json"])));
    expect(signed.signature).to.match(/^0x[0-9a-f]{130}$/);
    expect(signed.digest).to.match(/^0x[0-9a-f]{64}$/);
    const human = await ok(asClient(["client", "receipt", receipted, "--until", signed.servedUntil]));
    expect(human.stdout).to.contain(`usage receipt for job #${receipted}`).and.to.contain(`gpumesh provider claim ${receipted} --receipt 0x`);

    const notClient = await asProvider(["client", "receipt", receipted]);
    expect(notClient.code).to.equal(1);
    expect(notClient.stderr).to.contain(`only the client of job #${receipted} can do this, not ${PROVIDER}`);
    const forged = await asProvider(["provider", "claim", receipted, "--receipt", signed.signature, "--served-until", String(Number(signed.servedUntil) - 60)]);
    expect(forged.code).to.equal(1);
    expect(forged.stderr).to.contain(`the usage receipt for job #${receipted} is not signed by its client ${CLIENT}`);
    const halfFlag = await asProvider(["provider", "claim", receipted, "--receipt", signed.signature]);
    expect(halfFlag.code).to.equal(2);
    expect(halfFlag.stderr).to.contain("--served-until is required");

    const claimed = json(await ok(asProvider(["provider", "claim", receipted, "--receipt", signed.signature, "--served-until", signed.servedUntil, "--json"])));
    expect(claimed.receiptedUntil).to.equal(Number(signed.servedUntil));
    expect(BigInt(claimed.amount) >= 1_250_000n).to.equal(true);
    const status = json(await ok(asClient(["client", "status", receipted, "--json"])));
    expect(status.receiptedSeconds).to.be.within(1800, 1810);
  });

  it("client extend: more time at the job's terms, paid with a permit in one transaction", async function () {
    const extended = await ok(asClient(["client", "extend", receipted, "--hours", "1"]));
    expect(extended.stdout).to.contain(`job #${receipted}: 2h + 1h = 3h; pays 2.5625 USDC more into escrow (at most 2.5625 USDC); the provider locks 1.25 MESH more`);
    expect(extended.stdout).to.match(/extend job with permit: tx 0x[0-9a-f]{64}/).and.to.contain("escrow 7.6875 USDC in total");
    const status = json(await ok(asClient(["client", "status", receipted, "--json"])));
    expect(status).to.include({ duration: 3 * 3600, escrow: "7687500", collateral: "3750000000000000000" });

    const notPayer = await asProvider(["client", "extend", receipted, "--hours", "1"]);
    expect(notPayer.code).to.equal(1);
    expect(notPayer.stderr).to.contain(`only the payer of job #${receipted} (who funded it) can do this, not ${PROVIDER}`);
    const badHours = await asClient(["client", "extend", receipted, "--hours", "two"]);
    expect(badHours.code).to.equal(2);
    expect(badHours.stderr).to.contain('--hours: "two" is not a number of hours');
  });

  it("client report-dark: anyone ends a job whose provider went silent; paid to its last sign of life", async function () {
    const early = await asStranger(["client", "report-dark", receipted]);
    expect(early.code).to.equal(1);
    expect(early.stderr).to.contain(`the provider of job #${receipted} is not dark: its last sign of life was at`);
    await node.advance(1000);
    const status = await ok(asClient(["client", "status", receipted]));
    expect(status.stdout).to.contain("anyone can `report-dark` it");
    const dark = await ok(asStranger(["client", "report-dark", receipted, "--json"]));
    const result = json(dark);
    expect(result.state).to.equal("Dark");
    expect(BigInt(result.slashed) > 0n, "SLA credit").to.equal(true);
    expect(BigInt(result.refund) > 0n).to.equal(true);
    const human = await ok(asClient(["client", "status", receipted]));
    expect(human.stdout).to.contain(`job #${receipted}  Dark`);
  });

  it("arbiter resolve: splits the disputed pay, slashes, and returns the client's bond", async function () {
    const jobId = await runningJob();
    await node.advance(1800);
    const disputed = await ok(asClient(["client", "dispute", jobId, "--reason", "no output", "--no-permit"]));
    expect(disputed.stdout).to.contain("bond 0.25 USDC").and.to.contain("approve USDC: tx").and.to.contain("bond 0.25 USDC held");
    const status = await ok(asClient(["client", "status", jobId]));
    expect(status.stdout).to.contain("bond       0.25 USDC posted by the client").and.to.contain("waiting for the arbiter's resolution (until");

    const stranger = await asStranger(["arbiter", "resolve", jobId, "--share-bps", "5000"]);
    expect(stranger.code).to.equal(1);
    expect(stranger.stderr).to.contain("does not hold ARBITER_ROLE");
    const badShare = await asArbiter(["arbiter", "resolve", jobId, "--share-bps", "20000"]);
    expect(badShare.code).to.equal(2);
    expect(badShare.stderr).to.contain("--share-bps: 20000 is out of range (0..10000)");
    const tooMuch = await asArbiter(["arbiter", "resolve", jobId, "--share-bps", "0", "--slash", "100"]);
    expect(tooMuch.code).to.equal(1);
    expect(tooMuch.stderr).to.contain("slash 100 MESH is more than the 2.5 MESH of the job's collateral left");

    const resolved = await ok(asArbiter(["arbiter", "resolve", jobId, "--share-bps", "5000", "--slash", "0.5"]));
    expect(resolved.stdout).to.contain("resolved: provider share 50%").and.to.contain("slashed 0.5 MESH to the client; bond to the client");
    expect(resolved.stdout).to.contain(`job #${jobId} is Resolved`);
  });

  it("arbiter finalize: after the resolve window anyone ends a stale dispute, no fault", async function () {
    const jobId = await runningJob();
    await node.advance(600);
    await ok(asClient(["client", "dispute", jobId]));
    const early = await asStranger(["arbiter", "finalize", jobId]);
    expect(early.code).to.equal(1);
    expect(early.stderr).to.contain(`the arbiter can resolve the dispute of job #${jobId} until`).and.to.contain("it can be finalized only after that");
    await node.advance(7 * 24 * 3600 + 1);
    const late = await asArbiter(["arbiter", "resolve", jobId, "--share-bps", "10000"]);
    expect(late.code).to.equal(1);
    expect(late.stderr).to.contain(`the arbiter could resolve the dispute of job #${jobId} only until`);
    const finalized = await ok(asStranger(["arbiter", "finalize", jobId]));
    expect(finalized.stdout).to.contain("finalized: provider earned").and.to.contain("bond back to the client").and.to.contain(`job #${jobId} is Resolved`);
  });
});

import { expect } from "chai";
import { KEYS, TEST_MNEMONIC, json, runCli, show, startNode, type LocalNode } from "./helpers";

const CLIENT = "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC";
const BROKE = "0x90F79bf6EB2c4f870365E785982E1f101E93b906";

describe("gpumesh client: a client's whole life", function () {
  let node: LocalNode;
  let h100: string;
  let a100: string;
  const asProvider = (args: string[]) => runCli(node, args, { GPUMESH_PRIVATE_KEY: KEYS[1] });
  const asClient = (args: string[]) => runCli(node, args, { GPUMESH_PRIVATE_KEY: KEYS[2] });
  /** The same client through the mnemonic path. */
  const asClientMnemonic = (args: string[]) => runCli(node, [...args, "--account-index", "2"], { GPUMESH_MNEMONIC: TEST_MNEMONIC });
  const createJob = async (offer: string, extra: string[] = []) => {
    const result = await asClient(["client", "create-job", "--offer", offer, "--gpus", "1", "--duration", "2h", "--max-price", "2.50", "--yes", "--json", ...extra]);
    expect(result.code, show(result)).to.equal(0);
    return json(result).jobId as string;
  };

  before(async function () {
    node = await startNode();
    for (const args of [
      ["wallet", "faucet", "--stake", "2000"],
      ["provider", "register", "--metadata", "https://provider.example"],
      ["provider", "stake", "1000"],
    ]) {
      const result = await asProvider(args);
      expect(result.code, show(result)).to.equal(0);
    }
    const offer = async (args: string[]) => {
      const result = await asProvider(["provider", "offer", "create", ...args, "--json"]);
      expect(result.code, show(result)).to.equal(0);
      return json(result).offerId as string;
    };
    h100 = await offer(["--model", "H100-SXM-80GB", "--gpus", "8", "--price", "2.50", "--region", "eu-west"]);
    a100 = await offer(["--model", "a100", "--gpus", "4", "--price", "1.20", "--region", "us-east", "--max-duration", "24h"]);
  });

  after(async function () {
    await node?.stop();
  });

  it("finds offers on-chain when the API is not reachable", async function () {
    const all = await asClient(["client", "offers"]);
    expect(all.code, show(all)).to.equal(0);
    expect(all.stderr).to.contain("cannot reach the GraphQL API").and.to.contain("reading offers from the chain");
    expect(all.stdout).to.contain("H100-SXM-80GB").and.to.contain("A100-SXM-80GB").and.to.contain("2 offers (from the chain)");
    expect(all.stdout.indexOf("A100-SXM-80GB")).to.be.lessThan(all.stdout.indexOf("H100-SXM-80GB"));

    const cheap = await asClient(["client", "offers", "--model", "h100", "--max-price", "2.40"]);
    expect(cheap.stdout).to.contain("0 offers");
    const inRegion = json(await asClient(["client", "offers", "--region", "us-east", "--json"]));
    expect(inRegion.source).to.equal("chain");
    expect(inRegion.offers.map((o: { id: string }) => o.id)).to.deep.equal([a100]);
    const big = json(await asClient(["client", "offers", "--gpus", "6", "--json"]));
    expect(big.offers.map((o: { id: string }) => o.id)).to.deep.equal([h100]);
    const long = json(await asClient(["client", "offers", "--duration", "3d", "--json", "--chain"]));
    expect(long.offers.map((o: { id: string }) => o.id)).to.deep.equal([h100]);
  });

  it("refuses jobs it cannot create, in plain words", async function () {
    const job = (offer: string, extra: string[]) =>
      asClient(["client", "create-job", "--offer", offer, "--gpus", "1", "--duration", "2h", "--max-price", "2.50", "--yes", ...extra]);
    const unknown = await job("99", []);
    expect(unknown.code).to.equal(1);
    expect(unknown.stderr).to.contain("offer #99 does not exist");

    const aboveMax = await asClient(["client", "create-job", "--offer", h100, "--gpus", "1", "--duration", "2h", "--max-price", "2.40", "--yes"]);
    expect(aboveMax.code).to.equal(1);
    expect(aboveMax.stderr).to.contain("price 2.50 USDC is above your maximum 2.40 USDC");

    const broke = await runCli(node, ["client", "create-job", "--offer", h100, "--gpus", "1", "--duration", "2h", "--max-price", "2.50", "--yes"], {
      GPUMESH_PRIVATE_KEY: KEYS[3],
    });
    expect(broke.code).to.equal(1);
    expect(broke.stderr).to.contain(`balance 0.00 USDC of ${BROKE} is below the 5.125 USDC needed`);

    const short = await job(h100, ["--duration", "30m"]);
    expect(short.code, show(short)).to.equal(1);
    expect(short.stderr).to.contain("duration 30m is outside the offer's range 1h .. 7d");
    const tooMany = await asClient(["client", "create-job", "--offer", a100, "--gpus", "5", "--duration", "1h", "--max-price", "2", "--yes"]);
    expect(tooMany.stderr).to.contain("requested 5 GPUs but the offer has only 4 available");
    const own = await asProvider(["client", "create-job", "--offer", h100, "--gpus", "1", "--duration", "1h", "--max-price", "3", "--yes"]);
    expect(own.code).to.equal(1);
    expect(own.stderr).to.contain("cannot rent its own offer");
  });

  it("rejects bad flags with exit code 2 and names the flag", async function () {
    const base = ["client", "create-job", "--offer", "1", "--gpus", "1", "--duration", "2h", "--max-price", "2.50"];
    const cases: Array<[string[], string]> = [
      [[...base, "--colour", "red"], "unknown option --colour"],
      [["client", "create-job", "--offer", "1", "--gpus", "two", "--duration", "2h", "--max-price", "2.50"], '--gpus: "two" is not a whole number'],
      [["client", "create-job", "--offer", "1", "--gpus", "1", "--duration", "2h", "--max-price", "2.1234567"], '--max-price: "2.1234567" has more than 6 decimals'],
      [["client", "create-job", "--offer", "1", "--gpus", "1", "--duration", "2 hours", "--max-price", "2"], '--duration: "2 hours" is not a duration'],
      [["client", "create-job", "--gpus", "1", "--duration", "2h", "--max-price", "2"], "--offer is required"],
      [["client", "create-job", "--offer", "1", "--gpus", "1", "--duration", "2h", "--max-price"], "option --max-price needs a value"],
      [[...base, "--pk", KEYS[2]], "set GPUMESH_PRIVATE_KEY in the environment instead"],
      [["client", "status", "1", "2"], 'unexpected argument "2"'],
      [["client", "offers", "--max-price", "-1"], "--max-price"],
    ];
    for (const [args, message] of cases) {
      const result = await asClient(args);
      expect(result.code, show(result)).to.equal(2);
      expect(result.stderr, show(result)).to.contain(message);
      expect(result.stderr).not.to.contain(KEYS[2]);
    }
  });

  it("creates a job with a permit, shows it, and cancels it", async function () {
    await node.mintPayment(CLIENT, 1_000_000_000n);
    const human = await asClient(["client", "create-job", "--offer", h100, "--gpus", "1", "--duration", "2h", "--max-price", "2.50", "--spec", "llama fine-tune", "--yes"]);
    expect(human.code, show(human)).to.equal(0);
    expect(human.stdout).to.contain("cost 5.00 USDC + fee 0.125 USDC = 5.125 USDC held in escrow");
    expect(human.stdout).to.contain("the provider locks 2.5 MESH of its stake as collateral for the job");
    expect(human.stdout).to.match(/create job with permit: tx 0x[0-9a-f]{64}/);
    const jobId = /job #(\d+) created/.exec(human.stdout)![1]!;

    const status = await asClient(["client", "status", jobId]);
    expect(status.code, show(status)).to.equal(0);
    expect(status.stdout).to.contain(`job #${jobId}  Created`).and.to.contain("accept by");
    const statusJson = json(await asClient(["client", "status", jobId, "--json"]));
    expect(statusJson).to.include({ state: "Created", escrow: "5125000", cost: "5000000", collateral: "2500000000000000000", gpus: 1, duration: 7200 });
    expect(statusJson.payer).to.equal(CLIENT);
    expect(statusJson.terms).to.include({ protocolFeeBps: 250, disputeBondBps: 500, livenessTimeout: 900 });

    const cancelled = await asClient(["client", "cancel", jobId]);
    expect(cancelled.code, show(cancelled)).to.equal(0);
    expect(cancelled.stdout).to.contain("cancelled: refund 5.025 USDC, cancellation fee 0.10 USDC").and.to.contain(`job #${jobId} is Cancelled`);
    const again = await asClient(["client", "cancel", jobId]);
    expect(again.code).to.equal(1);
    expect(again.stderr).to.contain(`job #${jobId} is Cancelled, which does not allow this`);
  });

  it("pays with approve, ends a job early and disputes it", async function () {
    const created = await asClientMnemonic(["client", "create-job", "--offer", h100, "--gpus", "1", "--duration", "2h", "--max-price", "2.50", "--yes", "--no-permit", "--json"]);
    expect(created.code, show(created)).to.equal(0);
    const result = json(created);
    expect(result.transactions.map((tx: { label: string }) => tx.label)).to.deep.equal(["approve USDC", "create job"]);
    const jobId = result.jobId as string;

    const notMine = await asClient(["provider", "accept", jobId]);
    expect(notMine.code).to.equal(1);
    expect(notMine.stderr).to.contain(`only the provider of job #${jobId} can do this, not ${CLIENT}`);
    expect((await asProvider(["provider", "accept", jobId])).code).to.equal(0);
    await node.advance(1800);

    const ended = await asClient(["client", "end-early", jobId]);
    expect(ended.code, show(ended)).to.equal(0);
    expect(ended.stdout).to.match(/provider earned 1\.2\d+ USDC/).and.to.contain(`job #${jobId} is Completed`);

    const disputed = await asClient(["client", "dispute", jobId, "--reason", "GPUs throttled at 60%"]);
    expect(disputed.code, show(disputed)).to.equal(0);
    expect(disputed.stdout).to.contain("bond 0.25 USDC (5% of the cost 5.00 USDC)").and.to.match(/dispute job with permit: tx 0x[0-9a-f]{64}/);
    expect(disputed.stdout).to.contain("waiting for the arbiter").and.to.contain(`job #${jobId} is Disputed`);
    const status = await asClient(["client", "status", jobId]);
    expect(status.stdout).to.contain("waiting for the arbiter's resolution");
  });

  it("settles a completed job after its dispute window", async function () {
    const jobId = await createJob(h100);
    expect((await asProvider(["provider", "accept", jobId])).code).to.equal(0);
    await node.advance(3600);
    expect((await asProvider(["provider", "complete", jobId])).code).to.equal(0);

    const early = await asClient(["client", "settle", jobId]);
    expect(early.code).to.equal(1);
    expect(early.stderr).to.contain(`the dispute window of job #${jobId} is open until`);

    await node.advance(24 * 3600 + 1);
    const late = await asClient(["client", "dispute", jobId]);
    expect(late.code).to.equal(1);
    expect(late.stderr).to.contain(`the dispute window of job #${jobId} closed at`);
    const settled = await asClient(["client", "settle", jobId]);
    expect(settled.code, show(settled)).to.equal(0);
    expect(settled.stdout).to.match(/settled: provider 2\.5\d* USDC, fee 0\.06\d* USDC, refund 2\.5\d* USDC/).and.to.contain(`job #${jobId} is Settled`);
  });

  it("expires a job its provider ignored", async function () {
    const jobId = await createJob(h100);
    const early = await asClient(["client", "expire", jobId]);
    expect(early.code).to.equal(1);
    expect(early.stderr).to.contain(`job #${jobId} can still be accepted until`);
    await node.advance(31 * 60);
    const late = await asProvider(["provider", "accept", jobId]);
    expect(late.code).to.equal(1);
    expect(late.stderr).to.contain(`job #${jobId} could be accepted or declined only until`);
    const expired = await asClient(["client", "expire", jobId]);
    expect(expired.code, show(expired)).to.equal(0);
    expect(expired.stdout).to.contain("expired: refund 5.125 USDC, provider slashed 0.05 MESH").and.to.contain(`job #${jobId} is Expired`);
  });

  it("reclaims a job its provider abandoned", async function () {
    const jobId = await createJob(h100);
    expect((await asProvider(["provider", "accept", jobId])).code).to.equal(0);
    const early = await asClient(["client", "reclaim", jobId]);
    expect(early.code).to.equal(1);
    expect(early.stderr).to.contain(`job #${jobId} is not abandoned: it can be reclaimed only after`);
    await node.advance(2 * 3600 + 3600 + 1);
    const reclaimed = await asClient(["client", "reclaim", jobId]);
    expect(reclaimed.code, show(reclaimed)).to.equal(0);
    // The provider's last sign of life was its acceptance: it earned nothing, the payer gets everything back.
    expect(reclaimed.stdout).to.contain("reclaimed: provider earned 0.00 USDC").and.to.contain("refund 5.125 USDC").and.to.contain(`job #${jobId} is Reclaimed`);
  });

  it("lists its jobs and has nothing credited to withdraw", async function () {
    const jobs = json<Array<{ state: string }>>(await asClient(["client", "jobs", "--all", "--json"]));
    expect(jobs.map((job) => job.state)).to.deep.equal(["Cancelled", "Disputed", "Settled", "Expired", "Reclaimed"]);
    const open = json<Array<{ state: string }>>(await asClient(["client", "jobs", "--json"]));
    expect(open.map((job) => job.state)).to.deep.equal(["Disputed"]);
    const withdraw = await asClient(["client", "withdraw"]);
    expect(withdraw.code).to.equal(1);
    expect(withdraw.stderr).to.contain(`nothing to withdraw: ${CLIENT} has no credited balance`);
  });

  it("says so when the node or the deployment file is missing", async function () {
    const noNode = await runCli({ url: "http://127.0.0.1:9", deploymentFile: node.deploymentFile }, ["client", "status", "1"]);
    expect(noNode.code).to.equal(1);
    expect(noNode.stderr).to.contain("cannot reach the JSON-RPC node at http://127.0.0.1:9");
    const noFile = await runCli({ url: node.url, deploymentFile: "/nonexistent/deployment.json" }, ["client", "status", "1"]);
    expect(noFile.code).to.equal(1);
    expect(noFile.stderr).to.contain("cannot read deployment file /nonexistent/deployment.json");
  });
});

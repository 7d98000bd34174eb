import { expect } from "chai";
import fs from "node:fs";
import path from "node:path";
import { KEYS, json, runCli, show, startNode, type LocalNode } from "./helpers";

const PASSWORD = "correct horse battery staple";

describe("gpumesh provider: a provider's whole life", function () {
  let node: LocalNode;
  let keystore: string;
  let provider: string;
  const asProvider = (args: string[], env: Record<string, string> = {}) =>
    runCli(node, [...args, "--keystore", keystore], { GPUMESH_PASSWORD: PASSWORD, ...env });
  const asClient = (args: string[]) => runCli(node, args, { GPUMESH_PRIVATE_KEY: KEYS[2] });

  before(async function () {
    node = await startNode();
    keystore = path.join(node.dir, "provider.json");
  });

  after(async function () {
    await node?.stop();
  });

  it("creates a wallet in an encrypted keystore", async function () {
    const created = await runCli(node, ["wallet", "new", "--keystore", keystore, "--json"], { GPUMESH_PASSWORD: PASSWORD });
    expect(created.code, show(created)).to.equal(0);
    provider = json(created).address;
    expect(provider).to.match(/^0x[0-9a-fA-F]{40}$/);
    const file = JSON.parse(fs.readFileSync(keystore, "utf8"));
    expect((file.Crypto ?? file.crypto).kdf).to.equal("scrypt");
    expect(fs.statSync(keystore).mode & 0o777).to.equal(0o600);
    expect(fs.readFileSync(keystore, "utf8")).not.to.contain(PASSWORD);

    const again = await runCli(node, ["wallet", "new", "--keystore", keystore], { GPUMESH_PASSWORD: PASSWORD });
    expect(again.code).to.equal(1);
    expect(again.stderr).to.contain("already exists");

    const address = await asProvider(["wallet", "address"]);
    expect(address.code, show(address)).to.equal(0);
    expect(address.stdout.trim()).to.equal(provider);
  });

  it("refuses a wrong keystore password, a missing password and secrets on the command line", async function () {
    const wrong = await runCli(node, ["provider", "status", "--keystore", keystore], { GPUMESH_PASSWORD: "not the password" });
    expect(wrong.code, show(wrong)).to.equal(1);
    expect(wrong.stderr).to.contain(`wrong password for keystore ${keystore}`);

    const none = await runCli(node, ["wallet", "address", "--keystore", keystore]);
    expect(none.code).to.equal(1);
    expect(none.stderr).to.contain("GPUMESH_PASSWORD");

    const secret = await runCli(node, ["provider", "register", "--metadata", "x", "--private-key", KEYS[1]]);
    expect(secret.code).to.equal(2);
    expect(secret.stderr).to.contain("--private-key").and.to.contain("GPUMESH_PRIVATE_KEY");
    expect(secret.stderr).not.to.contain(KEYS[1]);

    const mnemonic = await runCli(node, ["wallet", "address", "--mnemonic=abc"]);
    expect(mnemonic.code).to.equal(2);
    expect(mnemonic.stderr).to.contain("GPUMESH_MNEMONIC");
  });

  it("imports keys from the environment", async function () {
    const fromKey = await runCli(node, ["wallet", "import", "--keystore", path.join(node.dir, "imported.json"), "--json"], {
      GPUMESH_PRIVATE_KEY: KEYS[3],
      GPUMESH_PASSWORD: PASSWORD,
    });
    expect(fromKey.code, show(fromKey)).to.equal(0);
    expect(json(fromKey).address).to.equal("0x90F79bf6EB2c4f870365E785982E1f101E93b906");
    const reopened = await runCli(node, ["wallet", "address", "--keystore", path.join(node.dir, "imported.json")], { GPUMESH_PASSWORD: PASSWORD });
    expect(reopened.stdout.trim()).to.equal("0x90F79bf6EB2c4f870365E785982E1f101E93b906");

    const fromMnemonic = await runCli(node, ["wallet", "address", "--account-index", "1", "--json"], {
      GPUMESH_MNEMONIC: "test test test test test test test test test test test junk",
    });
    expect(json(fromMnemonic).address).to.equal("0x70997970C51812dc3A010C7d01b50e0d17dc79C8");

    const noWallet = await runCli(node, ["wallet", "address"]);
    expect(noWallet.code).to.equal(1);
    expect(noWallet.stderr).to.contain("no wallet");
  });

  it("registers, stakes with a permit and with approve", async function () {
    await node.setBalance(provider as `0x${string}`, "10");
    const faucet = await asProvider(["wallet", "faucet", "--stake", "1000", "--payment", "10"]);
    expect(faucet.code, show(faucet)).to.equal(0);

    const register = await asProvider(["provider", "register", "--metadata", "https://gpu.example/node.json"]);
    expect(register.code, show(register)).to.equal(0);
    expect(register.stdout).to.match(/register: tx 0x[0-9a-f]{64}/);
    const twice = await asProvider(["provider", "register", "--metadata", "https://gpu.example/node.json"]);
    expect(twice.code).to.equal(1);
    expect(twice.stderr).to.contain("is already registered as a provider");

    const permit = await asProvider(["provider", "stake", "400"]);
    expect(permit.code, show(permit)).to.equal(0);
    expect(permit.stdout).to.contain("stake with permit: tx").and.to.contain("total staked 400 MESH");
    const approve = await asProvider(["provider", "stake", "100.5", "--no-permit", "--json"]);
    expect(approve.code, show(approve)).to.equal(0);
    const staked = json(approve);
    expect(staked.staked).to.equal((5005n * 10n ** 17n).toString());
    expect(staked.transactions.map((tx: { label: string }) => tx.label)).to.deep.equal(["approve MESH", "stake"]);

    const tooMuch = await asProvider(["provider", "stake", "5000"]);
    expect(tooMuch.code).to.equal(1);
    expect(tooMuch.stderr).to.contain("balance 499.5 MESH").and.to.contain("below the 5000 MESH needed");
  });

  let offerId: string;
  it("lists, reprices and resizes an offer", async function () {
    const created = await asProvider([
      "provider", "offer", "create", "--model", "h100", "--gpus", "8", "--price", "2.35", "--min-duration", "1h",
      "--max-duration", "7d", "--region", "eu-west", "--carbon", "120", "--renewable", "80%", "--expires", "30d", "--json",
    ]);
    expect(created.code, show(created)).to.equal(0);
    const result = json(created);
    offerId = result.offerId;
    expect(result.offer).to.include({ gpuModel: "H100-SXM-80GB", region: "eu-west", gpus: 8, pricePerGpuHour: "2350000", renewableBps: 8000, carbonIntensity: 120, state: "OPEN", price: "2.35 USDC" });

    const updated = await asProvider(["provider", "offer", "update", offerId, "--price", "2.60", "--gpus", "10"]);
    expect(updated.code, show(updated)).to.equal(0);
    expect(updated.stdout).to.contain("10 GPUs (0 leased) at 2.60 USDC per GPU-hour (was 2.35 USDC)");

    const list = await asProvider(["provider", "offer", "list"]);
    expect(list.stdout).to.contain("H100-SXM-80GB").and.to.contain("eu-west").and.to.contain("10/10");
  });

  it("checks offer flags before sending anything", async function () {
    const base = ["provider", "offer", "create", "--gpus", "8", "--price", "2.35", "--region", "eu-west"];
    const unknownModel = await asProvider([...base, "--model", "h999"]);
    expect(unknownModel.code).to.equal(2);
    expect(unknownModel.stderr).to.contain('--model: "h999" is not a listed GPU model');
    const badRegion = await asProvider(["provider", "offer", "create", "--model", "a100", "--gpus", "1", "--price", "1", "--region", "EU West"]);
    expect(badRegion.code).to.equal(2);
    expect(badRegion.stderr).to.contain("--region");
    const badPrice = await asProvider([...base, "--model", "h100", "--price", "2.3456789"]);
    expect(badPrice.code).to.equal(2);
    expect(badPrice.stderr).to.contain("--price").and.to.contain("more than 6 decimals");
    const badDuration = await asProvider([...base, "--model", "h100", "--min-duration", "2x"]);
    expect(badDuration.code).to.equal(2);
    expect(badDuration.stderr).to.contain("--min-duration");
    const badPercent = await asProvider([...base, "--model", "h100", "--renewable", "120%"]);
    expect(badPercent.code).to.equal(2);
    expect(badPercent.stderr).to.contain("--renewable");
    const missing = await asProvider(["provider", "offer", "create", "--model", "h100"]);
    expect(missing.code).to.equal(2);
    expect(missing.stderr).to.contain("--gpus is required");
    const unknownFlag = await asProvider(["provider", "offer", "create", "--colour", "red"]);
    expect(unknownFlag.code).to.equal(2);
    expect(unknownFlag.stderr).to.contain("unknown option --colour");
    const notMine = await runCli(node, ["provider", "offer", "close", offerId], { GPUMESH_PRIVATE_KEY: KEYS[2] });
    expect(notMine.code).to.equal(1);
    expect(notMine.stderr).to.contain(`offer #${offerId} belongs to another provider`);
  });

  it("accepts, claims and completes a job; reports it in jobs and status", async function () {
    await node.mintPayment("0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC", 1_000_000_000n);
    const job = await asClient(["client", "create-job", "--offer", offerId, "--gpus", "2", "--duration", "2h", "--max-price", "2.60", "--yes", "--json"]);
    expect(job.code, show(job)).to.equal(0);
    const jobId = json(job).jobId as string;

    const listed = await asProvider(["provider", "jobs", "--state", "created", "--json"]);
    expect(json<Array<{ id: string }>>(listed).map((j) => j.id)).to.deep.equal([jobId]);

    const accepted = await asProvider(["provider", "accept", jobId]);
    expect(accepted.code, show(accepted)).to.equal(0);
    expect(accepted.stdout).to.contain(`job #${jobId} is Running`).and.to.contain("collateral locked 5.2 MESH");

    await node.advance(1800);
    const claimed = await asProvider(["provider", "claim", jobId, "--json"]);
    expect(claimed.code, show(claimed)).to.equal(0);
    expect(BigInt(json(claimed).amount) > 2_500_000n, show(claimed)).to.equal(true);

    await node.advance(7200);
    const completed = await asProvider(["provider", "complete", jobId, "--result", "weights at ipfs://bafy..."]);
    expect(completed.code, show(completed)).to.equal(0);
    expect(completed.stdout).to.contain("earned 10.40 USDC").and.to.contain(`job #${jobId} is Completed`);
    const again = await asProvider(["provider", "complete", jobId]);
    expect(again.code).to.equal(1);
    expect(again.stderr).to.contain(`job #${jobId} is Completed, which does not allow this`);

    const status = await asProvider(["provider", "status", "--json"]);
    expect(status.code, show(status)).to.equal(0);
    const state = json(status);
    expect(state.registered).to.equal(true);
    expect(state.staked).to.equal((5005n * 10n ** 17n).toString());
    expect(state.locked).to.equal((52n * 10n ** 17n).toString());
    expect(BigInt(state.earnings.claimed) > 0n).to.equal(true);
    expect(BigInt(state.earnings.pending)).to.equal(10_400_000n - BigInt(state.earnings.claimed));
    expect(state.jobs).to.deep.equal({ Completed: 1 });

    const human = await asProvider(["provider", "status"]);
    expect(human.stdout).to.contain("staked      500.5 MESH  (locked 5.2 MESH");
  });

  it("closes the offer, unstakes and withdraws after unbonding", async function () {
    const closed = await asProvider(["provider", "offer", "close", offerId]);
    expect(closed.code, show(closed)).to.equal(0);
    expect(closed.stdout).to.contain(`offer #${offerId} is closed`);

    const tooMuch = await asProvider(["provider", "unstake", "499"]);
    expect(tooMuch.code).to.equal(1);
    expect(tooMuch.stderr).to.contain("499 MESH requested but only 495.3 MESH of stake is unlocked");

    const unstaked = await asProvider(["provider", "unstake", "100"]);
    expect(unstaked.code, show(unstaked)).to.equal(0);
    expect(unstaked.stdout).to.contain("unbonding 100 MESH").and.to.contain("(in 7d)");

    const early = await asProvider(["provider", "withdraw"]);
    expect(early.code).to.equal(1);
    expect(early.stderr).to.contain("the unbonding stake is ready only at");

    const status = await asProvider(["provider", "status"]);
    expect(status.stdout).to.match(/unbonding   100 MESH {2}withdrawable at .* \(6d 23h \d+m \d+s left\)|unbonding   100 MESH {2}withdrawable at .* \(7d left\)/);

    await node.advance(7 * 24 * 3600 + 1);
    const withdrawn = await asProvider(["provider", "withdraw"]);
    expect(withdrawn.code, show(withdrawn)).to.equal(0);
    expect(withdrawn.stdout).to.contain("withdrew 100 MESH").and.to.contain("400.5 MESH staked");
  });

  it("explains unknown jobs and bad job ids", async function () {
    const unknown = await asProvider(["provider", "accept", "99"]);
    expect(unknown.code).to.equal(1);
    expect(unknown.stderr).to.contain("job #99 does not exist");
    const badId = await asProvider(["provider", "accept", "abc"]);
    expect(badId.code).to.equal(2);
    expect(badId.stderr).to.contain('"abc" is not an id');
    const missing = await asProvider(["provider", "accept"]);
    expect(missing.code).to.equal(2);
    const unknownCommand = await asProvider(["provider", "launch"]);
    expect(unknownCommand.code).to.equal(2);
    expect(unknownCommand.stderr).to.contain('unknown command "launch"');
  });
});

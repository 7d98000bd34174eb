import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { expect } from "chai";
import { ROOT, runCli, show, startNode, waitFor, type LocalNode } from "./helpers";

/**
 * `gpumesh serve` over a database `gpumesh index` wrote: with --deployment its web app gets the deployment (token
 * units, contracts, the wallet's loopback RPC); without one it serves base units; another deployment is refused.
 */
describe("gpumesh serve --deployment", function () {
  let node: LocalNode;
  let dbFile: string;
  let server: ChildProcess | undefined;

  before(async function () {
    node = await startNode();
    dbFile = path.join(node.dir, "index.db");
    const indexed = await runCli(node, ["index", "--db", dbFile, "--confirmations", "0", "--exit-at-head"]);
    expect(indexed.code, show(indexed)).to.equal(0);
  });

  afterEach(async function () {
    await stopServer();
  });

  after(async function () {
    await node?.stop();
  });

  /** Starts `gpumesh serve` on a free port with a clean GPUMESH_* environment plus `env`; resolves with its URL. */
  async function serve(args: string[], env: Record<string, string> = {}): Promise<string> {
    const base = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith("GPUMESH_")));
    server = spawn(process.execPath, [path.join(ROOT, "bin/gpumesh.js"), "serve", "--db", dbFile, "--port", "0", ...args], {
      cwd: ROOT,
      env: { ...base, GPUMESH_LOG_LEVEL: "silent", ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    server.stdout!.on("data", (chunk) => (stdout += chunk));
    return waitFor("the API's URL", async () => /GraphQL API at (http:\/\/\S+)\/graphql/.exec(stdout)?.[1], 30_000);
  }

  const webConfig = async (url: string) => (await (await fetch(`${url}/web-config.json`)).json()) as any;

  it("gives the web app the deployment and the wallet's RPC, from the flags or the environment", async function () {
    const url = await serve(["--deployment", node.deploymentFile, "--rpc", node.url]);
    const config = await webConfig(url);
    expect(config.chainId).to.equal(31337);
    expect(config.deployment.contracts.JobMarket.address).to.equal(node.deployment.contracts.JobMarket.address);
    expect(config.deployment.tokens.payment.decimals).to.equal(6);
    expect(config.walletRpcUrl).to.equal(node.url);
    await stopServer();

    const fromEnv = await webConfig(await serve([], { GPUMESH_DEPLOYMENT: node.deploymentFile }));
    expect(fromEnv.deployment.tokens.payment.address).to.equal(node.deployment.tokens.payment.address);
    expect(fromEnv.walletRpcUrl).to.equal(undefined);
  });

  it("serves base units without a deployment, and refuses a deployment the database does not index", async function () {
    expect(await webConfig(await serve([]))).to.deep.equal({ chainId: null, deployment: null });
    await stopServer();

    const other = JSON.parse(fs.readFileSync(node.deploymentFile, "utf8"));
    other.contracts.JobMarket.address = "0x000000000000000000000000000000000000dEaD";
    const otherFile = path.join(node.dir, "other.json");
    fs.writeFileSync(otherFile, JSON.stringify(other));
    const refused = await runCli(node, ["serve", "--db", dbFile, "--port", "0", "--deployment", otherFile]);
    expect(refused.code, show(refused)).to.equal(1);
    expect(refused.stderr).to.contain("indexes another deployment: its JobMarket is");
  });

  async function stopServer() {
    const running = server;
    server = undefined;
    if (!running || running.exitCode !== null) return;
    const exited = new Promise((resolve) => running.once("exit", resolve));
    running.kill("SIGTERM");
    await exited;
  }
});

import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
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
  let serverStderr = "";

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
    serverStderr = "";
    server.stderr!.on("data", (chunk) => (serverStderr += chunk));
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

  it("answers the requests in flight at SIGTERM before it closes the database, and takes no new ones", async function () {
    const url = await serve([], { GPUMESH_LOG_LEVEL: "warn" });
    const { port } = new URL(url);
    const query = JSON.stringify({ query: "{ market { jobs providers } }" });
    // A request whose body is still arriving when the signal comes: its answer must not be cut off.
    const socket = net.connect(Number(port), "127.0.0.1");
    await new Promise<void>((resolve) => socket.once("connect", resolve));
    let raw = "";
    socket.on("data", (chunk) => (raw += chunk));
    const ended = new Promise<void>((resolve) => socket.once("close", () => resolve()));
    socket.write(
      `POST /graphql HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(query)}\r\n\r\n`,
    );
    socket.write(query.slice(0, 10));
    // And a burst of whole requests being answered as the signal arrives: none may read a closed database.
    const burst = Array.from({ length: 40 }, (_, index) =>
      fetch(`${url}/graphql`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ query: `{ market { jobs } jobs(first: ${index + 1}) { totalCount } }` }),
      }).then(
        (response) => response.status,
        () => "connection error",
      ),
    );
    await new Promise((resolve) => setTimeout(resolve, 100));
    const exited = new Promise<number | null>((resolve) => server!.once("exit", resolve));
    server!.kill("SIGTERM");
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(server!.exitCode, "still finishing the request in flight").to.equal(null);
    const refused = await fetch(`${url}/health`).then(
      () => "answered",
      (error: Error & { cause?: { code?: string } }) => error.cause?.code,
    );
    expect(refused, "a new connection after the signal").to.equal("ECONNREFUSED");
    socket.end(query.slice(10));
    await ended;
    expect(raw.split("\r\n", 1)[0]).to.equal("HTTP/1.1 200 OK");
    expect(JSON.parse(raw.slice(raw.indexOf("\r\n\r\n") + 4)).data.market.providers).to.be.a("number");
    expect(await exited).to.equal(0);
    for (const status of await Promise.all(burst)) expect(status).to.be.oneOf([200, "connection error"]);
    expect(serverStderr).to.not.contain("not open");
    expect(serverStderr).to.not.contain("request failed");
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

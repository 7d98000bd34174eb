#!/usr/bin/env node
// `npm run bench:cli [-- --runs N] [--cli FILE]`: how fast `gpumesh` commands start. Runs each command N times
// (default 7) as a user would, `node bin/gpumesh.js ...` (or another checkout's entry point, to compare), and prints
// the median CPU time (user + system, from bash's `time`) and wall time. The read commands run against a fresh anvil
// with GPU Mesh deployed by this checkout's compiled deployer (dist/).
"use strict";
const { spawn, spawnSync } = require("node:child_process");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");

const ROOT = path.join(__dirname, "..");
// `npm run bench:cli` builds dist/ first; the deployer below comes from there too.
const { freePort } = require(path.join(ROOT, "dist", "src", "internal", "net.js"));
const flag = (name) => {
  const index = process.argv.indexOf(name);
  return index > 0 ? process.argv[index + 1] : undefined;
};
const CLI = path.resolve(flag("--cli") ?? path.join(ROOT, "bin", "gpumesh.js"));
const RUNS = Number(flag("--runs") ?? 7);
if (!Number.isInteger(RUNS) || RUNS < 1) throw new Error(`--runs must be a whole number >= 1, got ${flag("--runs")}`);
const MNEMONIC = "test test test test test test test test test test test junk";
const ADDRESS = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8";

const STDERR_FILE = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "gpumesh-bench-")), "stderr");
process.on("exit", () => fs.rmSync(path.dirname(STDERR_FILE), { recursive: true, force: true }));
const quote = (arg) => `'${arg.replace(/'/g, `'\\''`)}'`;
const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

/** One run: CPU seconds (user + system of the command and its children) and wall seconds. */
function measure(args, env) {
  const command = `TIMEFORMAT='%U %S %R'; time ${quote(process.execPath)} ${[CLI, ...args].map(quote).join(" ")} >/dev/null 2>${quote(STDERR_FILE)}`;
  const result = spawnSync("bash", ["-c", command], { cwd: ROOT, env: { ...process.env, ...env }, encoding: "utf8" });
  const [user, system, wall] = result.stderr.trim().split("\n").pop().split(" ").map(Number);
  if (result.status !== 0) throw new Error(`gpumesh ${args.join(" ")} failed:\n${fs.readFileSync(STDERR_FILE, "utf8")}`);
  return { cpu: user + system, wall };
}

function bench(label, args, env = {}) {
  const samples = Array.from({ length: RUNS }, () => measure(args, env));
  const cpu = median(samples.map((sample) => sample.cpu));
  const wall = median(samples.map((sample) => sample.wall));
  console.log(`${label.padEnd(56)} ${cpu.toFixed(2).padStart(6)} s CPU ${wall.toFixed(2).padStart(6)} s wall`);
}

async function waitForRpc(url) {
  for (let attempt = 0; attempt < 300; attempt++) {
    try {
      const response = await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: '{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":[]}' });
      if (response.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`anvil did not answer at ${url}`);
}

/** anvil on a free port with GPU Mesh deployed; returns the env the read commands need and a stop function. */
async function startChain() {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const anvil = spawn(path.join(ROOT, "node_modules", ".bin", "anvil"), ["--host", "127.0.0.1", "--port", String(port), "--silent"], {
    stdio: "ignore",
    detached: true,
  });
  const stop = () => {
    try {
      process.kill(-anvil.pid, "SIGTERM");
    } catch {
      // already gone
    }
  };
  try {
    await waitForRpc(url);
    const viem = require("viem");
    const { mnemonicToAccount } = require("viem/accounts");
    const { deployGpuMesh } = require(path.join(ROOT, "dist", "src", "chain", "deploy.js"));
    const chain = viem.defineChain({ id: 31337, name: "anvil", nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 }, rpcUrls: { default: { http: [url] } } });
    const transport = viem.http(url);
    const deployment = await deployGpuMesh({
      publicClient: viem.createPublicClient({ chain, transport, pollingInterval: 50 }),
      walletClient: viem.createWalletClient({ chain, transport, account: mnemonicToAccount(MNEMONIC), pollingInterval: 50 }),
      network: "anvil",
      artifactsDir: path.join(ROOT, "artifacts"),
    });
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "gpumesh-bench-"));
    const deploymentFile = path.join(dir, "deployment.json");
    fs.writeFileSync(deploymentFile, JSON.stringify(deployment));
    return {
      env: { GPUMESH_RPC_URL: url, GPUMESH_DEPLOYMENT: deploymentFile, GPUMESH_API_URL: "http://127.0.0.1:9/graphql" },
      stop() {
        stop();
        fs.rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    stop();
    throw error;
  }
}

async function main() {
  console.log(`${path.relative(process.cwd(), CLI) || CLI} start-up, median of ${RUNS} runs (node ${process.version}, ${os.cpus().length} cores)`);
  bench("gpumesh --help", ["--help"]);
  bench("gpumesh market --help", ["market", "--help"]);
  bench("gpumesh client create-job --help", ["client", "create-job", "--help"]);
  bench("gpumesh start --help", ["start", "--help"]);
  const chain = await startChain();
  try {
    bench("gpumesh wallet balance --address ADDRESS (chain read)", ["wallet", "balance", "--address", ADDRESS], chain.env);
    bench("gpumesh client offers --chain (chain read)", ["client", "offers", "--chain"], chain.env);
  } finally {
    chain.stop();
  }
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});

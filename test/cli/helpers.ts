import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import {
  createPublicClient,
  createWalletClient,
  defineChain,
  http,
  parseEther,
  type Address,
  type Chain,
  type PublicClient,
  type Transport,
} from "viem";
import { mnemonicToAccount } from "viem/accounts";
import { devStablecoinAbi } from "../../src/chain/abis";
import { deployGpuMesh } from "../../src/chain/deploy";
import { loadDeployment, type Deployment } from "../../src/chain/deployment";
import { freePort } from "../../src/internal/net";

/** Tests import the one freePort (src/internal/net.ts) from here with the other helpers. */
export { freePort };

export const ROOT = path.join(__dirname, "..", "..");
export const TEST_MNEMONIC = "test test test test test test test test test test test junk";
/** anvil's first accounts (from the test mnemonic); account 0 deploys and holds every role. */
export const KEYS = [
  "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
  "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
  "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
  "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6",
  "0x47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a",
] as const;

export interface LocalNode {
  url: string;
  publicClient: PublicClient<Transport, Chain>;
  deployment: Deployment;
  deploymentFile: string;
  dir: string;
  /** Moves the chain's clock and mines a block. */
  advance(seconds: number): Promise<void>;
  setBalance(address: Address, ether: string): Promise<void>;
  mintPayment(to: Address, amount: bigint): Promise<void>;
  stop(): Promise<void>;
}

/** Starts anvil on a free loopback port, deploys GPU Mesh there and writes the deployment file to a scratch dir. */
export async function startNode(): Promise<LocalNode> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  // Its own process group, so that stopping it also stops the native binary behind the npm wrapper.
  const child: ChildProcess = spawn(path.join(ROOT, "node_modules/.bin/anvil"), ["--host", "127.0.0.1", "--port", String(port), "--silent"], {
    detached: true,
    stdio: "ignore",
  });
  const stop = async () => {
    if (child.exitCode === null && child.pid) {
      try {
        process.kill(-child.pid, "SIGTERM");
      } catch {
        // already gone
      }
    }
  };
  try {
    await waitForRpc(url, 30_000);
    const chain = defineChain({
      id: 31337,
      name: "anvil",
      nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 },
      rpcUrls: { default: { http: [url] } },
    });
    const publicClient = createPublicClient({ chain, transport: http(url), pollingInterval: 50 }) as PublicClient<Transport, Chain>;
    const deployer = createWalletClient({ chain, transport: http(url), account: mnemonicToAccount(TEST_MNEMONIC), pollingInterval: 50 });
    const file = await deployGpuMesh({ publicClient, walletClient: deployer, network: "anvil" });
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "gpumesh-cli-"));
    const deploymentFile = path.join(dir, "deployment.json");
    fs.writeFileSync(deploymentFile, JSON.stringify(file, null, 2));
    const deployment = loadDeployment(deploymentFile);
    const rpc = (method: string, params: unknown[]) => publicClient.request({ method: method as never, params: params as never });
    return {
      url,
      publicClient,
      deployment,
      deploymentFile,
      dir,
      async advance(seconds) {
        await rpc("evm_increaseTime", [seconds]);
        await rpc("evm_mine", []);
      },
      async setBalance(address, ether) {
        await rpc("anvil_setBalance", [address, `0x${parseEther(ether).toString(16)}`]);
      },
      async mintPayment(to, amount) {
        const hash = await deployer.writeContract({
          address: deployment.tokens.payment.address,
          abi: devStablecoinAbi,
          functionName: "mint",
          args: [to, amount],
        });
        await publicClient.waitForTransactionReceipt({ hash });
      },
      async stop() {
        await stop();
        fs.rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

async function waitForRpc(url: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const response = await fetch(url, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "eth_chainId", params: [] }),
      });
      if (response.ok) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`node at ${url} did not start`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs `node bin/gpumesh.js ...args` (the compiled CLI in dist/, built by test/cli/build.ts) as a subprocess with a
 * clean GPUMESH_* environment: the node's RPC URL and deployment file, an API URL where nothing listens (so commands
 * fall back to the chain), plus `env`.
 */
export function runCli(node: Pick<LocalNode, "url" | "deploymentFile">, args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  const base = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith("GPUMESH_")));
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(ROOT, "bin/gpumesh.js"), ...args], {
      cwd: ROOT,
      env: {
        ...base,
        GPUMESH_RPC_URL: node.url,
        GPUMESH_DEPLOYMENT: node.deploymentFile,
        GPUMESH_API_URL: "http://127.0.0.1:9/graphql",
        ...env,
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout!.on("data", (chunk) => (stdout += chunk));
    child.stderr!.on("data", (chunk) => (stderr += chunk));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

/** Parses the JSON a `--json` command printed; fails with the command's output when it is not JSON. */
export function json<T = Record<string, any>>(result: CliResult): T {
  try {
    return JSON.parse(result.stdout) as T;
  } catch {
    throw new Error(`not JSON (exit ${result.code}):\n${result.stdout}\n${result.stderr}`);
  }
}

/** A readable assertion message: the command's exit code and output. */
export function show(result: CliResult): string {
  return `exit ${result.code}\nstdout:\n${result.stdout}\nstderr:\n${result.stderr}`;
}

/** Whether something accepts TCP connections on 127.0.0.1:port. */
export function portAnswers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, "127.0.0.1");
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

/** Polls `probe` every half second until it returns a value; fails with the last error after `timeoutMs`. */
export async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      lastError = error;
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  throw new Error(`timed out waiting for ${what}${lastError ? `: ${String(lastError)}` : ""}`);
}

/** Whether a process runs (a zombie nobody reaped yet counts as gone). */
export function isRunning(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
  } catch {
    return false;
  }
}

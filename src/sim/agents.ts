import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { mnemonicToAccount } from "viem/accounts";
import { REPOSITORY_ROOT, spawnNodeTiedToParent, untilChildAnswers } from "../cli/lib/processes";
import { freePort } from "../internal/net";
import { sleepUnlessAborted } from "./simulate";

/**
 * The part of the local market that real software delivers: providers run by `gpumesh agent` processes (process
 * runner, declared GPUs) and a client that every so often hands them a small real workload with `gpumesh client run
 * --failover`. Now and then the agent serving a job is killed once the job runs, so its job goes dark, is reported
 * and is finished by the other agent; the killed agent is started again afterwards and reconciles with the chain.
 * The agents' offers are in their own region ("lab"), which the simulated market does not use.
 */

const CLI = path.join(REPOSITORY_ROOT, "bin", "gpumesh.js");
export const LAB_REGION = "lab";
const LAB_MODEL = "H100-SXM-80GB";

export interface AgentMarketOptions {
  rpcUrl: string;
  deploymentFile: string;
  /** The GraphQL API the client quotes from. */
  apiUrl: string;
  /** Where configs, agent state, logs and results go (recreated). */
  dir: string;
  mnemonic: string;
  /** First mnemonic account index used: providers, then the workload client. */
  accountOffset: number;
  agents: number;
  /** Real milliseconds between workloads. */
  workloadEveryMs: number;
  /** Every Nth workload's provider is killed once its job runs (0: never). */
  killEvery: number;
  say: (line: string) => void;
  signal: AbortSignal;
}

interface LabProvider {
  index: number;
  address: string;
  key: string;
  port: number;
  configFile: string;
  logFile: string;
  process?: ChildProcess;
}

const keyOf = (mnemonic: string, index: number) => {
  const account = mnemonicToAccount(mnemonic, { addressIndex: index });
  return { address: account.address, key: `0x${Buffer.from(account.getHdKey().privateKey!).toString("hex")}` };
};

/** Runs one `gpumesh` command to completion as `key`; fails with its output. */
function cli(options: AgentMarketOptions, key: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      cwd: REPOSITORY_ROOT,
      env: { ...process.env, GPUMESH_PRIVATE_KEY: key, GPUMESH_RPC_URL: options.rpcUrl, GPUMESH_DEPLOYMENT: options.deploymentFile },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    child.stdout!.on("data", (chunk) => (output += chunk));
    child.stderr!.on("data", (chunk) => (output += chunk));
    child.once("error", reject);
    child.once("exit", (code) => (code === 0 ? resolve(output) : reject(new Error(`gpumesh ${args.slice(0, 2).join(" ")} exited ${code}: ${output.trim()}`))));
  });
}

/** The workload: counts the primes below a bound and writes them to out/primes.txt. */
const WORKLOAD_SOURCE = [
  "const fs = require('fs');",
  "const limit = 200000 + Math.floor(Math.random() * 100000);",
  "const sieve = new Uint8Array(limit + 1); let count = 0;",
  "for (let i = 2; i <= limit; i++) { if (!sieve[i]) { count++; for (let j = i * i; j <= limit; j += i) sieve[j] = 1; } }",
  "console.log(`GPU ${process.env.CUDA_VISIBLE_DEVICES}: ${count} primes below ${limit}`);",
  "setTimeout(() => { fs.mkdirSync('out', { recursive: true }); fs.writeFileSync('out/primes.txt', `${count} primes below ${limit}\\n`); }, 2000);",
].join(" ");

export async function runAgentMarket(options: AgentMarketOptions): Promise<void> {
  fs.rmSync(options.dir, { recursive: true, force: true });
  fs.mkdirSync(options.dir, { recursive: true });

  const providers: LabProvider[] = [];
  for (let index = 0; index < options.agents; index++) {
    const { address, key } = keyOf(options.mnemonic, options.accountOffset + index);
    const port = await freePort();
    providers.push({
      index,
      address,
      key,
      port,
      configFile: path.join(options.dir, `agent-${index + 1}.json`),
      logFile: path.join(options.dir, `agent-${index + 1}.log`),
    });
  }
  const clientKey = keyOf(options.mnemonic, options.accountOffset + options.agents);
  await fundAccounts(options, [...providers.map((provider) => provider.address), clientKey.address]);

  await Promise.all([
    ...providers.map(async (provider) => {
      await cli(options, provider.key, ["wallet", "faucet", "--stake", "5000"]);
      await cli(options, provider.key, ["provider", "register", "--metadata", `http://127.0.0.1:${provider.port}/metadata`]);
      await cli(options, provider.key, ["provider", "stake", "4000"]);
      await cli(options, provider.key, ["provider", "offer", "create", "--model", LAB_MODEL, "--gpus", "2", "--price", (2.2 + provider.index * 0.1).toFixed(2), "--region", LAB_REGION]);
    }),
    cli(options, clientKey.key, ["wallet", "faucet", "--payment", "100000"]),
  ]);

  for (const provider of providers) {
    fs.writeFileSync(
      provider.configFile,
      JSON.stringify(
        {
          rpcUrl: options.rpcUrl,
          deployment: options.deploymentFile,
          stateDir: path.join(options.dir, `agent-${provider.index + 1}-state`),
          api: { host: "127.0.0.1", port: provider.port },
          gpus: [
            { index: 0, model: LAB_MODEL },
            { index: 1, model: LAB_MODEL },
          ],
          policy: { allowedCommands: [process.execPath] },
          claims: { minAmount: "1000000" },
          // Prices follow utilization between 2.00 and 3.00 USDC per GPU-hour (6 decimals), once a simulated hour.
          repricing: { minPricePerGpuHour: "2000000", maxPricePerGpuHour: "3000000", intervalSeconds: 3600 },
          timing: { pollIntervalMs: 1000 },
        },
        null,
        2,
      ) + "\n",
    );
  }

  const startAgent = (provider: LabProvider) => {
    const log = fs.openSync(provider.logFile, "a");
    const child = spawnNodeTiedToParent(CLI, ["agent", "--config", provider.configFile], {
      cwd: REPOSITORY_ROOT,
      env: { ...process.env, GPUMESH_PRIVATE_KEY: provider.key },
      stdio: ["ignore", "ignore", log],
    });
    fs.closeSync(log);
    provider.process = child;
  };
  const stopAgent = (provider: LabProvider, signal: NodeJS.Signals) =>
    new Promise<void>((resolve) => {
      const child = provider.process;
      if (!child || child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once("exit", () => resolve());
      child.kill(signal);
    });
  /**
   * Waits until the agent's API answers /health. It listens only once it has loaded its state and reached the chain,
   * and its offer names its /metadata: a job placed before then could not be handed over and would expire unaccepted.
   */
  const agentReady = async (provider: LabProvider, timeoutMs = 60_000) => {
    const child = provider.process!;
    const probe = () => fetch(`http://127.0.0.1:${provider.port}/health`, { signal: AbortSignal.timeout(1_000) });
    const outcome = await untilChildAnswers(child, probe, { timeoutMs, intervalMs: 100, signal: options.signal });
    if (outcome === "exited") {
      throw new Error(`the agent of ${provider.address} exited (${child.exitCode ?? child.signalCode}) before it listened; see ${provider.logFile}`);
    }
    if (outcome === "timeout") throw new Error(`the agent of ${provider.address} did not answer /health within ${timeoutMs / 1000} s; see ${provider.logFile}`);
  };
  for (const provider of providers) startAgent(provider);
  await Promise.all(providers.map((provider) => agentReady(provider)));
  options.say(
    `agents: ${providers.length} providers run by \`gpumesh agent\` (offers in region "${LAB_REGION}", logs in ${path.relative(process.cwd(), options.dir) || options.dir}); ` +
      `a workload every ${Math.round(options.workloadEveryMs / 1000)} s with \`gpumesh client run --failover\`` +
      (options.killEvery > 0 ? `, every ${options.killEvery}th one's provider killed mid-job` : ""),
  );

  const specFile = path.join(options.dir, "primes.json");
  fs.writeFileSync(specFile, JSON.stringify({ version: 1, command: [process.execPath, "-e", WORKLOAD_SOURCE], outputs: ["out/"], maxRuntimeSeconds: 120 }, null, 2) + "\n");

  let run = 0;
  try {
    while (!options.signal.aborted) {
      run += 1;
      const kill = options.killEvery > 0 && run % options.killEvery === 0;
      await clientRun(run, kill);
      // Aborted while the workload ran, the signal is already set: the pause must not wait for it (it did, for the
      // whole pause, so a Ctrl-C during a workload took 20 s to stop).
      await sleepUnlessAborted(options.workloadEveryMs, options.signal);
    }
  } finally {
    await Promise.all(providers.map((provider) => stopAgent(provider, "SIGTERM")));
  }

  /** One `gpumesh client run`; its progress lines are printed with a prefix. */
  async function clientRun(number: number, kill: boolean): Promise<void> {
    const child = spawnNodeTiedToParent(
      CLI,
      [
        "client", "run", specFile,
        "--model", LAB_MODEL, "--gpus", "1", "--duration", "1h", "--max-price", "5", "--region", LAB_REGION,
        "--failover", "--yes", "--receipt-every", "20m", "--poll-interval-ms", "500", "--out", path.join(options.dir, "results"),
        "--api", options.apiUrl,
      ],
      {
        cwd: REPOSITORY_ROOT,
        env: { ...process.env, GPUMESH_PRIVATE_KEY: clientKey.key, GPUMESH_RPC_URL: options.rpcUrl, GPUMESH_DEPLOYMENT: options.deploymentFile },
        stdio: ["ignore", "pipe", "pipe"],
        // Its own process group: a terminal's Ctrl-C reaches only `gpumesh start`, which then stops it once, so it
        // ends its job early instead of taking a second signal as "leave the jobs".
        detached: true,
      },
    );
    const stopOnAbort = () => child.kill("SIGINT");
    options.signal.addEventListener("abort", stopOnAbort, { once: true });
    if (options.signal.aborted) stopOnAbort();
    let killed: LabProvider | undefined;
    let buffered = "";
    let serving: string | undefined;
    const onLine = (line: string) => {
      if (!line.trim()) return;
      if (!/: tx 0x[0-9a-f]+$/.test(line)) options.say(`workload ${number}: ${line}`);
      const placed = / of (0x[0-9a-fA-F]{40}) for /.exec(line);
      if (placed) serving = placed[1];
      if (kill && !killed && / accepted after /.test(line) && serving) {
        killed = providers.find((provider) => provider.address.toLowerCase() === serving!.toLowerCase());
        if (killed) {
          options.say(`workload ${number}: killing the agent of ${killed.address} (SIGKILL) to show a failover`);
          void stopAgent(killed, "SIGKILL");
        }
      }
    };
    const consume = (chunk: Buffer) => {
      buffered += chunk.toString();
      const lines = buffered.split("\n");
      buffered = lines.pop()!;
      for (const line of lines) onLine(line);
    };
    child.stdout!.on("data", consume);
    child.stderr!.on("data", consume);
    const code = await new Promise<number | null>((resolve) => child.once("exit", (exitCode) => resolve(exitCode)));
    options.signal.removeEventListener("abort", stopOnAbort);
    if (buffered) onLine(buffered);
    if (code !== 0 && !options.signal.aborted) options.say(`workload ${number}: client run exited ${code}`);
    if (killed && !options.signal.aborted) {
      options.say(`workload ${number}: restarting the agent of ${killed.address}; it reconciles its jobs with the chain`);
      startAgent(killed);
      await agentReady(killed);
    }
  }
}

/** Gives the accounts ether for gas on the local node (Hardhat's and anvil's setBalance). */
async function fundAccounts(options: AgentMarketOptions, addresses: string[]): Promise<void> {
  for (const address of addresses) {
    const response = await fetch(options.rpcUrl, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "hardhat_setBalance", params: [address, "0x3635C9ADC5DEA00000"] }),
    });
    const body = (await response.json()) as { error?: { message: string } };
    if (body.error) throw new Error(`cannot fund ${address}: ${body.error.message}`);
  }
}

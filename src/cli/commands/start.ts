import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { ConfigError } from "../../internal/errors";
import { optionalInteger, resolveHistoryBlocks, resolvePort } from "../lib/args";
import { parseOrHelp, type Command } from "../lib/command";
import { REPOSITORY_ROOT, findPortHolder, spawnNodeTiedToParent, stopWhenParentIsGone, untilChildAnswers, untilShutdownSignal } from "../lib/processes";

const HELP = `usage: gpumesh start [options]
Starts a Hardhat node on 127.0.0.1, deploys GPU Mesh with dev tokens, runs a seeded market simulation, and indexes
it into a fresh database served as GraphQL. Ctrl-C stops everything.
  --chain-port N          JSON-RPC port of the embedded chain (default 8545)
  --api-port N            GraphQL port (default 4000)
  --seed N                simulation seed (default 1)
  --providers N           simulated providers (default 8)
  --clients N             simulated clients (default 14)
  --history-hours N       simulated hours of market history before going live (default 36)
  --live-tick-ms N        real milliseconds between live simulation ticks of 10 simulated minutes (default 3000)
  --agents N              providers run by real \`gpumesh agent\` processes, fed small workloads by
                          \`gpumesh client run --failover\` (default 2; 0: none)
  --workload-every-ms N   real milliseconds between those workloads (default 20000)
  --failover-every N      kill the agent serving every Nth workload once its job runs (default 4; 0: never)
  --no-simulation         deploy and index only: an empty market for the CLI
  --db FILE               index database (default .gpumesh/market.db, recreated at every start)
  --history-blocks N      keep the indexer's time-travel history for the last N blocks only (default: all of
                          it; not --history-hours, which is the simulation's)
  -h, --help              this help`;

const OPTIONS = {
  "chain-port": { type: "string" },
  "api-port": { type: "string" },
  seed: { type: "string" },
  providers: { type: "string" },
  clients: { type: "string" },
  "history-hours": { type: "string" },
  "live-tick-ms": { type: "string" },
  "no-simulation": { type: "boolean" },
  agents: { type: "string" },
  "workload-every-ms": { type: "string" },
  "failover-every": { type: "string" },
  db: { type: "string" },
  "history-blocks": { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

const HOST = "127.0.0.1";
const ROOT = REPOSITORY_ROOT;
const HARDHAT_CLI = path.join(ROOT, "node_modules", "hardhat", "internal", "cli", "cli.js");
/** Index 0 deploys and governs; 1 to 19 (funded by the node) are left to the user; the simulation starts at 20. */
const SHOWN_ACCOUNTS = 3;
const SIMULATION_ACCOUNT_OFFSET = 20;
/** After the simulation's at most 40 providers and 100 clients: the agents' providers, then their client. */
const AGENT_ACCOUNT_OFFSET = 180;

function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = net.createServer();
    probe.once("error", () => resolve(false));
    probe.listen(port, HOST, () => probe.close(() => resolve(true)));
  });
}

/** Runs `hardhat <args>` to completion; its output goes to our stderr. */
function hardhat(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [HARDHAT_CLI, ...args], { cwd: ROOT, env, stdio: ["ignore", "inherit", "inherit"] });
    child.once("error", reject);
    child.once("exit", (code) => (code === 0 ? resolve() : reject(new ConfigError(`hardhat ${args[0]} exited with ${code}`))));
  });
}

/** Why a port is taken, in a sentence that says what to do; a chain an earlier `gpumesh start` left behind is named. */
function portInUse(port: number, flag: string): ConfigError {
  const holder = findPortHolder(port);
  const where = `port ${port} on ${HOST}`;
  const inDir = holder?.cwd ? `, in ${holder.cwd}` : "";
  if (holder?.gpuMeshChain && holder.owner) {
    return new ConfigError(
      `${where} is held by the chain of a GPU Mesh that is still running (\`gpumesh start\`, pid ${holder.owner}${inDir}): ` +
        `stop that one with Ctrl-C or \`kill ${holder.owner}\`, or pass ${flag} to run another beside it`,
    );
  }
  if (holder?.gpuMeshChain) {
    return new ConfigError(
      `${where} is held by a stale GPU Mesh chain: a Hardhat node (pid ${holder.pid}${inDir}) that an earlier \`gpumesh start\` ` +
        `left running when it was killed. Stop it with \`kill ${holder.pid}\` and start again, or pass ${flag}`,
    );
  }
  if (holder) return new ConfigError(`${where} is in use by pid ${holder.pid} (${holder.command.slice(0, 120)}): stop it or pass ${flag}`);
  return new ConfigError(`${where} is in use: stop what holds it or pass ${flag}`);
}

async function waitForRpc(url: string, node: ChildProcess, timeoutMs: number): Promise<void> {
  const probe = () =>
    fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "eth_chainId", params: [] }),
    });
  const outcome = await untilChildAnswers(node, probe, { timeoutMs, intervalMs: 250 });
  if (outcome === "exited") throw new ConfigError(`the embedded chain exited with code ${node.exitCode ?? node.signalCode}`);
  if (outcome === "timeout") throw new ConfigError(`the embedded chain did not answer at ${url} within ${timeoutMs / 1000} s`);
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const killer = setTimeout(() => child.kill("SIGKILL"), 5_000);
    child.once("exit", () => {
      clearTimeout(killer);
      resolve();
    });
    child.kill("SIGTERM");
  });
}

async function run(argv: string[]): Promise<number> {
  const parsed = parseOrHelp(argv, OPTIONS, HELP);
  if (!parsed) return 0;
  const { values } = parsed;
  const options = {
    chainPort: resolvePort(values["chain-port"], "--chain-port", 8545, false),
    apiPort: resolvePort(values["api-port"], "--api-port", 4000, false),
    seed: optionalInteger(values.seed, "--seed") ?? 1,
    providers: optionalInteger(values.providers, "--providers", 1, 40) ?? 8,
    clients: optionalInteger(values.clients, "--clients", 1, 100) ?? 14,
    historyHours: optionalInteger(values["history-hours"], "--history-hours", 0, 24 * 90) ?? 36,
    liveTickMs: optionalInteger(values["live-tick-ms"], "--live-tick-ms", 100) ?? 3_000,
    simulate: !values["no-simulation"],
    agents: optionalInteger(values.agents, "--agents", 0, 8) ?? 2,
    workloadEveryMs: optionalInteger(values["workload-every-ms"], "--workload-every-ms", 1000) ?? 20_000,
    failoverEvery: optionalInteger(values["failover-every"], "--failover-every", 0) ?? 4,
    dbFile: values.db ?? path.join(ROOT, ".gpumesh", "market.db"),
    historyBlocks: resolveHistoryBlocks(values),
  };
  // Under `npm start` (whose script execs us), npm is our parent: when it is killed, even by SIGKILL, stop everything
  // as on Ctrl-C.
  if (process.env.npm_lifecycle_event === "start") stopWhenParentIsGone();

  const [viem, { mnemonicToAccount }, { deployGpuMesh }, { loadDeployment }, { createLogger }, { startIndexAndServe }, { runSimulation, TEST_MNEMONIC }] =
    await Promise.all([
      import("viem"),
      import("viem/accounts"),
      import("../../chain/deploy"),
      import("../../chain/deployment"),
      import("../../internal/logger"),
      import("../../service"),
      import("../../sim/simulate"),
    ]);
  const logger = createLogger({ name: "gpumesh-start", level: process.env.GPUMESH_LOG_LEVEL ?? "warn" });
  const say = (line: string) => process.stdout.write(line + "\n");
  for (const [port, flag] of [
    [options.chainPort, "--chain-port"],
    [options.apiPort, "--api-port"],
  ] as const) {
    if (!(await portIsFree(port))) throw portInUse(port, flag);
  }

  const rpcUrl = `http://${HOST}:${options.chainPort}`;
  say("GPU Mesh: compiling contracts ...");
  await hardhat(["compile", "--quiet"]);
  say("GPU Mesh: building the web app ...");
  await (await import("../../web/build")).buildWebApp();

  say(`GPU Mesh: starting the embedded chain at ${rpcUrl} ...`);
  const node = spawnNodeTiedToParent(HARDHAT_CLI, ["node", "--hostname", HOST, "--port", String(options.chainPort)], {
    cwd: ROOT,
    stdio: ["ignore", "ignore", "pipe"],
    // Its own process group: a terminal's Ctrl-C reaches only us, and we stop the chain last, after the indexer and
    // the simulation have let go of it. Tied to us, it also exits when we are killed without a chance to stop it.
    detached: true,
  });
  const killNodeOnExit = () => node.kill("SIGKILL");
  process.once("exit", killNodeOnExit);
  let nodeErrors = "";
  node.stderr?.on("data", (chunk: Buffer) => {
    nodeErrors = (nodeErrors + chunk.toString()).slice(-4_000);
  });
  const cleanup: Array<() => Promise<void>> = [
    async () => {
      await stopChild(node);
      process.off("exit", killNodeOnExit);
    },
  ];
  const shutdown = async () => {
    for (const step of cleanup.reverse()) await step().catch((error) => logger.error({ msg: "shutdown step failed", error: String(error) }));
  };
  const signal = untilShutdownSignal();

  try {
    await waitForRpc(rpcUrl, node, 60_000).catch((error) => {
      throw new ConfigError(`${(error as Error).message}${nodeErrors ? `\n${nodeErrors}` : ""}`);
    });

    const { createPublicClient, createWalletClient, defineChain, http } = viem;
    const chain = defineChain({
      id: 31337,
      name: "GPU Mesh local",
      nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 },
      rpcUrls: { default: { http: [rpcUrl] } },
    });
    const transport = http(rpcUrl);
    const publicClient = createPublicClient({ chain, transport, pollingInterval: 100 });
    const deployer = mnemonicToAccount(TEST_MNEMONIC, { addressIndex: 0 });
    const walletClient = createWalletClient({ chain, transport, account: deployer, pollingInterval: 100 });
    say("GPU Mesh: deploying contracts and the GPU catalog ...");
    const deploymentFile = await deployGpuMesh({
      publicClient: publicClient as never,
      walletClient,
      network: "localhost",
      artifactsDir: path.join(ROOT, "artifacts"),
    });
    const deploymentPath = path.join(ROOT, "deployments", `${deploymentFile.chainId}.json`);
    fs.mkdirSync(path.dirname(deploymentPath), { recursive: true });
    fs.writeFileSync(deploymentPath, JSON.stringify(deploymentFile, null, 2) + "\n");
    const deployment = loadDeployment(deploymentPath);

    // The chain is new, so is the index.
    fs.mkdirSync(path.dirname(options.dbFile), { recursive: true });
    for (const suffix of ["", "-wal", "-shm"]) fs.rmSync(options.dbFile + suffix, { force: true });
    const service = await startIndexAndServe({
      rpcUrls: [rpcUrl],
      deployment,
      dbFile: options.dbFile,
      host: HOST,
      port: options.apiPort,
      logger,
      confirmations: 0,
      pollIntervalMs: 500,
      historyBlocks: options.historyBlocks,
    });
    cleanup.push(() => service.stop());

    // One write: a reader of the output sees the whole banner at once (deriving the keys takes a moment).
    const banner: string[] = [];
    banner.push("");
    banner.push("GPU Mesh is running locally.");
    banner.push(`  web app        ${service.server.url}/`);
    banner.push(`  GraphQL API    ${service.server.url}/graphql   (GraphiQL in a browser)`);
    banner.push(`  health         ${service.server.url}/health, ${service.server.url}/ready, ${service.server.url}/metrics`);
    banner.push(`  chain RPC      ${rpcUrl}   (chain id ${deployment.chainId})`);
    banner.push(`  deployment     ${path.relative(process.cwd(), deploymentPath) || deploymentPath}`);
    banner.push(`  index          ${path.relative(process.cwd(), options.dbFile) || options.dbFile}`);
    banner.push(`  tokens         ${deployment.tokens.payment.symbol} ${deployment.tokens.payment.address}, ${deployment.tokens.stake.symbol} ${deployment.tokens.stake.address} (anyone can mint)`);
    banner.push("  funded test accounts (public Hardhat keys: never use them on a real chain):");
    for (let index = 0; index < SHOWN_ACCOUNTS; index++) {
      const account = mnemonicToAccount(TEST_MNEMONIC, { addressIndex: index });
      const key = Buffer.from(account.getHdKey().privateKey!).toString("hex");
      const role = index === 0 ? "governance, arbiter, treasury" : "yours: the simulation does not use it";
      banner.push(`    #${index} ${account.address}  key 0x${key}  (${role})`);
    }
    banner.push(`    ... #1 to #19 of the mnemonic "${TEST_MNEMONIC}" are yours too; the simulation uses #20 and up`);
    banner.push("  try: npx gpumesh market capacity   |   npx gpumesh market prices --model H100-SXM-80GB");
    banner.push("Press Ctrl-C to stop.");
    banner.push("");
    say(banner.join("\n"));

    const simulationStop = new AbortController();
    let agentMarket: Promise<void> | null = null;
    const startAgents = () => {
      if (options.agents === 0) return;
      agentMarket = import("../../sim/agents").then(({ runAgentMarket }) =>
        runAgentMarket({
          rpcUrl,
          deploymentFile: deploymentPath,
          apiUrl: `${service.server.url}/graphql`,
          dir: path.join(path.dirname(options.dbFile), "agents"),
          mnemonic: TEST_MNEMONIC,
          accountOffset: AGENT_ACCOUNT_OFFSET,
          agents: options.agents,
          workloadEveryMs: options.workloadEveryMs,
          // A failover needs a second agent to go to.
          killEvery: options.agents > 1 ? options.failoverEvery : 0,
          say,
          signal: simulationStop.signal,
        }),
      );
      // A failing agent market is reported; the rest of the local market goes on.
      agentMarket.catch((error: unknown) => process.stderr.write(`gpumesh start: agents: ${(error as Error).message}\n`));
    };
    const simulation = options.simulate
      ? runSimulation({
          rpcUrl,
          deployment,
          seed: options.seed,
          providers: options.providers,
          clients: options.clients,
          hours: options.historyHours,
          accountOffset: SIMULATION_ACCOUNT_OFFSET,
          logger,
          live: { tickDelayMs: options.liveTickMs, signal: simulationStop.signal },
          onHistoryDone: (result) => {
            say(
              `simulation: ${options.historyHours} h of history in place (${result.jobs} jobs, ${result.transactions} transactions); going live, one 10-minute tick every ${options.liveTickMs} ms`,
            );
            startAgents();
          },
        })
      : null;
    cleanup.push(async () => {
      simulationStop.abort();
      await simulation?.catch(() => undefined);
      await (agentMarket as Promise<void> | null)?.catch(() => undefined);
    });

    const outcome = await Promise.race([
      signal.then((name) => ({ kind: "signal" as const, name })),
      service.indexing.then(
        () => ({ kind: "indexer-stopped" as const }),
        (error: unknown) => ({ kind: "indexer-failed" as const, error }),
      ),
      ...(simulation
        ? [simulation.then(() => ({ kind: "simulation-ended" as const }), (error: unknown) => ({ kind: "simulation-failed" as const, error }))]
        : []),
    ]);
    if (outcome.kind === "signal") {
      say(`\n${outcome.name}: stopping the simulation, the indexer, the API and the chain ...`);
      return 0;
    }
    if ("error" in outcome) {
      process.stderr.write(`gpumesh start: ${outcome.kind}: ${(outcome.error as Error)?.message ?? outcome.error}\n`);
      return 1;
    }
    process.stderr.write(`gpumesh start: ${outcome.kind}\n`);
    return 1;
  } finally {
    await shutdown();
    say("GPU Mesh stopped.");
  }
}

export const command: Command = { help: HELP, run };

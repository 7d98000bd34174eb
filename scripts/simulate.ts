/**
 * Runs the seeded market simulation against a node whose accounts are funded (hardhat node, anvil, or any chain where
 * the mnemonic's index 0 holds gas money and the tokens are dev tokens):
 *   node -r ts-node/register/transpile-only scripts/simulate.ts --seed 7 --hours 48
 * Options: --rpc URL, --deployment FILE (env GPUMESH_RPC_URL / GPUMESH_DEPLOYMENT), --seed N, --providers N,
 * --clients N, --hours N, --jobs-per-client-hour X, --account-offset N, --actions FILE (write every action as JSON),
 * --json (print the summary as JSON). Keys come from GPUMESH_MNEMONIC, else the standard test mnemonic.
 */
import fs from "node:fs";
import { parseArgs } from "node:util";
import { loadDeployment } from "../src/chain/deployment";
import { createLogger } from "../src/internal/logger";
import { runSimulation } from "../src/sim/simulate";

function numberOption(value: string | undefined, flag: string, fallback: number, { integer = true, min = 0 } = {}): number {
  if (value === undefined) return fallback;
  const parsed = Number(value);
  if (!Number.isFinite(parsed) || parsed < min || (integer && !Number.isInteger(parsed))) {
    throw new Error(`${flag}: "${value}" is not a ${integer ? "whole " : ""}number >= ${min}`);
  }
  return parsed;
}

async function main(): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: process.argv.slice(2),
      strict: true,
      options: {
        rpc: { type: "string" },
        deployment: { type: "string" },
        seed: { type: "string" },
        providers: { type: "string" },
        clients: { type: "string" },
        hours: { type: "string" },
        "jobs-per-client-hour": { type: "string" },
        "account-offset": { type: "string" },
        actions: { type: "string" },
        json: { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
    }));
  } catch (error) {
    console.error(`simulate: ${(error as Error).message}`);
    return 2;
  }
  if (values.help) {
    console.log(fs.readFileSync(__filename, "utf8").split("*/")[0]!.replace(/^\/\*\*?|^ \* ?/gm, "").trim());
    return 0;
  }
  let options;
  try {
    options = {
      seed: numberOption(values.seed, "--seed", 1),
      providers: numberOption(values.providers, "--providers", 6, { min: 1 }),
      clients: numberOption(values.clients, "--clients", 10, { min: 1 }),
      hours: numberOption(values.hours, "--hours", 48, { integer: false }),
      jobsPerClientHour: numberOption(values["jobs-per-client-hour"], "--jobs-per-client-hour", 0.35, { integer: false }),
      accountOffset: numberOption(values["account-offset"], "--account-offset", 1, { min: 1 }),
    };
  } catch (error) {
    console.error(`simulate: ${(error as Error).message}`);
    return 2;
  }
  const rpcUrl = values.rpc || process.env.GPUMESH_RPC_URL || "http://127.0.0.1:8545";
  const deployment = loadDeployment(values.deployment || process.env.GPUMESH_DEPLOYMENT || "deployments/31337.json");
  const logger = createLogger({ name: "simulate" });
  const result = await runSimulation({
    rpcUrl,
    deployment,
    logger,
    mnemonic: process.env.GPUMESH_MNEMONIC || undefined,
    ...options,
  });
  if (values.actions) fs.writeFileSync(values.actions, JSON.stringify(result.actions, null, 2) + "\n");
  const { actions, ...summary } = result;
  if (values.json) {
    console.log(JSON.stringify(summary, null, 2));
  } else {
    console.log(`seed ${summary.seed}: ${summary.jobs} jobs on ${summary.offers} offers, ${summary.transactions} transactions (${summary.failedActions} refused actions) over ${summary.simulatedSeconds / 3600} h`);
    console.log(`job states:  ${Object.entries(summary.jobStates).map(([state, count]) => `${state.toLowerCase()} ${count}`).join(", ")}`);
    console.log(`transitions: ${Object.entries(summary.transitions).map(([name, count]) => `${name} ${count}`).join(", ")}`);
  }
  return 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error) => {
    console.error(error);
    process.exitCode = 1;
  },
);

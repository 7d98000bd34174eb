import { EXIT_USAGE, EXIT_OK } from "./lib/errors";
import { runCommand, type CommandModule } from "./lib/command";

/**
 * `gpumesh <command> ...`: the commands as data. Each module in src/cli/commands/ is loaded only when its command
 * runs, so that `gpumesh --help` (and a command's own help) loads none of viem, GraphQL, SQLite or the logger.
 */
const COMMANDS: Record<string, { summary: string; load: () => Promise<CommandModule> }> = {
  start: { summary: "run the whole market locally: chain, contracts, simulation, indexer and GraphQL API", load: () => import("./commands/start") },
  index: { summary: "index the contracts' events from a JSON-RPC node into a SQLite database", load: () => import("./commands/index") },
  serve: { summary: "serve the GraphQL API over an index database that another process writes (read-only)", load: () => import("./commands/serve") },
  run: { summary: "index the chain and serve the GraphQL API in one process", load: () => import("./commands/run") },
  wallet: { summary: "create, import and inspect wallets (encrypted keystores, env keys)", load: () => import("./commands/wallet") },
  provider: { summary: "register, stake, list offers and run jobs as a GPU provider", load: () => import("./commands/provider") },
  client: { summary: "find offers, rent GPUs, and manage your jobs as a client", load: () => import("./commands/client") },
  arbiter: { summary: "resolve disputes as the arbiter, or finalize stale ones (anyone)", load: () => import("./commands/arbiter") },
  agent: { summary: "run the provider agent (accept, run, heartbeat, complete jobs), or show its status", load: () => import("./commands/agent") },
  market: { summary: "market capacity, prices and totals from the GraphQL API", load: () => import("./commands/market") },
};

function usage(): string {
  return [
    "usage: gpumesh <command> [options]",
    "",
    "commands:",
    ...Object.entries(COMMANDS).map(([name, { summary }]) => `  ${name.padEnd(10)} ${summary}`),
    "",
    "`gpumesh <command> --help` shows a command's options.",
  ].join("\n");
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === "--help" || name === "-h" || name === "help") {
    (name ? process.stdout : process.stderr).write(usage() + "\n");
    return name ? EXIT_OK : EXIT_USAGE;
  }
  const entry = COMMANDS[name];
  if (!entry) {
    process.stderr.write(`gpumesh: unknown command "${name}"\n\n${usage()}\n`);
    return EXIT_USAGE;
  }
  return runCommand(name, (await entry.load()).command, rest);
}

import { GpuMeshError } from "../internal/errors";

/**
 * `gpumesh <command> ...`: each command lives in src/cli/commands/<name>.ts and exports
 * `run(argv: string[]): Promise<number>` (the exit code) and `summary`.
 */
const COMMANDS: Record<string, () => Promise<{ run(argv: string[]): Promise<number>; summary: string }>> = {
  start: () => import("./commands/start"),
  index: () => import("./commands/index"),
  serve: () => import("./commands/serve"),
  run: () => import("./commands/run"),
  wallet: () => import("./commands/wallet"),
  provider: () => import("./commands/provider"),
  client: () => import("./commands/client"),
  arbiter: () => import("./commands/arbiter"),
  market: () => import("./commands/market"),
};

async function usage(): Promise<string> {
  const lines = ["usage: gpumesh <command> [options]", "", "commands:"];
  for (const [name, load] of Object.entries(COMMANDS)) {
    const summary = await load().then((m) => m.summary).catch(() => "(unavailable)");
    lines.push(`  ${name.padEnd(10)} ${summary}`);
  }
  lines.push("", "`gpumesh <command> --help` shows a command's options.");
  return lines.join("\n");
}

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (!command || command === "--help" || command === "-h" || command === "help") {
    console.log(await usage());
    return command ? 0 : 2;
  }
  const load = COMMANDS[command];
  if (!load) {
    console.error(`gpumesh: unknown command "${command}"\n\n${await usage()}`);
    return 2;
  }
  try {
    return await (await load()).run(rest);
  } catch (error) {
    if (error instanceof GpuMeshError) {
      console.error(`gpumesh ${command}: ${error.message}`);
      return 1;
    }
    throw error;
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (error) => {
      console.error(error);
      process.exitCode = 1;
    },
  );
}

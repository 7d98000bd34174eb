import { GpuMeshError, UsageError } from "../../internal/errors";
import { parseCommandArgs, type OptionSpecs, type ParsedArgs } from "./args";
import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE } from "./errors";

/** A leaf command (`provider stake`, `serve`) or a group of them (`provider offer`). */
export interface Subcommand {
  summary: string;
  /** Usage line and option help, printed by --help and after a usage error. */
  help: string;
  run?: (argv: string[]) => Promise<number | void>;
  subcommands?: Record<string, Subcommand>;
}

/** What a module in src/cli/commands/ exports; its summary lives in main.ts, so that help loads no command module. */
export type Command = Omit<Subcommand, "summary">;
export interface CommandModule {
  command: Command;
}

/** Parses a leaf command's arguments; returns null after printing the help for --help. */
export function parseOrHelp<T extends OptionSpecs>(
  argv: string[],
  options: T,
  help: string,
  positionals: number | [number, number] = 0,
): ParsedArgs<T> | null {
  const parsed = parseCommandArgs(argv, options, positionals);
  if ((parsed.values as { help?: boolean }).help) {
    process.stdout.write(help.trimEnd() + "\n");
    return null;
  }
  return parsed;
}

function groupHelp(path: string, subcommands: Record<string, Subcommand>): string {
  const names = Object.keys(subcommands);
  const width = Math.max(...names.map((name) => name.length));
  return [
    `usage: gpumesh ${path} <command> [options]`,
    "",
    "commands:",
    ...names.map((name) => `  ${name.padEnd(width)}  ${subcommands[name]!.summary}`),
    "",
    `\`gpumesh ${path} <command> --help\` shows a command's options.`,
  ].join("\n");
}

/**
 * Runs `gpumesh <path> ...`, dispatching groups to their subcommands, and maps failures to exit codes: 2 for usage
 * errors (the message names the flag, then the usage line), 1 for failures at run time (a decoded revert, a wrong
 * password, an unreachable node, a port in use).
 */
export async function runCommand(path: string, command: Command, argv: string[]): Promise<number> {
  if (command.subcommands) {
    const [name, ...rest] = argv;
    if (!name || name === "--help" || name === "-h" || name === "help") {
      (name ? process.stdout : process.stderr).write(groupHelp(path, command.subcommands) + "\n");
      return name ? EXIT_OK : EXIT_USAGE;
    }
    const subcommand = command.subcommands[name];
    if (!subcommand) {
      process.stderr.write(`gpumesh ${path}: unknown command "${name}"\n\n${groupHelp(path, command.subcommands)}\n`);
      return EXIT_USAGE;
    }
    return runCommand(`${path} ${name}`, subcommand, rest);
  }
  try {
    return (await command.run!(argv)) ?? EXIT_OK;
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`gpumesh ${path}: ${error.message}\n${command.help.split("\n")[0]}\n`);
      return EXIT_USAGE;
    }
    if (error instanceof GpuMeshError) {
      process.stderr.write(`gpumesh ${path}: ${error.message}\n`);
      return EXIT_FAILURE;
    }
    // Only an unexpected failure needs viem's error classes to be put into words.
    const { describeError } = await import("./revert");
    const message = describeError(error, { payment: { symbol: "", decimals: 0 }, stake: { symbol: "", decimals: 0 } });
    process.stderr.write(`gpumesh ${path}: ${message}\n`);
    if (process.env.GPUMESH_DEBUG) console.error(error);
    return EXIT_FAILURE;
  }
}

/**
 * The self time of a V8 CPU profile (`node --cpu-prof`), by function and by file: where a process spent its thread.
 * `node -r ts-node/register/transpile-only scripts/lib/profile-summary.ts FILE.cpuprofile [--top 30]`.
 * Idle time ("(idle)", the event loop waiting) is counted apart and left out of the shares.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";

/**
 * The node flags that profile a benchmark's child process (`--cpu-prof` of bench:indexer and bench:scale) into one
 * directory under the system's temp directory, named on stderr; none when `profile` is false.
 */
export function cpuProfileFlags(profile: boolean, what: string): string[] {
  if (!profile) return [];
  const dir = path.join(os.tmpdir(), "gpumesh-bench-profiles");
  fs.mkdirSync(dir, { recursive: true });
  process.stderr.write(`CPU profile of ${what} goes to ${dir} (scripts/lib/profile-summary.ts summarizes it)\n`);
  return ["--cpu-prof", "--cpu-prof-dir", dir];
}

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}

interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

function summarize(profile: Profile, top: number): string {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const byFunction = new Map<string, number>();
  const byFile = new Map<string, number>();
  let busyUs = 0;
  let idleUs = 0;
  profile.samples.forEach((id, index) => {
    const us = profile.timeDeltas[index] ?? 0;
    const frame = byId.get(id)!.callFrame;
    if (frame.functionName === "(idle)") return void (idleUs += us);
    busyUs += us;
    const file = frame.url ? frame.url.replace(/^file:\/\//, "").replace(`${process.cwd()}${path.sep}`, "") : `(${frame.functionName || "native"})`;
    const name = `${frame.functionName || "(anonymous)"} ${file}:${frame.lineNumber + 1}`;
    byFunction.set(name, (byFunction.get(name) ?? 0) + us);
    byFile.set(file, (byFile.get(file) ?? 0) + us);
  });
  const table = (title: string, rows: Map<string, number>) =>
    [
      title,
      ...[...rows.entries()]
        .sort((a, b) => b[1] - a[1])
        .slice(0, top)
        .map(([name, us]) => `  ${((100 * us) / busyUs).toFixed(1).padStart(5)} %  ${(us / 1000).toFixed(0).padStart(7)} ms  ${name}`),
    ].join("\n");
  return [
    `busy ${(busyUs / 1000).toFixed(0)} ms, idle ${(idleUs / 1000).toFixed(0)} ms`,
    table("self time by function:", byFunction),
    table("self time by file:", byFile),
  ].join("\n");
}

if (require.main === module) {
  const { values, positionals } = parseArgs({ options: { top: { type: "string", default: "30" } }, allowPositionals: true });
  if (positionals.length !== 1) throw new Error("usage: profile-summary.ts FILE.cpuprofile [--top N]");
  console.log(summarize(JSON.parse(fs.readFileSync(positionals[0]!, "utf8")) as Profile, Number(values.top)));
}

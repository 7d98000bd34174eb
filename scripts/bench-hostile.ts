/**
 * Hostile-request benchmark: `npm run bench:hostile [-- --seconds 10 --connections 10 --only TEXT --budget-ms N --slice-ms N]`.
 *
 * 1. Builds a real SQLite store (the GraphQL tests' market plus 3,000 jobs, so that a legitimate query can be
 *    expensive) in a temporary directory, removed at the end.
 * 2. Starts the GraphQL server over it in its own process (this script with --serve).
 * 3. For each phase, runs autocannon in another process against a normal dashboard query (it names _meta, so the
 *    response cache never answers it: every request goes through GraphQL) while this process loops one hostile
 *    request, one at a time, as fast as the server answers it. The first phase has no hostile client.
 * 4. Prints the normal query's p50/p99 per phase, the server's event-loop delay (p99 and max, measured in the server
 *    process: how long its one thread was held, whatever the load generator's own scheduling on a busy machine)
 *    and the hostile requests' count, answer and latency; exits 1 when a phase's p99 is over the target (100 ms).
 * 5. A whole run (every phase, the server's own budget) writes the figures to bench/hostile.json.
 */
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { monitorEventLoopDelay, performance } from "node:perf_hooks";
import { parseArgs } from "node:util";
import Database from "better-sqlite3";
import { getIntrospectionQuery } from "graphql";
import { createGraphqlApp, createServer } from "../src/graphql/app";
import { silentLogger } from "../src/internal/logger";
import { createFixture, type Fixture } from "../test/indexer/graphql-fixture";
import { aliasedIntrospection, doublingFragments, HEAVY_QUERY } from "../test/indexer/graphql-hostile-queries";

const ROOT = path.join(__dirname, "..");
const TARGET_P99_MS = 100;
const EXTRA_JOBS = 3_000;
const NORMAL_QUERY = `{ _meta { block { number } } market { providers volume gpuHoursSold utilization }
  jobs(first: 10, orderBy: CREATED_AT, orderDirection: DESC) { items { id state price gpus provider { address } } } }`;

/** Each hostile request as a function of a counter: a comment makes every one distinct, past the response cache. */
const HOSTILE: Record<string, (n: number) => string> = {
  "legitimate query near the cost limit (runs into the time budget)": (n) => `${HEAVY_QUERY} # ${n}`,
  "22 levels of fragments spreading the next twice": (n) => `${doublingFragments(22, false)} # ${n}`,
  "one field 16,000 times": (n) => `{ market { ${"providers ".repeat(16_000)} } } # ${n}`,
  "140 x 140 aliases of __schema { types { fields } }": (n) => `${aliasedIntrospection(140, 140)} # ${n}`,
  "aliased introspection just over the cost limit": (n) =>
    `${aliasedIntrospection(10, 9, "...Fields")} fragment Fields on __Type { fields { type { name } args { type { name } } } } # ${n}`,
  "GraphiQL's introspection query": (n) => `${getIntrospectionQuery({ descriptions: true, inputValueDeprecation: true })} # ${n}`,
  "selection nested 5,000 levels": (n) => `{ ${"market { ".repeat(5_000)}providers${" }".repeat(5_000)} } # ${n}`,
};

// ------------------------------------------------------------------ server process
async function serve(file: string, budget: { requestTimeBudgetMs?: number; executionSliceMs?: number }): Promise<void> {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  const server = await createServer({ app: createGraphqlApp({ db, logger: silentLogger(), ...budget }), host: "127.0.0.1", port: 0 });
  // The parent asks for the event-loop delay of each phase over the IPC channel.
  const delay = monitorEventLoopDelay({ resolution: 5 });
  delay.enable();
  process.on("message", (message) => {
    if (message === "reset") return delay.reset();
    process.send!({ p99Ms: delay.percentile(99) / 1e6, maxMs: delay.max / 1e6 });
  });
  process.stdout.write(`listening ${server.url}\n`);
  process.on("SIGTERM", () => void server.close().then(() => process.exit(0)));
}

// ------------------------------------------------------------------ store
function buildStore(): Fixture {
  const fixture = createFixture();
  const template = fixture.writer.prepare("SELECT * FROM jobs WHERE id = 2").get() as Record<string, unknown>;
  const columns = Object.keys(template);
  const insert = fixture.writer.prepare(`INSERT INTO jobs (${columns.join(", ")}) VALUES (${columns.map((c) => "@" + c).join(", ")})`);
  fixture.writer.transaction(() => {
    for (let id = 100; id < 100 + EXTRA_JOBS; id++) insert.run({ ...template, id });
  })();
  return fixture;
}

// ------------------------------------------------------------------ processes
function startServer(file: string, budgetArgs: string[]): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, ["-r", "ts-node/register/transpile-only", __filename, "--serve", file, ...budgetArgs], {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "inherit", "ipc"],
  });
  return new Promise((resolve, reject) => {
    let out = "";
    child.stdout!.on("data", (chunk) => {
      out += chunk;
      const match = /listening (\S+)/.exec(out);
      if (match) resolve({ child, url: match[1] });
    });
    child.once("exit", (code) => reject(new Error(`server exited with ${code}`)));
  });
}

interface LoadResult {
  requests: number;
  non2xx: number;
  errors: number;
  p50: number;
  p99: number;
  max: number;
}

function runAutocannon(url: string, seconds: number, connections: number): Promise<LoadResult> {
  const bin = path.join(ROOT, "node_modules", "autocannon", "autocannon.js");
  const args = [bin, "-c", String(connections), "-d", String(seconds), "-m", "POST", "-H", "content-type=application/json", "-b", JSON.stringify({ query: NORMAL_QUERY }), "-j", `${url}/graphql`];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    child.stdout!.on("data", (chunk) => (out += chunk));
    child.once("exit", (code) => {
      if (code !== 0) return reject(new Error(`autocannon exited with ${code}`));
      const report = JSON.parse(out) as {
        requests: { total: number };
        latency: { p50: number; p99: number; max: number };
        non2xx: number;
        errors: number;
      };
      resolve({ requests: report.requests.total, non2xx: report.non2xx, errors: report.errors, p50: report.latency.p50, p99: report.latency.p99, max: report.latency.max });
    });
  });
}

interface LoopDelay {
  p99Ms: number;
  maxMs: number;
}

/** The server's event-loop delay since the last call. */
function loopDelay(server: ChildProcess): Promise<LoopDelay> {
  return new Promise((resolve) => {
    server.once("message", (message) => {
      server.send("reset");
      resolve(message as LoopDelay);
    });
    server.send("report");
  });
}

interface HostileResult {
  requests: number;
  answers: Map<string, number>;
  p50: number;
  max: number;
}

/** Loops one hostile request until `stop` resolves; records what each answer was and how long it took. */
async function loopHostile(url: string, query: (n: number) => string, stop: Promise<unknown>): Promise<HostileResult> {
  let stopped = false;
  void stop.then(() => (stopped = true));
  const latencies: number[] = [];
  const answers = new Map<string, number>();
  for (let n = 0; !stopped; n++) {
    const started = performance.now();
    const response = await fetch(`${url}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/json" },
      body: JSON.stringify({ query: query(n) }),
    });
    const text = await response.text();
    latencies.push(performance.now() - started);
    let answer = `HTTP ${response.status}`;
    try {
      const body = JSON.parse(text) as { errors?: Array<{ extensions?: { code?: string } }> };
      answer = body.errors ? String(body.errors[0].extensions?.code ?? "error") : "data";
    } catch {
      // not JSON: the status says it
    }
    answers.set(answer, (answers.get(answer) ?? 0) + 1);
  }
  latencies.sort((a, b) => a - b);
  return { requests: latencies.length, answers, p50: latencies[Math.floor(latencies.length / 2)] ?? 0, max: latencies[latencies.length - 1] ?? 0 };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      serve: { type: "string" },
      seconds: { type: "string", default: "10" },
      connections: { type: "string", default: "10" },
      // The server's defaults (src/graphql/budget.ts) unless given.
      "budget-ms": { type: "string" },
      "slice-ms": { type: "string" },
      // Only the phases whose name contains this text.
      only: { type: "string" },
    },
  });
  const budget = {
    ...(values["budget-ms"] ? { requestTimeBudgetMs: Number(values["budget-ms"]) } : {}),
    ...(values["slice-ms"] ? { executionSliceMs: Number(values["slice-ms"]) } : {}),
  };
  if (values.serve) return serve(values.serve, budget);
  const budgetArgs = Object.entries({ "budget-ms": values["budget-ms"], "slice-ms": values["slice-ms"] }).flatMap(([name, value]) =>
    value ? [`--${name}`, value] : [],
  );
  const seconds = Number(values.seconds);
  const connections = Number(values.connections);

  const fixture = buildStore();
  const { child, url } = await startServer(fixture.file, budgetArgs);
  const rows: Array<{ phase: string; load: LoadResult; delay: LoopDelay; hostile?: HostileResult }> = [];
  try {
    // Warm-up: ts-node and V8 compile the paths once before anything is measured.
    await runAutocannon(url, 2, connections);
    await loopDelay(child);
    const load = await runAutocannon(url, seconds, connections);
    rows.push({ phase: "no hostile client", load, delay: await loopDelay(child) });
    for (const [phase, query] of Object.entries(HOSTILE).filter(([name]) => !values.only || name.includes(values.only!))) {
      const load = runAutocannon(url, seconds, connections);
      const hostile = await loopHostile(url, query, load);
      rows.push({ phase, load: await load, delay: await loopDelay(child), hostile });
    }
  } finally {
    child.kill("SIGTERM");
    fixture.close();
  }

  console.log(`normal query: ${connections} connections for ${seconds} s per phase (autocannon); target p99 <= ${TARGET_P99_MS} ms`);
  console.log(`load average at the end: ${os.loadavg().map((value) => value.toFixed(1)).join(" ")} (${os.cpus().length} cores)`);
  console.log("phase | normal req | p50 ms | p99 ms | max ms | non-2xx | server loop delay p99 / max ms | hostile req | hostile answers | hostile p50 ms | hostile max ms");
  for (const { phase, load, delay, hostile } of rows) {
    const answers = hostile ? [...hostile.answers].map(([answer, count]) => `${answer} x${count}`).join(", ") : "-";
    console.log(
      [phase, load.requests, load.p50, load.p99, load.max, load.non2xx + load.errors, `${delay.p99Ms.toFixed(0)} / ${delay.maxMs.toFixed(0)}`, hostile?.requests ?? "-", answers, hostile ? hostile.p50.toFixed(0) : "-", hostile ? hostile.max.toFixed(0) : "-"].join(" | "),
    );
  }
  const worst = rows.reduce((a, b) => (b.load.p99 > a.load.p99 ? b : a));
  console.log(`worst p99: ${worst.load.p99} ms (${worst.phase})`);
  if (!values.only && !values["budget-ms"] && !values["slice-ms"]) {
    const report = {
      date: new Date().toISOString(),
      machine: { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model, node: process.version, loadAverage: os.loadavg().map((l) => Number(l.toFixed(2))) },
      normalQuery: NORMAL_QUERY,
      load: `autocannon in its own process, ${connections} connections, ${seconds} s per phase; one hostile client in a loop`,
      phases: rows.map(({ phase, load, delay, hostile }) => ({
        phase,
        normal: load,
        serverLoopDelayMs: { p99: Math.round(delay.p99Ms), max: Math.round(delay.maxMs) },
        hostile: hostile && { requests: hostile.requests, answers: Object.fromEntries(hostile.answers), p50Ms: Math.round(hostile.p50), maxMs: Math.round(hostile.max) },
      })),
      targets: { normalP99Ms: TARGET_P99_MS, worstP99Ms: worst.load.p99, worstPhase: worst.phase, met: worst.load.p99 <= TARGET_P99_MS },
    };
    fs.writeFileSync(path.join(ROOT, "bench", "hostile.json"), JSON.stringify(report, null, 2) + "\n");
    console.log("wrote bench/hostile.json");
  }
  if (worst.load.p99 > TARGET_P99_MS) process.exitCode = 1;
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});

/**
 * The scale benchmark's load generator, run as its own process (never in the server's or the benchmark's event loop):
 * `node -r ts-node/register/transpile-only scripts/lib/scale-load.ts SPEC.json`, or `runLoad(spec)`. autocannon keeps `connections`
 * keep-alive connections POSTing GraphQL for `seconds`, after `warmupSeconds` of the same load unmeasured (the server's
 * JIT, SQLite's and the OS's caches). Request i sends variant i mod n; with `distinct` it adds an unused variable
 * `n: i`, so that no two bodies are equal and the server's whole-response cache never answers. With `commit`, the
 * process holds the database's writer row, as a running indexer does, and records a pass (one commit) every second or
 * before every request it sends: each commit starts the server's caches over (and SQLite's page cache), as an
 * indexer's commit does. Prints one JSON line of figures.
 */
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { openStore } from "../../src/store/db";
import { acquireWriterLock } from "../../src/store/writer-lock";

/** The little of autocannon's API used here (it ships no types). */
interface AutocannonRequest {
  method: string;
  headers: Record<string, string>;
  setupRequest(request: Record<string, unknown>): Record<string, unknown>;
  onResponse(status: number, body: string): void;
}
interface AutocannonResult {
  requests: { total: number; average: number };
  latency: { p50: number; p90: number; p99: number; max: number };
  non2xx: number;
  errors: number;
  timeouts: number;
}
const autocannon = require("autocannon") as (options: {
  url: string;
  connections: number;
  duration: number;
  requests: AutocannonRequest[];
}) => Promise<AutocannonResult>;

export interface LoadSpec {
  url: string;
  connections: number;
  seconds: number;
  warmupSeconds: number;
  query: string;
  variants: Array<Record<string, unknown>>;
  distinct: boolean;
  /** The database to commit to, and when. */
  commit?: { db: string; every: "second" | "request" };
}

export interface LoadFigures {
  requests: number;
  requestsPerSecond: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  maxMs: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  /** 200 answers whose body carries GraphQL errors. */
  graphqlErrors: number;
  /** The first of those errors' message, to say what failed. */
  firstGraphqlError?: string;
  commits: number;
}

async function main(): Promise<void> {
  const spec = JSON.parse(fs.readFileSync(process.argv[2]!, "utf8")) as LoadSpec;
  let commits = 0;
  let commit: () => void = () => undefined;
  let release: () => void = () => undefined;
  if (spec.commit) {
    const store = openStore({ file: spec.commit.db });
    const lock = acquireWriterLock(store, 1000);
    // recordPass's statement (recordPass itself is throttled to once a second). An UPDATE that leaves the row as it
    // was commits nothing, so seen_at moves by at least a millisecond each time.
    const pass = store.db.prepare("UPDATE indexer_writer SET seen_at = ? WHERE id = 1 AND pid = ?");
    let seenAt = 0;
    commit = () => {
      seenAt = Math.max(Date.now(), seenAt + 1);
      pass.run(seenAt, process.pid);
      commits += 1;
    };
    const timer = spec.commit.every === "second" ? setInterval(commit, 1000) : undefined;
    release = () => {
      clearInterval(timer);
      lock.release();
      store.close();
    };
  }
  const commitPerRequest = spec.commit?.every === "request";
  let sent = 0;
  let graphqlErrors = 0;
  let firstGraphqlError: string | undefined;
  const run = (seconds: number) =>
    autocannon({
      url: spec.url,
      connections: spec.connections,
      duration: seconds,
      requests: [
        {
          method: "POST",
          headers: { "content-type": "application/json" },
          setupRequest(request) {
            const variant = spec.variants[sent % spec.variants.length];
            const variables = spec.distinct ? { ...variant, n: sent } : variant;
            sent += 1;
            if (commitPerRequest) commit();
            return { ...request, body: JSON.stringify({ query: spec.query, variables }) };
          },
          onResponse(status, body) {
            if (status === 200 && body.includes('"errors"')) {
              graphqlErrors += 1;
              firstGraphqlError ??= (JSON.parse(body) as { errors: Array<{ message: string }> }).errors[0]?.message;
            }
          },
        },
      ],
    });
  await run(spec.warmupSeconds);
  const warmupCommits = commits;
  graphqlErrors = 0;
  firstGraphqlError = undefined;
  const result = await run(spec.seconds);
  release();
  const figures: LoadFigures = {
    requests: result.requests.total,
    requestsPerSecond: Math.round(result.requests.average),
    p50Ms: result.latency.p50,
    p90Ms: result.latency.p90,
    p99Ms: result.latency.p99,
    maxMs: result.latency.max,
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    graphqlErrors,
    firstGraphqlError,
    commits: commits - warmupCommits,
  };
  process.stdout.write(`${JSON.stringify(figures)}\n`);
}

/** The requests of a run that did not answer data: non-2xx, connection errors, timeouts and GraphQL errors. */
export const failuresOf = (figures: LoadFigures) => figures.non2xx + figures.errors + figures.timeouts + figures.graphqlErrors;

/** Runs the load generator in its own process (as the header says) and resolves with its figures. */
export function runLoad(spec: LoadSpec): Promise<LoadFigures> {
  const specFile = path.join(os.tmpdir(), `gpumesh-load-${process.pid}-${Date.now()}.json`);
  fs.writeFileSync(specFile, JSON.stringify(spec));
  const child = spawn(process.execPath, ["-r", "ts-node/register/transpile-only", __filename, specFile], {
    cwd: path.join(__dirname, "..", ".."),
    stdio: ["ignore", "pipe", "inherit"],
  });
  let out = "";
  child.stdout!.on("data", (chunk: Buffer) => (out += chunk.toString()));
  return new Promise((resolve, reject) => {
    child.once("exit", (code) => {
      fs.rmSync(specFile, { force: true });
      if (code !== 0) return reject(new Error(`the load generator exited with ${code}`));
      resolve(JSON.parse(out.trim().split("\n").pop()!) as LoadFigures);
    });
  });
}

if (require.main === module) {
  main().catch((error) => {
    console.error(error);
    process.exitCode = 1;
  });
}

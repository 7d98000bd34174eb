/**
 * The scale benchmark's load generator, run as its own process (never in the server's or the benchmark's event loop):
 * `node -r ts-node/register/transpile-only scripts/lib/scale-load.ts SPEC.json`. autocannon keeps `connections`
 * keep-alive connections POSTing GraphQL for `seconds`; request i sends variant i mod n with an extra unused variable
 * `n: i`, so that no two bodies are equal and the server's whole-response cache never answers. A warm-up of
 * `warmupSeconds` under the same load comes first, unmeasured (the server's JIT, SQLite's and the OS's caches). With `commitDb`, the
 * process also holds the database's writer row, as a running indexer does, and records a pass (one commit) before every
 * request it sends: the server's caches of derived results and SQLite's page cache then start over for nearly every
 * request, as right after an indexer's commit. Prints one JSON line of figures.
 */
import fs from "node:fs";
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
  /** A database file to commit to before every request. */
  commitDb?: string;
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
  commits: number;
}

async function main(): Promise<void> {
  const spec = JSON.parse(fs.readFileSync(process.argv[2]!, "utf8")) as LoadSpec;
  let commits = 0;
  let commit: () => void = () => undefined;
  let release: () => void = () => undefined;
  if (spec.commitDb) {
    const store = openStore({ file: spec.commitDb });
    const lock = acquireWriterLock(store, 1000);
    // recordPass is throttled to once a second; this is its statement, run before every request. An UPDATE that
    // leaves the row as it was commits nothing, so seen_at moves by at least a millisecond each time.
    const pass = store.db.prepare("UPDATE indexer_writer SET seen_at = ? WHERE id = 1 AND pid = ?");
    let seenAt = 0;
    commit = () => {
      seenAt = Math.max(Date.now(), seenAt + 1);
      pass.run(seenAt, process.pid);
      commits += 1;
    };
    release = () => {
      lock.release();
      store.close();
    };
  }
  let sent = 0;
  let graphqlErrors = 0;
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
            const variables = { ...spec.variants[sent % spec.variants.length], n: sent };
            sent += 1;
            commit();
            return { ...request, body: JSON.stringify({ query: spec.query, variables }) };
          },
          onResponse(status, body) {
            if (status === 200 && body.includes('"errors"')) graphqlErrors += 1;
          },
        },
      ],
    });
  await run(spec.warmupSeconds);
  const warmupCommits = commits;
  graphqlErrors = 0;
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
    commits: commits - warmupCommits,
  };
  process.stdout.write(`${JSON.stringify(figures)}\n`);
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});

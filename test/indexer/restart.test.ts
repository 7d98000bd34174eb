import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import Database from "better-sqlite3";
import { expect } from "chai";
import { openStore } from "../../src/store/db";
import { createIndexer } from "../../src/sync/indexer";
import { startAnvil, type Anvil } from "./helpers/anvil";
import { dumpTables } from "./helpers/dump";
import { generateActivity } from "./helpers/load";
import { setUpMarket, type MarketSession } from "./helpers/market";

const CLI = path.join(__dirname, "..", "..", "bin", "gpumesh.js");

function readCheckpoint(file: string): number | null {
  if (!fs.existsSync(file)) return null;
  let db: Database.Database | undefined;
  try {
    db = new Database(file, { readonly: true, fileMustExist: true });
    const row = db.prepare("SELECT block_number FROM checkpoint WHERE id = 1").get() as { block_number: number } | undefined;
    return row?.block_number ?? null;
  } catch {
    // Not migrated yet, or the writer holds the schema lock for a moment.
    return null;
  } finally {
    db?.close();
  }
}

function dumpFile(file: string) {
  const store = openStore({ file, readonly: true });
  try {
    return dumpTables(store.db);
  } finally {
    store.close();
  }
}

describe("indexer: restart at any moment", function () {
  let anvil: Anvil;
  let m: MarketSession;
  let dir: string;
  let head: number;
  let reference: ReturnType<typeof dumpTables>;

  const spawnIndexer = (db: string, extra: string[] = []): { child: ChildProcess; exited: Promise<number | null>; stderr: () => string } => {
    const child = spawn(
      process.execPath,
      [CLI, "index", "--rpc", anvil.url, "--deployment", m.deploymentFile, "--db", db, "--log-level", "warn", ...extra],
      { stdio: ["ignore", "ignore", "pipe"] },
    );
    let stderr = "";
    child.stderr!.on("data", (chunk) => (stderr += chunk));
    const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
    return { child, exited, stderr: () => stderr };
  };

  /** Runs the CLI and SIGKILLs it once its checkpoint reaches `atBlock`; returns the checkpoint it died with. */
  const killAt = async (db: string, atBlock: number): Promise<number> => {
    const run = spawnIndexer(db, ["--max-block-range", "1", "--exit-at-head"]);
    for (;;) {
      const checkpoint = readCheckpoint(db);
      if (checkpoint !== null && checkpoint >= atBlock) break;
      if (run.child.exitCode !== null) throw new Error(`indexer exited early (${run.child.exitCode}): ${run.stderr()}`);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    run.child.kill("SIGKILL");
    await run.exited;
    return readCheckpoint(db)!;
  };

  before(async function () {
    anvil = await startAnvil();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "gpumesh-restart-"));
    m = await setUpMarket(anvil.url, { dir });
    await generateActivity(m, 60);
    head = Number(await m.publicClient.getBlockNumber());
    const store = openStore({ file: ":memory:" });
    await createIndexer({ rpcUrls: [anvil.url], deployment: m.deployment, store }).syncOnce();
    reference = dumpTables(store.db);
    store.close();
  });

  after(async function () {
    await anvil?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it("resumes after SIGKILL of the CLI mid-backfill, twice, and ends equal to an uninterrupted run", async function () {
    const db = path.join(dir, "killed.db");
    const start = m.deployment.startBlock;
    const first = await killAt(db, start + Math.floor((head - start) / 4));
    expect(first).to.be.lessThan(head);
    const second = await killAt(db, start + Math.floor(((head - start) * 2) / 3));
    expect(second).to.be.greaterThan(first).and.lessThan(head);
    const finish = spawnIndexer(db, ["--exit-at-head"]);
    expect(await finish.exited, finish.stderr()).to.equal(0);
    expect(dumpFile(db)).to.deep.equal(reference);
  });

  it("resumes between batches with a new indexer each time, equal to an uninterrupted run", async function () {
    const db = path.join(dir, "batches.db");
    for (let runs = 0; ; runs++) {
      expect(runs).to.be.lessThan(1000);
      const store = openStore({ file: db });
      try {
        const indexer = createIndexer({ rpcUrls: [anvil.url], deployment: m.deployment, store, maxBlockRange: 7, initialBlockRange: 3 });
        const result = await indexer.syncOnce({ maxBatches: 2 });
        if (result.caughtUp) break;
      } finally {
        store.close();
      }
    }
    expect(dumpFile(db)).to.deep.equal(reference);
  });

  it("stops cleanly on SIGTERM after the current batch (exit 0), and a restart continues", async function () {
    const db = path.join(dir, "sigterm.db");
    const run = spawnIndexer(db, ["--max-block-range", "1", "--poll-interval-ms", "50"]);
    while ((readCheckpoint(db) ?? 0) < m.deployment.startBlock + 20) await new Promise((resolve) => setTimeout(resolve, 5));
    run.child.kill("SIGTERM");
    expect(await run.exited, run.stderr()).to.equal(0);
    expect(run.stderr()).to.match(/stopping after the current batch/);
    const finish = spawnIndexer(db, ["--exit-at-head"]);
    expect(await finish.exited, finish.stderr()).to.equal(0);
    expect(dumpFile(db)).to.deep.equal(reference);
  });

  it("names an unknown flag and exits 2", async function () {
    const run = spawn(process.execPath, [CLI, "index", "--rpc", anvil.url, "--no-such-flag"], { stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    run.stderr!.on("data", (chunk) => (stderr += chunk));
    const code = await new Promise((resolve) => run.once("exit", resolve));
    expect(code).to.equal(2);
    expect(stderr).to.match(/unknown option --no-such-flag/);
  });
});

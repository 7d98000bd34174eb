import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { expect } from "chai";
import { createGraphqlApp } from "../../src/graphql/app";
import { ConfigError, GpuMeshError } from "../../src/internal/errors";
import { silentLogger } from "../../src/internal/logger";
import { openStore } from "../../src/store/db";
import { createIndexer } from "../../src/sync/indexer";
import { startAnvil, type Anvil } from "./helpers/anvil";
import { generateActivity } from "./helpers/load";
import { setUpMarket, type MarketSession } from "./helpers/market";
import { startFaultProxy } from "./helpers/proxy";

const CLI = path.join(__dirname, "..", "..", "bin", "gpumesh.js");

function failureOf(action: () => unknown): GpuMeshError {
  try {
    action();
  } catch (error) {
    return error as GpuMeshError;
  }
  throw new Error("expected a failure");
}

/** A read-only bind mount of `dir` (read-only media), or null where this machine does not allow mounts. */
function readOnlyMount(dir: string): { dir: string; unmount(): void } | null {
  const target = fs.mkdtempSync(path.join(os.tmpdir(), "gpumesh-ro-"));
  const mounted = spawnSync("mount", ["--bind", dir, target]).status === 0;
  if (!mounted || spawnSync("mount", ["-o", "remount,ro,bind", target]).status !== 0) {
    if (mounted) spawnSync("umount", [target]);
    fs.rmdirSync(target);
    return null;
  }
  return {
    dir: target,
    unmount() {
      // Lazily if a file on it is still open, so that a failing run leaves no mount behind.
      if (spawnSync("umount", [target]).status !== 0) spawnSync("umount", ["--lazy", target]);
      fs.rmSync(target, { recursive: true, force: true });
    },
  };
}

describe("indexer: database files and processes", function () {
  let anvil: Anvil;
  let m: MarketSession;
  let dir: string;
  /** A database indexed to the head and closed cleanly. */
  let indexedFile: string;

  before(async function () {
    anvil = await startAnvil();
    m = await setUpMarket(anvil.url);
    await generateActivity(m, 6);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "gpumesh-dbfiles-"));
    indexedFile = path.join(dir, "indexed.db");
    const store = openStore({ file: indexedFile });
    await createIndexer({ rpcUrls: [anvil.url], deployment: m.deployment, store }).syncOnce();
    store.close();
  });

  after(async function () {
    await anvil?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const copyOf = (name: string) => {
    const file = path.join(dir, name);
    fs.copyFileSync(indexedFile, file);
    return file;
  };

  it("--exit-at-head does not stop short on one stale eth_blockNumber", async function () {
    const proxy = await startFaultProxy(anvil.url, { headLagBlocks: 5, headLagAnswers: 1 });
    const store = openStore({ file: ":memory:" });
    try {
      const indexer = createIndexer({ rpcUrls: [proxy.url], deployment: m.deployment, store, pollIntervalMs: 50 });
      await indexer.start({ exitWhenCaughtUp: true });
      const head = Number(await m.publicClient.getBlockNumber());
      expect(indexer.status.snapshot().indexedBlock).to.equal(head);
    } finally {
      store.close();
      await proxy.close();
    }
  });

  it("names a file that is not a database, or is truncated, in a sentence (and the CLI prints no stack)", function () {
    const garbage = path.join(dir, "garbage.db");
    fs.writeFileSync(garbage, Buffer.from("this is a GPU Mesh export, not a database".repeat(100)));
    for (const readonly of [false, true]) {
      const failure = failureOf(() => openStore({ file: garbage, readonly }));
      expect(failure).to.be.instanceOf(ConfigError);
      expect(failure.message).to.match(/garbage\.db is not a SQLite database/);
    }

    const truncated = copyOf("truncated.db");
    fs.truncateSync(truncated, Math.floor(fs.statSync(truncated).size / 2));
    for (const readonly of [false, true]) {
      const failure = failureOf(() => openStore({ file: truncated, readonly }));
      expect(failure).to.be.instanceOf(ConfigError);
      expect(failure.message).to.match(/truncated\.db is truncated: its header says \d+ bytes, the file has \d+/);
    }

    const cli = spawnSync(process.execPath, [CLI, "index", "--rpc", anvil.url, "--deployment", m.deploymentFile, "--db", garbage, "--exit-at-head"], {
      encoding: "utf8",
    });
    expect(cli.status).to.equal(1);
    expect(cli.stderr).to.match(/^gpumesh index: database .*garbage\.db is not a SQLite database/m);
    expect(cli.stderr).to.not.match(/^\s+at /m);
  });

  it("serves a WAL database from read-only media, and tells an indexer it cannot write there", function () {
    const media = readOnlyMount(dir);
    if (!media) {
      console.log("      (skipped: this machine does not allow a read-only bind mount)");
      this.skip();
    }
    try {
      const onMedia = path.join(media!.dir, path.basename(indexedFile));
      const header = fs.readFileSync(onMedia).subarray(18, 19)[0];
      expect(header, "the indexer leaves its database in WAL mode").to.equal(2);
      const reader = openStore({ file: onMedia, readonly: true });
      try {
        const jobs = (reader.db.prepare("SELECT COUNT(*) AS n FROM jobs").get() as { n: number }).n;
        expect(jobs).to.be.greaterThan(0);
      } finally {
        reader.close();
      }
      const failure = failureOf(() => openStore({ file: onMedia }));
      expect(failure).to.be.instanceOf(ConfigError);
      expect(failure.message).to.match(/cannot be written here .*gpumesh serve --db/);
    } finally {
      media!.unmount();
    }
  });

  it("lets one indexer write a database: a second one is refused while the first lives, and takes over once it is gone", async function () {
    const file = copyOf("shared.db");
    const child = spawn(process.execPath, [CLI, "index", "--rpc", anvil.url, "--deployment", m.deploymentFile, "--db", file, "--poll-interval-ms", "200"], {
      stdio: ["ignore", "ignore", "pipe"],
    });
    const exited = new Promise((resolve) => child.once("exit", resolve));
    try {
      const reader = openStore({ file, readonly: true });
      const writer = () => reader.db.prepare("SELECT pid, head_block FROM indexer_writer").get() as { pid: number; head_block: number | null } | undefined;
      const writerPid = () => writer()?.pid;
      // Taken at start; the head is recorded after the first pass.
      for (let i = 0; i < 200 && !(writerPid() === child.pid && writer()!.head_block !== null); i++) await new Promise((resolve) => setTimeout(resolve, 100));
      expect(writerPid()).to.equal(child.pid);

      // `gpumesh serve` on it: ready while the indexer lives.
      const app = createGraphqlApp({ db: reader.db, logger: silentLogger() });
      expect(app.readiness()).to.include({ ready: true });

      const second = openStore({ file });
      const refusal = failureOf(() => createIndexer({ rpcUrls: [anvil.url], deployment: m.deployment, store: second }));
      expect(refusal.code).to.equal("DB_LOCKED");
      expect(refusal.message).to.include(`being indexed by process ${child.pid}`);

      child.kill("SIGKILL");
      await exited;
      expect(app.readiness()).to.deep.include({ ready: false, reason: "no indexer is writing this database" });
      const indexer = createIndexer({ rpcUrls: [anvil.url], deployment: m.deployment, store: second });
      expect(writerPid()).to.equal(process.pid);
      expect((await indexer.syncOnce()).caughtUp).to.equal(true);
      expect(app.readiness()).to.include({ ready: true });
      second.close();
      expect(writerPid(), "closing releases the database").to.equal(undefined);
      expect(app.readiness()).to.include({ ready: false });
      reader.close();
    } finally {
      child.kill("SIGKILL");
    }
  });

  it("`gpumesh serve` of a database nothing indexes answers /ready 503 with the reason", async function () {
    const file = copyOf("idle.db");
    const serve = spawn(process.execPath, [CLI, "serve", "--db", file, "--port", "0"], { stdio: ["ignore", "pipe", "pipe"] });
    try {
      let output = "";
      serve.stdout!.on("data", (chunk) => (output += chunk));
      for (let i = 0; i < 300 && !/http:\/\/\S+\/graphql/.test(output); i++) await new Promise((resolve) => setTimeout(resolve, 50));
      const url = output.match(/(http:\/\/\S+)\/graphql/)![1];
      const ready = await fetch(`${url}/ready`);
      expect(ready.status).to.equal(503);
      expect(await ready.json()).to.deep.include({ ready: false, reason: "no indexer is writing this database" });
    } finally {
      serve.kill("SIGKILL");
    }
  });
});

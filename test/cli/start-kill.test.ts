import { expect } from "chai";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { findPortHolder } from "../../src/cli/lib/processes";
import { ROOT, freePort, isRunning, portAnswers, waitFor } from "./helpers";

/** Whatever `gpumesh start` starts dies with it, even when it is SIGKILLed; a chain left over is named on start. */

const HARDHAT_CLI = path.join(ROOT, "node_modules", "hardhat", "internal", "cli", "cli.js");

describe("gpumesh start: nothing outlives it", function () {
  this.timeout(180_000);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "gpumesh-kill-"));
  const spawned: ChildProcess[] = [];
  /** Every pid a test saw, killed at the end whatever the test's outcome, so that a failure leaves no node behind. */
  const pids = new Set<number>();

  after(function () {
    for (const child of spawned) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    for (const pid of pids) {
      if (!isRunning(pid)) continue;
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // gone meanwhile
      }
    }
    fs.rmSync(dir, { recursive: true, force: true });
  });

  function startArgs(chainPort: number, apiPort: number): string[] {
    return ["--no-simulation", "--chain-port", String(chainPort), "--api-port", String(apiPort), "--db", path.join(dir, `${chainPort}.db`)];
  }

  function collect(child: ChildProcess): () => string {
    let output = "";
    child.stdout?.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.stderr?.on("data", (chunk: Buffer) => (output += chunk.toString()));
    return () => output;
  }

  it("SIGKILL of gpumesh start: its Hardhat node exits within seconds and frees the port", async function () {
    const chainPort = await freePort();
    const apiPort = await freePort();
    const child = spawn(process.execPath, [path.join(ROOT, "bin/gpumesh.js"), "start", ...startArgs(chainPort, apiPort)], {
      cwd: ROOT,
      stdio: ["ignore", "pipe", "pipe"],
    });
    spawned.push(child);
    const output = collect(child);
    const chain = await waitFor("the embedded chain", async () => ((await portAnswers(chainPort)) ? findPortHolder(chainPort) : undefined), 120_000);
    pids.add(chain.pid);
    expect(chain.gpuMeshChain, output()).to.equal(true);
    expect(chain.owner).to.equal(child.pid);

    child.kill("SIGKILL");
    await waitFor("the chain to exit", async () => (!isRunning(chain.pid) ? true : undefined), 5_000);
    expect(await portAnswers(chainPort)).to.equal(false);
  });

  it("SIGKILL of npm start: gpumesh start stops as on Ctrl-C, its chain and API with it", async function () {
    const chainPort = await freePort();
    const apiPort = await freePort();
    const npm = spawn("npm", ["start", "--", ...startArgs(chainPort, apiPort)], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
    spawned.push(npm);
    const output = collect(npm);
    await waitFor("the banner", async () => (output().includes("GPU Mesh is running locally.") ? true : undefined), 150_000);
    const chain = findPortHolder(chainPort)!;
    pids.add(chain.pid);
    expect(chain.owner, output()).to.be.a("number");
    const gpumesh = chain.owner!;
    pids.add(gpumesh);

    npm.kill("SIGKILL");
    await waitFor("gpumesh start to stop", async () => (!isRunning(gpumesh) && !isRunning(chain.pid) ? true : undefined), 15_000);
    expect(await portAnswers(chainPort)).to.equal(false);
    expect(await portAnswers(apiPort)).to.equal(false);
    expect(output()).to.include("GPU Mesh stopped.");
  });

  it("names a stale chain on its port and says how to stop it", async function () {
    const chainPort = await freePort();
    const apiPort = await freePort();
    // A chain as gpumesh start left it before it was tied to its parent: detached, its parent gone.
    const stale = spawn(process.execPath, [HARDHAT_CLI, "node", "--hostname", "127.0.0.1", "--port", String(chainPort)], {
      cwd: ROOT,
      stdio: "ignore",
      detached: true,
    });
    spawned.push(stale);
    pids.add(stale.pid!);
    await waitFor("the stale chain", async () => ((await portAnswers(chainPort)) ? true : undefined), 120_000);

    const result = spawnSync(process.execPath, [path.join(ROOT, "bin/gpumesh.js"), "start", ...startArgs(chainPort, apiPort)], {
      cwd: ROOT,
      encoding: "utf8",
    });
    expect(result.status, result.stderr).to.equal(1);
    expect(result.stderr).to.contain(
      `gpumesh start: port ${chainPort} on 127.0.0.1 is held by a stale GPU Mesh chain: a Hardhat node (pid ${stale.pid}, in ${ROOT}) ` +
        "that an earlier `gpumesh start` left running when it was killed. " +
        `Stop it with \`kill ${stale.pid}\` and start again, or pass --chain-port`,
    );
    // Refused before anything was started: the port is still the stale chain's, and nothing else listens.
    expect(findPortHolder(chainPort)?.pid).to.equal(stale.pid);
    expect(await portAnswers(apiPort)).to.equal(false);
  });
});

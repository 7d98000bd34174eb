import { expect } from "chai";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { buildTar, collectOutputs, parseTar, sha256Hex } from "../../src/agent/archive";
import { loadAgentConfig } from "../../src/agent/config";
import { detectGpus, parseNvidiaSmi } from "../../src/agent/gpus";
import { createDockerRunner, dockerAvailable, dockerRunArgs } from "../../src/agent/docker-runner";
import { createProcessRunner } from "../../src/agent/runner";
import { canonicalJson, specHash, validateSpec } from "../../src/agent/spec";
import { openAgentState } from "../../src/agent/state";
import { fetchInput, isPublicAddress } from "../../src/agent/inputs";
import { repricedPrice } from "../../src/agent/repricing";
import http from "node:http";
import type { AddressInfo } from "node:net";

describe("agent: config, spec, state, GPUs and the process runner", function () {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "gpumesh-agent-unit-"));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  const writeConfig = (config: unknown) => {
    const file = path.join(dir, "agent.json");
    fs.writeFileSync(file, typeof config === "string" ? config : JSON.stringify(config));
    return file;
  };

  it("inputs: loopback, private, link-local and mapped addresses are refused unless allowPrivateInputs, by name too", async function () {
    for (const ip of ["127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "100.64.0.1", "0.0.0.0", "224.0.0.1", "::1", "::", "fd00::1", "fe80::1", "::ffff:127.0.0.1"]) {
      expect(isPublicAddress(ip), ip).to.equal(false);
    }
    for (const ip of ["1.1.1.1", "8.8.8.8", "172.32.0.1", "2606:4700::1111", "::ffff:8.8.8.8"]) expect(isPublicAddress(ip), ip).to.equal(true);

    const server = http.createServer((request, response) => {
      if (request.url === "/redirect") {
        response.writeHead(302, { location: "/data" });
        return response.end();
      }
      response.end("input bytes");
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as AddressInfo;
    try {
      const options = { allowPrivate: false, maxBytes: 1024, timeoutMs: 5_000 };
      const refusals = await Promise.all(
        [`http://127.0.0.1:${port}/data`, `http://localhost:${port}/data`, "http://169.254.169.254/latest/meta-data/", "file:///etc/passwd"].map((url) =>
          fetchInput(url, options).then(
            () => "fetched",
            (error: Error) => error.message,
          ),
        ),
      );
      expect(refusals[0]).to.contain("127.0.0.1 is a loopback, private or link-local address");
      expect(refusals[1]).to.match(/localhost resolves to (127\.0\.0\.1|::1), a loopback/);
      expect(refusals[2]).to.contain("169.254.169.254 is a loopback");
      expect(refusals[3]).to.contain("file: URLs are not fetched");
      const allowed = { ...options, allowPrivate: true };
      expect((await fetchInput(`http://127.0.0.1:${port}/redirect`, allowed)).toString()).to.equal("input bytes");
      const tooBig = await fetchInput(`http://127.0.0.1:${port}/data`, { ...allowed, maxBytes: 4 }).catch((error: Error) => error.message);
      expect(tooBig).to.contain("larger than runner.maxOutputBytes");
    } finally {
      server.close();
    }
  });

  it("repricing: up by the step at or above the target utilization, down below it, never past the bounds", function () {
    const rules = { minPricePerGpuHour: 1_500_000n, maxPricePerGpuHour: 3_000_000n, targetUtilizationBps: 7_000, stepBps: 500, intervalSeconds: 3600 };
    expect(repricedPrice(2_000_000n, 8, 6, rules), "75 % leased").to.equal(2_100_000n);
    expect(repricedPrice(2_000_000n, 8, 5, rules), "62.5 % leased").to.equal(1_900_000n);
    expect(repricedPrice(2_950_000n, 8, 8, rules), "capped").to.equal(3_000_000n);
    expect(repricedPrice(3_000_000n, 8, 8, rules), "at the cap: no transaction").to.equal(null);
    expect(repricedPrice(1_520_000n, 8, 0, rules), "floored").to.equal(1_500_000n);
    expect(repricedPrice(1_500_000n, 8, 0, rules), "at the floor").to.equal(null);
    expect(repricedPrice(5n, 1, 1, rules), "a step that rounds to 0 still moves up, then is bounded").to.equal(1_500_000n);
    const base = { rpcUrl: "http://127.0.0.1:8545", deployment: "d.json", stateDir: "s", gpus: [{ index: 0, model: "H100-SXM-80GB" }] };
    expect(loadAgentConfig(writeConfig({ ...base, repricing: { minPricePerGpuHour: "1500000", maxPricePerGpuHour: "3000000" } })).repricing).to.deep.equal({
      ...rules,
    });
    expect(() => loadAgentConfig(writeConfig({ ...base, repricing: { minPricePerGpuHour: "4000000", maxPricePerGpuHour: "3000000" } }))).to.throw(
      "config repricing.minPricePerGpuHour: must be more than 0 and at most repricing.maxPricePerGpuHour",
    );
    expect(() => loadAgentConfig(writeConfig({ ...base, repricing: { minPricePerGpuHour: 1, maxPricePerGpuHour: "3000000" } }))).to.throw("config repricing.minPricePerGpuHour: must be a whole number");
  });

  it("config: resolves paths against the config file and names a bad key", function () {
    const config = loadAgentConfig(writeConfig({ stateDir: "state", gpus: [{ index: 0, model: "H100" }], policy: { allowedCommands: ["node"] } }));
    expect(config.stateDir).to.equal(path.join(dir, "state"));
    expect(config.gpus).to.deep.equal([{ index: 0, model: "H100" }]);
    expect(config.api).to.include({ host: "127.0.0.1", port: 7700 });
    const bad: Array<[unknown, RegExp]> = [
      [{ stateDir: "s", polcy: {} }, /config \(top level\)\.polcy: unknown key/],
      [{}, /config stateDir: is required/],
      [{ stateDir: "s", api: { port: 70000 } }, /config api\.port: must be a whole number from 0 to 65535, got 70000/],
      [{ stateDir: "s", gpus: [{ index: 0 }, { index: 0 }] }, /config gpus\[1\]\.index: GPU 0 is listed twice/],
      [{ stateDir: "s", policy: { minPricePerGpuHour: 2.5 } }, /config policy\.minPricePerGpuHour: must be a whole number of payment-token base units/],
      [{ stateDir: "s", policy: { denyClients: ["nope"] } }, /config policy\.denyClients\[0\]: "nope" is not an address/],
      [{ stateDir: "s", runner: { kind: "vm" } }, /config runner\.kind: must be "process" or "docker"/],
      ["{ not json", /is not JSON/],
    ];
    for (const [content, message] of bad) expect(() => loadAgentConfig(writeConfig(content))).to.throw(message);
  });

  it("spec: canonical JSON (RFC 8785 key order), its keccak256, unknown fields and shell strings refused", function () {
    expect(canonicalJson({ b: 1, a: [true, null, "x"], c: { z: 1.5, y: "é" } })).to.equal('{"a":[true,null,"x"],"b":1,"c":{"y":"é","z":1.5}}');
    expect(specHash({ version: 1, command: ["node"] })).to.equal(specHash({ command: ["node"], version: 1 }));
    expect(() => validateSpec({ version: 1, command: ["node"], shell: true })).to.throw(/spec shell: unknown field/);
    expect(() => validateSpec({ version: 1, command: "node -e 1" })).to.throw(/spec command: must be a non-empty list of strings/);
    expect(() => validateSpec({ version: 1, command: ["node"], outputs: ["../etc"] })).to.throw(/spec outputs\[0\]/);
    expect(() => validateSpec({ version: 1, command: ["node"], env: { CUDA_VISIBLE_DEVICES: "0" } })).to.throw(/set by the agent/);
  });

  it("nvidia-smi: the inventory comes from it when the config says so; without it the error says what to declare", function () {
    const fake = (() => "0, NVIDIA A100-SXM4-80GB, 81920\n") as never;
    expect(detectGpus({ gpus: "nvidia-smi" }, fake)).to.deep.equal([{ index: 0, model: "NVIDIA A100-SXM4-80GB" }]);
    expect(detectGpus({ gpus: [{ index: 3, model: "L4" }] })).to.deep.equal([{ index: 3, model: "L4" }]);
    const missing = (() => {
      throw Object.assign(new Error("spawn nvidia-smi ENOENT"), { code: "ENOENT" });
    }) as never;
    expect(() => detectGpus({ gpus: "nvidia-smi" }, missing)).to.throw('config gpus: "nvidia-smi" cannot be run here (ENOENT); declare the GPUs as [{ "index": 0, "model": "NAME" }]');
  });

  it("nvidia-smi: reads the CSV query into an inventory", function () {
    expect(parseNvidiaSmi("0, NVIDIA H100 80GB HBM3, 81559\n1, NVIDIA H100 80GB HBM3, 81559\n")).to.deep.equal([
      { index: 0, model: "NVIDIA H100 80GB HBM3" },
      { index: 1, model: "NVIDIA H100 80GB HBM3" },
    ]);
  });

  it("state: two jobs never share a GPU; an action is recorded once; a signature is used once", function () {
    const state = openAgentState({ file: path.join(dir, "agent.db") });
    try {
      expect(state.assignGpus("1", 2, [0, 1, 2])).to.deep.equal([0, 1]);
      expect(state.assignGpus("1", 2, [0, 1, 2])).to.deep.equal([0, 1]);
      expect(state.assignGpus("2", 2, [0, 1, 2])).to.equal(null);
      expect(state.assignGpus("3", 1, [0, 1, 2])).to.deep.equal([2]);
      expect(state.freeGpus([0, 1, 2])).to.deep.equal([]);
      state.releaseGpus("1");
      expect(state.assignGpus("2", 2, [0, 1, 2])).to.deep.equal([0, 1]);
      expect(() => state.db.prepare("INSERT INTO gpu_assignments (gpu_index, job_id) VALUES (2, '9')").run()).to.throw(/UNIQUE|PRIMARY/);

      expect(state.beginTx("5", "accept")).to.equal(true);
      state.finishTx("5", "accept", { hash: "0xabc", status: "sent" });
      expect(state.beginTx("5", "accept")).to.equal(false);
      expect(state.beginTx("6", "accept")).to.equal(true);
      state.finishTx("6", "accept", { status: "failed", error: "simulation reverted" });
      expect(state.beginTx("6", "accept"), "a call refused before signing was never sent").to.equal(true);

      expect(state.useSignature("0x01", 200, 100)).to.equal(true);
      expect(state.useSignature("0x01", 200, 150)).to.equal(false);
    } finally {
      state.close();
    }
  });

  it("archive: the same outputs give the same bytes and hash; symlinks and paths outside are not collected", function () {
    const work = path.join(dir, "work");
    fs.mkdirSync(path.join(work, "out"), { recursive: true });
    fs.writeFileSync(path.join(work, "out", "b.txt"), "bee");
    fs.writeFileSync(path.join(work, "out", "a.txt"), "ay");
    fs.writeFileSync(path.join(dir, "secret"), "host file");
    fs.symlinkSync(path.join(dir, "secret"), path.join(work, "out", "link"));
    const entries = collectOutputs(work, ["out/", "../secret"]);
    expect(entries.map((entry) => entry.path)).to.deep.equal(["out/a.txt", "out/b.txt"]);
    const first = buildTar(entries);
    expect(sha256Hex(buildTar(collectOutputs(work, ["out"])))).to.equal(sha256Hex(first));
    expect(parseTar(first).map((entry) => [entry.path, entry.data.toString()])).to.deep.equal([
      ["out/a.txt", "ay"],
      ["out/b.txt", "bee"],
    ]);
  });

  it("process runner: argv without a shell, CUDA_VISIBLE_DEVICES, no agent secrets, a per-job directory, and limits", async function () {
    const runner = createProcessRunner();
    process.env.GPUMESH_PRIVATE_KEY_FOR_TEST = "must not leak";
    const script = "const fs=require('fs');fs.mkdirSync('out');fs.writeFileSync('out/env.json',JSON.stringify({cuda:process.env.CUDA_VISIBLE_DEVICES,leak:process.env.GPUMESH_PRIVATE_KEY_FOR_TEST??null,cwd:process.cwd(),arg:process.argv[1]}))";
    const done = await runner.start({ jobDir: path.join(dir, "job1"), argv: [process.execPath, "-e", script, "$(touch pwned)"], env: {}, gpuIndexes: [1, 3], deadlineMs: Date.now() + 30_000, maxOutputBytes: 1 << 20 }).exited;
    delete process.env.GPUMESH_PRIVATE_KEY_FOR_TEST;
    expect(done).to.include({ exitCode: 0, reason: "exited" });
    const seen = JSON.parse(fs.readFileSync(path.join(dir, "job1", "work", "out", "env.json"), "utf8"));
    expect(seen).to.deep.equal({ cuda: "1,3", leak: null, cwd: fs.realpathSync(path.join(dir, "job1", "work")), arg: "$(touch pwned)" });
    expect(fs.existsSync(path.join(dir, "job1", "work", "pwned"))).to.equal(false);

    const slow = runner.start({ jobDir: path.join(dir, "job2"), argv: [process.execPath, "-e", "setInterval(()=>{},1000)"], env: {}, gpuIndexes: [0], deadlineMs: Date.now() + 500, maxOutputBytes: 1 << 20 });
    const stopped = await slow.exited;
    expect(stopped.reason).to.equal("time_limit");
    expect(stopped.runtimeMs).to.be.below(5_000);

    const chatty = runner.start({ jobDir: path.join(dir, "job3"), argv: [process.execPath, "-e", "setInterval(()=>process.stdout.write('x'.repeat(65536)),10)"], env: {}, gpuIndexes: [0], deadlineMs: Date.now() + 30_000, maxOutputBytes: 256 * 1024 });
    expect((await chatty.exited).reason).to.equal("output_limit");

    const missing = await runner.start({ jobDir: path.join(dir, "job4"), argv: ["/nonexistent/binary"], env: {}, gpuIndexes: [], deadlineMs: Date.now() + 5_000, maxOutputBytes: 1024 }).exited;
    expect(missing.exitCode).to.equal(127);
    expect(fs.readFileSync(path.join(dir, "job4", "logs.txt"), "utf8")).to.contain("cannot start /nonexistent/binary: ENOENT");
  });

  it("docker runner: the job's GPUs only, no capabilities, no network, nothing of the host but work/", function () {
    const args = dockerRunArgs({ jobDir: "/state/jobs/7", argv: ["--epochs", "3"], image: "trainer:1", env: { MODE: "fast" }, gpuIndexes: [2, 3], deadlineMs: 0, maxOutputBytes: 1 });
    expect(args).to.deep.equal([
      "run", "--name", "gpumesh-7", "--gpus", '"device=2,3"', "--cap-drop", "ALL", "--security-opt", "no-new-privileges", "--network", "none",
      "--pids-limit", "4096", "--volume", "/state/jobs/7/work:/work", "--workdir", "/work", "--env", "MODE=fast", "--env", "CUDA_VISIBLE_DEVICES=0,1",
      "--", "trainer:1", "--epochs", "3",
    ]);
  });

  it("docker runner: runs a local image (only where a docker daemon answers)", async function () {
    if (!(await dockerAvailable())) {
      console.log("      (skipped: no docker daemon on this machine; `docker info` fails)");
      return this.skip();
    }
    const image = process.env.GPUMESH_TEST_DOCKER_IMAGE;
    if (!image) {
      console.log("      (skipped: set GPUMESH_TEST_DOCKER_IMAGE to a local image with /bin/sh; no registry is reachable)");
      return this.skip();
    }
    const done = await createDockerRunner().start({ jobDir: path.join(dir, "docker1"), image, argv: ["/bin/sh", "-c", "echo made > /work/out.txt"], env: {}, gpuIndexes: [], deadlineMs: Date.now() + 60_000, maxOutputBytes: 1 << 20 }).exited;
    expect(done).to.include({ exitCode: 0, reason: "exited" });
    expect(fs.readFileSync(path.join(dir, "docker1", "work", "out.txt"), "utf8")).to.equal("made\n");
  });

  it("gpumesh agent --help stays cheap: none of viem, pino, SQLite or prom-client is loaded", function () {
    const root = path.join(__dirname, "..", "..");
    const script = [
      `process.argv = [process.argv[0], "bin/gpumesh.js", "agent", "--help"];`,
      `process.on("exit", () => process.stderr.write(JSON.stringify(Object.keys(require.cache).filter((file) => /viem|pino|better-sqlite3|prom-client/.test(file)))));`,
      `require("./bin/gpumesh.js");`,
    ].join("\n");
    const result = spawnSync(process.execPath, ["-e", script], { cwd: root, encoding: "utf8" });
    expect(result.stdout).to.contain("usage: gpumesh agent --config FILE");
    expect(JSON.parse(result.stderr)).to.deep.equal([]);
  });
});

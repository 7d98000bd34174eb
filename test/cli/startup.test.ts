import { expect } from "chai";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { ROOT } from "./helpers";

/** `gpumesh` starts fast: it runs the compiled dist/, and help loads none of the heavy modules. */

const HEAVY = /node_modules[\\/](viem|ethers|graphql|graphql-yoga|@graphql-yoga|better-sqlite3|pino|prom-client)[\\/]|dist[\\/]src[\\/]chain[\\/]abis\.js$/;

/** Runs the CLI with a preload that lists every file Node loaded, and returns them with the command's output. */
function loadedBy(args: string[]) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "gpumesh-startup-"));
  const list = path.join(dir, "loaded.txt");
  const tracer = path.join(dir, "trace.js");
  fs.writeFileSync(
    tracer,
    `process.on("exit", () => require("node:fs").writeFileSync(${JSON.stringify(list)}, Object.keys(require.cache).join("\\n")));`,
  );
  const result = spawnSync(process.execPath, ["-r", tracer, path.join(ROOT, "bin/gpumesh.js"), ...args], { cwd: ROOT, encoding: "utf8" });
  const files = fs.readFileSync(list, "utf8").split("\n");
  fs.rmSync(dir, { recursive: true, force: true });
  return { ...result, files };
}

describe("gpumesh start-up", function () {
  for (const args of [["--help"], ["market", "--help"], ["market", "prices", "--help"], ["serve", "--help"], ["index", "--help"], ["run", "--help"], ["start", "--help"]]) {
    it(`\`gpumesh ${args.join(" ")}\` runs dist/ and loads no heavy module`, function () {
      const { status, stdout, files } = loadedBy(args);
      expect(status).to.equal(0);
      expect(stdout).to.match(/^usage: gpumesh/);
      expect(files.some((file) => file.endsWith(path.join("dist", "src", "cli", "main.js")))).to.equal(true);
      expect(files.filter((file) => file.endsWith(".ts")), "TypeScript loaded at run time").to.deep.equal([]);
      expect(files.filter((file) => HEAVY.test(file))).to.deep.equal([]);
    });
  }

  it("says how to build the CLI when dist/ is missing", function () {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "gpumesh-unbuilt-"));
    try {
      fs.mkdirSync(path.join(dir, "bin"));
      fs.copyFileSync(path.join(ROOT, "bin/gpumesh.js"), path.join(dir, "bin/gpumesh.js"));
      const result = spawnSync(process.execPath, [path.join(dir, "bin/gpumesh.js"), "--help"], { cwd: dir, encoding: "utf8" });
      expect(result.status).to.equal(1);
      expect(result.stderr).to.contain("gpumesh: the CLI is not built (dist/src/cli/main.js is missing): run `npm run build:cli`");
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

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

  it("answers a bad command line of any command with exit 2, the flag's name and the command's usage line", function () {
    const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith("GPUMESH_")));
    for (const [args, message] of [
      [["serve", "--bogus"], "gpumesh serve: unknown option --bogus\nusage: gpumesh serve --db FILE"],
      [["serve"], "gpumesh serve: --db is required (or set GPUMESH_DB)\n"],
      [["index", "--db", "x.db"], "gpumesh index: --rpc is required (or set GPUMESH_RPC_URL)\nusage: gpumesh index --rpc"],
      [["index", "--rpc", "http://127.0.0.1:9", "--db", "x.db"], "gpumesh index: --deployment is required (or set GPUMESH_DEPLOYMENT)\n"],
      [["run", "--db", "x.db", "--port", "99999"], 'gpumesh run: --port must be a TCP port (0 to 65535), got "99999"\nusage: gpumesh run'],
      [["run", "--db", "x.db", "--confirmations", "-1"], "gpumesh run: option --confirmations needs a value, and \"-1\" reads as an option: write --confirmations=-1 to give it as the value\n"],
      [["start", "--seed", "abc"], 'gpumesh start: --seed: "abc" is not a whole number\nusage: gpumesh start'],
      [["start", "--chain-port", "0"], 'gpumesh start: --chain-port must be a TCP port (1 to 65535), got "0"\n'],
      [["start", "now"], 'gpumesh start: unexpected argument "now"\n'],
      [
        ["index", "--rpc", "http://127.0.0.1:9", "--deployment", "x.json", "--db", "x.db", "--history-blocks", "all"],
        'gpumesh index: --history-blocks: "all" is not a whole number\nusage: gpumesh index',
      ],
      [["index", "--history-blocks"], "gpumesh index: option --history-blocks needs a value\n"],
      [["run", "--db", "x.db", "--history-blocks=-5"], 'gpumesh run: --history-blocks: "-5" is not a whole number\nusage: gpumesh run'],
      [["start", "--history-blocks", "1.5"], 'gpumesh start: --history-blocks: "1.5" is not a whole number\nusage: gpumesh start'],
      [["market", "stats", "--colour"], "gpumesh market stats: unknown option --colour\nusage: gpumesh market stats"],
      [["bogus"], 'gpumesh: unknown command "bogus"'],
    ] as const) {
      const result = spawnSync(process.execPath, [path.join(ROOT, "bin/gpumesh.js"), ...args], { cwd: ROOT, env, encoding: "utf8" });
      expect(result.status, args.join(" ")).to.equal(2);
      expect(result.stderr, args.join(" ")).to.contain(message);
    }
  });

  it("says that the API cannot be reached, and nothing else, when market commands run without a deployment file", function () {
    const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith("GPUMESH_")));
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "gpumesh-nodeployment-"));
    try {
      for (const args of [["stats"], ["capacity"], ["prices", "--model", "H100"], ["stats", "--json"]]) {
        const result = spawnSync(process.execPath, [path.join(ROOT, "bin/gpumesh.js"), "market", ...args, "--api", "http://127.0.0.1:9/graphql"], { cwd: dir, env, encoding: "utf8" });
        expect(result.status, args.join(" ")).to.equal(1);
        expect(result.stderr, args.join(" ")).to.match(new RegExp(`^gpumesh market ${args[0]}: cannot reach the GraphQL API at http://127\\.0\\.0\\.1:9/graphql [^\\n]*\\n$`));
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

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

#!/usr/bin/env node
// A `solc` executable for Foundry backed by the pinned npm solc (solcjs): machines here cannot download native
// compilers. Foundry calls `--version` to learn the version and `--standard-json` with the input on stdin; the
// path flags it may add (--allow-paths, --base-path, --include-path) are not needed because Foundry sends every
// source's content in the input.
"use strict";
const solc = require("solc");

const args = process.argv.slice(2);

if (args.includes("--version")) {
  process.stdout.write(`solc, the solidity compiler commandline interface\nVersion: ${solc.version()}\n`);
  process.exit(0);
}

if (!args.includes("--standard-json")) {
  process.stderr.write("forge-solc.js supports only --version and --standard-json\n");
  process.exit(1);
}

const chunks = [];
process.stdin.on("data", (chunk) => chunks.push(chunk));
process.stdin.on("end", () => {
  const output = solc.compile(Buffer.concat(chunks).toString("utf8"));
  process.stdout.write(output);
});

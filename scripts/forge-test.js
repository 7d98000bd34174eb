#!/usr/bin/env node
// Runs `forge test` (extra arguments passed through) with the `ci` profile of foundry.toml when CI=true, as CI
// services set it; an explicit FOUNDRY_PROFILE wins. The `ci` profile runs more fuzz runs and longer invariant
// sequences than the `default` one used locally. Exits with forge's status.
"use strict";
const { spawnSync } = require("node:child_process");

// The native binary from @foundry-rs/forge's platform package, not its `node_modules/.bin/forge` wrapper: the wrapper
// (bin.mjs in 1.7.x) spawns the binary without passing its exit status on, so failing tests would exit 0.
const ARCHES = { x64: "amd64", arm64: "arm64" };

function forgeBinary() {
  const platformPackage = `@foundry-rs/forge-${process.platform}-${ARCHES[process.arch] ?? process.arch}`;
  const binary = process.platform === "win32" ? "forge.exe" : "forge";
  try {
    return require.resolve(`${platformPackage}/bin/${binary}`);
  } catch (error) {
    process.stderr.write(`forge-test.js: no forge binary for this platform (${platformPackage}): ${error.message}\n`);
    process.exit(1);
  }
}

const env = { ...process.env };
if (!env.FOUNDRY_PROFILE && /^(true|1)$/i.test(env.CI ?? "")) env.FOUNDRY_PROFILE = "ci";

const forge = forgeBinary();
const result = spawnSync(forge, ["test", ...process.argv.slice(2)], { stdio: "inherit", env });
if (result.error) {
  process.stderr.write(`forge-test.js: cannot run ${forge}: ${result.error.message}\n`);
  process.exit(1);
}
if (result.signal) {
  process.stderr.write(`forge-test.js: forge was killed by ${result.signal}\n`);
  process.exit(1);
}
process.exit(result.status ?? 1);

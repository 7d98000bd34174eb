#!/usr/bin/env node
// Runs `forge test` (extra arguments passed through) with the `ci` profile of foundry.toml when CI=true, as CI
// services set it; an explicit FOUNDRY_PROFILE wins. The `ci` profile runs more fuzz runs and longer invariant
// sequences than the `default` one used locally.
"use strict";
const { spawnSync } = require("node:child_process");
const path = require("node:path");

const env = { ...process.env };
if (!env.FOUNDRY_PROFILE && /^(true|1)$/i.test(env.CI ?? "")) env.FOUNDRY_PROFILE = "ci";

const forge = path.join(__dirname, "..", "node_modules", ".bin", "forge");
const result = spawnSync(forge, ["test", ...process.argv.slice(2)], { stdio: "inherit", env });
if (result.error) {
  process.stderr.write(`forge-test.js: cannot run ${forge}: ${result.error.message}\n`);
  process.exit(1);
}
process.exit(result.status ?? 1);

#!/usr/bin/env node
// GPU Mesh command line: runs the compiled JavaScript in dist/ (`npm install` and `npm start` build it with
// `npm run build:cli`), so that a command starts without transpiling TypeScript.
"use strict";
const fs = require("node:fs");
const path = require("node:path");

const entry = path.join(__dirname, "..", "dist", "src", "cli", "main.js");
if (!fs.existsSync(entry)) {
  process.stderr.write(
    `gpumesh: the CLI is not built (${path.relative(process.cwd(), entry) || entry} is missing): run \`npm run build:cli\` in ${path.join(__dirname, "..")}\n`,
  );
  process.exit(1);
}
require(entry)
  .main(process.argv.slice(2))
  .then(
    (code) => {
      process.exitCode = code;
    },
    (error) => {
      console.error(error);
      process.exitCode = 1;
    },
  );

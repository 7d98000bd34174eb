#!/usr/bin/env node
// GPU Mesh command line: runs the TypeScript sources through ts-node (transpile only: types are checked by tsc).
process.env.TS_NODE_TRANSPILE_ONLY = "true";
process.env.TS_NODE_PROJECT = require("node:path").join(__dirname, "..", "tsconfig.json");
require("ts-node/register");
const { main } = require("../src/cli/main");
main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error) => {
    console.error(error);
    process.exitCode = 1;
  },
);

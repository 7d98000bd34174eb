import { subtask } from "hardhat/config";
import { TASK_COMPILE_SOLIDITY_GET_SOLC_BUILD } from "hardhat/builtin-tasks/task-names";
import type { HardhatUserConfig } from "hardhat/config";
import "@nomicfoundation/hardhat-toolbox";
import path from "node:path";

// The pinned solc from npm: machines here cannot download compilers, so Hardhat uses solcjs.
const SOLC_VERSION = "0.8.28";

subtask(TASK_COMPILE_SOLIDITY_GET_SOLC_BUILD, async (args: { solcVersion: string }, _hre, runSuper) => {
  if (args.solcVersion !== SOLC_VERSION) return runSuper();
  const solcPackage = path.dirname(require.resolve("solc/package.json"));
  return {
    compilerPath: path.join(solcPackage, "soljson.js"),
    isSolcJs: true,
    version: SOLC_VERSION,
    longVersion: require("solc").version(),
  };
});

const deployerKey = process.env.GPUMESH_DEPLOYER_KEY;

const config: HardhatUserConfig = {
  solidity: {
    version: SOLC_VERSION,
    settings: {
      optimizer: { enabled: true, runs: 200 },
      evmVersion: "cancun",
      viaIR: true,
    },
  },
  networks: {
    hardhat: { hardfork: "cancun" },
    // `npm start` points this at the port it chose for its embedded node.
    localhost: { url: process.env.GPUMESH_LOCAL_RPC_URL ?? "http://127.0.0.1:8545" },
    ...(process.env.GPUMESH_RPC_URL
      ? {
          remote: {
            url: process.env.GPUMESH_RPC_URL,
            accounts: deployerKey ? [deployerKey] : [],
          },
        }
      : {}),
  },
  gasReporter: {
    enabled: process.env.REPORT_GAS === "true",
    offline: true,
  },
  mocha: { timeout: 120_000 },
};

export default config;

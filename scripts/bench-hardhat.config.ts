// The sparse-chain benchmark's node: GPU Mesh's Hardhat config with a block gas limit and accounts as the
// benchmark's anvil has (hardhat_mine makes 200,000 empty blocks in constant time; anvil_mine takes minutes).
import config from "../hardhat.config";

export default {
  ...config,
  networks: {
    ...config.networks,
    hardhat: { ...config.networks?.hardhat, blockGasLimit: 4_000_000_000, accounts: { count: 30, accountsBalance: "1000000000000000000000000" } },
  },
};

import path from "node:path";
import type { HardhatRuntimeEnvironment } from "hardhat/types";
import type { Signer } from "ethers";
import { createPublicClient, createWalletClient, custom, type Address } from "viem";
import { deployGpuMesh as deployWithViem, writeDeployment, type DeployOptions as ViemDeployOptions } from "../../src/chain/deploy";
import type { Deployment } from "../../src/chain/deployment";

export type DeployOptions = Omit<ViemDeployOptions, "publicClient" | "walletClient" | "deploymentsDir" | "artifactsDir"> & {
  /** Where to write deployments/<chainId>.json; nothing is written when null. */
  deploymentsDir?: string | null;
  deployer?: Signer;
};

/**
 * The Hardhat face of the one deployer (src/chain/deploy.ts): runs it through the selected network's provider, so
 * `npx hardhat run scripts/deploy.ts --network <name>` and the Hardhat tests deploy exactly what the tools deploy.
 * Returns the deployment file and ethers contract objects for the tests.
 */
export async function deployGpuMesh(hre: HardhatRuntimeEnvironment, options: DeployOptions = {}) {
  const { ethers } = hre;
  const signer = options.deployer ?? (await ethers.getSigners())[0]!;
  const account = (await signer.getAddress()) as Address;
  const transport = custom(hre.network.provider);
  const { deploymentsDir, deployer: _signer, ...viemOptions } = options;
  const deployment: Deployment = await deployWithViem({
    ...viemOptions,
    publicClient: createPublicClient({ transport, pollingInterval: 10 }),
    walletClient: createWalletClient({ account, transport }),
    artifactsDir: hre.config.paths.artifacts,
    network: hre.network.name,
  });
  let deploymentPath: string | null = null;
  if (deploymentsDir !== null) {
    deploymentPath = writeDeployment(deploymentsDir ?? path.join(hre.config.paths.root, "deployments"), deployment);
  }
  const at = <T extends string>(name: T, address: string) => ethers.getContractAt(name, address, signer);
  return {
    deployment,
    deploymentPath,
    payment: await at(deployment.tokens.payment.dev ? "DevStablecoin" : "IERC20Metadata", deployment.tokens.payment.address),
    stake: await at(deployment.tokens.stake.dev ? "DevStakeToken" : "IERC20Metadata", deployment.tokens.stake.address),
    catalog: await at("GpuCatalog", deployment.contracts.GpuCatalog.address),
    staking: await at("ProviderStaking", deployment.contracts.ProviderStaking.address),
    market: await at("JobMarket", deployment.contracts.JobMarket.address),
  };
}

import fs from "node:fs";
import path from "node:path";
import type { HardhatRuntimeEnvironment } from "hardhat/types";
import type { Signer } from "ethers";

/** The starter GPU catalog: names are [A-Z0-9-] so that analytics never split one model into two. */
export const STARTER_GPU_MODELS: ReadonlyArray<{ name: string; vramGb: number }> = [
  { name: "H100-SXM-80GB", vramGb: 80 },
  { name: "H200-SXM-141GB", vramGb: 141 },
  { name: "A100-SXM-80GB", vramGb: 80 },
  { name: "L40S-48GB", vramGb: 48 },
  { name: "RTX-4090-24GB", vramGb: 24 },
  { name: "B200-192GB", vramGb: 192 },
  { name: "MI300X-192GB", vramGb: 192 },
];

export interface MarketParameters {
  protocolFeeBps: number;
  cancelFeeBps: number;
  collateralBps: number;
  expirySlashBps: number;
  acceptWindow: number;
  disputeWindow: number;
  abandonGrace: number;
}

export const DEFAULT_PARAMETERS: MarketParameters = {
  protocolFeeBps: 250, // 2.5 % of provider earnings
  cancelFeeBps: 200, // 2 % of cost to the provider when a client cancels before acceptance
  collateralBps: 5_000, // half the job's cost locked as stake
  expirySlashBps: 100, // 1 % of cost when the provider ignores a job
  acceptWindow: 30 * 60,
  disputeWindow: 24 * 60 * 60,
  abandonGrace: 60 * 60,
};

export interface DeployOptions {
  governance?: string;
  treasury?: string;
  /** Existing token addresses; when absent the dev tokens are deployed. */
  paymentToken?: string;
  stakeToken?: string;
  stakePerPaymentUnit?: bigint;
  unbondingPeriodSeconds?: number;
  minStake?: bigint;
  parameters?: Partial<MarketParameters>;
  gpuModels?: ReadonlyArray<{ name: string; vramGb: number }>;
  /** Where to write deployments/<chainId>.json; nothing is written when null. */
  deploymentsDir?: string | null;
  deployer?: Signer;
}

export interface ContractRecord {
  address: string;
  deployBlock: number;
}

export interface TokenRecord {
  address: string;
  symbol: string;
  decimals: number;
  dev: boolean;
}

/** The file the indexer and the CLI read: deployments/<chainId>.json. */
export interface DeploymentFile {
  chainId: number;
  network: string;
  deployedAt: string;
  startBlock: number;
  contracts: { GpuCatalog: ContractRecord; ProviderStaking: ContractRecord; JobMarket: ContractRecord };
  tokens: { payment: TokenRecord; stake: TokenRecord };
  roles: { governance: string; treasury: string; arbiter: string };
  stakePerPaymentUnit: string;
  parameters: MarketParameters;
  gpuModels: Array<{ id: string; name: string; vramGb: number }>;
}

/** Deploys GPU Mesh (dev tokens where no token is given), lists the catalog and writes the deployment file. */
export async function deployGpuMesh(hre: HardhatRuntimeEnvironment, options: DeployOptions = {}) {
  const { ethers } = hre;
  const deployer = options.deployer ?? (await ethers.getSigners())[0];
  const deployerAddress = await deployer.getAddress();
  const governance = options.governance ?? deployerAddress;
  const treasury = options.treasury ?? governance;
  const parameters: MarketParameters = { ...DEFAULT_PARAMETERS, ...options.parameters };

  const receiptBlock = async (contract: { deploymentTransaction(): unknown }) => {
    const tx = contract.deploymentTransaction() as { wait(): Promise<{ blockNumber: number } | null> };
    const receipt = await tx.wait();
    if (!receipt) throw new Error("deployment transaction has no receipt");
    return receipt.blockNumber;
  };

  const paymentDev = !options.paymentToken;
  const stakeDev = !options.stakeToken;
  const payment = paymentDev
    ? await (await ethers.getContractFactory("DevStablecoin", deployer)).deploy()
    : await ethers.getContractAt("IERC20Metadata", options.paymentToken!, deployer);
  const stake = stakeDev
    ? await (await ethers.getContractFactory("DevStakeToken", deployer)).deploy()
    : await ethers.getContractAt("IERC20Metadata", options.stakeToken!, deployer);
  if (paymentDev) await payment.waitForDeployment();
  if (stakeDev) await stake.waitForDeployment();
  const paymentDecimals = Number(await payment.decimals());
  const stakeDecimals = Number(await stake.decimals());
  // Default valuation: one whole stake token per whole payment token.
  const stakePerPaymentUnit =
    options.stakePerPaymentUnit ?? 10n ** BigInt(Math.max(0, stakeDecimals - paymentDecimals));

  const catalog = await (await ethers.getContractFactory("GpuCatalog", deployer)).deploy(deployerAddress);
  await catalog.waitForDeployment();
  const staking = await (await ethers.getContractFactory("ProviderStaking", deployer)).deploy(
    await stake.getAddress(),
    deployerAddress,
    treasury,
    options.unbondingPeriodSeconds ?? 7 * 24 * 60 * 60,
    options.minStake ?? 10n ** BigInt(stakeDecimals) * 100n,
  );
  await staking.waitForDeployment();
  const market = await (await ethers.getContractFactory("JobMarket", deployer)).deploy(
    await payment.getAddress(),
    await staking.getAddress(),
    await catalog.getAddress(),
    deployerAddress,
    treasury,
    stakePerPaymentUnit,
    parameters,
  );
  await market.waitForDeployment();
  await (await staking.setMarket(await market.getAddress())).wait();

  const gpuModels: DeploymentFile["gpuModels"] = [];
  for (const model of options.gpuModels ?? STARTER_GPU_MODELS) {
    await (await catalog.listModel(model.name, model.vramGb)).wait();
    gpuModels.push({ id: ethers.keccak256(ethers.toUtf8Bytes(model.name)), ...model });
  }

  // Hand the roles to governance once the deployer has finished its set-up.
  if (governance.toLowerCase() !== deployerAddress.toLowerCase()) {
    for (const contract of [catalog, staking, market] as const) {
      const admin = await contract.DEFAULT_ADMIN_ROLE();
      await (await contract.grantRole(admin, governance)).wait();
    }
    for (const contract of [staking, market] as const) {
      await (await contract.grantRole(await contract.PAUSER_ROLE(), governance)).wait();
    }
    await (await market.grantRole(await market.ARBITER_ROLE(), governance)).wait();
    for (const contract of [market, staking] as const) {
      await (await contract.renounceRole(await contract.PAUSER_ROLE(), deployerAddress)).wait();
    }
    await (await market.renounceRole(await market.ARBITER_ROLE(), deployerAddress)).wait();
    for (const contract of [catalog, staking, market] as const) {
      await (await contract.renounceRole(await contract.DEFAULT_ADMIN_ROLE(), deployerAddress)).wait();
    }
  }

  const chainId = Number((await ethers.provider.getNetwork()).chainId);
  const blocks = {
    payment: paymentDev ? await receiptBlock(payment as never) : 0,
    catalog: await receiptBlock(catalog),
    staking: await receiptBlock(staking),
    market: await receiptBlock(market),
  };
  const deployment: DeploymentFile = {
    chainId,
    network: hre.network.name,
    deployedAt: new Date().toISOString(),
    startBlock: Math.min(blocks.catalog, blocks.staking, blocks.market),
    contracts: {
      GpuCatalog: { address: (await catalog.getAddress()).toLowerCase(), deployBlock: blocks.catalog },
      ProviderStaking: { address: (await staking.getAddress()).toLowerCase(), deployBlock: blocks.staking },
      JobMarket: { address: (await market.getAddress()).toLowerCase(), deployBlock: blocks.market },
    },
    tokens: {
      payment: {
        address: (await payment.getAddress()).toLowerCase(),
        symbol: await payment.symbol(),
        decimals: paymentDecimals,
        dev: paymentDev,
      },
      stake: {
        address: (await stake.getAddress()).toLowerCase(),
        symbol: await stake.symbol(),
        decimals: stakeDecimals,
        dev: stakeDev,
      },
    },
    roles: { governance: governance.toLowerCase(), treasury: treasury.toLowerCase(), arbiter: governance.toLowerCase() },
    stakePerPaymentUnit: stakePerPaymentUnit.toString(),
    parameters,
    gpuModels,
  };
  let deploymentPath: string | null = null;
  if (options.deploymentsDir !== null) {
    const dir = options.deploymentsDir ?? path.join(hre.config.paths.root, "deployments");
    fs.mkdirSync(dir, { recursive: true });
    deploymentPath = path.join(dir, `${chainId}.json`);
    fs.writeFileSync(deploymentPath, JSON.stringify(deployment, null, 2) + "\n");
  }
  return { deployment, deploymentPath, payment, stake, catalog, staking, market };
}

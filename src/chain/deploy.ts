import fs from "node:fs";
import path from "node:path";
import {
  keccak256,
  toHex,
  type Abi,
  type Account,
  type Address,
  type Chain,
  type Hex,
  type PublicClient,
  type Transport,
  type WalletClient,
} from "viem";
import { ConfigError } from "../internal/errors";
import {
  DEFAULT_PARAMETERS,
  STARTER_GPU_MODELS,
  type DeploymentFile,
  type MarketParameters,
} from "../../scripts/lib/deployGpuMesh";

/**
 * Deploys GPU Mesh with viem from the compiled Hardhat artifacts, without a Hardhat runtime: tests and tools that
 * start their own node (anvil on a free port) use it. Same defaults and same DeploymentFile as
 * scripts/lib/deployGpuMesh.ts; roles stay with the deployer (governance == treasury == arbiter == deployer)
 * unless given.
 */
export interface ViemDeployOptions {
  publicClient: PublicClient;
  walletClient: WalletClient<Transport, Chain | undefined, Account>;
  /** Repository root holding artifacts/ (defaults to this checkout). */
  artifactsDir?: string;
  treasury?: Address;
  unbondingPeriodSeconds?: number;
  minStake?: bigint;
  parameters?: Partial<MarketParameters>;
  gpuModels?: ReadonlyArray<{ name: string; vramGb: number }>;
  network?: string;
}

interface Artifact {
  abi: Abi;
  bytecode: Hex;
}

const ARTIFACTS = {
  DevStablecoin: "contracts/dev/DevStablecoin.sol/DevStablecoin.json",
  DevStakeToken: "contracts/dev/DevStakeToken.sol/DevStakeToken.json",
  GpuCatalog: "contracts/GpuCatalog.sol/GpuCatalog.json",
  ProviderStaking: "contracts/ProviderStaking.sol/ProviderStaking.json",
  JobMarket: "contracts/JobMarket.sol/JobMarket.json",
} as const;

const MAX_INITCODE_BYTES = 49_152;

function readArtifact(artifactsDir: string, name: keyof typeof ARTIFACTS): Artifact {
  const file = path.join(artifactsDir, ARTIFACTS[name]);
  let artifact: Artifact;
  try {
    artifact = JSON.parse(fs.readFileSync(file, "utf8")) as Artifact;
  } catch (error) {
    throw new ConfigError(`cannot read artifact ${file} (run \`npx hardhat compile\`)`, error);
  }
  // solidity-coverage leaves instrumented bytecode behind, which nodes refuse as over the EIP-3860 initcode limit.
  const initcodeBytes = (artifact.bytecode.length - 2) / 2;
  if (initcodeBytes > MAX_INITCODE_BYTES) {
    throw new ConfigError(
      `artifact ${file} has ${initcodeBytes} bytes of initcode (limit ${MAX_INITCODE_BYTES}): it looks instrumented by coverage; run \`npx hardhat compile --force\``,
    );
  }
  return artifact;
}

/** Deploys dev tokens, catalog, staking and market, lists the starter catalog, and returns the deployment file. */
export async function deployGpuMeshWithViem(options: ViemDeployOptions): Promise<DeploymentFile> {
  const { publicClient, walletClient } = options;
  const artifactsDir = options.artifactsDir ?? path.join(__dirname, "..", "..", "artifacts");
  const deployer = walletClient.account.address;
  const treasury = options.treasury ?? deployer;
  const parameters: MarketParameters = { ...DEFAULT_PARAMETERS, ...options.parameters };

  const deploy = async (name: keyof typeof ARTIFACTS, args: unknown[]) => {
    const artifact = readArtifact(artifactsDir, name);
    const hash = await walletClient.deployContract({
      abi: artifact.abi,
      bytecode: artifact.bytecode,
      args,
      chain: walletClient.chain,
      account: walletClient.account,
    });
    const receipt = await publicClient.waitForTransactionReceipt({ hash });
    if (receipt.status !== "success" || !receipt.contractAddress) throw new Error(`deploying ${name} failed`);
    return { address: receipt.contractAddress.toLowerCase() as Address, deployBlock: Number(receipt.blockNumber), abi: artifact.abi };
  };
  const send = async (address: Address, abi: Abi, functionName: string, args: unknown[]) => {
    const hash = await walletClient.writeContract({
      address,
      abi,
      functionName,
      args,
      chain: walletClient.chain,
      account: walletClient.account,
    });
    const receipt = await publicClient.waitForTransactionReceipt({ hash });
    if (receipt.status !== "success") throw new Error(`${functionName} failed`);
  };

  const payment = await deploy("DevStablecoin", []);
  const stake = await deploy("DevStakeToken", []);
  const paymentDecimals = 6;
  const stakeDecimals = 18;
  const stakePerPaymentUnit = 10n ** BigInt(stakeDecimals - paymentDecimals);
  const catalog = await deploy("GpuCatalog", [deployer]);
  const staking = await deploy("ProviderStaking", [
    stake.address,
    deployer,
    treasury,
    BigInt(options.unbondingPeriodSeconds ?? 7 * 24 * 60 * 60),
    options.minStake ?? 10n ** BigInt(stakeDecimals) * 100n,
  ]);
  const market = await deploy("JobMarket", [
    payment.address,
    staking.address,
    catalog.address,
    deployer,
    treasury,
    stakePerPaymentUnit,
    parameters,
  ]);
  await send(staking.address, staking.abi, "setMarket", [market.address]);
  const gpuModels: DeploymentFile["gpuModels"] = [];
  for (const model of options.gpuModels ?? STARTER_GPU_MODELS) {
    await send(catalog.address, catalog.abi, "listModel", [model.name, model.vramGb]);
    gpuModels.push({ id: keccak256(toHex(model.name)), ...model });
  }

  const record = (contract: { address: Address; deployBlock: number }) => ({
    address: contract.address,
    deployBlock: contract.deployBlock,
  });
  return {
    chainId: await publicClient.getChainId(),
    network: options.network ?? "viem",
    deployedAt: new Date().toISOString(),
    startBlock: Math.min(catalog.deployBlock, staking.deployBlock, market.deployBlock),
    contracts: { GpuCatalog: record(catalog), ProviderStaking: record(staking), JobMarket: record(market) },
    tokens: {
      payment: { address: payment.address, symbol: "USDC", decimals: paymentDecimals, dev: true },
      stake: { address: stake.address, symbol: "MESH", decimals: stakeDecimals, dev: true },
    },
    roles: { governance: deployer.toLowerCase(), treasury: treasury.toLowerCase(), arbiter: deployer.toLowerCase() },
    stakePerPaymentUnit: stakePerPaymentUnit.toString(),
    parameters,
    gpuModels,
  };
}

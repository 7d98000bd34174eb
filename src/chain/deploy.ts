import fs from "node:fs";
import path from "node:path";
import {
  encodeFunctionData,
  getAddress,
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
import { DEFAULT_PARAMETERS, type MarketParameters } from "../protocol";
import type { Deployment } from "./deployment";

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

/**
 * The one GPU Mesh deployer, with viem from the compiled Hardhat artifacts: `scripts/deploy.ts` (any Hardhat
 * network), `gpumesh start`, the tools and every test use it. Roles stay with the deployer (governance == treasury ==
 * arbiter == deployer) unless `governance` is given, in which case they are handed over once set-up is done.
 */
export interface DeployOptions {
  publicClient: PublicClient;
  walletClient: WalletClient<Transport, Chain | undefined, Account>;
  /** Repository root holding artifacts/ (defaults to this checkout). */
  artifactsDir?: string;
  governance?: Address;
  treasury?: Address;
  /** Existing token addresses; when absent the dev tokens (USDC, 6 decimals; MESH, 18 decimals) are deployed. */
  paymentToken?: Address;
  stakeToken?: Address;
  /** Stake units per payment unit; default one whole stake token per whole payment token. */
  stakePerPaymentUnit?: bigint;
  unbondingPeriodSeconds?: number;
  /** Default 100 whole stake tokens. */
  minStake?: bigint;
  parameters?: Partial<MarketParameters>;
  gpuModels?: ReadonlyArray<{ name: string; vramGb: number }>;
  network?: string;
  /** Where to write <chainId>.json; nothing is written when absent. */
  deploymentsDir?: string;
}

interface Artifact {
  contractName: string;
  sourceName: string;
  abi: Abi;
  bytecode: Hex;
  linkReferences: Record<string, Record<string, Array<{ start: number; length: number }>>>;
}

const ARTIFACTS = {
  DevStablecoin: "contracts/dev/DevStablecoin.sol/DevStablecoin.json",
  DevStakeToken: "contracts/dev/DevStakeToken.sol/DevStakeToken.json",
  GpuCatalog: "contracts/GpuCatalog.sol/GpuCatalog.json",
  ProviderStaking: "contracts/ProviderStaking.sol/ProviderStaking.json",
  JobMarket: "contracts/JobMarket.sol/JobMarket.json",
  OfferBook: "contracts/libraries/OfferBook.sol/OfferBook.json",
  ParameterBook: "contracts/libraries/ParameterBook.sol/ParameterBook.json",
} as const;
type ArtifactName = keyof typeof ARTIFACTS;

const MAX_INITCODE_BYTES = 49_152;
const ERC20_METADATA_ABI = [
  { type: "function", name: "decimals", stateMutability: "view", inputs: [], outputs: [{ type: "uint8" }] },
  { type: "function", name: "symbol", stateMutability: "view", inputs: [], outputs: [{ type: "string" }] },
] as const;

export function defaultArtifactsDir(): string {
  return path.join(__dirname, "..", "..", "artifacts");
}

export function readArtifact(artifactsDir: string, name: ArtifactName): Artifact {
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

/** Fills the artifact's library placeholders with the deployed libraries' addresses; fails on a missing one. */
export function linkBytecode(artifact: Artifact, libraries: Partial<Record<string, Address>>): Hex {
  let code = artifact.bytecode.slice(2);
  for (const [source, libs] of Object.entries(artifact.linkReferences ?? {})) {
    for (const [name, references] of Object.entries(libs)) {
      const address = libraries[name];
      if (!address) throw new ConfigError(`${artifact.contractName} needs library ${source}:${name}, which was not deployed`);
      const hex = address.slice(2).toLowerCase();
      for (const { start, length } of references) {
        code = code.slice(0, start * 2) + hex + code.slice((start + length) * 2);
      }
    }
  }
  return `0x${code}`;
}

/** Deploys tokens (dev ones unless given), catalog, staking, libraries and market; lists the catalog. */
export async function deployGpuMesh(options: DeployOptions): Promise<Deployment> {
  const { publicClient, walletClient } = options;
  const artifactsDir = options.artifactsDir ?? defaultArtifactsDir();
  const deployer = getAddress(walletClient.account.address);
  const governance = options.governance ? getAddress(options.governance) : deployer;
  const treasury = options.treasury ? getAddress(options.treasury) : governance;
  const parameters: MarketParameters = { ...DEFAULT_PARAMETERS, ...options.parameters };
  const libraries: Record<string, Address> = {};

  const confirm = async (hash: Hex, what: string) => {
    const receipt = await publicClient.waitForTransactionReceipt({ hash });
    if (receipt.status !== "success") throw new Error(`${what} failed (transaction ${hash})`);
    return receipt;
  };
  const deploy = async (name: ArtifactName, args: unknown[]) => {
    const artifact = readArtifact(artifactsDir, name);
    const hash = await walletClient.deployContract({
      abi: artifact.abi,
      bytecode: linkBytecode(artifact, libraries),
      args,
      // A client built on a bare provider (scripts/lib/deployGpuMesh.ts) has no chain: null skips viem's check.
      chain: walletClient.chain ?? null,
      account: walletClient.account,
    });
    const receipt = await confirm(hash, `deploying ${name}`);
    if (!receipt.contractAddress) throw new Error(`deploying ${name} returned no address`);
    return { address: receipt.contractAddress.toLowerCase() as Address, deployBlock: Number(receipt.blockNumber), abi: artifact.abi };
  };
  const send = async (address: Address, abi: Abi, functionName: string, args: unknown[]) => {
    const hash = await walletClient.sendTransaction({
      to: address,
      data: encodeFunctionData({ abi, functionName, args }),
      chain: walletClient.chain ?? null,
      account: walletClient.account,
    });
    await confirm(hash, functionName);
  };
  const token = async (address: Address | undefined, devName: "DevStablecoin" | "DevStakeToken") => {
    const record = address ? { address: address.toLowerCase() as Address, deployBlock: 0 } : await deploy(devName, []);
    const read = (functionName: "decimals" | "symbol") =>
      publicClient.readContract({ address: record.address, abi: ERC20_METADATA_ABI, functionName });
    return { ...record, decimals: Number(await read("decimals")), symbol: String(await read("symbol")), dev: !address };
  };

  const payment = await token(options.paymentToken, "DevStablecoin");
  const stake = await token(options.stakeToken, "DevStakeToken");
  const stakePerPaymentUnit =
    options.stakePerPaymentUnit ?? 10n ** BigInt(Math.max(0, stake.decimals - payment.decimals));
  const catalog = await deploy("GpuCatalog", [deployer]);
  const staking = await deploy("ProviderStaking", [
    stake.address,
    deployer,
    treasury,
    BigInt(options.unbondingPeriodSeconds ?? 7 * 24 * 60 * 60),
    options.minStake ?? 10n ** BigInt(stake.decimals) * 100n,
  ]);
  for (const name of ["OfferBook", "ParameterBook"] as const) libraries[name] = (await deploy(name, [])).address;
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
  const gpuModels: Deployment["gpuModels"] = [];
  for (const model of options.gpuModels ?? STARTER_GPU_MODELS) {
    await send(catalog.address, catalog.abi, "listModel", [model.name, model.vramGb]);
    gpuModels.push({ id: keccak256(toHex(model.name)), ...model });
  }
  if (governance !== deployer) await handOverRoles({ send, deployer, governance, catalog, staking, market });

  const record = (contract: { address: Address; deployBlock: number }) => ({
    address: contract.address,
    deployBlock: contract.deployBlock,
  });
  const lower = (address: Address) => address.toLowerCase() as Address;
  const deployment: Deployment = {
    chainId: await publicClient.getChainId(),
    network: options.network ?? "viem",
    deployedAt: new Date().toISOString(),
    startBlock: Math.min(catalog.deployBlock, staking.deployBlock, market.deployBlock),
    contracts: { GpuCatalog: record(catalog), ProviderStaking: record(staking), JobMarket: record(market) },
    libraries: { OfferBook: libraries.OfferBook!, ParameterBook: libraries.ParameterBook! },
    tokens: {
      payment: { address: payment.address, symbol: payment.symbol, decimals: payment.decimals, dev: payment.dev },
      stake: { address: stake.address, symbol: stake.symbol, decimals: stake.decimals, dev: stake.dev },
    },
    roles: { governance: lower(governance), treasury: lower(treasury), arbiter: lower(governance) },
    stakePerPaymentUnit: stakePerPaymentUnit.toString(),
    parameters,
    gpuModels,
  };
  if (options.deploymentsDir) writeDeployment(options.deploymentsDir, deployment);
  return deployment;
}

/** Writes <dir>/<chainId>.json; returns its path. */
export function writeDeployment(dir: string, deployment: Deployment): string {
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${deployment.chainId}.json`);
  fs.writeFileSync(file, JSON.stringify(deployment, null, 2) + "\n");
  return file;
}

/** Gives governance every role (admin, pauser, arbiter) and renounces the deployer's. */
async function handOverRoles(context: {
  send: (address: Address, abi: Abi, functionName: string, args: unknown[]) => Promise<void>;
  deployer: Address;
  governance: Address;
  catalog: { address: Address; abi: Abi };
  staking: { address: Address; abi: Abi };
  market: { address: Address; abi: Abi };
}) {
  const { send, deployer, governance, catalog, staking, market } = context;
  const role = (name: string) => (name === "DEFAULT_ADMIN_ROLE" ? (`0x${"0".repeat(64)}` as Hex) : keccak256(toHex(name)));
  const grants: Array<[typeof market, string]> = [
    [catalog, "DEFAULT_ADMIN_ROLE"],
    [staking, "DEFAULT_ADMIN_ROLE"],
    [market, "DEFAULT_ADMIN_ROLE"],
    [staking, "PAUSER_ROLE"],
    [market, "PAUSER_ROLE"],
    [market, "ARBITER_ROLE"],
  ];
  for (const [contract, name] of grants) await send(contract.address, contract.abi, "grantRole", [role(name), governance]);
  // The admin role goes last: renouncing it first would forbid nothing here, but keeps the order of a careful human.
  for (const [contract, name] of [...grants.slice(3), ...grants.slice(0, 3)]) {
    await send(contract.address, contract.abi, "renounceRole", [role(name), deployer]);
  }
}

import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import {
  createPublicClient,
  createTestClient,
  createWalletClient,
  encodeFunctionData,
  http,
  keccak256,
  toHex,
  type Abi,
  type Address,
  type Hex,
  type TransactionReceipt,
} from "viem";
import { foundry } from "viem/chains";
import { devStablecoinAbi, gpuCatalogAbi, jobMarketAbi, providerStakingAbi } from "../../../src/chain/abis";
import { deployGpuMesh } from "../../../src/chain/deploy";
import { loadDeployment, type Deployment } from "../../../src/chain/deployment";
import { RECEIPT_DOMAIN, USAGE_RECEIPT_TYPES } from "../../../src/protocol";

export const USDC = 10n ** 6n;
export const MESH = 10n ** 18n;
export const STAKE_PER_PAYMENT_UNIT = 10n ** 12n;
export const H100 = keccak256(toHex("H100-SXM-80GB"));
export const A100 = keccak256(toHex("A100-SXM-80GB"));
export const L40S = keccak256(toHex("L40S-48GB"));
export const RTX4090 = keccak256(toHex("RTX-4090-24GB"));
export const SPEC_HASH = keccak256(toHex("spec"));
export const RESULT_HASH = keccak256(toHex("result"));
export const REASON_HASH = keccak256(toHex("reason"));
/** maxEscrow for tests that do not exercise it. */
export const NO_ESCROW_LIMIT = 2n ** 255n;

export function region(code: string): Hex {
  return toHex(code, { size: 16 });
}
const TARGETS = {
  market: jobMarketAbi,
  staking: providerStakingAbi,
  catalog: gpuCatalogAbi,
  payment: devStablecoinAbi,
  // DevStakeToken has the same ERC-20, permit and mint functions.
  stake: devStablecoinAbi,
} as const;
export type Target = keyof typeof TARGETS;

export interface OfferInput {
  gpuModel: Hex;
  gpus: number;
  pricePerGpuHour: bigint;
  minDuration?: number;
  maxDuration?: number;
  region: string;
  carbonIntensity?: number;
  renewableBps?: number;
  expiresAt: number;
}

export type MarketSession = Awaited<ReturnType<typeof setUpMarket>>;

/** A JobMarket transaction for anvil_reorg: [request, offset of the new block that includes it]. */
export function marketTx(m: MarketSession, from: Address, functionName: string, args: readonly unknown[], blockOffset: number) {
  const data = encodeFunctionData({ abi: jobMarketAbi, functionName, args } as never) as Hex;
  return [{ from, to: m.deployment.contracts.JobMarket.address, data, gas: "0x1e8480" }, blockOffset] as const;
}

const temporaryDirs: string[] = [];
process.once("exit", () => {
  for (const dir of temporaryDirs) fs.rmSync(dir, { recursive: true, force: true });
});

/** A fresh directory under the system's temp directory, removed when the test process exits. */
export function temporaryDir(prefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  temporaryDirs.push(dir);
  return dir;
}

/** Deploys GPU Mesh on an anvil and returns typed-enough helpers to drive it from anvil's unlocked accounts. */
export async function setUpMarket(url: string, options: { dir?: string } = {}) {
  const transport = http(url);
  // No block-number cache: tests compare the head with what was just mined.
  const publicClient = createPublicClient({ chain: foundry, transport, cacheTime: 0 });
  const testClient = createTestClient({ chain: foundry, mode: "anvil", transport });
  const accounts = await createWalletClient({ chain: foundry, transport }).getAddresses();
  const deployer = accounts[0];
  const walletClient = createWalletClient({ chain: foundry, transport, account: deployer });
  const dir = options.dir ?? temporaryDir("gpumesh-indexer-");
  fs.mkdirSync(dir, { recursive: true });
  const deploymentFile = path.join(dir, "deployment.json");
  const written = await deployGpuMesh({ publicClient, walletClient, network: "anvil" });
  fs.writeFileSync(deploymentFile, JSON.stringify(written, null, 2));
  const deployment = loadDeployment(deploymentFile);

  const address = (target: Target): Address => {
    switch (target) {
      case "market":
        return deployment.contracts.JobMarket.address;
      case "staking":
        return deployment.contracts.ProviderStaking.address;
      case "catalog":
        return deployment.contracts.GpuCatalog.address;
      case "payment":
        return deployment.tokens.payment.address;
      case "stake":
        return deployment.tokens.stake.address;
    }
  };

  /** Sends a transaction from an unlocked account and waits for it; reverts throw. */
  async function send(from: Address, target: Target, functionName: string, args: readonly unknown[] = []): Promise<TransactionReceipt> {
    const wallet = createWalletClient({ chain: foundry, transport, account: from });
    const call = { address: address(target), abi: TARGETS[target] as Abi, functionName, args, account: from } as never;
    // Estimated at the latest block, mined in the next: a storage write the estimate saw as a no-op (a heartbeat at
    // the same second) costs more there, so a fifth is added, as the CLI and the simulator do.
    const gas = await publicClient.estimateContractGas(call);
    const hash = await wallet.writeContract({ ...(call as object), gas: gas + gas / 5n + 10_000n } as never);
    const receipt = await publicClient.waitForTransactionReceipt({ hash });
    if (receipt.status !== "success") throw new Error(`${functionName} reverted`);
    return receipt;
  }

  async function read<T = unknown>(target: Target, functionName: string, args: readonly unknown[] = []): Promise<T> {
    return (await publicClient.readContract({ address: address(target), abi: TARGETS[target] as Abi, functionName, args })) as T;
  }

  async function latestTimestamp(): Promise<number> {
    return Number((await publicClient.getBlock()).timestamp);
  }

  async function increaseTime(seconds: number): Promise<void> {
    await testClient.increaseTime({ seconds });
    await testClient.mine({ blocks: 1 });
  }

  async function fund(account: Address, { usdc = 0n, mesh = 0n }: { usdc?: bigint; mesh?: bigint }) {
    if (usdc > 0n) {
      await send(account, "payment", "mint", [account, usdc]);
      await send(account, "payment", "approve", [address("market"), 2n ** 255n]);
    }
    if (mesh > 0n) {
      await send(account, "stake", "mint", [account, mesh]);
      await send(account, "stake", "approve", [address("staking"), 2n ** 255n]);
    }
  }

  async function registerProvider(provider: Address, stake: bigint, metadata = "https://provider.example/gpus") {
    await fund(provider, { mesh: stake });
    await send(provider, "staking", "register", [metadata]);
    await send(provider, "staking", "stake", [stake]);
  }

  async function createOffer(provider: Address, offer: OfferInput): Promise<bigint> {
    const id = await read<bigint>("market", "nextOfferId");
    await send(provider, "market", "createOffer", [
      {
        gpuModel: offer.gpuModel,
        gpus: offer.gpus,
        pricePerGpuHour: offer.pricePerGpuHour,
        minDuration: offer.minDuration ?? 60,
        maxDuration: offer.maxDuration ?? 30 * 86400,
        region: region(offer.region),
        carbonIntensity: offer.carbonIntensity ?? 120,
        renewableBps: offer.renewableBps ?? 5000,
        expiresAt: offer.expiresAt,
      },
    ]);
    return id;
  }

  async function createJob(client: Address, offerId: bigint, gpus: number, duration: number, maxPrice = 2n ** 96n): Promise<bigint> {
    const id = await read<bigint>("market", "nextJobId");
    await send(client, "market", "createJob", [offerId, gpus, duration, maxPrice, NO_ESCROW_LIMIT, SPEC_HASH]);
    return id;
  }

  /** A job `sponsor` pays for and `client` runs: refunds go to the sponsor. */
  async function createJobFor(sponsor: Address, client: Address, offerId: bigint, gpus: number, duration: number): Promise<bigint> {
    const id = await read<bigint>("market", "nextJobId");
    await send(sponsor, "market", "createJobFor", [client, offerId, gpus, duration, 2n ** 96n, NO_ESCROW_LIMIT, SPEC_HASH]);
    return id;
  }

  /** The client's EIP-712 UsageReceipt(jobId, servedUntil), signed by anvil's unlocked account. */
  async function signReceipt(client: Address, jobId: bigint, servedUntil: bigint): Promise<Hex> {
    const wallet = createWalletClient({ chain: foundry, transport, account: client });
    return wallet.signTypedData({
      account: client,
      domain: { ...RECEIPT_DOMAIN, chainId: foundry.id, verifyingContract: address("market") },
      types: USAGE_RECEIPT_TYPES,
      primaryType: "UsageReceipt",
      message: { jobId, servedUntil },
    });
  }

  return {
    url,
    publicClient,
    testClient,
    accounts,
    deployer,
    deployment: deployment as Deployment,
    deploymentFile,
    address,
    send,
    read,
    latestTimestamp,
    increaseTime,
    fund,
    registerProvider,
    createOffer,
    createJob,
    createJobFor,
    signReceipt,
  };
}

import {
  createPublicClient,
  createWalletClient,
  defineChain,
  http,
  type Address,
  type Chain,
  type LocalAccount,
  type PublicClient,
  type Transport,
  type WalletClient,
} from "viem";
import { loadDeployment, type Deployment, type TokenRecord } from "../../chain/deployment";
import { redactUrl } from "../../internal/errors";
import type { ChainOptions } from "./args";
import { CliError } from "./errors";
import { describeError, type ErrorContext } from "./revert";
import { loadWallet, type WalletSource } from "./wallet";

export interface ChainContext {
  rpcUrl: string;
  deployment: Deployment;
  chain: Chain;
  publicClient: PublicClient<Transport, Chain>;
  market: Address;
  staking: Address;
  catalog: Address;
  payment: TokenRecord;
  stake: TokenRecord;
  errorContext: ErrorContext;
  /** The latest block's timestamp: dev chains move their clock, so "now" is the chain's. */
  now(): Promise<bigint>;
}

export interface SignerContext extends ChainContext {
  account: LocalAccount;
  walletClient: WalletClient<Transport, Chain, LocalAccount>;
}

/** Reads the deployment, connects to the node and checks that both are the same chain. */
export async function createChainContext(options: ChainOptions): Promise<ChainContext> {
  const deployment = loadDeployment(options.deploymentFile);
  const chain = defineChain({
    id: deployment.chainId,
    name: deployment.network || `chain ${deployment.chainId}`,
    nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 },
    rpcUrls: { default: { http: [options.rpcUrl] } },
  });
  const publicClient = createPublicClient({
    chain,
    transport: http(options.rpcUrl, { batch: { wait: 0 }, retryCount: 1, timeout: 30_000 }),
    pollingInterval: 200,
  }) as PublicClient<Transport, Chain>;
  const errorContext: ErrorContext = {
    payment: deployment.tokens.payment,
    stake: deployment.tokens.stake,
    gpuModels: deployment.gpuModels,
    rpcUrl: options.rpcUrl,
  };
  let chainId: number;
  try {
    chainId = await publicClient.getChainId();
  } catch (error) {
    throw new CliError(describeError(error, errorContext), error);
  }
  if (chainId !== deployment.chainId) {
    throw new CliError(
      `the node at ${redactUrl(options.rpcUrl)} is chain ${chainId} but ${options.deploymentFile} is for chain ${deployment.chainId}`,
    );
  }
  return {
    rpcUrl: options.rpcUrl,
    deployment,
    chain,
    publicClient,
    market: deployment.contracts.JobMarket.address,
    staking: deployment.contracts.ProviderStaking.address,
    catalog: deployment.contracts.GpuCatalog.address,
    payment: deployment.tokens.payment,
    stake: deployment.tokens.stake,
    errorContext,
    now: async () => (await publicClient.getBlock({ blockTag: "latest" })).timestamp,
  };
}

/** A chain context with the wallet that signs. The wallet is loaded first: a wrong password fails before any RPC. */
export async function createSignerContext(options: ChainOptions, source: WalletSource): Promise<SignerContext> {
  const { account } = await loadWallet(source);
  const context = await createChainContext(options);
  const walletClient = createWalletClient({
    account,
    chain: context.chain,
    transport: http(options.rpcUrl, { retryCount: 1, timeout: 60_000 }),
    pollingInterval: 200,
  }) as WalletClient<Transport, Chain, LocalAccount>;
  return { ...context, account, walletClient };
}

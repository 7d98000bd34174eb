import {
  connect,
  createConfig,
  disconnect,
  getAccount,
  getConnectors,
  injected,
  reconnect,
  switchChain,
  watchAccount,
  watchConnectors,
  type Config,
  type Connector,
} from "@wagmi/core";
import {
  createPublicClient,
  createWalletClient,
  custom,
  defineChain,
  http,
  type Address,
  type Chain,
  type EIP1193Provider,
  type PublicClient,
  type WalletClient,
} from "viem";
import type { WebConfig } from "../config";

/** One wallet the browser offers: announced through EIP-6963 (name and icon), or the injected window.ethereum. */
export interface WalletChoice {
  uid: string;
  name: string;
  icon?: string;
}

export interface WalletState {
  choices: WalletChoice[];
  status: "disconnected" | "connecting" | "reconnecting" | "connected";
  address?: Address;
  /** The chain the wallet is on, which may not be the market's. */
  chainId?: number;
  connectorName?: string;
}

export interface Wallet {
  chain: Chain;
  state(): WalletState;
  subscribe(listener: (state: WalletState) => void): () => void;
  connect(uid: string): Promise<void>;
  disconnect(): Promise<void>;
  /** wallet_switchEthereumChain, and wallet_addEthereumChain when the wallet does not know the market's chain. */
  switchToMarketChain(): Promise<void>;
  /** viem clients over the connected wallet's own provider: reads, signatures and transactions all go through it. */
  clients(): Promise<{ publicClient: PublicClient; walletClient: WalletClient; account: Address }>;
}

/** The market's chain as a wallet should add it: the server's loopback RPC for a local chain. */
function marketChain(config: WebConfig): Chain {
  const id = config.chainId ?? 31337;
  const rpcUrl = config.walletRpcUrl ?? "http://127.0.0.1:8545";
  return defineChain({
    id,
    name: id === 31337 ? "GPU Mesh local" : `GPU Mesh (chain ${id})`,
    nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 },
    rpcUrls: { default: { http: [rpcUrl] } },
  });
}

const hasWindowEthereum = () => typeof (globalThis as { ethereum?: unknown }).ethereum === "object";

/** wagmi's core (no framework) with EIP-6963 discovery and the generic injected provider, for the market's chain. */
export function createWallet(config: WebConfig): Wallet {
  const chain = marketChain(config);
  const wagmi: Config = createConfig({
    chains: [chain],
    connectors: [injected({ shimDisconnect: true })],
    multiInjectedProviderDiscovery: true,
    // Reads go through the wallet's provider (clients() below); this transport is only wagmi's fallback.
    transports: { [chain.id]: http(chain.rpcUrls.default.http[0]) },
  });

  const listeners = new Set<(state: WalletState) => void>();
  // The generic connector is for a wallet that only sets window.ethereum; EIP-6963 wallets list themselves.
  const nameOf = (connector: Connector) => (connector.id === "injected" ? "Browser wallet" : connector.name);
  const choices = (): WalletChoice[] =>
    getConnectors(wagmi)
      .filter((connector) => connector.id !== "injected" || hasWindowEthereum())
      .map((connector) => ({ uid: connector.uid, name: nameOf(connector), icon: connector.icon }));
  const state = (): WalletState => {
    const account = getAccount(wagmi);
    return {
      choices: choices(),
      status: account.status,
      address: account.address,
      chainId: account.chainId,
      connectorName: account.connector ? nameOf(account.connector) : undefined,
    };
  };
  const notify = () => {
    const current = state();
    for (const listener of listeners) listener(current);
  };
  watchAccount(wagmi, { onChange: notify });
  watchConnectors(wagmi, { onChange: notify });
  void reconnect(wagmi).then(notify, notify);

  const connector = (): Connector => {
    const found = getAccount(wagmi).connector;
    if (!found) throw new Error("no wallet is connected");
    return found;
  };

  return {
    chain,
    state,
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    async connect(uid) {
      const chosen = getConnectors(wagmi).find((candidate) => candidate.uid === uid);
      if (!chosen) throw new Error("that wallet is gone from this page");
      await connect(wagmi, { connector: chosen });
    },
    async disconnect() {
      await disconnect(wagmi);
    },
    async switchToMarketChain() {
      await switchChain(wagmi, { chainId: chain.id });
    },
    async clients() {
      const active = connector();
      const provider = (await active.getProvider()) as EIP1193Provider;
      const account = getAccount(wagmi).address;
      if (!account) throw new Error("no wallet is connected");
      const transport = custom(provider);
      return {
        account,
        publicClient: createPublicClient({ chain, transport, pollingInterval: 500 }) as PublicClient,
        walletClient: createWalletClient({ chain, transport, account }),
      };
    },
  };
}

let shared: { key: string; wallet: Wallet } | null = null;

/** One wallet connection per page, kept while the user moves between pages. */
export function walletFor(config: WebConfig): Wallet {
  const key = `${config.chainId}`;
  if (!shared || shared.key !== key) shared = { key, wallet: createWallet(config) };
  return shared.wallet;
}

import type { BrowserContext } from "playwright-core";
import { createWalletClient, http, toHex, type Address, type Hex } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { foundry } from "viem/chains";

/** How a wallet announces itself through EIP-6963. */
export interface AnnouncedWallet {
  uuid: string;
  name: string;
  rdns: string;
  icon: string;
}

export interface WalletRequest {
  method: string;
  params: unknown[];
}

export interface TestWallet {
  address: Address;
  /** The chain the wallet is on now. */
  chainId(): number;
  /** Every request the page made, in order. */
  requests: WalletRequest[];
}

const icon = (color: string) =>
  `data:image/svg+xml,${encodeURIComponent(`<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24"><circle cx="12" cy="12" r="10" fill="${color}"/></svg>`)}`;

export const TEST_WALLETS: AnnouncedWallet[] = [
  { uuid: "6f2d3c1e-0000-4000-8000-000000000001", name: "GPU Mesh Test Wallet", rdns: "dev.gpumesh.testwallet", icon: icon("#38bdf8") },
  { uuid: "6f2d3c1e-0000-4000-8000-000000000002", name: "Second Test Wallet", rdns: "dev.gpumesh.secondwallet", icon: icon("#f472b6") },
];

type Answer = { result?: unknown; error?: { code: number; message: string; data?: unknown }; events?: Array<[string, unknown]> };

/**
 * A browser wallet for tests: an EIP-1193 provider announced through EIP-6963 (under every name of `wallets`, and
 * as window.ethereum when asked) whose
 * requests are answered by this process, signing with a viem local account. It starts on `startChainId` and knows
 * only that chain, so the page must add the market's chain (wallet_addEthereumChain) before it can use it; chain
 * reads go to the node at `rpcUrl`.
 */
export async function injectTestWallet(
  context: BrowserContext,
  options: {
    rpcUrl: string;
    privateKey: Hex;
    startChainId: number;
    /** Announced through EIP-6963 under these names (default TEST_WALLETS); an empty list announces nothing. */
    wallets?: AnnouncedWallet[];
    /** Also (or, with no wallets, only) as window.ethereum, as older wallets inject themselves. */
    windowEthereum?: boolean;
  },
): Promise<TestWallet> {
  const account = privateKeyToAccount(options.privateKey);
  const walletClient = createWalletClient({ account, chain: foundry, transport: http(options.rpcUrl) });
  const known = new Set<number>([options.startChainId]);
  let chainId = options.startChainId;
  let connected = false;
  const requests: WalletRequest[] = [];
  let rpcId = 0;

  const forward = async (method: string, params: unknown[]): Promise<Answer> => {
    const response = await fetch(options.rpcUrl, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ jsonrpc: "2.0", id: ++rpcId, method, params }),
    });
    const body = (await response.json()) as { result?: unknown; error?: Answer["error"] };
    return body.error ? { error: body.error } : { result: body.result };
  };

  const answer = async ({ method, params }: WalletRequest): Promise<Answer> => {
    switch (method) {
      case "eth_chainId":
        return { result: toHex(chainId) };
      case "net_version":
        return { result: String(chainId) };
      case "eth_accounts":
        return { result: connected ? [account.address] : [] };
      case "eth_requestAccounts":
        connected = true;
        return { result: [account.address], events: [["accountsChanged", [account.address]]] };
      case "wallet_requestPermissions":
        connected = true;
        return { result: [{ parentCapability: "eth_accounts" }] };
      case "wallet_getPermissions":
        return { result: connected ? [{ parentCapability: "eth_accounts" }] : [] };
      case "wallet_revokePermissions":
        connected = false;
        return { result: null, events: [["accountsChanged", []]] };
      case "wallet_switchEthereumChain": {
        const wanted = Number((params[0] as { chainId: string }).chainId);
        if (!known.has(wanted)) return { error: { code: 4902, message: `Unrecognized chain ID ${toHex(wanted)}. Try adding the chain using wallet_addEthereumChain first.` } };
        chainId = wanted;
        return { result: null, events: [["chainChanged", toHex(wanted)]] };
      }
      case "wallet_addEthereumChain": {
        const added = params[0] as { chainId: string; rpcUrls: string[] };
        const wanted = Number(added.chainId);
        if (!added.rpcUrls.includes(options.rpcUrl)) return { error: { code: -32602, message: `the test wallet reaches only ${options.rpcUrl}` } };
        known.add(wanted);
        // Like most wallets, adding a chain switches to it.
        chainId = wanted;
        return { result: null, events: [["chainChanged", toHex(wanted)]] };
      }
      case "personal_sign":
        return { result: await account.signMessage({ message: { raw: params[0] as Hex } }) };
      case "eth_signTypedData_v4": {
        const typed = JSON.parse(params[1] as string) as { domain: any; types: Record<string, unknown>; primaryType: string; message: any };
        const { EIP712Domain: _domainType, ...types } = typed.types;
        // The JSON carries uint values as strings, which viem's encoder takes as they are.
        const request = { domain: typed.domain, types, primaryType: typed.primaryType, message: typed.message };
        return { result: await account.signTypedData(request as Parameters<typeof account.signTypedData>[0]) };
      }
      case "eth_sendTransaction": {
        if (chainId !== foundry.id) return { error: { code: 4901, message: `the wallet is on chain ${chainId}` } };
        const tx = params[0] as { to?: Address; data?: Hex; value?: Hex; gas?: Hex };
        try {
          const hash = await walletClient.sendTransaction({
            to: tx.to,
            data: tx.data,
            value: tx.value ? BigInt(tx.value) : undefined,
            gas: tx.gas ? BigInt(tx.gas) : undefined,
          });
          return { result: hash };
        } catch (error) {
          return { error: { code: -32603, message: (error as Error).message } };
        }
      }
      default:
        return forward(method, params);
    }
  };

  await context.exposeFunction("__gpumeshTestWallet", async (request: WalletRequest) => {
    requests.push(request);
    return answer(request);
  });
  await context.addInitScript(({ wallets, windowEthereum }: { wallets: AnnouncedWallet[]; windowEthereum: boolean }) => {
    const scope = globalThis as any;
    // One provider object per wallet, as separate extensions would have; this process answers them all.
    const createProvider = () => {
      const listeners = new Map<string, Set<(value: unknown) => void>>();
      const emit = (event: string, value: unknown) => listeners.get(event)?.forEach((listener) => listener(value));
      const provider = {
        async request({ method, params }: { method: string; params?: unknown[] }) {
          const reply = (await scope.__gpumeshTestWallet({ method, params: params ?? [] })) as Answer;
          if (reply.error) {
            const error = new Error(reply.error.message) as Error & { code: number; data?: unknown };
            error.code = reply.error.code;
            error.data = reply.error.data;
            throw error;
          }
          for (const [event, value] of reply.events ?? []) queueMicrotask(() => emit(event, value));
          return reply.result;
        },
        on(event: string, listener: (value: unknown) => void) {
          if (!listeners.has(event)) listeners.set(event, new Set());
          listeners.get(event)!.add(listener);
          return provider;
        },
        removeListener(event: string, listener: (value: unknown) => void) {
          listeners.get(event)?.delete(listener);
          return provider;
        },
      };
      return provider;
    };
    for (const wallet of wallets) {
      const detail = Object.freeze({ info: Object.freeze({ ...wallet }), provider: createProvider() });
      const announce = () => scope.dispatchEvent(new CustomEvent("eip6963:announceProvider", { detail }));
      scope.addEventListener("eip6963:requestProvider", announce);
      announce();
    }
    if (windowEthereum) scope.ethereum = createProvider();
  }, { wallets: options.wallets ?? TEST_WALLETS, windowEthereum: options.windowEthereum ?? false });

  return { address: account.address, chainId: () => chainId, requests };
}

import { useEffect, useState } from "preact/hooks";
import type { ErrorContext } from "../../../cli/lib/revert";
import type { TokenUnits } from "../../../protocol/units";
import { Notice, Section } from "../components";
import type { WebConfig } from "../config";
import { shortAddress } from "../format";
import { explain, sendCall, type Clients, type ContractCall, type TxStatus } from "./tx";
import { walletFor, type Wallet, type WalletState } from "./wallet";

export interface ConsoleProps {
  config: WebConfig;
  payment: TokenUnits;
  stake: TokenUnits;
}

export function errorContextOf(props: ConsoleProps): ErrorContext {
  return { payment: props.payment, stake: props.stake, gpuModels: props.config.deployment?.gpuModels };
}

export function useWallet(config: WebConfig): { wallet: Wallet; state: WalletState } {
  const wallet = walletFor(config);
  const [state, setState] = useState<WalletState>(() => wallet.state());
  useEffect(() => {
    setState(wallet.state());
    return wallet.subscribe(setState);
  }, [wallet]);
  return { wallet, state };
}

/** Connected, to the market's chain: the console's actions can run. */
export function isReady(wallet: Wallet, state: WalletState): boolean {
  return state.status === "connected" && state.chainId === wallet.chain.id && state.address !== undefined;
}

/** The wallets this browser offers (by name and icon), the connected account, and a wrong network with its fix. */
export function WalletPanel({ wallet, state }: { wallet: Wallet; state: WalletState }) {
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const run = async (action: () => Promise<void>) => {
    setBusy(true);
    setError(null);
    try {
      await action();
    } catch (failure) {
      setError((failure as { shortMessage?: string }).shortMessage ?? (failure as Error).message);
    } finally {
      setBusy(false);
    }
  };
  return (
    <Section title="Wallet" id="wallet">
      {state.status === "connected" && state.address ? (
        <div class="wallet-connected" data-testid="wallet-connected">
          <p>
            <strong>{state.connectorName}</strong> connected as <code title={state.address}>{shortAddress(state.address)}</code>{" "}
            <button type="button" onClick={() => run(() => wallet.disconnect())} disabled={busy}>
              Disconnect
            </button>
          </p>
          {state.chainId !== wallet.chain.id ? (
            <div class="notice error" role="alert" data-testid="wrong-network">
              <p>
                Your wallet is on chain {state.chainId}; GPU Mesh runs on {wallet.chain.name} (chain {wallet.chain.id}).
              </p>
              <button type="button" class="primary" onClick={() => run(() => wallet.switchToMarketChain())} disabled={busy}>
                Switch to {wallet.chain.name}
              </button>
            </div>
          ) : (
            <p class="caption" data-testid="network-ok">
              On {wallet.chain.name} (chain {wallet.chain.id}).
            </p>
          )}
        </div>
      ) : state.choices.length === 0 ? (
        <Notice>No wallet found in this browser: install one (any EIP-1193 or EIP-6963 wallet), then reload.</Notice>
      ) : (
        <>
          <p>Connect a wallet: it signs every transaction; this page never sees a key.</p>
          <ul class="wallet-choices" data-testid="wallet-choices">
            {state.choices.map((choice) => (
              <li key={choice.uid}>
                <button type="button" onClick={() => run(() => wallet.connect(choice.uid))} disabled={busy}>
                  {choice.icon ? <img src={choice.icon} alt="" width={20} height={20} /> : null} {choice.name}
                </button>
              </li>
            ))}
          </ul>
        </>
      )}
      {error ? <Notice kind="error">{error}</Notice> : null}
    </Section>
  );
}

const STEP_TEXT: Record<TxStatus["step"], string> = {
  idle: "",
  "signing-permit": "sign the permit in your wallet …",
  signing: "confirm the transaction in your wallet …",
  pending: "pending",
  confirmed: "confirmed",
  reverted: "reverted",
  failed: "failed",
};

/** signing / pending with its hash / confirmed / reverted, and a failure as the CLI's sentence. */
export function TxStatusLine({ status }: { status: TxStatus }) {
  if (status.step === "idle") return null;
  const failed = status.step === "failed" || status.step === "reverted";
  return (
    <p class={`tx-status ${failed ? "notice error" : "notice"}`} role={failed ? "alert" : "status"} data-testid="tx-status" data-step={status.step}>
      <strong>{status.label}</strong>: {STEP_TEXT[status.step]}
      {"hash" in status ? (
        <>
          {" "}
          <code data-testid="tx-hash">{status.hash}</code>
        </>
      ) : null}
      {status.step === "confirmed" ? ` in block ${status.blockNumber}` : null}
      {"message" in status ? <span data-testid="tx-message">: {status.message}</span> : null}
    </p>
  );
}

/** The connected wallet's clients and one transaction at a time, with its status line. */
export function useTransactions(wallet: Wallet, address: string, errorContext: ErrorContext) {
  const [clients, setClients] = useState<Clients | null>(null);
  const [status, setStatus] = useState<TxStatus>({ step: "idle" });
  const [clientsError, setClientsError] = useState<string | null>(null);
  useEffect(() => {
    wallet.clients().then(setClients, (error) => setClientsError(explain(error, errorContext)));
  }, [wallet, address]);
  const busy = status.step === "signing" || status.step === "signing-permit" || status.step === "pending";
  const send = async (call: ContractCall) => (clients ? sendCall(clients, call, errorContext, setStatus) : null);
  return { clients, status, setStatus, busy, send, clientsError };
}

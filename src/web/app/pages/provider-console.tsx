import { useCallback, useEffect, useState } from "preact/hooks";
import { erc20Abi, type Address } from "viem";
import { devStablecoinAbi, jobMarketAbi, providerStakingAbi } from "../../../chain/abis";
import { parsePositiveAmount } from "../../../protocol/units";
import { usePolled } from "../api";
import { Notice, Section } from "../components";
import { amount, formatAmount, formatDuration, formatTime, reliabilityText } from "../format";
import { Link } from "../router";
import { explain, walletPermit } from "../wallet/tx";
import { errorContextOf, isReady, TxStatusLine, useTransactions, useWallet, WalletPanel, type ConsoleProps } from "../wallet/ui";
import { ConsoleJobs } from "./console-jobs";
import { ProviderOffers } from "./provider-offers";
import type { Wallet } from "../wallet/wallet";

interface StakingAccount {
  registered: boolean;
  staked: bigint;
  locked: bigint;
  unbonding: bigint;
  unbondingReadyAt: number;
  balance: bigint;
  minStake: bigint;
}

/** The provider's console: register, stake with a permit; everything signed by the connected wallet. */
export default function ProviderConsole(props: ConsoleProps) {
  const { wallet, state } = useWallet(props.config);
  return (
    <>
      <h1 class="page-title">Provider console</h1>
      <WalletPanel wallet={wallet} state={state} />
      {!props.config.deployment ? (
        <Notice kind="error">This server knows no deployment: the console needs the contracts' addresses (`gpumesh start`, `gpumesh run`, or `gpumesh serve --deployment FILE`).</Notice>
      ) : isReady(wallet, state) ? (
        <ProviderActions {...props} wallet={wallet} address={state.address!} />
      ) : null}
    </>
  );
}

function ProviderActions(props: ConsoleProps & { wallet: Wallet; address: Address }) {
  const deployment = props.config.deployment!;
  const staking = deployment.contracts.ProviderStaking.address;
  const stakeToken = deployment.tokens.stake;
  const errorContext = errorContextOf(props);
  const tx = useTransactions(props.wallet, props.address, errorContext);
  const { clients, busy, setStatus } = tx;
  const [account, setAccount] = useState<StakingAccount | null>(null);
  const [readError, setReadError] = useState<string | null>(null);
  const [metadata, setMetadata] = useState("https://");
  const [amountText, setAmountText] = useState("");
  const [unstakeText, setUnstakeText] = useState("");

  const refresh = useCallback(async () => {
    if (!clients) return;
    try {
      const [record, balance, minStake] = await Promise.all([
        clients.publicClient.readContract({ address: staking, abi: providerStakingAbi, functionName: "account", args: [props.address] }),
        clients.publicClient.readContract({ address: stakeToken.address, abi: erc20Abi, functionName: "balanceOf", args: [props.address] }),
        clients.publicClient.readContract({ address: staking, abi: providerStakingAbi, functionName: "minStake" }),
      ]);
      setAccount({
        registered: record.registered,
        staked: record.staked,
        locked: record.locked,
        unbonding: record.unbonding,
        unbondingReadyAt: Number(record.unbondingReadyAt),
        balance,
        minStake,
      });
      setReadError(null);
    } catch (error) {
      setReadError(explain(error, errorContext));
    }
  }, [clients, props.address]);
  useEffect(() => void refresh(), [refresh]);

  const register = async () => {
    if (!clients) return;
    await tx.send({ label: "register", address: staking, abi: providerStakingAbi, functionName: "register", args: [metadata.trim()] });
    await refresh();
  };

  let amount: bigint | null = null;
  let amountError: string | null = null;
  if (amountText.trim() !== "") {
    try {
      amount = parsePositiveAmount(amountText, stakeToken, "amount");
    } catch (error) {
      amountError = (error as Error).message;
    }
  }

  const stake = async () => {
    if (!clients || amount === null) return;
    setStatus({ step: "signing-permit", label: "stake with permit" });
    let permit;
    try {
      permit = await walletPermit(clients, props.wallet.chain, stakeToken.address, staking, amount);
    } catch (error) {
      setStatus({ step: "failed", label: "stake with permit", message: explain(error, errorContext, stakeToken) });
      return;
    }
    const call = permit
      ? { label: "stake with permit", functionName: "stakeWithPermit", args: [amount, permit] }
      : { label: "stake", functionName: "stake", args: [amount] };
    const sent = await tx.send({ ...call, address: staking, abi: providerStakingAbi, token: stakeToken });
    if (sent) setAmountText("");
    await refresh();
  };

  const unstake = async () => {
    let value: bigint;
    try {
      value = parsePositiveAmount(unstakeText, stakeToken, "amount to unstake");
    } catch (error) {
      setStatus({ step: "failed", label: "request unstake", message: (error as Error).message });
      return;
    }
    const sent = await tx.send({ label: "request unstake", address: staking, abi: providerStakingAbi, functionName: "requestUnstake", args: [value] });
    if (sent) setUnstakeText("");
    await refresh();
  };

  const mintDevTokens = async () => {
    if (!clients) return;
    const amountToMint = 10_000n * 10n ** BigInt(stakeToken.decimals);
    await tx.send({ label: `mint ${formatAmount(amountToMint, stakeToken)}`, address: stakeToken.address, abi: devStablecoinAbi, functionName: "mint", args: [props.address, amountToMint] });
    await refresh();
  };

  return (
    <>
      {readError ? <Notice kind="error">{readError}</Notice> : null}
      <Section title="Stake" id="provider-stake">
        {account ? (
          <dl class="facts" data-testid="provider-account">
            <div>
              <dt>Registered</dt>
              <dd>{account.registered ? "yes" : "no"}</dd>
            </div>
            <div>
              <dt>Staked</dt>
              <dd data-testid="staked">{formatAmount(account.staked, props.stake)}</dd>
            </div>
            <div>
              <dt>Locked as collateral</dt>
              <dd>{formatAmount(account.locked, props.stake)}</dd>
            </div>
            <div>
              <dt>Unbonding</dt>
              <dd>{formatAmount(account.unbonding, props.stake)}</dd>
            </div>
            <div>
              <dt>In your wallet</dt>
              <dd data-testid="stake-balance">{formatAmount(account.balance, props.stake)}</dd>
            </div>
            <div>
              <dt>Minimum stake</dt>
              <dd>{formatAmount(account.minStake, props.stake)}</dd>
            </div>
          </dl>
        ) : (
          <p class="loading">Reading your stake …</p>
        )}
        {account && !account.registered ? (
          <form
            class="action"
            onSubmit={(event) => {
              event.preventDefault();
              void register();
            }}
          >
            <label>
              <span class="label-text">Metadata URI (what you offer, how to reach you)</span>
              <input name="metadata" value={metadata} onInput={(event) => setMetadata(event.currentTarget.value)} size={40} />
            </label>
            <button type="submit" class="primary" disabled={busy}>
              Register as a provider
            </button>
          </form>
        ) : null}
        {account?.registered ? (
          <form
            class="action"
            onSubmit={(event) => {
              event.preventDefault();
              void stake();
            }}
          >
            <label>
              <span class="label-text">Amount to stake ({stakeToken.symbol})</span>
              <input name="amount" inputMode="decimal" value={amountText} onInput={(event) => setAmountText(event.currentTarget.value)} size={12} aria-invalid={amountError !== null} />
            </label>
            <button type="submit" class="primary" disabled={busy || amount === null}>
              Stake
            </button>
          </form>
        ) : null}
        {amountError ? <Notice kind="error">{amountError}</Notice> : null}
        {account?.registered ? (
          <form
            class="action"
            onSubmit={(event) => {
              event.preventDefault();
              void unstake();
            }}
          >
            <label>
              <span class="label-text">Amount to unstake ({stakeToken.symbol})</span>
              <input name="unstake" inputMode="decimal" value={unstakeText} onInput={(event) => setUnstakeText(event.currentTarget.value)} size={12} />
            </label>
            <button type="submit" disabled={busy}>
              Request unstake
            </button>
            {account.unbonding > 0n ? (
              <button type="button" disabled={busy} onClick={() => void tx.send({ label: "withdraw stake", address: staking, abi: providerStakingAbi, functionName: "withdrawStake", args: [] }).then(refresh)}>
                Withdraw {formatAmount(account.unbonding, props.stake)} (ready {formatTime(account.unbondingReadyAt)})
              </button>
            ) : null}
          </form>
        ) : null}
        {stakeToken.dev ? (
          <p class="caption">
            {stakeToken.symbol} is a dev token here:{" "}
            <button type="button" class="link-button" onClick={() => void mintDevTokens()} disabled={busy}>
              mint 10000 {stakeToken.symbol}
            </button>
          </p>
        ) : null}

        {account?.registered ? (
          <p class="caption">
            Your public record: <Link href={`/providers/${props.address.toLowerCase()}`}>provider page</Link>.
          </p>
        ) : null}
      </Section>
      {account?.registered ? (
        <>
          <ProviderHealth address={props.address} payment={props.payment} />
          <ProviderOffers {...props} tx={tx} />
          <ConsoleJobs {...props} role="provider" tx={tx} />
          <p class="caption">
            <button type="button" disabled={busy} onClick={() => void tx.send({ label: "heartbeat", address: deployment.contracts.JobMarket.address, abi: jobMarketAbi, functionName: "heartbeat", args: [] })}>
              Send a heartbeat
            </button>{" "}
            (a sign of life: running jobs' clients may report you dark after the liveness timeout without one)
          </p>
        </>
      ) : null}
      <div class="tx-dock">
        <TxStatusLine status={tx.status} />
      </div>
    </>
  );
}

const HEALTH_QUERY = /* GraphQL */ `
  query ProviderHealth($id: ID!) {
    _meta { block { timestamp } }
    provider(id: $id) { lastHeartbeatAt earned reliability }
    terms { livenessTimeout }
  }
`;

/** The provider's signs of life and earnings, as the indexer has them at its latest block. */
function ProviderHealth(props: { address: Address; payment: ConsoleProps["payment"] }) {
  const { data } = usePolled<{
    _meta: { block: { timestamp: number } };
    provider: { lastHeartbeatAt: number | null; earned: string; reliability: number } | null;
    terms: Array<{ livenessTimeout: number }>;
  }>(HEALTH_QUERY, { id: props.address.toLowerCase() });
  if (!data?.provider) return null;
  const { provider } = data;
  const now = data._meta.block.timestamp;
  const timeout = data.terms.at(-1)?.livenessTimeout ?? 0;
  const silentFor = provider.lastHeartbeatAt === null ? null : Math.max(0, now - provider.lastHeartbeatAt);
  return (
    <Section title="Liveness and earnings" id="provider-health">
      <dl class="facts">
        <div>
          <dt>Last sign of life</dt>
          <dd data-testid="provider-last-heartbeat">{provider.lastHeartbeatAt === null ? "none yet" : formatTime(provider.lastHeartbeatAt)}</dd>
        </div>
        <div>
          <dt>Silent for</dt>
          <dd data-testid="provider-silent-for">
            {silentFor === null ? "—" : formatDuration(silentFor)}
            {silentFor !== null && timeout > 0 && silentFor > timeout ? " (past the liveness timeout: running jobs can be reported dark)" : ""}
          </dd>
        </div>
        <div>
          <dt>Liveness timeout</dt>
          <dd>{formatDuration(timeout)}</dd>
        </div>
        <div>
          <dt>Earned</dt>
          <dd data-testid="provider-earned">{amount(provider.earned, props.payment)}</dd>
        </div>
        <div>
          <dt>Reliability</dt>
          <dd>{reliabilityText(provider.reliability)}</dd>
        </div>
      </dl>
    </Section>
  );
}

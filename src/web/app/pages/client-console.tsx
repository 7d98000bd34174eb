import { useCallback, useEffect, useState } from "preact/hooks";
import { erc20Abi, type Address } from "viem";
import { devStablecoinAbi, jobMarketAbi } from "../../../chain/abis";
import { describeRevert } from "../../../cli/lib/revert";
import { parseDuration, parseInteger, parsePositiveAmount } from "../../../protocol/units";
import { gql } from "../api";
import { Notice, Section } from "../components";
import { amount, formatAmount, formatDuration } from "../format";
import { Link } from "../router";
import { explain, walletPermit } from "../wallet/tx";
import { errorContextOf, isReady, TxStatusLine, useTransactions, useWallet, WalletPanel, type ConsoleProps } from "../wallet/ui";
import { AskForGpus } from "./ask-for-gpus";
import { ConsoleJobs, textHash } from "./console-jobs";
import type { Wallet } from "../wallet/wallet";

interface OfferSummary {
  id: string;
  gpuModel: string;
  region: string;
  gpusAvailable: number;
  pricePerGpuHour: string;
  minDuration: number;
  maxDuration: number;
  state: string;
  provider: { id: string };
}

interface Quote {
  offerId: bigint;
  gpus: number;
  duration: number;
  maxPrice: bigint;
  cost: bigint;
  fee: bigint;
  escrow: bigint;
  collateral: bigint;
}

const OFFER_QUERY = /* GraphQL */ `
  query RentOffer($id: ID!) {
    offer(id: $id) { id gpuModel region gpusAvailable pricePerGpuHour minDuration maxDuration state provider { id } }
  }
`;

/**
 * The client's console: ask for GPUs (the API's plan over any offers, rented in one transaction), or quote one offer
 * and rent it (a permit and createJobWithPermit in one transaction).
 */
export default function ClientConsole(props: ConsoleProps) {
  const { wallet, state } = useWallet(props.config);
  return (
    <>
      <h1 class="page-title">Client console</h1>
      <WalletPanel wallet={wallet} state={state} />
      {!props.config.deployment ? (
        <Notice kind="error">This server knows no deployment: the console needs the contracts' addresses (`gpumesh start`, `gpumesh run`, or `gpumesh serve --deployment FILE`).</Notice>
      ) : isReady(wallet, state) ? (
        <Rent {...props} wallet={wallet} address={state.address!} />
      ) : null}
    </>
  );
}

function Rent(props: ConsoleProps & { wallet: Wallet; address: Address }) {
  const deployment = props.config.deployment!;
  const market = deployment.contracts.JobMarket.address;
  const paymentToken = deployment.tokens.payment;
  const errorContext = errorContextOf(props);
  const tx = useTransactions(props.wallet, props.address, errorContext);
  const { clients, busy, setStatus } = tx;
  const [balance, setBalance] = useState<bigint | null>(null);
  const [offerText, setOfferText] = useState(() => new URLSearchParams(location.search).get("offer") ?? "");
  const [offer, setOffer] = useState<OfferSummary | null>(null);
  const [gpusText, setGpusText] = useState("1");
  const [durationText, setDurationText] = useState("2h");
  const [maxPriceText, setMaxPriceText] = useState("");
  const [spec, setSpec] = useState("");
  const [quote, setQuote] = useState<Quote | null>(null);
  const [formError, setFormError] = useState<string | null>(null);
  const [createdJob, setCreatedJob] = useState<bigint | null>(null);

  const refreshBalance = useCallback(async () => {
    if (!clients) return;
    setBalance(await clients.publicClient.readContract({ address: paymentToken.address, abi: erc20Abi, functionName: "balanceOf", args: [props.address] }));
  }, [clients, props.address]);
  useEffect(() => void refreshBalance().catch(() => undefined), [refreshBalance]);

  useEffect(() => {
    setQuote(null);
    if (!/^\d+$/.test(offerText.trim())) {
      setOffer(null);
      return;
    }
    let current = true;
    gql<{ offer: OfferSummary | null }>(OFFER_QUERY, { id: offerText.trim() }).then(
      ({ offer: found }) => {
        if (!current) return;
        setOffer(found);
        if (found && maxPriceText === "") setMaxPriceText(formatAmount(BigInt(found.pricePerGpuHour), paymentToken).replace(/\s.*$/, ""));
      },
      () => current && setOffer(null),
    );
    return () => {
      current = false;
    };
  }, [offerText]);

  const askQuote = async () => {
    setFormError(null);
    setQuote(null);
    setCreatedJob(null);
    if (!clients) return;
    let request;
    try {
      request = {
        offerId: BigInt(parseInteger(offerText, "offer", { min: 1 })),
        gpus: parseInteger(gpusText, "GPUs", { min: 1, max: 2 ** 32 - 1 }),
        duration: parseDuration(durationText, "duration"),
        maxPrice: parsePositiveAmount(maxPriceText, paymentToken, "max price per GPU-hour"),
      };
    } catch (error) {
      setFormError((error as Error).message);
      return;
    }
    if (offer && BigInt(offer.pricePerGpuHour) > request.maxPrice) {
      setFormError(describeRevert("JobMarketPriceAboveMax", [BigInt(offer.pricePerGpuHour), request.maxPrice], errorContext));
      return;
    }
    try {
      const [cost, fee, escrow, collateral] = await clients.publicClient.readContract({
        address: market,
        abi: jobMarketAbi,
        functionName: "quote",
        args: [request.offerId, request.gpus, request.duration],
      });
      setQuote({ ...request, cost, fee, escrow, collateral });
    } catch (error) {
      setFormError(explain(error, errorContext));
    }
  };

  const rent = async () => {
    if (!clients || !quote) return;
    setCreatedJob(null);
    const label = "rent (permit + createJob)";
    const current = await clients.publicClient.readContract({ address: paymentToken.address, abi: erc20Abi, functionName: "balanceOf", args: [props.address] });
    if (current < quote.escrow) {
      setStatus({ step: "failed", label, message: describeRevert("ERC20InsufficientBalance", [props.address, current, quote.escrow], { ...errorContext, token: paymentToken }) });
      return;
    }
    setStatus({ step: "signing-permit", label });
    let permit;
    try {
      permit = await walletPermit(clients, props.wallet.chain, paymentToken.address, market, quote.escrow);
    } catch (error) {
      setStatus({ step: "failed", label, message: explain(error, errorContext, paymentToken) });
      return;
    }
    if (!permit) {
      setStatus({ step: "failed", label, message: `${paymentToken.symbol} has no permit: approve the market first (gpumesh client create-job does it)` });
      return;
    }
    // maxEscrow is the quoted escrow: the job is created at the quoted amounts or not at all.
    const sent = await tx.send({
        label,
        address: market,
        abi: jobMarketAbi,
        functionName: "createJobWithPermit",
        args: [props.address, quote.offerId, quote.gpus, quote.duration, quote.maxPrice, quote.escrow, textHash(spec), permit],
        token: paymentToken,
      });
    const created = sent?.events.find((event) => event.eventName === "JobCreated");
    if (created) setCreatedJob(created.args.jobId as bigint);
    await refreshBalance();
  };

  const mintDevTokens = async () => {
    if (!clients) return;
    const amountToMint = 10_000n * 10n ** BigInt(paymentToken.decimals);
    await tx.send({ label: `mint ${formatAmount(amountToMint, paymentToken)}`, address: paymentToken.address, abi: devStablecoinAbi, functionName: "mint", args: [props.address, amountToMint] });
    await refreshBalance();
  };

  const pay = (value: bigint) => formatAmount(value, props.payment);
  return (
    <>
    <AskForGpus {...props} tx={tx} onRented={refreshBalance}>
      <p class="caption" data-testid="payment-balance">
        In your wallet: {balance === null ? "…" : pay(balance)}
        {paymentToken.dev ? (
          <>
            {" "}
            ({paymentToken.symbol} is a dev token here:{" "}
            <button type="button" class="link-button" onClick={() => void mintDevTokens()} disabled={busy}>
              mint 10000 {paymentToken.symbol}
            </button>
            )
          </>
        ) : null}
      </p>
    </AskForGpus>
    <Section title="Rent one offer" id="rent">
      <form
        class="filters"
        onSubmit={(event) => {
          event.preventDefault();
          void askQuote();
        }}
      >
        <label>
          <span class="label-text">Offer</span>
          <input name="offer" inputMode="numeric" value={offerText} onInput={(event) => setOfferText(event.currentTarget.value)} size={6} />
        </label>
        <label>
          <span class="label-text">GPUs</span>
          <input name="gpus" inputMode="numeric" value={gpusText} onInput={(event) => { setGpusText(event.currentTarget.value); setQuote(null); }} size={5} />
        </label>
        <label>
          <span class="label-text">Duration (e.g. 90m, 2h, 1d)</span>
          <input name="duration" value={durationText} onInput={(event) => { setDurationText(event.currentTarget.value); setQuote(null); }} size={8} />
        </label>
        <label>
          <span class="label-text">Max price per GPU-hour ({paymentToken.symbol})</span>
          <input name="maxPrice" inputMode="decimal" value={maxPriceText} onInput={(event) => { setMaxPriceText(event.currentTarget.value); setQuote(null); }} size={8} />
        </label>
        <label>
          <span class="label-text">Job spec (text or 0x hash, optional)</span>
          <input name="spec" value={spec} onInput={(event) => setSpec(event.currentTarget.value)} size={16} />
        </label>
        <button type="submit" disabled={busy}>
          Quote
        </button>
      </form>
      {offer ? (
        <p class="caption" data-testid="rent-offer">
          <Link href={`/offers/${offer.id}`}>Offer #{offer.id}</Link>: {offer.gpuModel} in {offer.region}, {offer.gpusAvailable} GPUs free at{" "}
          {amount(offer.pricePerGpuHour, props.payment)} per GPU-hour, {formatDuration(offer.minDuration)} to {formatDuration(offer.maxDuration)}, {offer.state.toLowerCase()}
        </p>
      ) : null}
      {formError ? <Notice kind="error">{formError}</Notice> : null}
      {quote ? (
        <div class="quote" data-testid="quote">
          <p>
            {quote.gpus} GPU{quote.gpus === 1 ? "" : "s"} for {formatDuration(quote.duration)}: cost <strong data-testid="quote-cost">{pay(quote.cost)}</strong> + fee{" "}
            <strong data-testid="quote-fee">{pay(quote.fee)}</strong> = <strong data-testid="quote-escrow">{pay(quote.escrow)}</strong> held in escrow; unused time is refunded.
          </p>
          <p class="caption">The provider locks {formatAmount(quote.collateral, props.stake)} of its stake as collateral for the job.</p>
          <button type="button" class="primary" onClick={() => void rent()} disabled={busy}>
            Rent: pay {pay(quote.escrow)} into escrow
          </button>
        </div>
      ) : null}
      {createdJob !== null ? (
        <p data-testid="created-job">
          <Link href={`/jobs/${createdJob}`}>Job #{createdJob.toString()}</Link> created: the provider must accept it within its accept window.
        </p>
      ) : null}
    </Section>
    <ConsoleJobs {...props} role="client" tx={tx} />
    <div class="tx-dock">
      <TxStatusLine status={tx.status} />
    </div>
    </>
  );
}

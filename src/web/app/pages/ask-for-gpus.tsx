import type { ComponentChildren } from "preact";
import { useEffect, useState } from "preact/hooks";
import { encodeFunctionData, erc20Abi, type Abi, type Address } from "viem";
import { jobMarketAbi } from "../../../chain/abis";
import { describeRevert } from "../../../cli/lib/revert";
import { parseDuration, parseInteger, parsePercentBps, parsePositiveAmount } from "../../../protocol/units";
import { gql } from "../api";
import { Notice, Section, TableBox } from "../components";
import { formatAmount, formatDuration, formatTime, integer, parseShare, reliabilityText, shortAddress } from "../format";
import { Link } from "../router";
import { explain, walletPermit } from "../wallet/tx";
import { errorContextOf, type ConsoleProps, type useTransactions } from "../wallet/ui";
import type { Wallet } from "../wallet/wallet";
import { textHash } from "./console-jobs";

/** The API's Quote, amounts still decimal strings. */
interface ApiQuote {
  fillable: boolean;
  shortfall: string | null;
  message: string;
  gpusRequested: number;
  gpusPlanned: number;
  providers: number;
  duration: number;
  cost: string;
  fee: string;
  escrow: string;
  collateral: string;
  asOf: number;
  legs: Array<{
    offer: { id: string; region: string };
    provider: { id: string; reliability: number };
    gpus: number;
    pricePerGpuHour: string;
    cost: string;
    fee: string;
    escrow: string;
    collateral: string;
  }>;
}

const QUOTE_QUERY = /* GraphQL */ `
  query Plan(
    $gpuModel: String!, $gpus: Int!, $duration: Int!, $region: String, $maxPricePerGpuHour: BigInt,
    $maxCarbonIntensity: Int, $minRenewableBps: Int, $minReliability: Float, $spreadAcross: Int
  ) {
    quote(
      gpuModel: $gpuModel, gpus: $gpus, duration: $duration, region: $region, maxPricePerGpuHour: $maxPricePerGpuHour,
      maxCarbonIntensity: $maxCarbonIntensity, minRenewableBps: $minRenewableBps, minReliability: $minReliability,
      spreadAcross: $spreadAcross
    ) {
      fillable shortfall message gpusRequested gpusPlanned providers duration cost fee escrow collateral asOf
      legs { offer { id region } provider { id reliability } gpus pricePerGpuHour cost fee escrow collateral }
    }
  }
`;

const REGIONS_QUERY = /* GraphQL */ `
  query PlanRegions { capacity(groupBy: REGION) { region } }
`;

type Transactions = ReturnType<typeof useTransactions>;

/**
 * "Ask for GPUs": the API's quote for a request (model, count, duration and limits, optionally spread over K
 * providers) shown leg by leg before anything is signed, then rented in one transaction: a multicall of selfPermit
 * for the total escrow and one createJob per leg, each at its quoted price and with its quoted escrow as maximum.
 * One transaction makes the plan all or nothing: a client who asked for K providers never ends up with some of them.
 */
export function AskForGpus(props: ConsoleProps & { wallet: Wallet; address: Address; tx: Transactions; onRented: () => Promise<void>; children?: ComponentChildren }) {
  const deployment = props.config.deployment!;
  const market = deployment.contracts.JobMarket.address;
  const paymentToken = deployment.tokens.payment;
  const errorContext = errorContextOf(props);
  const { tx } = props;
  const [form, setForm] = useState({
    model: deployment.gpuModels[0]?.name ?? "",
    gpus: "4",
    duration: "2h",
    maxPrice: "",
    region: "",
    maxCarbon: "",
    minRenewable: "",
    minReliability: "",
    spreadAcross: "1",
    spec: "",
  });
  const [regions, setRegions] = useState<string[]>([]);
  const [plan, setPlan] = useState<ApiQuote | null>(null);
  const [formError, setFormError] = useState<string | null>(null);
  const [asking, setAsking] = useState(false);
  const [createdJobs, setCreatedJobs] = useState<bigint[] | null>(null);
  const [renting, setRenting] = useState(false);

  useEffect(() => {
    gql<{ capacity: Array<{ region: string | null }> }>(REGIONS_QUERY).then(
      ({ capacity }) => setRegions(capacity.map((bucket) => bucket.region!).filter(Boolean).sort()),
      () => setRegions([]),
    );
  }, []);

  const field = (name: keyof typeof form) => ({
    name,
    value: form[name],
    onInput: (event: { currentTarget: HTMLInputElement | HTMLSelectElement }) => {
      setForm({ ...form, [name]: event.currentTarget.value });
      if (name !== "spec") setPlan(null);
    },
  });

  const askPlan = async () => {
    setFormError(null);
    setPlan(null);
    setCreatedJobs(null);
    let variables: Record<string, unknown>;
    try {
      const gpus = parseInteger(form.gpus, "GPUs", { min: 1, max: 2 ** 31 - 1 });
      variables = {
        gpuModel: form.model,
        gpus,
        duration: parseDuration(form.duration, "duration"),
        region: form.region || null,
        maxPricePerGpuHour: form.maxPrice.trim() === "" ? null : parsePositiveAmount(form.maxPrice, paymentToken, "max price per GPU-hour").toString(),
        maxCarbonIntensity: form.maxCarbon.trim() === "" ? null : parseInteger(form.maxCarbon, "max carbon intensity", { max: 2 ** 31 - 1 }),
        minRenewableBps: form.minRenewable.trim() === "" ? null : parsePercentBps(form.minRenewable, "min renewable"),
        minReliability: parseShare(form.minReliability, "min reliability"),
        spreadAcross: parseInteger(form.spreadAcross, "spread across", { min: 1, max: gpus }),
      };
    } catch (error) {
      setFormError((error as Error).message);
      return;
    }
    setAsking(true);
    try {
      setPlan((await gql<{ quote: ApiQuote }>(QUOTE_QUERY, variables)).quote);
    } catch (error) {
      setFormError((error as Error).message);
    } finally {
      setAsking(false);
    }
  };

  const rent = async () => {
    setRenting(true);
    try {
      await rentPlan();
    } finally {
      setRenting(false);
    }
  };

  const rentPlan = async () => {
    if (!tx.clients || !plan?.fillable) return;
    setCreatedJobs(null);
    const escrow = BigInt(plan.escrow);
    const label = `rent ${plan.legs.length} job${plan.legs.length === 1 ? "" : "s"} (permit + createJob per leg)`;
    const balance = await tx.clients.publicClient.readContract({ address: paymentToken.address, abi: erc20Abi, functionName: "balanceOf", args: [props.address] });
    if (balance < escrow) {
      tx.setStatus({ step: "failed", label, message: describeRevert("ERC20InsufficientBalance", [props.address, balance, escrow], { ...errorContext, token: paymentToken }) });
      return;
    }
    tx.setStatus({ step: "signing-permit", label });
    let permit;
    try {
      // One permit for the plan's total escrow: each createJob pulls its own leg's escrow from that allowance.
      permit = await walletPermit(tx.clients, props.wallet.chain, paymentToken.address, market, escrow);
    } catch (error) {
      tx.setStatus({ step: "failed", label, message: explain(error, errorContext, paymentToken) });
      return;
    }
    if (!permit) {
      tx.setStatus({ step: "failed", label, message: `${paymentToken.symbol} has no permit: approve the market first (gpumesh client create-job does it)` });
      return;
    }
    const specHash = textHash(form.spec);
    // Each leg at its quoted price with its quoted escrow as maximum: created at the quoted amounts or not at all.
    const calls = [
      encodeFunctionData({ abi: jobMarketAbi, functionName: "selfPermit", args: [permit] }),
      ...plan.legs.map((leg) =>
        encodeFunctionData({
          abi: jobMarketAbi,
          functionName: "createJob",
          args: [BigInt(leg.offer.id), leg.gpus, plan.duration, BigInt(leg.pricePerGpuHour), BigInt(leg.escrow), specHash],
        }),
      ),
    ];
    const sent = await tx.send({ label, address: market, abi: jobMarketAbi as Abi, functionName: "multicall", args: [calls], token: paymentToken });
    if (sent) setCreatedJobs(sent.events.filter((event) => event.eventName === "JobCreated").map((event) => event.args.jobId as bigint));
    await props.onRented();
  };

  const pay = (value: string) => formatAmount(BigInt(value), props.payment);
  const legState = (index: number) => {
    if (createdJobs?.[index] !== undefined) {
      const id = createdJobs[index]!.toString();
      return <Link href={`/jobs/${id}`}>Job #{id}</Link>;
    }
    if (renting && tx.busy) return tx.status.step === "pending" ? "pending" : "signing";
    return "—";
  };

  return (
    <Section title="Ask for GPUs" id="ask">
      {props.children}
      <p class="caption">The API plans the cheapest way to get them now; nothing is signed until you rent the plan.</p>
      <form
        class="filters"
        aria-label="Ask for GPUs"
        onSubmit={(event) => {
          event.preventDefault();
          void askPlan();
        }}
      >
        <label>
          <span class="label-text">GPU model</span>
          <select {...field("model")}>
            {deployment.gpuModels.map((model) => (
              <option key={model.id}>{model.name}</option>
            ))}
          </select>
        </label>
        <label>
          <span class="label-text">GPU count</span>
          <input {...field("gpus")} inputMode="numeric" size={5} />
        </label>
        <label>
          <span class="label-text">For (e.g. 90m, 2h, 1d)</span>
          <input {...field("duration")} size={7} />
        </label>
        <label>
          <span class="label-text">Max {paymentToken.symbol} per GPU-hour</span>
          <input {...field("maxPrice")} inputMode="decimal" size={7} />
        </label>
        <label>
          <span class="label-text">In region</span>
          <select {...field("region")}>
            <option value="">any region</option>
            {regions.map((code) => (
              <option key={code}>{code}</option>
            ))}
          </select>
        </label>
        <label>
          <span class="label-text">Max gCO2e/kWh</span>
          <input {...field("maxCarbon")} inputMode="numeric" size={5} />
        </label>
        <label>
          <span class="label-text">Min renewable (%)</span>
          <input {...field("minRenewable")} inputMode="decimal" size={5} />
        </label>
        <label>
          <span class="label-text">Min provider reliability (0..1)</span>
          <input {...field("minReliability")} inputMode="decimal" size={5} />
        </label>
        <label>
          <span class="label-text">Spread across providers</span>
          <input {...field("spreadAcross")} inputMode="numeric" size={3} />
        </label>
        <label>
          <span class="label-text">Job spec (optional)</span>
          <input {...field("spec")} size={12} />
        </label>
        <button type="submit" disabled={asking || tx.busy}>
          Plan
        </button>
      </form>
      {formError ? <Notice kind="error">{formError}</Notice> : null}
      {plan ? (
        <div class="quote" data-testid="plan">
          {plan.fillable ? (
            <p data-testid="plan-summary">
              {integer(plan.gpusPlanned)} GPUs for {formatDuration(plan.duration)} from {integer(plan.providers)} provider{plan.providers === 1 ? "" : "s"} in{" "}
              {integer(plan.legs.length)} job{plan.legs.length === 1 ? "" : "s"}, as of {formatTime(plan.asOf)}.
            </p>
          ) : (
            <p class="notice error" role="alert" data-testid="plan-shortfall">
              Cannot be filled now (<strong data-testid="plan-shortfall-code">{plan.shortfall}</strong>): <span data-testid="plan-message">{plan.message}</span>
              {plan.legs.length > 0 ? ` ${integer(plan.gpusPlanned)} of ${integer(plan.gpusRequested)} GPUs could be had, as listed.` : ""}
            </p>
          )}
          {plan.legs.length > 0 ? (
            <TableBox label="Plan, one job per leg">
              <table data-testid="plan-legs">
                <thead>
                  <tr>
                    <th scope="col">Offer</th>
                    <th scope="col">Provider</th>
                    <th scope="col">Region</th>
                    <th scope="col" class="num">GPUs</th>
                    <th scope="col" class="num">Price per GPU-h</th>
                    <th scope="col" class="num">Cost</th>
                    <th scope="col" class="num">Fee</th>
                    <th scope="col" class="num">Escrow</th>
                    <th scope="col">Job</th>
                  </tr>
                </thead>
                <tbody>
                  {plan.legs.map((leg, index) => (
                    <tr key={leg.offer.id} data-testid="plan-leg" data-offer={leg.offer.id}>
                      <th scope="row">
                        <Link href={`/offers/${leg.offer.id}`}>#{leg.offer.id}</Link>
                      </th>
                      <td>
                        <Link href={`/providers/${leg.provider.id}`} title={leg.provider.id}>
                          {shortAddress(leg.provider.id)}
                        </Link>{" "}
                        <span class="caption">({reliabilityText(leg.provider.reliability)})</span>
                      </td>
                      <td>{leg.offer.region}</td>
                      <td class="num">{integer(leg.gpus)}</td>
                      <td class="num">{pay(leg.pricePerGpuHour)}</td>
                      <td class="num">{pay(leg.cost)}</td>
                      <td class="num">{pay(leg.fee)}</td>
                      <td class="num" data-testid="plan-leg-escrow">{pay(leg.escrow)}</td>
                      <td data-testid="plan-leg-job">{legState(index)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </TableBox>
          ) : null}
          {plan.fillable ? (
            <>
              <p>
                Cost <strong data-testid="plan-cost">{pay(plan.cost)}</strong> + fee <strong data-testid="plan-fee">{pay(plan.fee)}</strong> ={" "}
                <strong data-testid="plan-escrow">{pay(plan.escrow)}</strong> held in escrow; unused time is refunded.
              </p>
              <p class="caption">The providers lock {formatAmount(BigInt(plan.collateral), props.stake)} of their stake as collateral.</p>
              {createdJobs ? (
                <p data-testid="plan-rented">
                  Rented: {createdJobs.length} jobs created; each provider must accept its job within its accept window. Plan again for more.
                </p>
              ) : (
                <button type="button" class="primary" onClick={() => void rent()} disabled={tx.busy}>
                  Rent the plan: pay {pay(plan.escrow)} into escrow
                </button>
              )}
            </>
          ) : null}
        </div>
      ) : null}
    </Section>
  );
}

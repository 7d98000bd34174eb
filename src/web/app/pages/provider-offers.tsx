import { useState } from "preact/hooks";
import { toHex, type Address } from "viem";
import { jobMarketAbi } from "../../../chain/abis";
import { parseDuration, parseInteger, parsePercentBps, parsePositiveAmount } from "../../../protocol/units";
import { usePolled } from "../api";
import { Notice, Section, TableBox } from "../components";
import { amount, formatAmount, formatTime } from "../format";
import { Link } from "../router";
import type { ConsoleProps, useTransactions } from "../wallet/ui";

interface MyOffer {
  id: string;
  gpuModel: string;
  region: string;
  gpus: number;
  gpusLeased: number;
  pricePerGpuHour: string;
  expiresAt: number;
  state: string;
}

const MY_OFFERS = `query MyOffers($who: String!) {
  offers(where: { provider: $who }, orderBy: ID, orderDirection: DESC, first: 50) {
    items { id gpuModel region gpus gpusLeased pricePerGpuHour expiresAt state }
  }
}`;

type Transactions = ReturnType<typeof useTransactions>;

/** A provider's offers: create one, reprice or resize it, close it. */
export function ProviderOffers(props: ConsoleProps & { address: Address; tx: Transactions }) {
  const deployment = props.config.deployment!;
  const market = deployment.contracts.JobMarket.address;
  const models = deployment.gpuModels;
  const { tx } = props;
  const [form, setForm] = useState({
    model: models[0]?.name ?? "",
    gpus: "8",
    price: "",
    region: "eu-west",
    minDuration: "1h",
    maxDuration: "7d",
    carbon: "120",
    renewable: "50%",
    lifetime: "30d",
  });
  const [formError, setFormError] = useState<string | null>(null);
  const { data, error } = usePolled<{ offers: { items: MyOffer[] } }>(MY_OFFERS, { who: props.address.toLowerCase() });
  const field = (name: keyof typeof form) => ({
    name,
    value: form[name],
    onInput: (event: { currentTarget: HTMLInputElement }) => setForm({ ...form, [name]: event.currentTarget.value }),
  });

  const create = async () => {
    setFormError(null);
    let params;
    try {
      const model = models.find((candidate) => candidate.name === form.model);
      if (!model) throw new Error(`pick a GPU model`);
      const latest = tx.clients ? (await tx.clients.publicClient.getBlock()).timestamp : BigInt(Math.floor(Date.now() / 1000));
      params = {
        gpuModel: model.id as `0x${string}`,
        gpus: parseInteger(form.gpus, "GPUs", { min: 1, max: 2 ** 32 - 1 }),
        pricePerGpuHour: parsePositiveAmount(form.price, props.payment, "price per GPU-hour"),
        minDuration: parseDuration(form.minDuration, "minimum duration"),
        maxDuration: parseDuration(form.maxDuration, "maximum duration"),
        // The contract checks the code (JobMarketInvalidRegion): its sentence says what a region may be.
        region: toHex(form.region.trim(), { size: 16 }),
        carbonIntensity: parseInteger(form.carbon, "carbon intensity", { min: 0, max: 65535 }),
        renewableBps: parsePercentBps(form.renewable, "renewable share"),
        expiresAt: Number(latest) + parseDuration(form.lifetime, "lifetime"),
      };
    } catch (failure) {
      setFormError((failure as Error).message);
      return;
    }
    await tx.send({ label: "create offer", address: market, abi: jobMarketAbi, functionName: "createOffer", args: [params] });
  };

  return (
    <Section title="Your offers" id="provider-offers">
      <form
        class="filters"
        aria-label="New offer"
        onSubmit={(event) => {
          event.preventDefault();
          void create();
        }}
      >
        <label>
          <span class="label-text">GPU model</span>
          <select name="model" value={form.model} onChange={(event) => setForm({ ...form, model: event.currentTarget.value })}>
            {models.map((model) => (
              <option key={model.id}>{model.name}</option>
            ))}
          </select>
        </label>
        <label>
          <span class="label-text">GPUs</span>
          <input {...field("gpus")} inputMode="numeric" size={5} />
        </label>
        <label>
          <span class="label-text">Price per GPU-hour ({props.payment.symbol})</span>
          <input {...field("price")} inputMode="decimal" size={8} />
        </label>
        <label>
          <span class="label-text">Region</span>
          <input {...field("region")} size={10} />
        </label>
        <label>
          <span class="label-text">Min duration</span>
          <input {...field("minDuration")} size={5} />
        </label>
        <label>
          <span class="label-text">Max duration</span>
          <input {...field("maxDuration")} size={5} />
        </label>
        <label>
          <span class="label-text">gCO2e/kWh</span>
          <input {...field("carbon")} inputMode="numeric" size={5} />
        </label>
        <label>
          <span class="label-text">Renewable</span>
          <input {...field("renewable")} size={5} />
        </label>
        <label>
          <span class="label-text">Open for</span>
          <input {...field("lifetime")} size={5} />
        </label>
        <button type="submit" class="primary" disabled={tx.busy}>
          Create offer
        </button>
      </form>
      {formError ? <Notice kind="error">{formError}</Notice> : null}
      {error ? <Notice kind="error">{error}</Notice> : null}
      {data && data.offers.items.length > 0 ? (
        <TableBox label="Your offers">
          <table data-testid="provider-offers">
            <thead>
              <tr>
                <th scope="col">Offer</th>
                <th scope="col">Model</th>
                <th scope="col">Region</th>
                <th scope="col" class="num">Leased / GPUs</th>
                <th scope="col" class="num">Price per GPU-h</th>
                <th scope="col">Expires</th>
                <th scope="col">State</th>
                <th scope="col">Change</th>
              </tr>
            </thead>
            <tbody>
              {data.offers.items.map((offer) => (
                <OfferRow key={offer.id} offer={offer} {...props} market={market} />
              ))}
            </tbody>
          </table>
        </TableBox>
      ) : data ? (
        <p class="empty">No offers yet.</p>
      ) : null}
    </Section>
  );
}

function OfferRow(props: ConsoleProps & { offer: MyOffer; market: Address; tx: Transactions }) {
  const { offer, tx } = props;
  const [price, setPrice] = useState(formatAmount(BigInt(offer.pricePerGpuHour), props.payment).replace(/\s.*$/, ""));
  const [gpus, setGpus] = useState(String(offer.gpus));
  const [rowError, setRowError] = useState<string | null>(null);
  const reprice = async () => {
    setRowError(null);
    let args;
    try {
      args = [BigInt(offer.id), parseInteger(gpus, "GPUs", { min: 1, max: 2 ** 32 - 1 }), parsePositiveAmount(price, props.payment, "price"), offer.expiresAt];
    } catch (failure) {
      setRowError((failure as Error).message);
      return;
    }
    await tx.send({ label: `reprice offer #${offer.id}`, address: props.market, abi: jobMarketAbi, functionName: "updateOffer", args });
  };
  const open = offer.state === "OPEN";
  return (
    <tr data-testid="my-offer" data-offer={offer.id}>
      <th scope="row">
        <Link href={`/offers/${offer.id}`}>#{offer.id}</Link>
      </th>
      <td>{offer.gpuModel}</td>
      <td>{offer.region}</td>
      <td class="num">
        {offer.gpusLeased} / {offer.gpus}
      </td>
      <td class="num" data-testid="my-offer-price">{amount(offer.pricePerGpuHour, props.payment)}</td>
      <td>{offer.expiresAt >= 2147483647 ? "never" : formatTime(offer.expiresAt)}</td>
      <td>{offer.state.toLowerCase()}</td>
      <td class="actions">
        {open ? (
          <>
            <input aria-label={`GPUs of offer #${offer.id}`} value={gpus} onInput={(event) => setGpus(event.currentTarget.value)} size={4} />
            <input aria-label={`Price of offer #${offer.id}`} value={price} onInput={(event) => setPrice(event.currentTarget.value)} size={6} />
            <button type="button" disabled={tx.busy} onClick={() => void reprice()}>
              reprice
            </button>
            <button
              type="button"
              disabled={tx.busy}
              onClick={() => void tx.send({ label: `close offer #${offer.id}`, address: props.market, abi: jobMarketAbi, functionName: "closeOffer", args: [BigInt(offer.id)] })}
            >
              close
            </button>
          </>
        ) : (
          "—"
        )}
        {rowError ? <span role="alert" class="inline-error"> {rowError}</span> : null}
      </td>
    </tr>
  );
}

import { useMemo, useState } from "preact/hooks";
import type { TokenUnits } from "../../../protocol/units";
import { parseAmount } from "../../../protocol/units";
import { usePolled } from "../api";
import type { PricePoint, UtilizationPoint } from "../chart";
import { Figure, Meter, Notice, PriceCandles, Section, TableBox, UtilizationArea } from "../components";
import { amount, formatBps, formatDuration, integer, percent, shortAddress } from "../format";
import { Link } from "../router";
import { Energy } from "./energy";

interface MarketData {
  _meta: { block: { number: number; timestamp: number } };
  market: {
    providers: number;
    activeProviders: number;
    totalStaked: string;
    totalLocked: string;
    escrowed: string;
    volume: string;
    feesCollected: string;
    gpuHoursSold: number;
    estimatedEmissionsKg: number;
    jobs: number;
    jobsByState: Array<{ state: string; count: number }>;
    gpusOffered: number;
    gpusLeased: number;
    gpusAvailable: number;
    /** Null until the indexer has recorded the deployment's stake rate. */
    gpusRentable: number | null;
    utilization: number;
  };
  byModel: CapacityRow[];
  byModelRegion: CapacityRow[];
}

interface CapacityRow {
  gpuModel: string | null;
  region: string | null;
  gpusOffered: number;
  gpusLeased: number;
  gpusAvailable: number;
  utilization: number;
  providers: number;
  offers: number;
  askFloor: string | null;
  askMedian: string | null;
  /** Null until the indexer has recorded the deployment's stake rate. */
  gpusRentable: number | null;
  /** GPU-weighted over the bucket's open offers; null when nothing is offered. */
  avgCarbonIntensity: number | null;
  avgRenewableBps: number | null;
}

const CAPACITY_FIELDS =
  "gpuModel region gpusOffered gpusLeased gpusAvailable gpusRentable utilization providers offers askFloor askMedian avgCarbonIntensity avgRenewableBps";
const MARKET_QUERY = /* GraphQL */ `
  query Market {
    _meta { block { number timestamp } }
    market {
      providers activeProviders totalStaked totalLocked escrowed volume feesCollected gpuHoursSold estimatedEmissionsKg jobs
      jobsByState { state count }
      gpusOffered gpusLeased gpusAvailable gpusRentable utilization
    }
    byModel: capacity(groupBy: GPU_MODEL) { ${CAPACITY_FIELDS} }
    byModelRegion: capacity(groupBy: GPU_MODEL_REGION) { ${CAPACITY_FIELDS} }
  }
`;

export function MarketPage(props: { payment: TokenUnits; stake: TokenUnits }) {
  const { data, error } = usePolled<MarketData>(MARKET_QUERY);
  if (!data) return error ? <Notice kind="error">The market could not be read: {error}</Notice> : <p class="loading">Reading the market …</p>;
  const models = data.byModel.map((row) => row.gpuModel!).filter(Boolean);
  return (
    <>
      <h1 class="page-title">
        Market <span class="block-tag" data-testid="indexed-block">block {integer(data._meta.block.number)}</span>
      </h1>
      {error ? <Notice kind="error">Live update failed: {error}</Notice> : null}
      <Headline market={data.market} byModel={data.byModel} payment={props.payment} stake={props.stake} />
      <Capacity byModel={data.byModel} byModelRegion={data.byModelRegion} payment={props.payment} />
      <Utilization />
      {models.length > 0 ? <Prices models={models} regions={data.byModelRegion} payment={props.payment} /> : null}
      <Energy byModel={data.byModel} estimatedEmissionsKg={data.market.estimatedEmissionsKg} gpuHoursSold={data.market.gpuHoursSold} payment={props.payment} />
      <Offers models={models} regions={[...new Set(data.byModelRegion.map((row) => row.region!))].sort()} payment={props.payment} />
    </>
  );
}

const count = (value: number | null) => (value === null ? "—" : integer(value));

function Headline({ market, byModel, payment, stake }: { market: MarketData["market"]; byModel: CapacityRow[]; payment: TokenUnits; stake: TokenUnits }) {
  const states = market.jobsByState.filter((entry) => entry.count > 0);
  return (
    <Section title="Headline figures" id="headline">
      <div class="figures">
        <Figure testId="gpus-offered" label="GPUs offered" value={integer(market.gpusOffered)} detail={`${integer(market.activeProviders)} of ${integer(market.providers)} providers active`} />
        <Figure testId="gpus-leased" label="GPUs leased" value={integer(market.gpusLeased)} />
        <Figure testId="gpus-available" label="GPUs free" value={integer(market.gpusAvailable)} />
        <Figure testId="gpus-rentable" label="GPUs rentable" value={count(market.gpusRentable)} detail="free and backed by unlocked stake" />
        <Figure testId="utilization" label="Utilization" value={percent(market.utilization)} />
        <Figure testId="volume" label="Volume" value={amount(market.volume, payment)} detail={`${market.gpuHoursSold.toFixed(1)} GPU-hours sold`} />
        <Figure testId="fees" label="Fees collected" value={amount(market.feesCollected, payment)} />
        <Figure testId="escrowed" label="In escrow" value={amount(market.escrowed, payment)} />
        <Figure testId="staked" label="Staked" value={amount(market.totalStaked, stake)} detail={`${amount(market.totalLocked, stake)} locked as collateral`} />
      </div>
      <h3 class="sub">Jobs by state ({integer(market.jobs)})</h3>
      <ul class="chips" data-testid="jobs-by-state">
        {states.length === 0 ? <li class="chip">no jobs yet</li> : null}
        {states.map((entry) => (
          <li class={`chip state-${entry.state.toLowerCase()}`} key={entry.state}>
            {entry.state.toLowerCase()} <strong>{integer(entry.count)}</strong>
          </li>
        ))}
      </ul>
    </Section>
  );
}

function Capacity({ byModel, byModelRegion, payment }: { byModel: CapacityRow[]; byModelRegion: CapacityRow[]; payment: TokenUnits }) {
  const [byRegion, setByRegion] = useState(false);
  const rows = byRegion ? byModelRegion : byModel;
  return (
    <Section
      title="Capacity"
      id="capacity"
      actions={
        <label class="inline">
          <input type="checkbox" checked={byRegion} onChange={(event) => setByRegion(event.currentTarget.checked)} /> by region
        </label>
      }
    >
      {rows.length === 0 ? (
        <p class="empty">No open offers.</p>
      ) : (
        <TableBox label="Capacity by GPU model">
          <table data-testid="capacity-table">
            <thead>
              <tr>
                <th scope="col">GPU model</th>
                {byRegion ? <th scope="col">Region</th> : null}
                <th scope="col" class="num">Offered</th>
                <th scope="col" class="num">Leased</th>
                <th scope="col" class="num">Free</th>
                <th scope="col" class="num">Rentable</th>
                <th scope="col">Utilization</th>
                <th scope="col" class="num">Ask floor</th>
                {byRegion ? null : <th scope="col" class="num">Median ask</th>}
                <th scope="col" class="num">Offers</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((row) => (
                <tr key={`${row.gpuModel}/${row.region}`}>
                  <th scope="row">{row.gpuModel}</th>
                  {byRegion ? <td>{row.region}</td> : null}
                  <td class="num">{integer(row.gpusOffered)}</td>
                  <td class="num">{integer(row.gpusLeased)}</td>
                  <td class="num">{integer(row.gpusAvailable)}</td>
                  <td class="num" data-testid="capacity-rentable">{count(row.gpusRentable)}</td>
                  <td>
                    <Meter share={row.utilization} label={`${percent(row.utilization)} leased`} /> {percent(row.utilization)}
                  </td>
                  <td class="num">{amount(row.askFloor, payment)}</td>
                  {byRegion ? null : <td class="num">{amount(row.askMedian, payment)}</td>}
                  <td class="num">{integer(row.offers)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </TableBox>
      )}
    </Section>
  );
}

type Interval = "HOUR" | "DAY";

function IntervalSwitch(props: { label: string; value: Interval; onChange: (value: Interval) => void }) {
  return (
    <div class="toggle" role="group" aria-label={props.label}>
      {(["HOUR", "DAY"] as const).map((value) => (
        <button type="button" key={value} aria-pressed={props.value === value} onClick={() => props.onChange(value)}>
          {value === "HOUR" ? "hour" : "day"}
        </button>
      ))}
    </div>
  );
}

const UTILIZATION_QUERY = /* GraphQL */ `
  query Utilization($interval: Interval) {
    utilization(interval: $interval) { start end gpuHoursOffered gpuHoursLeased utilization }
  }
`;

function Utilization() {
  const [interval, setInterval] = useState<Interval>("HOUR");
  const { data, error } = usePolled<{ utilization: UtilizationPoint[] }>(UTILIZATION_QUERY, { interval });
  const points = useMemo(() => data?.utilization ?? [], [data]);
  const last = points.at(-1);
  const unit = interval === "HOUR" ? "hour" : "day";
  return (
    <Section title="Utilization over time" id="utilization-history" actions={<IntervalSwitch label="Utilization interval" value={interval} onChange={setInterval} />}>
      {error ? <Notice kind="error">{error}</Notice> : null}
      <UtilizationArea points={points} interval={interval} label={`Leased share of the offered GPU-hours per ${unit}`} />
      <p class="caption" data-testid="utilization-summary">
        {last
          ? `${points.length} ${unit}s with GPUs offered; this ${unit} so far (up to the indexed block): ${percent(last.utilization)} leased, ` +
            `${last.gpuHoursLeased.toFixed(1)} of ${last.gpuHoursOffered.toFixed(1)} GPU-hours`
          : "Nothing offered yet."}
      </p>
    </Section>
  );
}

const PRICES_QUERY = /* GraphQL */ `
  query Prices($gpuModel: String!, $region: String, $interval: Interval) {
    prices(gpuModel: $gpuModel, region: $region, interval: $interval) { start jobs gpuHours open high low close vwap askFloor }
  }
`;

function Prices({ models, regions, payment }: { models: string[]; regions: CapacityRow[]; payment: TokenUnits }) {
  const [model, setModel] = useState(models[0]!);
  const [region, setRegion] = useState("");
  const [interval, setInterval] = useState<Interval>("HOUR");
  const chosenModel = models.includes(model) ? model : models[0]!;
  const modelRegions = regions.filter((row) => row.gpuModel === chosenModel).map((row) => row.region!);
  const variables = { gpuModel: chosenModel, region: region || null, interval };
  const { data, error } = usePolled<{ prices: Array<PricePoint & { gpuHours: number; vwap: string | null }> }>(PRICES_QUERY, variables);
  const points = useMemo(() => data?.prices ?? [], [data]);
  const last = points.at(-1);
  return (
    <Section
      title="Prices per GPU-hour"
      id="prices"
      actions={
        <>
          <label>
            <span class="label-text">Model</span>
            <select value={chosenModel} onChange={(event) => setModel(event.currentTarget.value)}>
              {models.map((name) => (
                <option key={name}>{name}</option>
              ))}
            </select>
          </label>
          <label>
            <span class="label-text">Region</span>
            <select value={region} onChange={(event) => setRegion(event.currentTarget.value)}>
              <option value="">all regions</option>
              {modelRegions.map((code) => (
                <option key={code}>{code}</option>
              ))}
            </select>
          </label>
          <IntervalSwitch label="Candle interval" value={interval} onChange={setInterval} />
        </>
      }
    >
      {error ? <Notice kind="error">{error}</Notice> : null}
      <PriceCandles points={points} units={payment} label={`Price candles of ${chosenModel} per ${interval.toLowerCase()}, with the ask floor`} />
      <p class="caption" data-testid="price-summary">
        {last
          ? `${points.length} ${interval === "HOUR" ? "hours" : "days"} with jobs; last close ${amount(last.close, payment)}, ask floor ${amount(last.askFloor, payment)}`
          : "No jobs of this model yet."}
      </p>
    </Section>
  );
}

interface OfferRow {
  id: string;
  provider: { id: string };
  gpuModel: string;
  region: string;
  gpus: number;
  gpusLeased: number;
  gpusAvailable: number;
  pricePerGpuHour: string;
  minDuration: number;
  maxDuration: number;
  carbonIntensity: number;
  renewableBps: number;
  expiresAt: number;
  gpusRentable: number | null;
  state: string;
}

const OFFERS_QUERY = /* GraphQL */ `
  query Offers($where: OfferFilter, $orderBy: OfferOrderBy, $orderDirection: OrderDirection, $first: Int) {
    offers(where: $where, orderBy: $orderBy, orderDirection: $orderDirection, first: $first) {
      totalCount
      items {
        id provider { id } gpuModel region gpus gpusLeased gpusAvailable pricePerGpuHour minDuration maxDuration
        carbonIntensity renewableBps expiresAt gpusRentable state
      }
    }
  }
`;

type OfferOrder = "ID" | "PRICE" | "GPUS_AVAILABLE" | "CREATED_AT" | "CARBON_INTENSITY" | "RENEWABLE_BPS";
const PAGE_SIZE = 25;

function Offers({ models, regions, payment }: { models: string[]; regions: string[]; payment: TokenUnits }) {
  const [model, setModel] = useState("");
  const [region, setRegion] = useState("");
  const [state, setState] = useState("OPEN");
  const [minFree, setMinFree] = useState("");
  const [maxPrice, setMaxPrice] = useState("");
  const [maxCarbon, setMaxCarbon] = useState("");
  const [minRenewable, setMinRenewable] = useState("");
  const [minReliability, setMinReliability] = useState("");
  const [order, setOrder] = useState<{ by: OfferOrder; direction: "ASC" | "DESC" }>({ by: "PRICE", direction: "ASC" });
  const [shown, setShown] = useState(PAGE_SIZE);

  let priceError: string | null = null;
  let maxPriceUnits: string | undefined;
  if (maxPrice.trim() !== "") {
    try {
      maxPriceUnits = parseAmount(maxPrice, payment, "max price").toString();
    } catch (error) {
      priceError = (error as Error).message;
    }
  }
  // A percentage, as the offers table shows it; the API takes basis points.
  const renewablePercent = /^(\d+(?:\.\d{1,2})?)%?$/.exec(minRenewable)?.[1];
  const minRenewableBps = renewablePercent !== undefined && Number(renewablePercent) <= 100 ? Math.round(Number(renewablePercent) * 100) : undefined;
  const renewableError =
    minRenewable === "" || minRenewableBps !== undefined ? null : `min renewable: "${minRenewable}" is not a percentage from 0 to 100 (at most 2 decimals)`;
  const carbonError = maxCarbon === "" || /^\d+$/.test(maxCarbon) ? null : `max carbon: "${maxCarbon}" is not a whole number of gCO2e per kWh`;
  // The API scores providers 0..1 (Provider.reliability) and checks the bound itself.
  const reliabilityValue = /^(0(\.\d{1,6})?|1(\.0{1,6})?)$/.test(minReliability) ? Number(minReliability) : undefined;
  const reliabilityError =
    minReliability === "" || reliabilityValue !== undefined ? null : `min reliability: "${minReliability}" is not a score from 0 to 1 (at most 6 decimals)`;
  const where = {
    ...(model ? { gpuModel: model } : {}),
    ...(region ? { region } : {}),
    ...(state ? { state } : {}),
    ...(/^\d+$/.test(minFree) ? { minGpusAvailable: Number(minFree) } : {}),
    ...(maxPriceUnits !== undefined ? { maxPricePerGpuHour: maxPriceUnits } : {}),
    ...(maxCarbon !== "" && carbonError === null ? { maxCarbonIntensity: Number(maxCarbon) } : {}),
    ...(minRenewableBps !== undefined ? { minRenewableBps } : {}),
    ...(reliabilityValue !== undefined ? { minProviderReliability: reliabilityValue } : {}),
  };
  const { data, error } = usePolled<{ offers: { totalCount: number; items: OfferRow[] } }>(OFFERS_QUERY, {
    where,
    orderBy: order.by,
    orderDirection: order.direction,
    first: shown,
  });

  const sortBy = (by: OfferOrder) =>
    setOrder((current) => ({ by, direction: current.by === by && current.direction === "ASC" ? "DESC" : "ASC" }));
  const sortHeader = (by: OfferOrder, label: string, numeric = false) => (
    <th scope="col" class={numeric ? "num" : undefined} aria-sort={order.by === by ? (order.direction === "ASC" ? "ascending" : "descending") : "none"}>
      <button type="button" class="sort" onClick={() => sortBy(by)}>
        {label}
        <span aria-hidden="true">{order.by === by ? (order.direction === "ASC" ? " ▲" : " ▼") : ""}</span>
      </button>
    </th>
  );

  return (
    <Section title="Offers" id="offers">
      <form class="filters" onSubmit={(event) => event.preventDefault()} aria-label="Offer filters">
        <label>
          <span class="label-text">Model</span>
          <select name="gpuModel" value={model} onChange={(event) => setModel(event.currentTarget.value)}>
            <option value="">all models</option>
            {models.map((name) => (
              <option key={name}>{name}</option>
            ))}
          </select>
        </label>
        <label>
          <span class="label-text">Region</span>
          <select name="region" value={region} onChange={(event) => setRegion(event.currentTarget.value)}>
            <option value="">all regions</option>
            {regions.map((code) => (
              <option key={code}>{code}</option>
            ))}
          </select>
        </label>
        <label>
          <span class="label-text">State</span>
          <select name="state" value={state} onChange={(event) => setState(event.currentTarget.value)}>
            <option value="">any</option>
            <option value="OPEN">open</option>
            <option value="CLOSED">closed</option>
            <option value="EXPIRED">expired</option>
          </select>
        </label>
        <label>
          <span class="label-text">Min free GPUs</span>
          <input name="minGpusAvailable" inputMode="numeric" value={minFree} onInput={(event) => setMinFree(event.currentTarget.value.trim())} size={5} />
        </label>
        <label>
          <span class="label-text">Max price ({payment.symbol}/GPU-h)</span>
          <input name="maxPrice" inputMode="decimal" value={maxPrice} onInput={(event) => setMaxPrice(event.currentTarget.value)} size={8} aria-invalid={priceError !== null} />
        </label>
        <label>
          <span class="label-text">Max carbon (gCO2e/kWh)</span>
          <input name="maxCarbonIntensity" inputMode="numeric" value={maxCarbon} onInput={(event) => setMaxCarbon(event.currentTarget.value.trim())} size={6} aria-invalid={carbonError !== null} />
        </label>
        <label>
          <span class="label-text">Min renewable (%)</span>
          <input name="minRenewable" inputMode="decimal" value={minRenewable} onInput={(event) => setMinRenewable(event.currentTarget.value.trim())} size={5} aria-invalid={renewableError !== null} />
        </label>
        <label>
          <span class="label-text">Min provider reliability (0..1)</span>
          <input name="minProviderReliability" inputMode="decimal" value={minReliability} onInput={(event) => setMinReliability(event.currentTarget.value.trim())} size={5} aria-invalid={reliabilityError !== null} />
        </label>
      </form>
      {[priceError, carbonError, renewableError, reliabilityError].filter(Boolean).map((message) => (
        <Notice kind="error" key={message}>
          {message}
        </Notice>
      ))}
      {error ? <Notice kind="error">{error}</Notice> : null}
      {!data ? (
        <p class="loading">Reading offers …</p>
      ) : (
        <>
          <TableBox label="Offers">
            <table data-testid="offers-table">
              <thead>
                <tr>
                  {sortHeader("ID", "Offer")}
                  <th scope="col">Provider</th>
                  <th scope="col">Model</th>
                  <th scope="col">Region</th>
                  {sortHeader("GPUS_AVAILABLE", "Free / GPUs", true)}
                  <th scope="col" class="num">Rentable</th>
                  {sortHeader("PRICE", "Price per GPU-h", true)}
                  <th scope="col">Duration</th>
                  {sortHeader("CARBON_INTENSITY", "gCO2e/kWh", true)}
                  {sortHeader("RENEWABLE_BPS", "Renewable", true)}
                  <th scope="col">State</th>
                </tr>
              </thead>
              <tbody>
                {data.offers.items.map((offer) => (
                  <tr key={offer.id} data-testid="offer-row">
                    <th scope="row">
                      <Link href={`/offers/${offer.id}`}>#{offer.id}</Link>
                    </th>
                    <td>
                      <Link href={`/providers/${offer.provider.id}`} title={offer.provider.id}>
                        {shortAddress(offer.provider.id)}
                      </Link>
                    </td>
                    <td>{offer.gpuModel}</td>
                    <td>{offer.region}</td>
                    <td class="num">
                      {integer(offer.gpusAvailable)} / {integer(offer.gpus)}
                    </td>
                    <td class="num" data-testid="offer-rentable">{count(offer.gpusRentable)}</td>
                    <td class="num" data-testid="offer-price">{amount(offer.pricePerGpuHour, payment)}</td>
                    <td>
                      {formatDuration(offer.minDuration)} – {formatDuration(offer.maxDuration)}
                    </td>
                    <td class="num" data-testid="offer-carbon">{integer(offer.carbonIntensity)}</td>
                    <td class="num" data-testid="offer-renewable">{formatBps(offer.renewableBps)}</td>
                    <td>{offer.state.toLowerCase()}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </TableBox>
          <p class="caption" data-testid="offers-count">
            {data.offers.items.length === 0 ? "No offer matches." : `${data.offers.items.length} of ${integer(data.offers.totalCount)} offers`}
            {data.offers.totalCount > data.offers.items.length ? (
              <>
                {" "}
                <button type="button" class="link-button" onClick={() => setShown(shown + PAGE_SIZE)}>
                  show more
                </button>
              </>
            ) : null}
          </p>
        </>
      )}
    </Section>
  );
}

import type { TokenUnits } from "../../../protocol/units";
import { usePolled } from "../api";
import { Figure, Notice, Section, TableBox } from "../components";
import { amount, formatBps, integer, plotValue } from "../format";

/** What a capacity bucket of the market page's query says about energy (GPU-weighted over its open offers). */
export interface EnergyBucket {
  gpuModel: string | null;
  gpusOffered: number;
  avgCarbonIntensity: number | null;
  avgRenewableBps: number | null;
}

interface EnergyOffer {
  id: string;
  gpuModel: string;
  region: string;
  gpus: number;
  pricePerGpuHour: string;
  carbonIntensity: number;
  renewableBps: number;
}

/** The scatter draws up to this many open offers (the API's largest page); the caption says when there are more. */
const PLOTTED_OFFERS = 1000;
const ENERGY_QUERY = /* GraphQL */ `
  query EnergyOffers($first: Int) {
    offers(where: { state: OPEN }, orderBy: CARBON_INTENSITY, first: $first) {
      totalCount
      items { id gpuModel region gpus pricePerGpuHour carbonIntensity renewableBps }
    }
  }
`;

const carbonText = (gramsPerKwh: number | null) => (gramsPerKwh === null ? "—" : `${gramsPerKwh.toFixed(0)} g/kWh`);
const renewableText = (bps: number | null) => (bps === null ? "—" : formatBps(Math.round(bps)));

export function Energy(props: { byModel: EnergyBucket[]; estimatedEmissionsKg: number; gpuHoursSold: number; payment: TokenUnits }) {
  const { data, error } = usePolled<{ offers: { totalCount: number; items: EnergyOffer[] } }>(ENERGY_QUERY, { first: PLOTTED_OFFERS });
  const offers = data?.offers.items ?? [];
  return (
    <Section title="Energy" id="energy">
      <div class="figures">
        <Figure
          testId="emissions"
          label="Estimated emissions"
          value={`${props.estimatedEmissionsKg.toFixed(1)} kg CO2e`}
          detail={`of ${props.gpuHoursSold.toFixed(1)} GPU-hours sold, at board power (an upper bound)`}
        />
      </div>
      {props.byModel.length > 0 ? (
        <TableBox label="Energy by GPU model">
          <table data-testid="energy-table">
            <thead>
              <tr>
                <th scope="col">GPU model</th>
                <th scope="col" class="num">GPUs offered</th>
                <th scope="col" class="num">Carbon intensity (GPU-weighted)</th>
                <th scope="col" class="num">Renewable share (GPU-weighted)</th>
              </tr>
            </thead>
            <tbody>
              {props.byModel.map((row) => (
                <tr key={row.gpuModel} data-testid="energy-row">
                  <th scope="row">{row.gpuModel}</th>
                  <td class="num">{integer(row.gpusOffered)}</td>
                  <td class="num" data-testid="energy-carbon">{carbonText(row.avgCarbonIntensity)}</td>
                  <td class="num" data-testid="energy-renewable">{renewableText(row.avgRenewableBps)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </TableBox>
      ) : null}
      {error ? <Notice kind="error">{error}</Notice> : null}
      <PriceCarbonScatter offers={offers} payment={props.payment} />
      <p class="caption" data-testid="energy-caption">
        {data
          ? offers.length === 0
            ? "No open offers."
            : `${integer(offers.length)} of ${integer(data.offers.totalCount)} open offers: price per GPU-hour against carbon intensity, greener dots for a larger renewable share, larger dots for more GPUs.`
          : "Reading offers …"}
      </p>
    </Section>
  );
}

const WIDTH = 640;
const HEIGHT = 280;
const MARGIN = { left: 56, right: 16, top: 12, bottom: 40 };

/** A round axis end above `value`: 1, 2 or 5 times a power of ten. */
function niceCeiling(value: number): number {
  if (!(value > 0)) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  return ([1, 2, 5, 10].find((step) => step * power >= value) ?? 10) * power;
}

/** Drawn by hand in SVG: lightweight-charts plots time series only. Scales with its box, so it never overflows. */
function PriceCarbonScatter({ offers, payment }: { offers: EnergyOffer[]; payment: TokenUnits }) {
  const xMax = niceCeiling(Math.max(0, ...offers.map((offer) => offer.carbonIntensity)));
  const prices = offers.map((offer) => plotValue(offer.pricePerGpuHour, payment));
  const yMax = niceCeiling(Math.max(0, ...prices));
  const mostGpus = Math.max(1, ...offers.map((offer) => offer.gpus));
  const plotWidth = WIDTH - MARGIN.left - MARGIN.right;
  const plotHeight = HEIGHT - MARGIN.top - MARGIN.bottom;
  const x = (grams: number) => MARGIN.left + (grams / xMax) * plotWidth;
  const y = (price: number) => MARGIN.top + plotHeight - (price / yMax) * plotHeight;
  const ticks = [0, 0.25, 0.5, 0.75, 1];
  const decimals = Math.min(payment.decimals, 2);
  return (
    <figure class="chart-figure">
      <svg
        class="scatter"
        viewBox={`0 0 ${WIDTH} ${HEIGHT}`}
        role="img"
        aria-labelledby="energy-scatter-title"
        data-testid="energy-scatter"
      >
        <title id="energy-scatter-title">Open offers: price per GPU-hour ({payment.symbol}) against carbon intensity (gCO2e per kWh)</title>
        {ticks.map((share) => (
          <g key={`x${share}`}>
            <line class="grid" x1={x(share * xMax)} x2={x(share * xMax)} y1={MARGIN.top} y2={MARGIN.top + plotHeight} />
            <text class="tick" x={x(share * xMax)} y={HEIGHT - MARGIN.bottom + 16} text-anchor="middle">
              {(share * xMax).toFixed(0)}
            </text>
          </g>
        ))}
        {ticks.map((share) => (
          <g key={`y${share}`}>
            <line class="grid" x1={MARGIN.left} x2={WIDTH - MARGIN.right} y1={y(share * yMax)} y2={y(share * yMax)} />
            <text class="tick" x={MARGIN.left - 6} y={y(share * yMax) + 4} text-anchor="end">
              {(share * yMax).toFixed(decimals)}
            </text>
          </g>
        ))}
        <text class="axis" x={MARGIN.left + plotWidth / 2} y={HEIGHT - 4} text-anchor="middle">
          carbon intensity, gCO2e/kWh
        </text>
        <text class="axis" transform={`translate(14 ${MARGIN.top + plotHeight / 2}) rotate(-90)`} text-anchor="middle">
          {payment.symbol} per GPU-hour
        </text>
        {offers.map((offer, index) => (
          <circle
            key={offer.id}
            data-testid="energy-point"
            data-offer={offer.id}
            data-carbon={offer.carbonIntensity}
            data-price={offer.pricePerGpuHour}
            cx={x(offer.carbonIntensity)}
            cy={y(prices[index]!)}
            r={4 + 6 * Math.sqrt(offer.gpus / mostGpus)}
            // Hue from red (no renewables) to green (all renewable).
            fill={`hsl(${Math.round((offer.renewableBps / 10_000) * 120)} 75% 50% / 0.8)`}
          >
            <title>
              {`Offer #${offer.id}, ${offer.gpuModel} in ${offer.region}: ${amount(offer.pricePerGpuHour, payment)} per GPU-hour, ` +
                `${offer.carbonIntensity} gCO2e/kWh, ${formatBps(offer.renewableBps)} renewable, ${offer.gpus} GPUs`}
            </title>
          </circle>
        ))}
      </svg>
    </figure>
  );
}

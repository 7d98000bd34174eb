import { useState } from "preact/hooks";
import type { TokenUnits } from "../../../protocol/units";
import { usePolled } from "../api";
import { Notice, Section, TableBox } from "../components";
import { amount, formatTime, integer, parseShare, percent, reliabilityText, shortAddress, speedText } from "../format";
import { Link } from "../router";

interface ProviderRow {
  id: string;
  staked: string;
  earned: string;
  activeOffers: number;
  jobsAccepted: number;
  jobsCompleted: number;
  jobsDeclined: number;
  jobsExpired: number;
  jobsDark: number;
  jobsDisputed: number;
  lastHeartbeatAt: number | null;
  reliability: number;
  completionRate: number | null;
  medianSecondsToAccept: number | null;
  uptime: number;
}

/** The window of the uptime column: the last 24 hours. */
export const UPTIME_WINDOW_SECONDS = 86_400;

const PROVIDERS_QUERY = /* GraphQL */ `
  query Providers($where: ProviderFilter, $orderBy: ProviderOrderBy, $orderDirection: OrderDirection, $window: Int) {
    providers(where: $where, orderBy: $orderBy, orderDirection: $orderDirection, first: 100) {
      totalCount
      items {
        id staked earned activeOffers jobsAccepted jobsCompleted jobsDeclined jobsExpired jobsDark jobsDisputed lastHeartbeatAt
        reliability completionRate medianSecondsToAccept uptime(window: $window)
      }
    }
  }
`;

type ProviderOrder = "RELIABILITY" | "JOBS_COMPLETED" | "EARNED" | "STAKED" | "REGISTERED_AT";
const ORDERS: Array<[ProviderOrder, string]> = [
  ["RELIABILITY", "reliability"],
  ["JOBS_COMPLETED", "jobs completed"],
  ["EARNED", "earned"],
  ["STAKED", "stake"],
  ["REGISTERED_AT", "registration"],
];

/**
 * Providers ranked by the API's reliability score (or another part of their record), from events alone, with
 * their uptime over the last day, completion rate and median time to accept.
 */
export function ProvidersPage(props: { payment: TokenUnits; stake: TokenUnits }) {
  const [orderBy, setOrderBy] = useState<ProviderOrder>("RELIABILITY");
  const [minReliabilityText, setMinReliabilityText] = useState("");
  let filterError: string | null = null;
  let minReliability: number | null = null;
  try {
    minReliability = parseShare(minReliabilityText, "min reliability");
  } catch (error) {
    filterError = (error as Error).message;
  }
  const { data, error } = usePolled<{ providers: { totalCount: number; items: ProviderRow[] } }>(PROVIDERS_QUERY, {
    where: minReliability === null ? null : { minReliability },
    orderBy,
    orderDirection: orderBy === "REGISTERED_AT" ? "ASC" : "DESC",
    window: UPTIME_WINDOW_SECONDS,
  });
  return (
    <>
      <h1 class="page-title">Providers</h1>
      <Section
        title="Ranking"
        id="providers"
        actions={
          <>
            <label>
              <span class="label-text">Rank by</span>
              <select value={orderBy} onChange={(event) => setOrderBy(event.currentTarget.value as ProviderOrder)}>
                {ORDERS.map(([value, label]) => (
                  <option key={value} value={value}>
                    {label}
                  </option>
                ))}
              </select>
            </label>
            <label>
              <span class="label-text">Min reliability (0..1)</span>
              <input
                name="minReliability"
                inputMode="decimal"
                size={5}
                value={minReliabilityText}
                onInput={(event) => setMinReliabilityText(event.currentTarget.value)}
                aria-invalid={filterError !== null}
              />
            </label>
          </>
        }
      >
        {filterError ? <Notice kind="error">{filterError}</Notice> : null}
        {error ? <Notice kind="error">{error}</Notice> : null}
        {!data ? (
          <p class="loading">Reading providers …</p>
        ) : data.providers.items.length === 0 ? (
          <p class="empty">{minReliability === null ? "No provider has registered yet." : "No provider scores that reliability."}</p>
        ) : (
          <TableBox label="Providers">
            <table data-testid="providers-table">
              <thead>
                <tr>
                  <th scope="col">#</th>
                  <th scope="col">Provider</th>
                  <th scope="col" class="num">Reliability</th>
                  <th scope="col" class="num">Uptime 24 h</th>
                  <th scope="col" class="num">Completion</th>
                  <th scope="col" class="num">Median accept</th>
                  <th scope="col" class="num">Completed / accepted</th>
                  <th scope="col" class="num">Declined</th>
                  <th scope="col" class="num">Expired</th>
                  <th scope="col" class="num">Dark</th>
                  <th scope="col" class="num">Disputed</th>
                  <th scope="col" class="num">Earned</th>
                  <th scope="col" class="num">Stake</th>
                  <th scope="col" class="num">Open offers</th>
                  <th scope="col">Last sign of life</th>
                </tr>
              </thead>
              <tbody>
                {data.providers.items.map((provider, index) => (
                  <tr key={provider.id} data-testid="provider-row">
                    <td>{index + 1}</td>
                    <th scope="row">
                      <Link href={`/providers/${provider.id}`} title={provider.id}>
                        {shortAddress(provider.id)}
                      </Link>
                    </th>
                    <td class="num" data-testid="provider-reliability">{reliabilityText(provider.reliability)}</td>
                    <td class="num" data-testid="provider-uptime">{percent(provider.uptime)}</td>
                    <td class="num" data-testid="provider-completion">{provider.completionRate === null ? "—" : percent(provider.completionRate)}</td>
                    <td class="num" data-testid="provider-accept">{speedText(provider.medianSecondsToAccept)}</td>
                    <td class="num">
                      {integer(provider.jobsCompleted)} / {integer(provider.jobsAccepted)}
                    </td>
                    <td class="num">{integer(provider.jobsDeclined)}</td>
                    <td class="num">{integer(provider.jobsExpired)}</td>
                    <td class="num">{integer(provider.jobsDark)}</td>
                    <td class="num">{integer(provider.jobsDisputed)}</td>
                    <td class="num">{amount(provider.earned, props.payment)}</td>
                    <td class="num">{amount(provider.staked, props.stake)}</td>
                    <td class="num">{integer(provider.activeOffers)}</td>
                    <td>{provider.lastHeartbeatAt ? formatTime(provider.lastHeartbeatAt) : "—"}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </TableBox>
        )}
      </Section>
    </>
  );
}

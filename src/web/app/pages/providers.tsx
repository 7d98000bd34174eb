import { useState } from "preact/hooks";
import type { TokenUnits } from "../../../cli/lib/units";
import { usePolled } from "../api";
import { Notice, Section, TableBox } from "../components";
import { amount, formatTime, integer, shortAddress } from "../format";
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
}

const PROVIDERS_QUERY = /* GraphQL */ `
  query Providers($orderBy: ProviderOrderBy, $orderDirection: OrderDirection) {
    providers(orderBy: $orderBy, orderDirection: $orderDirection, first: 100) {
      totalCount
      items { id staked earned activeOffers jobsAccepted jobsCompleted jobsDeclined jobsExpired jobsDark jobsDisputed lastHeartbeatAt }
    }
  }
`;

type ProviderOrder = "JOBS_COMPLETED" | "EARNED" | "STAKED" | "REGISTERED_AT";
const ORDERS: Array<[ProviderOrder, string]> = [
  ["JOBS_COMPLETED", "jobs completed"],
  ["EARNED", "earned"],
  ["STAKED", "stake"],
  ["REGISTERED_AT", "registration"],
];

/** Providers ranked by their record: the jobs they completed and the ones they let down, from events alone. */
export function ProvidersPage(props: { payment: TokenUnits; stake: TokenUnits }) {
  const [orderBy, setOrderBy] = useState<ProviderOrder>("JOBS_COMPLETED");
  const { data, error } = usePolled<{ providers: { totalCount: number; items: ProviderRow[] } }>(PROVIDERS_QUERY, {
    orderBy,
    orderDirection: orderBy === "REGISTERED_AT" ? "ASC" : "DESC",
  });
  return (
    <>
      <h1 class="page-title">Providers</h1>
      <Section
        title="Ranking"
        id="providers"
        actions={
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
        }
      >
        {error ? <Notice kind="error">{error}</Notice> : null}
        {!data ? (
          <p class="loading">Reading providers …</p>
        ) : data.providers.items.length === 0 ? (
          <p class="empty">No provider has registered yet.</p>
        ) : (
          <TableBox label="Providers">
            <table data-testid="providers-table">
              <thead>
                <tr>
                  <th scope="col">#</th>
                  <th scope="col">Provider</th>
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

import type { ComponentChildren } from "preact";
import type { TokenUnits } from "../../../protocol/units";
import { usePolled } from "../api";
import { Notice, Section, TableBox } from "../components";
import { amount, formatAmount, formatBps, formatDuration, formatTime, integer, percent, reliabilityText, shortAddress, speedText } from "../format";
import { UPTIME_WINDOW_SECONDS } from "./providers";
import { Link } from "../router";

interface Units {
  payment: TokenUnits;
  stake: TokenUnits;
}

function Facts(props: { rows: Array<[string, ComponentChildren]>; testId?: string }) {
  return (
    <dl class="facts" data-testid={props.testId}>
      {props.rows.map(([term, value]) => (
        <div key={term}>
          <dt>{term}</dt>
          <dd>{value}</dd>
        </div>
      ))}
    </dl>
  );
}

const time = (value: number | null | undefined) => (value ? formatTime(value) : "—");

interface JobRow {
  id: string;
  state: string;
  gpuModel: string;
  gpus: number;
  duration: number;
  pricePerGpuHour: string;
  cost: string;
  createdAt: number;
  client: { id: string };
  provider: { id: string };
}

const JOB_ROW_FIELDS = "id state gpuModel gpus duration pricePerGpuHour cost createdAt client { id } provider { id }";

function JobsTable(props: { jobs: JobRow[]; payment: TokenUnits; label: string }) {
  if (props.jobs.length === 0) return <p class="empty">No jobs.</p>;
  return (
    <TableBox label={props.label}>
      <table data-testid="jobs-table">
        <thead>
          <tr>
            <th scope="col">Job</th>
            <th scope="col">State</th>
            <th scope="col">Model</th>
            <th scope="col" class="num">GPUs</th>
            <th scope="col">Duration</th>
            <th scope="col" class="num">Price per GPU-h</th>
            <th scope="col" class="num">Cost</th>
            <th scope="col">Client</th>
            <th scope="col">Created</th>
          </tr>
        </thead>
        <tbody>
          {props.jobs.map((job) => (
            <tr key={job.id}>
              <th scope="row">
                <Link href={`/jobs/${job.id}`}>#{job.id}</Link>
              </th>
              <td>{job.state.toLowerCase()}</td>
              <td>{job.gpuModel}</td>
              <td class="num">{integer(job.gpus)}</td>
              <td>{formatDuration(job.duration)}</td>
              <td class="num">{amount(job.pricePerGpuHour, props.payment)}</td>
              <td class="num">{amount(job.cost, props.payment)}</td>
              <td>{shortAddress(job.client.id)}</td>
              <td>{formatTime(job.createdAt)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </TableBox>
  );
}

const PROVIDER_QUERY = /* GraphQL */ `
  query Provider($id: ID!, $window: Int) {
    provider(id: $id) {
      id metadataUri registeredAt staked locked unbonding unbondingReadyAt slashed earned
      jobsCompleted jobsDisputed jobsAccepted jobsDeclined jobsExpired jobsDark jobsLostDisputes activeOffers lastHeartbeatAt
      reliability completionRate medianSecondsToAccept uptime(window: $window)
      offers(orderBy: ID, orderDirection: DESC, first: 50) { items { id gpuModel region gpus gpusAvailable pricePerGpuHour state } }
      jobs(orderBy: ID, orderDirection: DESC, first: 50) { totalCount items { ${JOB_ROW_FIELDS} } }
    }
  }
`;

export function ProviderPage(props: Units & { address: string }) {
  const { data, error } = usePolled<{ provider: any }>(PROVIDER_QUERY, { id: props.address, window: UPTIME_WINDOW_SECONDS });
  if (error && !data) return <Notice kind="error">{error}</Notice>;
  if (!data) return <p class="loading">Reading the provider …</p>;
  const p = data.provider;
  if (!p) return <Notice kind="error">{props.address} is not a registered provider.</Notice>;
  return (
    <>
      <h1 class="page-title">Provider {shortAddress(p.id)}</h1>
      <Section title="Record">
        <Facts
          testId="provider-facts"
          rows={[
            ["Address", <code>{p.id}</code>],
            ["Metadata", p.metadataUri || "—"],
            ["Registered", time(p.registeredAt)],
            ["Staked", amount(p.staked, props.stake)],
            ["Locked as collateral", amount(p.locked, props.stake)],
            ["Unbonding", `${amount(p.unbonding, props.stake)}${p.unbondingReadyAt ? ` (ready ${formatTime(p.unbondingReadyAt)})` : ""}`],
            ["Slashed", amount(p.slashed, props.stake)],
            ["Earned", amount(p.earned, props.payment)],
            ["Last sign of life", time(p.lastHeartbeatAt)],
            ["Reliability (0..1)", reliabilityText(p.reliability)],
            ["Uptime, last 24 h", percent(p.uptime)],
            ["Completion rate", p.completionRate === null ? "—" : percent(p.completionRate)],
            ["Median time to accept", speedText(p.medianSecondsToAccept)],
            ["Jobs accepted / completed", `${p.jobsAccepted} / ${p.jobsCompleted}`],
            ["Declined / expired / dark / disputed / lost", `${p.jobsDeclined} / ${p.jobsExpired} / ${p.jobsDark} / ${p.jobsDisputed} / ${p.jobsLostDisputes}`],
          ]}
        />
      </Section>
      <Section title="Offers">
        {p.offers.items.length === 0 ? (
          <p class="empty">No offers.</p>
        ) : (
          <TableBox label="Offers of the provider">
            <table>
              <thead>
                <tr>
                  <th scope="col">Offer</th>
                  <th scope="col">Model</th>
                  <th scope="col">Region</th>
                  <th scope="col" class="num">Free / GPUs</th>
                  <th scope="col" class="num">Price per GPU-h</th>
                  <th scope="col">State</th>
                </tr>
              </thead>
              <tbody>
                {p.offers.items.map((offer: any) => (
                  <tr key={offer.id}>
                    <th scope="row">
                      <Link href={`/offers/${offer.id}`}>#{offer.id}</Link>
                    </th>
                    <td>{offer.gpuModel}</td>
                    <td>{offer.region}</td>
                    <td class="num">
                      {integer(offer.gpusAvailable)} / {integer(offer.gpus)}
                    </td>
                    <td class="num">{amount(offer.pricePerGpuHour, props.payment)}</td>
                    <td>{offer.state.toLowerCase()}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </TableBox>
        )}
      </Section>
      <Section title={`Jobs (${p.jobs.totalCount})`}>
        <JobsTable jobs={p.jobs.items} payment={props.payment} label="Jobs of the provider" />
      </Section>
    </>
  );
}

const OFFER_QUERY = /* GraphQL */ `
  query Offer($id: ID!) {
    offer(id: $id) {
      id provider { id } gpuModel region gpus gpusLeased gpusAvailable pricePerGpuHour minDuration maxDuration
      carbonIntensity renewableBps expiresAt state createdAt updatedAt
      jobs(orderBy: ID, orderDirection: DESC, first: 50) { totalCount items { ${JOB_ROW_FIELDS} } }
    }
  }
`;

export function OfferPage(props: Units & { id: string }) {
  const { data, error } = usePolled<{ offer: any }>(OFFER_QUERY, { id: props.id });
  if (error && !data) return <Notice kind="error">{error}</Notice>;
  if (!data) return <p class="loading">Reading the offer …</p>;
  const o = data.offer;
  if (!o) return <Notice kind="error">There is no offer #{props.id}.</Notice>;
  return (
    <>
      <h1 class="page-title">Offer #{o.id}</h1>
      <Section title="Terms">
        <Facts
          testId="offer-facts"
          rows={[
            ["Provider", <Link href={`/providers/${o.provider.id}`}>{o.provider.id}</Link>],
            ["GPU model", o.gpuModel],
            ["Region", o.region],
            ["GPUs free / leased / total", `${o.gpusAvailable} / ${o.gpusLeased} / ${o.gpus}`],
            ["Price per GPU-hour", amount(o.pricePerGpuHour, props.payment)],
            ["Duration", `${formatDuration(o.minDuration)} to ${formatDuration(o.maxDuration)}`],
            ["Carbon intensity", `${o.carbonIntensity} gCO2e/kWh`],
            ["Renewable share", formatBps(o.renewableBps)],
            ["Expires", o.expiresAt >= 2147483647 ? "never" : formatTime(o.expiresAt)],
            ["State", o.state.toLowerCase()],
            ["Created / updated", `${formatTime(o.createdAt)} / ${formatTime(o.updatedAt)}`],
          ]}
        />
      </Section>
      {o.state === "OPEN" && o.gpusAvailable > 0 ? (
        <p>
          <Link href={`/console/client?offer=${o.id}`}>Rent GPUs of this offer</Link>
        </p>
      ) : null}
      <Section title={`Jobs (${o.jobs.totalCount})`}>
        <JobsTable jobs={o.jobs.items} payment={props.payment} label="Jobs of the offer" />
      </Section>
    </>
  );
}

const JOB_QUERY = /* GraphQL */ `
  query Job($id: ID!) {
    job(id: $id) {
      id state offer { id } client { id } provider { id } payer { id } gpuModel region gpus pricePerGpuHour duration extensions
      gpuHours cost escrow fee cancelFee claimed earned paid refunded collateral slashed bond earnedSoFar claimable
      createdAt acceptDeadline startedAt endsAt endedAt completedAt disputedAt finalizedAt receiptedUntil darkSince secondsLeft
      endedEarly providerShareBps
    }
  }
`;

export function JobPage(props: Units & { id: string }) {
  const { data, error } = usePolled<{ job: any }>(JOB_QUERY, { id: props.id });
  if (error && !data) return <Notice kind="error">{error}</Notice>;
  if (!data) return <p class="loading">Reading the job …</p>;
  const j = data.job;
  if (!j) return <Notice kind="error">There is no job #{props.id}.</Notice>;
  const pay = (value: string | null) => amount(value, props.payment);
  const timeline: Array<[string, number | null]> = [
    ["created", j.createdAt],
    ["accept deadline", j.startedAt ? null : j.acceptDeadline],
    ["started", j.startedAt],
    ["receipted until", j.receiptedUntil],
    ["dark since", j.darkSince],
    ["ends", j.endedAt ? null : j.endsAt],
    ["ended", j.endedAt],
    ["completed", j.completedAt],
    ["disputed", j.disputedAt],
    ["finalized", j.finalizedAt],
  ];
  return (
    <>
      <h1 class="page-title">
        Job #{j.id} <span class={`chip state-${j.state.toLowerCase()}`}>{j.state.toLowerCase()}</span>
      </h1>
      <Section title="Request">
        <Facts
          rows={[
            ["Offer", <Link href={`/offers/${j.offer.id}`}>#{j.offer.id}</Link>],
            ["Provider", <Link href={`/providers/${j.provider.id}`}>{j.provider.id}</Link>],
            ["Client", <code>{j.client.id}</code>],
            ["Paid by", <code>{j.payer.id}</code>],
            ["GPUs", `${j.gpus} × ${j.gpuModel} in ${j.region}`],
            ["Duration", `${formatDuration(j.duration)}${j.extensions ? ` (${j.extensions} extensions)` : ""}`],
            ["Price per GPU-hour", pay(j.pricePerGpuHour)],
          ]}
        />
      </Section>
      <Section title="Timeline">
        <ol class="timeline" data-testid="job-timeline">
          {timeline
            .filter(([, at]) => at)
            .map(([what, at]) => (
              <li key={what}>
                <span class="timeline-what">{what}</span> <time>{formatTime(at!)}</time>
              </li>
            ))}
        </ol>
      </Section>
      <Section title="Money">
        <Facts
          testId="job-money"
          rows={[
            ["Cost", pay(j.cost)],
            ["Escrow (cost + fee)", `${pay(j.escrow)} (fee ${formatAmount(BigInt(j.escrow) - BigInt(j.cost), props.payment)})`],
            ["Fee collected by the protocol", pay(j.fee)],
            ["Claimed by the provider", pay(j.claimed)],
            ["Earned so far", pay(j.earnedSoFar)],
            ["Paid to the provider", pay(j.paid)],
            ["Refunded", pay(j.refunded)],
            ["Cancel fee", pay(j.cancelFee)],
            ["Dispute bond", pay(j.bond)],
            ["Collateral", amount(j.collateral, props.stake)],
            ["Slashed", amount(j.slashed, props.stake)],
          ]}
        />
      </Section>
    </>
  );
}

import { useState } from "preact/hooks";
import { encodeFunctionData, keccak256, toHex, zeroHash, type Abi, type Address, type Hex } from "viem";
import { jobMarketAbi } from "../../../chain/abis";
import { jobMoney } from "../../../protocol";
import { parseDuration } from "../../../protocol/units";
import { usePolled } from "../api";
import { Notice, Section, TableBox } from "../components";
import { amount, formatAmount, formatDuration, formatTime, shortAddress } from "../format";
import { Link } from "../router";
import { explain, walletPermit, type ContractCall } from "../wallet/tx";
import { errorContextOf, type ConsoleProps, type useTransactions } from "../wallet/ui";
import type { Wallet } from "../wallet/wallet";

/** A hash argument as the CLI makes it: a 0x hash as is, any other text hashed, nothing as zero. */
export function textHash(text: string): Hex {
  const value = text.trim();
  if (value === "") return zeroHash;
  if (/^0x[0-9a-fA-F]{64}$/.test(value)) return value.toLowerCase() as Hex;
  return keccak256(toHex(value));
}

interface ConsoleJob {
  id: string;
  state: string;
  gpuModel: string;
  region: string;
  gpus: number;
  duration: number;
  pricePerGpuHour: string;
  cost: string;
  escrow: string;
  collateral: string;
  claimable: string;
  acceptDeadline: number;
  endsAt: number | null;
  darkSince: number | null;
  client: { id: string };
  provider: { id: string };
  terms: { protocolFeeBps: number; collateralBps: number; disputeBondBps: number; disputeWindow: number };
  completedAt: number | null;
}

const JOB_FIELDS = `id state gpuModel region gpus duration pricePerGpuHour cost escrow collateral claimable acceptDeadline endsAt darkSince
  completedAt client { id } provider { id } terms { protocolFeeBps collateralBps disputeBondBps disputeWindow }`;

const PROVIDER_JOBS = `query ProviderJobs($who: String!) { jobs(where: { provider: $who }, orderBy: ID, orderDirection: DESC, first: 50) { items { ${JOB_FIELDS} } } }`;
const CLIENT_JOBS = `query ClientJobs($who: String!) { jobs(where: { client: $who }, orderBy: ID, orderDirection: DESC, first: 50) { items { ${JOB_FIELDS} } } }`;

type Transactions = ReturnType<typeof useTransactions>;

/**
 * The connected account's jobs, as provider or as client, each with what that side can do in its state: the
 * provider accepts or declines, claims, completes, settles; the client cancels, extends, ends early, disputes,
 * reports dark, settles. A call the contract would refuse is simulated first and told in the CLI's sentence.
 */
export function ConsoleJobs(props: ConsoleProps & { role: "provider" | "client"; address: Address; wallet: Wallet; tx: Transactions }) {
  const { data, error } = usePolled<{ jobs: { items: ConsoleJob[] } }>(props.role === "provider" ? PROVIDER_JOBS : CLIENT_JOBS, {
    who: props.address.toLowerCase(),
  });
  const jobs = data?.jobs.items ?? [];
  return (
    <Section title={props.role === "provider" ? "Your jobs (as provider)" : "Your jobs"} id={`${props.role}-jobs`}>
      {error ? <Notice kind="error">{error}</Notice> : null}
      {!data ? (
        <p class="loading">Reading your jobs …</p>
      ) : jobs.length === 0 ? (
        <p class="empty">No jobs yet.</p>
      ) : (
        <TableBox label="Your jobs">
          <table data-testid={`${props.role}-jobs`}>
            <thead>
              <tr>
                <th scope="col">Job</th>
                <th scope="col">State</th>
                <th scope="col">GPUs</th>
                <th scope="col" class="num">Cost</th>
                <th scope="col">{props.role === "provider" ? "Client" : "Provider"}</th>
                <th scope="col">Due</th>
                <th scope="col">Actions</th>
              </tr>
            </thead>
            <tbody>
              {jobs.map((job) => (
                <JobRow key={job.id} job={job} {...props} />
              ))}
            </tbody>
          </table>
        </TableBox>
      )}
    </Section>
  );
}

function JobRow(props: ConsoleProps & { job: ConsoleJob; role: "provider" | "client"; address: Address; wallet: Wallet; tx: Transactions }) {
  const { job, tx } = props;
  const market = props.config.deployment!.contracts.JobMarket.address;
  const paymentToken = props.config.deployment!.tokens.payment;
  const [extendText, setExtendText] = useState("1h");
  const [inputError, setInputError] = useState<string | null>(null);
  const id = BigInt(job.id);
  const call = (label: string, functionName: string, args: readonly unknown[]): ContractCall => ({
    label: `${label} job #${job.id}`,
    address: market,
    abi: jobMarketAbi as Abi,
    functionName,
    args,
    token: paymentToken,
  });
  const simple = (label: string, functionName: string, args: readonly unknown[] = [id]) => (
    <button type="button" key={label} disabled={tx.busy} onClick={() => void tx.send(call(label, functionName, args))}>
      {label}
    </button>
  );

  /** extendJob or disputeJob with the payment pulled by a permit, in one multicall (as the CLI's sendMarketPull). */
  const withPermit = async (label: string, functionName: "extendJob" | "disputeJob", args: readonly unknown[], pull: bigint) => {
    if (!tx.clients) return;
    const full = `${label} job #${job.id}`;
    tx.setStatus({ step: "signing-permit", label: full });
    let permit;
    try {
      permit = await walletPermit(tx.clients, props.wallet.chain, paymentToken.address, market, pull);
    } catch (error) {
      tx.setStatus({ step: "failed", label: full, message: explain(error, errorContextOf(props), paymentToken) });
      return;
    }
    if (!permit) {
      tx.setStatus({ step: "failed", label: full, message: `${paymentToken.symbol} has no permit: use \`gpumesh client ${functionName === "extendJob" ? "extend" : "dispute"}\`, which approves first` });
      return;
    }
    const calls = [
      encodeFunctionData({ abi: jobMarketAbi, functionName: "selfPermit", args: [permit] }),
      encodeFunctionData({ abi: jobMarketAbi as Abi, functionName, args }),
    ];
    await tx.send({ ...call(label, "multicall", [calls]), label: `${full} with permit` });
  };

  const extend = async () => {
    setInputError(null);
    let extra: number;
    try {
      extra = parseDuration(extendText, "extension");
    } catch (error) {
      setInputError((error as Error).message);
      return;
    }
    const terms = job.terms;
    // What the contract pulls for an extension: the whole job's escrow at its terms, less what is already held.
    const extended = jobMoney({ pricePerGpuHour: BigInt(job.pricePerGpuHour), gpus: job.gpus, duration: job.duration + extra }, terms, BigInt(props.config.deployment!.stakePerPaymentUnit));
    const extraEscrow = extended.escrow - BigInt(job.escrow);
    await withPermit(`extend by ${formatDuration(extra)} for ${formatAmount(extraEscrow, props.payment)}`, "extendJob", [id, extra, extraEscrow], extraEscrow);
  };

  const dispute = async () => {
    const bond = jobMoney({ pricePerGpuHour: BigInt(job.pricePerGpuHour), gpus: job.gpus, duration: job.duration }, job.terms, 1n).disputeBond;
    await withPermit(`dispute (bond ${formatAmount(bond, props.payment)})`, "disputeJob", [id, textHash("disputed from the web app")], bond);
  };

  const actions: preact.JSX.Element[] = [];
  if (props.role === "provider") {
    if (job.state === "CREATED") actions.push(simple("accept", "acceptJob"), simple("decline", "declineJob", [id, textHash("declined from the web app")]));
    if (job.state === "RUNNING") actions.push(simple("claim", "claim"), simple("complete", "completeJob", [id, textHash("completed from the web app")]));
    if (job.state === "COMPLETED") actions.push(simple("settle", "settleJob"));
  } else {
    if (job.state === "CREATED") actions.push(simple("cancel", "cancelJob"));
    if (job.state === "RUNNING") {
      actions.push(
        <span class="inline-action" key="extend">
          <input aria-label={`Extension of job #${job.id}`} value={extendText} onInput={(event) => setExtendText(event.currentTarget.value)} size={5} />
          <button type="button" disabled={tx.busy} onClick={() => void extend()}>
            extend
          </button>
        </span>,
        simple("end early", "endJobEarly"),
        <button type="button" key="dispute" disabled={tx.busy} onClick={() => void dispute()}>
          dispute
        </button>,
      );
      if (job.darkSince) actions.push(simple("report dark", "reportDark"));
    }
    if (job.state === "COMPLETED") {
      actions.push(
        <button type="button" key="dispute" disabled={tx.busy} onClick={() => void dispute()}>
          dispute
        </button>,
        simple("settle", "settleJob"),
      );
    }
  }
  const counterpart = props.role === "provider" ? job.client.id : job.provider.id;
  const due =
    job.state === "CREATED"
      ? `accept by ${formatTime(job.acceptDeadline)}`
      : job.state === "RUNNING" && job.endsAt
        ? `ends ${formatTime(job.endsAt)}`
        : job.state === "COMPLETED" && job.completedAt
          ? `settles after ${formatTime(job.completedAt + job.terms.disputeWindow)}`
          : "—";
  return (
    <tr data-testid="console-job" data-job={job.id} data-state={job.state}>
      <th scope="row">
        <Link href={`/jobs/${job.id}`}>#{job.id}</Link>
      </th>
      <td>{job.state.toLowerCase()}</td>
      <td>
        {job.gpus} × {job.gpuModel}, {formatDuration(job.duration)}
      </td>
      <td class="num">{amount(job.cost, props.payment)}</td>
      <td>
        <code title={counterpart}>{shortAddress(counterpart)}</code>
      </td>
      <td>{due}</td>
      <td class="actions">
        {actions.length ? actions : "—"}
        {inputError ? <span role="alert" class="inline-error"> {inputError}</span> : null}
      </td>
    </tr>
  );
}

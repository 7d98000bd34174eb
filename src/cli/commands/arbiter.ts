import { jobMarketAbi } from "../../chain/abis";
import { type Command, type Subcommand } from "../lib/command";
import { signerHelp } from "../lib/args";
import { UsageError } from "../../internal/errors";
import { jobSubcommand } from "../lib/job-command";
import { eventOf, sendContractTransaction } from "../lib/tx";
import { formatAmount, formatBps, parseAmount, parseInteger } from "../../protocol/units";


const resolveHelp = signerHelp(
  "usage: gpumesh arbiter resolve JOB --share-bps N [--slash AMOUNT] [options]",
  "Rules on a disputed job, within its resolve window (ARBITER_ROLE only). The provider keeps its receipted pay and",
  "gets N basis points of the rest of the time used; streamed pay above that is taken back from its collateral, and",
  "AMOUNT more of the collateral may be slashed to the client. The bond goes to the provider only when N is 10000.",
  "  --share-bps N         the provider's share of the disputed pay, 0 to 10000",
  "  --slash AMOUNT        stake to slash from what collateral is left, e.g. 2.5 (default 0)",
);
const resolve = jobSubcommand(
  "rule on a disputed job: split the disputed pay, optionally slash",
  resolveHelp,
  { "share-bps": { type: "string" }, slash: { type: "string" } },
  async (context, out, jobId, values) => {
    const shareText = values["share-bps"] as string | undefined;
    if (shareText === undefined) throw new UsageError("--share-bps is required");
    const shareBps = parseInteger(shareText, "--share-bps", { max: 10_000 });
    const slash = values.slash === undefined ? 0n : parseAmount(values.slash as string, context.stake, "--slash");
    const sent = await sendContractTransaction(context, out, {
      label: "resolve dispute",
      address: context.market,
      abi: jobMarketAbi,
      functionName: "resolveDispute",
      args: [jobId, shareBps, slash],
    });
    const event = eventOf(sent, "JobResolved");
    const pay = (value: unknown) => formatAmount(value as bigint, context.payment);
    out.line(
      `resolved: provider share ${formatBps(shareBps)}, earned ${pay(event.earned)} (paid ${pay(event.providerPay)} now), fee ${pay(event.protocolFee)}, ` +
        `refund ${pay(event.refund)}, slashed ${formatAmount(event.slashed as bigint, context.stake)} to the client; bond to the ${event.bondToProvider ? "provider" : "client"}`,
    );
    return {
      providerShareBps: shareBps,
      earned: event.earned,
      providerPay: event.providerPay,
      protocolFee: event.protocolFee,
      refund: event.refund,
      slashed: event.slashed,
      bondToProvider: event.bondToProvider,
    };
  },
);

const finalizeHelp = signerHelp(
  "usage: gpumesh arbiter finalize JOB [options]",
  "Finalizes a dispute the arbiter did not resolve within its resolve window (anyone may): the no-fault outcome, the",
  "provider paid up to its last sign of life when the job was disputed, the bond back to the client, no slash.",
);
const finalize = jobSubcommand("finalize a dispute nobody resolved in time (anyone)", finalizeHelp, {}, async (context, out, jobId) => {
  const sent = await sendContractTransaction(context, out, {
    label: "finalize dispute",
    address: context.market,
    abi: jobMarketAbi,
    functionName: "finalizeStaleDispute",
    args: [jobId],
  });
  const event = eventOf(sent, "JobDisputeFinalized");
  const pay = (value: unknown) => formatAmount(value as bigint, context.payment);
  out.line(`finalized: provider earned ${pay(event.earned)} (paid ${pay(event.providerPay)} now), fee ${pay(event.protocolFee)}, refund ${pay(event.refund)}; bond back to the client`);
  return { earned: event.earned, providerPay: event.providerPay, protocolFee: event.protocolFee, refund: event.refund };
});

const subcommands: Record<string, Subcommand> = { resolve, finalize };

export const command: Command = { help: "", subcommands };

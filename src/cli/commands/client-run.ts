import fs from "node:fs";
import path from "node:path";
import type { Address, Hex } from "viem";
import { createAgentClient } from "../../agent/client";
import { SpecError, specHash, validateSpec, type JobSpec } from "../../agent/spec";
import { SIGNER_OPTIONS, requireOption, resolveApiUrl, signerHelp } from "../lib/args";
import { agentEndpoint, eventArgs, startClientRun, writeResult, type JobRecord } from "../lib/client-run";
import { parseOrHelp, type Subcommand } from "../lib/command";
import { signerFromValues } from "../lib/common";
import type { SignerContext } from "../lib/context";
import { CliError } from "../lib/errors";
import { UsageError } from "../../internal/errors";
import { createOutput } from "../lib/output";
import { readCatalog, readJob, resolveModel } from "../lib/reads";
import { formatAmount, parseDuration, parseId, parseInteger, parsePositiveAmount } from "../../protocol/units";
import { confirm } from "../lib/wallet";

/** `client run`, `client spec hash`, `client logs` and `client result`: the client's side of AGENT.md. */

/** Reads and checks a job spec file: JSON, version 1, no unknown field. */
function readSpec(file: string): { spec: JobSpec; hash: Hex } {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (error) {
    throw new UsageError(`spec: cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new UsageError(`spec: ${file} is not JSON: ${(error as Error).message}`);
  }
  try {
    return { spec: validateSpec(value), hash: specHash(value) };
  } catch (error) {
    if (error instanceof SpecError) throw new UsageError(`spec: ${file}: ${error.message}`);
    throw error;
  }
}

const runHelp = signerHelp(
  "usage: gpumesh client run SPEC --model NAME --gpus N --duration D --max-price PRICE [--region CODE] [--spread K] [--failover] [options]",
  "Runs a workload on rented GPUs: quotes the cheapest plan (GraphQL API, else the chain), creates the job(s) with a",
  "permit, hands SPEC (a job spec JSON file, see `client spec hash`) to each provider's agent (the `endpoint` of its",
  "metadata), streams the workload's output to stdout, signs a usage receipt every --receipt-every while the agent",
  "runs it, then downloads each result, checks its sha256 against the on-chain resultHash and unpacks it in --out.",
  "A provider that shows no sign of life for the liveness timeout is reported dark: the chain refunds the dark time",
  "and pays you the SLA credit. Ctrl-C ends the jobs early (you pay for the time used) after asking.",
  "  --model NAME          GPU model (a unique prefix like h100 works)",
  "  --gpus N              GPUs in total",
  "  --duration D          rental time, e.g. 2h (you pay only for the time used)",
  "  --max-price PRICE     highest price per GPU-hour you accept, e.g. 2.50",
  "  --region CODE         only offers in this region",
  "  --spread K            split the GPUs over K providers (one going dark takes only its share)",
  "  --failover            place the work a dark, declining or silent provider leaves on the next offer",
  "  --out DIR             where results go, one job-ID folder each (default ./gpumesh-results)",
  "  --receipt-every D     how often to sign a usage receipt while healthy (default 5m)",
  "  --agent URL           the agent to talk to instead of the one the provider's metadata names",
  "  --api URL             GraphQL API to quote from (env GPUMESH_API_URL, default http://127.0.0.1:4000/graphql)",
  "  --chain               skip the API and plan from the chain",
  "  --poll-interval-ms N  how often to look at the chain and the agent (default 2000)",
  "  --yes                 do not ask for confirmation",
  "  --no-permit           approve + createJob even when the token supports permit",
);

const jobRecordJson = (context: SignerContext, record: JobRecord) => {
  const { outcome } = record;
  const base = { ...record, outcome: outcome.kind };
  switch (outcome.kind) {
    case "completed":
      return { ...base, resultHash: outcome.result.resultHash, resultDir: outcome.dir, exitCode: outcome.exitCode, files: outcome.result.files.map((file) => file.path) };
    case "dark":
      return { ...base, paidUntil: outcome.paidUntil, refund: outcome.refund, slaCredit: outcome.slashed, secondsLeft: outcome.secondsLeft };
    case "not-started":
      return { ...base, reason: outcome.reason, refund: outcome.refund };
    case "stopped":
      return { ...base, earned: outcome.earned, earnedText: formatAmount(outcome.earned, context.payment) };
  }
};

export const run: Subcommand = {
  summary: "run a workload on rented GPUs and get its verified result (with --failover)",
  help: runHelp,
  async run(argv) {
    const parsed = parseOrHelp(
      argv,
      {
        ...SIGNER_OPTIONS,
        model: { type: "string" },
        gpus: { type: "string" },
        duration: { type: "string" },
        "max-price": { type: "string" },
        region: { type: "string" },
        spread: { type: "string" },
        failover: { type: "boolean" },
        out: { type: "string" },
        "receipt-every": { type: "string" },
        agent: { type: "string" },
        api: { type: "string" },
        chain: { type: "boolean" },
        "poll-interval-ms": { type: "string" },
        yes: { type: "boolean", short: "y" },
        "no-permit": { type: "boolean" },
      },
      runHelp,
      1,
    );
    if (!parsed) return 0;
    const { values } = parsed;
    const { spec, hash } = readSpec(parsed.positionals[0]!);
    const gpus = parseInteger(requireOption(values.gpus, "--gpus"), "--gpus", { min: 1, max: 2 ** 32 - 1 });
    const duration = parseDuration(requireOption(values.duration, "--duration"), "--duration");
    if (duration === 0) throw new UsageError("--duration: must be more than 0");
    const spread = values.spread === undefined ? 1 : parseInteger(values.spread, "--spread", { min: 1, max: gpus });
    const receiptEverySeconds = values["receipt-every"] === undefined ? 300 : parseDuration(values["receipt-every"], "--receipt-every");
    if (receiptEverySeconds === 0) throw new UsageError("--receipt-every: must be more than 0");
    const pollMs = values["poll-interval-ms"] === undefined ? 2000 : parseInteger(values["poll-interval-ms"], "--poll-interval-ms", { min: 50, max: 600_000 });
    if (values.agent !== undefined && !/^https?:\/\/\S+$/i.test(values.agent)) throw new UsageError(`--agent: ${JSON.stringify(values.agent)} is not an http(s) URL`);
    const modelName = requireOption(values.model, "--model");
    const maxPriceText = requireOption(values["max-price"], "--max-price");

    const context = await signerFromValues(values);
    const model = resolveModel(await readCatalog(context), modelName);
    const maxPrice = parsePositiveAmount(maxPriceText, context.payment, "--max-price");
    const json = Boolean(values.json);
    const progress = createOutput(json, (text) => process.stderr.write(text));
    const interactive = !values.yes && !json && Boolean(process.stdin.isTTY);
    const clientRun = startClientRun(context, progress, {
      spec,
      specHash: hash,
      model,
      gpus,
      duration,
      maxPrice,
      region: values.region,
      spread,
      failover: Boolean(values.failover),
      apiUrl: values.chain ? undefined : resolveApiUrl(values),
      agentUrl: values.agent?.replace(/\/$/, ""),
      outDir: path.resolve(values.out ?? "gpumesh-results"),
      receiptEverySeconds,
      pollMs,
      usePermit: !values["no-permit"],
      writeLog: (text) => (json ? process.stderr : process.stdout).write(text),
      confirmPlan: async (question) => !interactive || confirm(question),
    });
    let interrupts = 0;
    const onInterrupt = () => {
      interrupts += 1;
      if (interrupts > 1) {
        process.stderr.write("second Ctrl-C: leaving the jobs as they are (gpumesh client jobs lists them)\n");
        process.exit(130);
      }
      const stop = () => {
        process.stderr.write("ending the jobs: running ones early (you pay for the time used), unaccepted ones cancelled\n");
        clientRun.stop();
      };
      if (!interactive) return stop();
      void confirm("end the jobs now? you pay for the time used").then((yes) => (yes ? stop() : (interrupts = 0)));
    };
    process.on("SIGINT", onInterrupt);
    process.on("SIGTERM", onInterrupt);
    let result;
    try {
      result = await clientRun.done;
    } finally {
      process.off("SIGINT", onInterrupt);
      process.off("SIGTERM", onInterrupt);
    }
    const out = createOutput(json);
    const jobs = result.jobs.map((record) => jobRecordJson(context, record));
    out.result({ specHash: result.specHash, completed: result.completed, jobs });
    const finished = result.jobs.filter((record) => record.outcome.kind === "completed");
    const failedExit = finished.find((record) => record.outcome.kind === "completed" && record.outcome.exitCode !== 0);
    if (!result.completed) {
      const last = result.jobs[result.jobs.length - 1];
      const why = last ? `job #${last.jobId} ended ${last.outcome.kind}${last.outcome.kind === "not-started" ? ` (${last.outcome.reason})` : ""}` : "no job was placed";
      throw new CliError(`the workload did not finish: ${why}${values.failover ? "" : "; --failover places the rest on the next offer"}`);
    }
    if (failedExit && failedExit.outcome.kind === "completed") {
      const exit = failedExit.outcome.result.exit ?? {};
      const how = failedExit.outcome.exitCode === null ? `without an exit code (${JSON.stringify(exit)})` : `with code ${failedExit.outcome.exitCode}`;
      throw new CliError(`job #${failedExit.jobId}: the workload ended ${how} (its result is in ${failedExit.outcome.dir})`);
    }
  },
};

const specHashHelp = [
  "usage: gpumesh client spec hash FILE",
  "Checks a job spec (JSON, version 1: command or image, args, env, inputs with sha256, outputs, ports,",
  "sshPublicKey, maxRuntimeSeconds; unknown fields are refused) and prints its specHash: the keccak256 of its",
  "canonical JSON (RFC 8785), the value `client create-job --spec` puts on chain and the agent checks.",
].join("\n");

export const spec: Subcommand = {
  summary: "check a job spec file and print its specHash",
  help: "usage: gpumesh client spec hash FILE",
  subcommands: {
    hash: {
      summary: "check a job spec file and print its specHash",
      help: specHashHelp,
      async run(argv) {
        const parsed = parseOrHelp(argv, { json: { type: "boolean" } }, specHashHelp, 1);
        if (!parsed) return 0;
        const file = parsed.positionals[0]!;
        const { hash } = readSpec(file);
        const out = createOutput(Boolean(parsed.values.json));
        out.line(hash);
        out.result({ file, specHash: hash });
      },
    },
  },
};

/** The job's agent and a client for it, signing as the wallet (which must be the job's client). */
async function jobAgent(context: SignerContext, jobId: bigint, agentUrl: string | undefined) {
  const job = await readJob(context, jobId);
  if (job.client.toLowerCase() !== context.account.address.toLowerCase()) {
    throw new CliError(`job #${jobId}'s client is ${job.client}, not this wallet (${context.account.address}): its agent answers only the client`);
  }
  const url = agentUrl ?? (await agentEndpoint(context, job.provider as Address));
  return { job, url, agent: createAgentClient({ apiUrl: url, account: context.account, chainId: context.chain.id, market: context.market }) };
}

const logsHelp = signerHelp(
  "usage: gpumesh client logs JOB [--follow] [--agent URL] [options]",
  "Prints a job's workload output from its provider's agent (signed as the job's client).",
  "  --follow              keep printing until the job is no longer running",
  "  --agent URL           the agent to ask instead of the one the provider's metadata names",
);
export const logs: Subcommand = {
  summary: "print a job's workload output from its agent",
  help: logsHelp,
  async run(argv) {
    const parsed = parseOrHelp(argv, { ...SIGNER_OPTIONS, follow: { type: "boolean" }, agent: { type: "string" } }, logsHelp, 1);
    if (!parsed) return 0;
    const jobId = parseId(parsed.positionals[0], "job");
    const context = await signerFromValues(parsed.values);
    const { agent } = await jobAgent(context, jobId, parsed.values.agent);
    let offset = 0;
    for (;;) {
      const { text, nextOffset } = await agent.logs(jobId, offset);
      process.stdout.write(text);
      offset = nextOffset;
      if (!parsed.values.follow) return;
      const job = await readJob(context, jobId);
      if (job.state !== "Created" && job.state !== "Running" && !text) return;
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  },
};

const resultHelp = signerHelp(
  "usage: gpumesh client result JOB [--out DIR] [--agent URL] [options]",
  "Downloads a completed job's result from its provider's agent, checks its sha256 against the on-chain",
  "resultHash (a mismatch is refused: dispute the job) and unpacks it into DIR.",
  "  --out DIR             where to unpack it (default ./gpumesh-results/job-JOB)",
  "  --agent URL           the agent to ask instead of the one the provider's metadata names",
);
export const result: Subcommand = {
  summary: "download and verify a completed job's result",
  help: resultHelp,
  async run(argv) {
    const parsed = parseOrHelp(argv, { ...SIGNER_OPTIONS, out: { type: "string" }, agent: { type: "string" } }, resultHelp, 1);
    if (!parsed) return 0;
    const jobId = parseId(parsed.positionals[0], "job");
    const context = await signerFromValues(parsed.values);
    const { agent } = await jobAgent(context, jobId, parsed.values.agent);
    const completed = await eventArgs(context, "event JobCompleted(uint256 indexed jobId, uint64 endedAt, uint256 earned, bytes32 resultHash)", jobId);
    if (!completed) throw new CliError(`job #${jobId} has no result: its provider has not completed it (gpumesh client status ${jobId})`);
    const verified = await agent.fetchResult(jobId, completed.resultHash as Hex);
    const dir = path.resolve(parsed.values.out ?? path.join("gpumesh-results", `job-${jobId}`));
    writeResult(dir, verified);
    const out = createOutput(Boolean(parsed.values.json));
    out.line(`result ${verified.resultHash} verified against the chain: ${verified.files.length} file(s) in ${dir}`);
    for (const file of verified.files) out.line(`  ${file.path} (${file.data.length} bytes)`);
    out.result({ jobId, resultHash: verified.resultHash, dir, files: verified.files.map((file) => file.path), exit: verified.exit });
  },
};

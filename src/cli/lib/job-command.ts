import { SIGNER_OPTIONS } from "./args";
import { parseOrHelp, type Subcommand } from "./command";
import { signerFromValues } from "./common";
import type { SignerContext } from "./context";
import { jobJson } from "./format";
import { createOutput, type Output } from "./output";
import { readJob } from "./reads";
import { parseId } from "../../protocol/units";

/** What a job command does once JOB and the wallet are known; returns the fields it adds to the JSON result. */
export type JobCommandAction = (
  context: SignerContext,
  out: Output,
  jobId: bigint,
  values: Record<string, string | boolean | undefined>,
) => Promise<Record<string, unknown>>;

/**
 * A command on one job (`client settle JOB`, `provider accept JOB`): takes JOB and the signer options plus
 * `extraOptions`, runs `action`, then prints the job's state and reports it with the job after the action.
 */
export function jobSubcommand(
  summary: string,
  help: string,
  extraOptions: Record<string, { type: "string" } | { type: "boolean" }>,
  action: JobCommandAction,
): Subcommand {
  return {
    summary,
    help,
    async run(argv) {
      const parsed = parseOrHelp(argv, { ...SIGNER_OPTIONS, ...extraOptions }, help, 1);
      if (!parsed) return 0;
      const jobId = parseId(parsed.positionals[0], "job");
      const context = await signerFromValues(parsed.values);
      const out = createOutput(Boolean(parsed.values.json));
      const result = await action(context, out, jobId, parsed.values as Record<string, string | boolean | undefined>);
      const job = await readJob(context, jobId);
      out.line(`job #${jobId} is ${job.state}`);
      out.result({ jobId, state: job.state, ...result, job: jobJson(context, job) });
    },
  };
}

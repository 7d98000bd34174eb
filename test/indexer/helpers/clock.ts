import { jobStateName, type JobState } from "../../../src/protocol";
import type { MarketSession } from "./market";

interface ChainJobTimes {
  offerId: number | bigint;
  gpus: number;
  state: number;
  acceptDeadline: number | bigint;
}

/**
 * The chain as the indexer must report it at the latest block's time (API.md, "Time is part of the truth"): a job
 * still Created on chain after its accept deadline has expired, and its GPUs are free.
 */
export async function clockView(m: MarketSession, jobIds: Iterable<bigint>) {
  const now = await m.latestTimestamp();
  const overdue = new Map<string, number>();
  const states = new Map<string, JobState>();
  for (const id of jobIds) {
    const chain = await m.read<ChainJobTimes>("market", "getJob", [id]);
    const onChain = jobStateName(Number(chain.state));
    const expired = onChain === "CREATED" && Number(chain.acceptDeadline) < now;
    states.set(id.toString(), expired ? "EXPIRED" : onChain);
    if (expired) overdue.set(chain.offerId.toString(), (overdue.get(chain.offerId.toString()) ?? 0) + chain.gpus);
  }
  return {
    now,
    jobState: (id: bigint | number | string): JobState => states.get(String(id)) ?? jobStateName(0),
    /** The chain's gpusLeased of an offer less the GPUs of its jobs the clock has expired. */
    leased: (offerId: bigint | number | string, chainGpusLeased: number) => chainGpusLeased - (overdue.get(String(offerId)) ?? 0),
  };
}

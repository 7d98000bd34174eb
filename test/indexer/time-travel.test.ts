import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { expect } from "chai";
import type { Abi, Address } from "viem";
import { jobMarketAbi, providerStakingAbi } from "../../src/chain/abis";
import { createGraphqlApp, createServer, type GraphqlServer } from "../../src/graphql/app";
import { silentLogger } from "../../src/internal/logger";
import { jobStateName } from "../../src/protocol";
import { openStore, type Db, type Store } from "../../src/store/db";
import { createHistory } from "../../src/store/history";
import { createReads } from "../../src/store/reads";
import { HISTORY_TABLES } from "../../src/store/schema";
import { createIndexer, type Indexer } from "../../src/sync/indexer";
import { startAnvil, type Anvil } from "./helpers/anvil";
import { dumpTables, dumpUndoJournal } from "./helpers/dump";
import { A100, H100, MESH, RESULT_HASH, USDC, marketTx, setUpMarket, type MarketSession } from "./helpers/market";

/**
 * Time travel (README "Time travel"): a market's history is built on anvil one transaction per block; at each block
 * the chain's own answer (contract reads at that block) and the API's answer then are recorded; afterwards every
 * earlier block is asked for with block: { number } and must give both back, field by field.
 */

const FIELDS = /* GraphQL */ `
  market(block: $block) {
    providers activeProviders totalStaked totalLocked totalUnbonding totalSlashed escrowed disputeBondsHeld volume
    feesCollected gpuHoursSold estimatedEmissionsKg jobsByState { state count } jobs gpusOffered gpusLeased gpusAvailable
    gpusRentable utilization
  }
  capacity(groupBy: GPU_MODEL_REGION, block: $block) {
    gpuModel region gpusOffered gpusLeased gpusAvailable utilization providers offers askFloor askMedian gpusRentable
    avgCarbonIntensity avgRenewableBps model { name capacity { gpusOffered } }
  }
  provider(id: $p1, block: $block) {
    id staked locked unbonding unbondingReadyAt slashed earned jobsCompleted jobsAccepted jobsExpired reliability
    completionRate medianSecondsToAccept uptime(window: 3600) activeOffers updatedAt lastHeartbeatAt
    heartbeats(first: 10) { totalCount items { at kind } }
    stakeMovements(first: 10) { totalCount items { kind amount } }
    offers(first: 5) { totalCount items { id state gpusLeased } }
    jobs(first: 5) { totalCount items { id state } }
  }
  o1: offer(id: $o1, block: $block) { ...OfferFields }
  o2: offer(id: $o2, block: $block) { ...OfferFields }
  j1: job(id: $j1, block: $block) { ...JobFields }
  j2: job(id: $j2, block: $block) { ...JobFields }
`;
const QUERY = /* GraphQL */ `
  query AsOf($block: BlockInput, $p1: ID!, $o1: ID!, $o2: ID!, $j1: ID!, $j2: ID!) { ${FIELDS} }
  fragment OfferFields on Offer {
    id state gpus gpusLeased gpusAvailable pricePerGpuHour expiresAt gpusRentable updatedAt
    provider { staked locked reliability } jobs(first: 5) { totalCount items { id state } }
  }
  fragment JobFields on Job {
    id state gpus duration startedAt endsAt endedAt claimed earned paid refunded fee escrow earnedSoFar claimable
    secondsLeft darkSince offer { gpusLeased state } terms { id livenessTimeout } client { jobs(first: 5) { totalCount } }
  }
`;

interface ChainOffer {
  provider: Address;
  gpus: number;
  gpusLeased: number;
  expiresAt: number;
  pricePerGpuHour: bigint;
  closed: boolean;
}
interface ChainJob {
  offerId: number;
  gpus: number;
  pricePerGpuHour: bigint;
  duration: number;
  acceptDeadline: bigint;
  startedAt: bigint;
  state: number;
  claimed: bigint;
}
interface ChainAccount {
  staked: bigint;
  locked: bigint;
  unbonding: bigint;
}

/** What the chain said at one block: its contracts' views read at that block. */
interface ChainAnswer {
  timestamp: number;
  offers: Record<string, ChainOffer | null>;
  jobs: Record<string, (ChainJob & { claimable: bigint; earned: bigint; darkAt: bigint }) | null>;
  accounts: Record<string, ChainAccount>;
  lastHeartbeat: bigint;
  disputeBondsHeld: bigint;
}

interface Step {
  name: string;
  block: number;
  chain: ChainAnswer;
  /** The API's answer while this block was the indexed head. */
  api: Record<string, any>;
}

type GraphqlResult = { data?: any; errors?: Array<{ message: string; extensions?: Record<string, unknown> }> };

describe("GraphQL time travel: block: { number | at } against a real chain", function () {
  let anvil: Anvil;
  let m: MarketSession;
  let store: Store;
  let indexer: Indexer;
  let server: GraphqlServer;
  let p1: Address;
  let p2: Address;
  let c1: Address;
  let ids: { o1: bigint; o2: bigint; j1: bigint; j2: bigint };
  const steps: Step[] = [];

  const post = async (url: string, query: string, variables: Record<string, unknown> = {}): Promise<GraphqlResult> => {
    const response = await fetch(`${url}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ query, variables }),
    });
    return (await response.json()) as GraphqlResult;
  };
  const variables = (block?: Record<string, number>) => ({
    block: block ?? null,
    p1,
    o1: ids.o1.toString(),
    o2: ids.o2.toString(),
    j1: ids.j1.toString(),
    j2: ids.j2.toString(),
  });
  const asOf = async (block?: Record<string, number>, url = server.url) => {
    const result = await post(url, QUERY, variables(block));
    expect(result.errors, JSON.stringify(result.errors)).to.equal(undefined);
    return result.data as Record<string, any>;
  };
  const view = <T>(target: "market" | "staking", functionName: string, args: readonly unknown[], blockNumber: number) =>
    m.publicClient.readContract({
      address: m.address(target),
      abi: (target === "market" ? jobMarketAbi : providerStakingAbi) as Abi,
      functionName,
      args,
      blockNumber: BigInt(blockNumber),
    } as never) as Promise<T>;

  /** The contracts' views at `block`: offers, jobs, the providers' stake, heartbeats, bonds. */
  const chainAt = async (block: number): Promise<ChainAnswer> => {
    const timestamp = Number((await m.publicClient.getBlock({ blockNumber: BigInt(block) })).timestamp);
    const nextOffer = await view<bigint>("market", "nextOfferId", [], block);
    const nextJob = await view<bigint>("market", "nextJobId", [], block);
    const offers: ChainAnswer["offers"] = {};
    for (const id of [ids.o1, ids.o2]) offers[id.toString()] = id < nextOffer ? await view<ChainOffer>("market", "getOffer", [id], block) : null;
    const jobs: ChainAnswer["jobs"] = {};
    for (const id of [ids.j1, ids.j2]) {
      jobs[id.toString()] =
        id < nextJob
          ? {
              ...(await view<ChainJob>("market", "getJob", [id], block)),
              claimable: await view<bigint>("market", "claimable", [id], block),
              earned: await view<bigint>("market", "earned", [id], block),
              darkAt: BigInt(await view<bigint>("market", "darkAt", [id], block)),
            }
          : null;
    }
    const accounts: ChainAnswer["accounts"] = {};
    for (const provider of [p1, p2]) accounts[provider] = await view<ChainAccount>("staking", "account", [provider], block);
    return {
      timestamp,
      offers,
      jobs,
      accounts,
      lastHeartbeat: BigInt(await view<bigint>("market", "lastHeartbeat", [p1], block)),
      disputeBondsHeld: await view<bigint>("market", "disputeBondsHeld", [], block),
    };
  };

  /** Indexes to the head, then records the chain's and the API's answers at it. */
  const record = async (name: string) => {
    await indexer.syncOnce();
    const block = Number(await m.publicClient.getBlockNumber());
    expect(store.db.prepare("SELECT block_number FROM checkpoint").pluck().get()).to.equal(block);
    steps.push({ name, block, chain: await chainAt(block), api: await asOf() });
  };

  before(async function () {
    anvil = await startAnvil();
    m = await setUpMarket(anvil.url);
    [, p1, p2, , c1] = m.accounts;
    store = openStore({ file: ":memory:" });
    indexer = createIndexer({ rpcUrls: [anvil.url], deployment: m.deployment, store });
    server = await createServer({ app: createGraphqlApp({ db: store.db, logger: silentLogger() }), port: 0 });
    const firstJob = await m.read<bigint>("market", "nextJobId");
    const firstOffer = await m.read<bigint>("market", "nextOfferId");
    ids = { o1: firstOffer, o2: firstOffer + 1n, j1: firstJob, j2: firstJob + 1n };

    await m.registerProvider(p1, 5_000n * MESH);
    await m.registerProvider(p2, 800n * MESH);
    await m.fund(c1, { usdc: 10_000n * USDC });
    await record("providers registered and staked");
    const now = await m.latestTimestamp();
    expect(await m.createOffer(p1, { gpuModel: H100, gpus: 8, pricePerGpuHour: 2_000_000n, region: "eu-west", minDuration: 600, expiresAt: now + 30 * 86400 })).to.equal(ids.o1);
    await record("offer 1 created");
    expect(await m.createOffer(p1, { gpuModel: A100, gpus: 4, pricePerGpuHour: 1_000_000n, region: "us-east", carbonIntensity: 40, expiresAt: now + 2 * 3600 })).to.equal(ids.o2);
    await record("offer 2 created, expiring in two hours");
    await m.send(p1, "market", "updateOffer", [ids.o1, 10, 2_100_000n, now + 20 * 86400]);
    await record("offer 1 repriced and grown");
    expect(await m.createJob(c1, ids.o1, 2, 3600)).to.equal(ids.j1);
    await record("job 1 created");
    await m.send(p1, "market", "acceptJob", [ids.j1]);
    await record("job 1 accepted");
    await m.increaseTime(600);
    await record("ten minutes later, an empty block");
    await m.send(p1, "market", "heartbeat", []);
    await record("heartbeat");
    await m.send(p1, "market", "claim", [ids.j1]);
    await record("job 1 claimed");
    await m.send(p2, "staking", "requestUnstake", [300n * MESH]);
    await record("provider 2 unstakes");
    expect(await m.createJob(c1, ids.o1, 1, 3600)).to.equal(ids.j2);
    await record("job 2 created, never accepted");
    await m.increaseTime(2 * 3600 + 60);
    await record("two hours later: offer 2 expired, job 2 past its deadline, provider 1 silent past job 1's end");
    await m.send(p1, "market", "completeJob", [ids.j1, RESULT_HASH]);
    await record("job 1 completed");
    await m.send(p1, "market", "closeOffer", [ids.o1]);
    await record("offer 1 closed");
    await m.increaseTime(24 * 3600 + 1);
    await m.send(c1, "market", "settleJob", [ids.j1]);
    await record("job 1 settled");
    await m.send(c1, "market", "expireJob", [ids.j2]);
    await record("job 2 expired on chain");
  });

  after(async function () {
    await server?.close();
    store?.close();
    await anvil?.stop();
  });

  it("answers market, capacity, provider, offer and job as of every earlier block exactly as the API did then", async function () {
    const head = steps[steps.length - 1].block;
    // The history is not trivially the present: the answers differ from step to step.
    expect(new Set(steps.map((step) => JSON.stringify(step.api))).size).to.equal(steps.length);
    for (const step of steps) {
      expect(await asOf({ number: step.block }), `as of block ${step.block} (${step.name})`).to.deep.equal(step.api);
    }
    // At the head, the aggregates over history rows equal the roll-ups the current answer reads.
    expect(await asOf({ number: head })).to.deep.equal(await asOf());
  });

  it("keeps no provider version for a sign of life alone, and still answers lastHeartbeatAt as of every block", async function () {
    const step = (name: string) => steps.find((candidate) => candidate.name === name)!;
    const versionsFrom = (block: number) =>
      store.db.prepare("SELECT count(*) FROM providers_history WHERE address = ? AND valid_from_block = ?").pluck().get(p1.toLowerCase(), block);
    const heartbeat = step("heartbeat");
    const before = steps[steps.indexOf(heartbeat) - 1];
    expect(versionsFrom(heartbeat.block), "the heartbeat's block").to.equal(0);
    expect(heartbeat.api.provider.lastHeartbeatAt).to.equal(Number(heartbeat.chain.lastHeartbeat));
    expect(heartbeat.api.provider.lastHeartbeatAt).to.be.greaterThan(before.api.provider.lastHeartbeatAt);
    // Not a change of the provider's record: updatedAt stays that of its last one.
    expect(heartbeat.api.provider.updatedAt).to.equal(before.api.provider.updatedAt);
    // A claim is a sign of life that also pays the provider: one version, for the pay.
    expect(versionsFrom(step("job 1 claimed").block)).to.equal(1);
    for (const { block, chain, name } of steps) {
      expect((await asOf({ number: block })).provider.lastHeartbeatAt, name).to.equal(chain.lastHeartbeat === 0n ? null : Number(chain.lastHeartbeat));
    }
  });

  it("upgrades a database that kept a provider version per sign of life to the tables of a clean index", async function () {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "gpumesh-heartbeat-versions-"));
    try {
      const file = path.join(dir, "index.db");
      fs.writeFileSync(file, store.db.serialize());
      const clean = dumpTables(store.db);
      const cleanHistory = store.db.prepare("SELECT * FROM providers_history ORDER BY address, valid_from_block").all();
      // As a version-12 indexer wrote it: each sign of life that raised a provider's latest one began a version
      // (last_heartbeat_at and updated_at changed), and every version kept last_heartbeat_at.
      const old = openStore({ file });
      old.db.exec("ALTER TABLE providers_history ADD COLUMN last_heartbeat_at INTEGER");
      const raised = old.db
        .prepare(
          `SELECT provider, block_number, at, (SELECT timestamp FROM block_times WHERE number = block_number) AS ts FROM (
             SELECT provider, block_number, max(at) AS at,
               max(max(at)) OVER (PARTITION BY provider ORDER BY block_number ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS before
             FROM heartbeats GROUP BY provider, block_number)
           WHERE before IS NULL OR at > before ORDER BY provider, block_number`,
        )
        .all() as Array<{ provider: string; block_number: number; at: number; ts: number }>;
      const versionAt = old.db.prepare(
        "SELECT * FROM providers_history WHERE address = ? AND valid_from_block <= ? ORDER BY valid_from_block DESC LIMIT 1",
      );
      let split = 0;
      for (const { provider, block_number: block, ts } of raised) {
        const version = versionAt.get(provider, block) as Record<string, number | string | null> | undefined;
        if (!version) continue; // before the provider registered: its registration took the sign of life
        if (version.valid_from_block === block) {
          old.db.prepare("UPDATE providers_history SET updated_at = ? WHERE address = ? AND valid_from_block = ?").run(ts, provider, block);
          continue;
        }
        old.db.prepare("UPDATE providers_history SET valid_to_block = ? WHERE address = ? AND valid_from_block = ?").run(block, provider, version.valid_from_block);
        const columns = Object.keys(version);
        old.db
          .prepare(`INSERT INTO providers_history (${columns.join(", ")}) VALUES (${columns.map(() => "?").join(", ")})`)
          .run(...columns.map((column) => (column === "valid_from_block" ? block : column === "updated_at" ? ts : version[column])));
        split += 1;
      }
      old.db.exec(
        `UPDATE providers_history SET last_heartbeat_at = (SELECT max(at) FROM heartbeats
           WHERE provider = providers_history.address AND block_number <= providers_history.valid_from_block);
         UPDATE providers SET updated_at = (SELECT updated_at FROM providers_history
           WHERE address = providers.address AND valid_to_block IS NULL);
         PRAGMA user_version = 12;`,
      );
      // Its undo journal (the unfinalized window) recorded each provider as the block before left it: with the
      // updated_at of that block's version, which a sign of life may have moved.
      const cleanUndo = dumpUndoJournal(store.db);
      let movedUndo = 0;
      for (const record of old.db.prepare("SELECT seq, block_number, row_key, old_row FROM undo_log WHERE table_name = 'providers' AND old_row IS NOT NULL").all() as Array<{ seq: number; block_number: number; row_key: string; old_row: string }>) {
        const version = versionAt.get(JSON.parse(record.row_key).address, record.block_number - 1) as { updated_at: number } | undefined;
        const row = JSON.parse(record.old_row) as Record<string, unknown>;
        if (!version || version.updated_at === row.updated_at) continue;
        old.db.prepare("UPDATE undo_log SET old_row = ? WHERE seq = ?").run(JSON.stringify({ ...row, updated_at: version.updated_at }), record.seq);
        movedUndo += 1;
      }
      expect(split, "versions a sign of life began").to.be.greaterThan(0);
      expect(movedUndo, "undo records with an updated_at a sign of life moved").to.be.greaterThan(0);
      expect(old.db.prepare("SELECT * FROM providers_history ORDER BY address, valid_from_block").all()).to.not.deep.equal(cleanHistory);
      old.close();

      const upgraded = openStore({ file });
      try {
        expect(upgraded.db.prepare("SELECT * FROM providers_history ORDER BY address, valid_from_block").all()).to.deep.equal(cleanHistory);
        expect(dumpTables(upgraded.db)).to.deep.equal(clean);
        // A reorg into the window restores rows from the journal: it must hold what a clean index's does.
        expect(dumpUndoJournal(upgraded.db)).to.deep.equal(cleanUndo);
      } finally {
        upgraded.close();
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("answers as the chain's own views said at each block, field by field", async function () {
    const stateAt = (job: ChainJob, timestamp: number) => {
      const state = jobStateName(Number(job.state));
      // The API reports a job past its accept deadline as EXPIRED before anyone calls expireJob (API.md).
      return state === "CREATED" && Number(job.acceptDeadline) < timestamp ? "EXPIRED" : state;
    };
    let checkedJobs = 0;
    for (const { block, chain, name } of steps) {
      const api = await asOf({ number: block });
      const at = `block ${block} (${name})`;
      const clockExpiredGpus = (offerId: bigint) =>
        Object.values(chain.jobs)
          .filter((job) => job && BigInt(job.offerId) === offerId && stateAt(job, chain.timestamp) === "EXPIRED" && jobStateName(Number(job.state)) === "CREATED")
          .reduce((sum, job) => sum + job!.gpus, 0);
      for (const [alias, id] of [["o1", ids.o1], ["o2", ids.o2]] as const) {
        const offer = chain.offers[id.toString()];
        if (!offer) {
          expect(api[alias], at).to.equal(null);
          continue;
        }
        expect(api[alias].pricePerGpuHour, `${alias} price at ${at}`).to.equal(offer.pricePerGpuHour.toString());
        expect(api[alias].gpus, `${alias} gpus at ${at}`).to.equal(offer.gpus);
        expect(api[alias].expiresAt, at).to.equal(offer.expiresAt);
        expect(api[alias].state, `${alias} state at ${at}`).to.equal(offer.closed ? "CLOSED" : offer.expiresAt <= chain.timestamp ? "EXPIRED" : "OPEN");
        expect(api[alias].gpusLeased, `${alias} leased at ${at}`).to.equal(offer.gpusLeased - clockExpiredGpus(id));
        expect(api[alias].provider.staked, at).to.equal(chain.accounts[p1].staked.toString());
      }
      for (const [alias, id] of [["j1", ids.j1], ["j2", ids.j2]] as const) {
        const job = chain.jobs[id.toString()];
        if (!job) {
          expect(api[alias], at).to.equal(null);
          continue;
        }
        checkedJobs += 1;
        const state = stateAt(job, chain.timestamp);
        expect(api[alias].state, `${alias} state at ${at}`).to.equal(state);
        expect(api[alias].claimed, `${alias} claimed at ${at}`).to.equal(job.claimed.toString());
        expect(api[alias].claimable, `${alias} claimable at ${at}`).to.equal(job.claimable.toString());
        expect(api[alias].startedAt, at).to.equal(Number(job.startedAt) === 0 ? null : Number(job.startedAt));
        expect(api[alias].duration, at).to.equal(job.duration);
        if (state === "RUNNING") {
          expect(api[alias].earnedSoFar, `${alias} earned so far at ${at}`).to.equal(job.earned.toString());
          const darkSince = job.darkAt !== 0n && chain.timestamp > Number(job.darkAt) ? Number(job.darkAt) : null;
          expect(api[alias].darkSince, `${alias} dark since at ${at}`).to.equal(darkSince);
        }
      }
      for (const [name, provider] of [["provider", p1]] as const) {
        const account = chain.accounts[provider];
        expect(api[name].staked, `staked at ${at}`).to.equal(account.staked.toString());
        expect(api[name].locked, `locked at ${at}`).to.equal(account.locked.toString());
        expect(api[name].unbonding, `unbonding at ${at}`).to.equal(account.unbonding.toString());
        expect(api[name].lastHeartbeatAt, at).to.equal(chain.lastHeartbeat === 0n ? null : Number(chain.lastHeartbeat));
      }
      const staked = Object.values(chain.accounts).reduce((sum, account) => sum + account.staked, 0n);
      const locked = Object.values(chain.accounts).reduce((sum, account) => sum + account.locked, 0n);
      const unbonding = Object.values(chain.accounts).reduce((sum, account) => sum + account.unbonding, 0n);
      expect(api.market.totalStaked, `total staked at ${at}`).to.equal(staked.toString());
      expect(api.market.totalLocked, `total locked at ${at}`).to.equal(locked.toString());
      expect(api.market.totalUnbonding, `total unbonding at ${at}`).to.equal(unbonding.toString());
      expect(api.market.disputeBondsHeld, at).to.equal(chain.disputeBondsHeld.toString());
    }
    expect(checkedJobs).to.be.greaterThan(10);
    // What the clock did shows up as of the block it happened at: offer 2 and job 2 expired without an event.
    const late = steps.find((step) => step.name.startsWith("two hours later"))!;
    const before = steps[steps.indexOf(late) - 1];
    expect([before.api.o2.state, late.api.o2.state]).to.deep.equal(["OPEN", "EXPIRED"]);
    expect([before.api.j2.state, late.api.j2.state]).to.deep.equal(["CREATED", "EXPIRED"]);
    expect(late.api.j1.darkSince).to.be.a("number");
  });

  it("resolves at: to the last indexed block whose timestamp is at or before it", async function () {
    const head = steps[steps.length - 1];
    const timestampOf = async (n: number) => Number((await m.publicClient.getBlock({ blockNumber: BigInt(n) })).timestamp);
    /** The chain's last block at or before `at` (blocks can share a second). */
    const lastBlockAt = async (at: number, from: number) => {
      let n = from;
      while (n < head.block && (await timestampOf(n + 1)) <= at) n++;
      // -1: before the chain's first block (the deployment can be mined in genesis's second).
      while (n >= 0 && (await timestampOf(n)) > at) n--;
      return n;
    };
    const firstIndexed = store.db.prepare("SELECT min(number) FROM block_times").pluck().get() as number;
    let exact = 0;
    for (const step of steps) {
      for (const at of [step.chain.timestamp, step.chain.timestamp - 1]) {
        const block = await lastBlockAt(at, step.block);
        if (block < firstIndexed) {
          // Before the deployment's first block with events: nothing indexed is that old.
          const result = await post(server.url, QUERY, variables({ at }));
          expect(result.errors![0].message).to.match(/^no indexed block is at or before/);
          continue;
        }
        const answer = await asOf({ at });
        expect(answer, `at ${at} (${step.name})`).to.deep.equal(await asOf({ number: block }));
        const recorded = steps.find((other) => other.block === block);
        if (recorded) {
          expect(answer, `at ${at}: as the API answered at block ${block}`).to.deep.equal(recorded.api);
          exact += 1;
        }
      }
    }
    // How many of those times land on a recorded step (rather than a block between steps) depends on which blocks
    // share a second, so on the machine's speed; some always do.
    expect(exact).to.be.greaterThan(0);
    // A time after the head's answers as of the head.
    expect(await asOf({ at: head.chain.timestamp + 86400 })).to.deep.equal(head.api);
  });

  it("_meta(block) reports the block an argument resolves to: number, hash when stored, timestamp", async function () {
    const head = steps[steps.length - 1];
    const META = `query($block: BlockInput) { _meta(block: $block) { chainId reorgs block { number hash timestamp } } }`;
    const meta = async (block?: Record<string, number>) => {
      const result = await post(server.url, META, { block: block ?? null });
      expect(result.errors, JSON.stringify(result.errors)).to.equal(undefined);
      return result.data._meta as { chainId: number; reorgs: number; block: { number: number; hash: string; timestamp: number } };
    };
    const chainBlock = async (n: number) => {
      const block = await m.publicClient.getBlock({ blockNumber: BigInt(n) });
      return { number: n, hash: block.hash, timestamp: Number(block.timestamp) };
    };

    // Without the argument: the indexed head, as before.
    const now = await meta();
    expect(now.block).to.deep.equal(await chainBlock(head.block));
    const stored = new Set(store.db.prepare("SELECT number FROM blocks").pluck().all() as number[]);
    let hashed = 0;
    let unhashed = 0;
    for (const step of steps) {
      const answer = await meta({ number: step.block });
      expect({ ...answer, block: undefined }, step.name).to.deep.equal({ ...now, block: undefined });
      const chain = await chainBlock(step.block);
      // The hash only where the store keeps it (the unfinalized window, the head, the start block); "" elsewhere.
      const known = stored.has(step.block) || step.block === head.block || step.block === m.deployment.startBlock;
      expect(answer.block, `block ${step.block} (${step.name})`).to.deep.equal({ ...chain, hash: known ? chain.hash : "" });
      if (known) hashed += 1;
      else unhashed += 1;
    }
    expect(hashed, "steps with a stored hash").to.be.greaterThan(0);
    expect(unhashed, "steps below the unfinalized window").to.be.greaterThan(0);

    // at: names the block the other fields answer as of, one the chain has at or before that time.
    for (const step of steps) {
      for (const at of [step.chain.timestamp, step.chain.timestamp + 1]) {
        const { block } = await meta({ at });
        const chain = await chainBlock(block.number);
        expect(block.number, `at ${at} (${step.name})`).to.be.at.least(step.block);
        expect(block.timestamp).to.equal(chain.timestamp);
        expect(block.timestamp).to.be.at.most(at);
        if (block.number < head.block) expect((await chainBlock(block.number + 1)).timestamp).to.be.greaterThan(at);
        expect(await asOf({ at }), `at ${at}`).to.deep.equal(await asOf({ number: block.number }));
      }
    }
    expect((await meta({ at: head.chain.timestamp + 86400 })).block).to.deep.equal(now.block);

    // The other time-travel arguments' errors, naming the argument; a non-null field, so data is null.
    const failure = async (block: unknown) => {
      const result = await post(server.url, META, { block });
      expect(result.data).to.equal(null);
      return { message: result.errors![0].message, extensions: result.errors![0].extensions };
    };
    expect(await failure({})).to.deep.equal({
      message: 'argument "block" takes exactly one of number or at',
      extensions: { code: "BAD_USER_INPUT", argument: "block" },
    });
    expect(await failure({ number: head.block + 5 })).to.deep.equal({
      message: `block ${head.block + 5} is not indexed yet; the indexer is at ${head.block}`,
      extensions: { code: "BAD_USER_INPUT", argument: "block.number", indexedBlock: head.block },
    });
    const start = m.deployment.startBlock;
    expect((await failure({ number: start - 1 })).extensions).to.deep.equal({ code: "BAD_USER_INPUT", argument: "block.number", startBlock: start });
    const first = store.db.prepare("SELECT number, timestamp FROM block_times ORDER BY number LIMIT 1").get() as { number: number; timestamp: number };
    expect(await failure({ at: first.timestamp - 1 })).to.deep.equal({
      message: `no indexed block is at or before ${first.timestamp - 1}: the first one, block ${first.number}, is at ${first.timestamp}`,
      extensions: { code: "BAD_USER_INPUT", argument: "block.at" },
    });
  });

  it("refuses a block it cannot answer with an error that names the argument", async function () {
    const head = steps[steps.length - 1].block;
    const failure = async (block: unknown) => {
      const result = await post(server.url, `query($block: BlockInput) { market(block: $block) { providers } }`, { block });
      expect(result.data).to.equal(null);
      expect(result.errors).to.have.length(1);
      return { message: result.errors![0].message, extensions: result.errors![0].extensions! };
    };
    expect(await failure({})).to.deep.include({ message: 'argument "block" takes exactly one of number or at' });
    expect((await failure({})).extensions).to.include({ code: "BAD_USER_INPUT", argument: "block" });
    expect((await failure({ number: head, at: 1 })).extensions).to.include({ argument: "block" });
    expect(await failure({ number: head + 23 })).to.deep.equal({
      message: `block ${head + 23} is not indexed yet; the indexer is at ${head}`,
      extensions: { code: "BAD_USER_INPUT", argument: "block.number", indexedBlock: head },
    });
    const start = m.deployment.startBlock;
    expect(await failure({ number: start - 1 })).to.deep.equal({
      message: `block ${start - 1} is before the deployment's start block ${start}`,
      extensions: { code: "BAD_USER_INPUT", argument: "block.number", startBlock: start },
    });
    const first = store.db.prepare("SELECT number, timestamp FROM block_times ORDER BY number LIMIT 1").get() as { number: number; timestamp: number };
    expect(await failure({ at: first.timestamp - 1 })).to.deep.equal({
      message: `no indexed block is at or before ${first.timestamp - 1}: the first one, block ${first.number}, is at ${first.timestamp}`,
      extensions: { code: "BAD_USER_INPUT", argument: "block.at" },
    });
    // A nullable field fails alone; the server keeps answering.
    const partial = await post(server.url, `{ offer(id: "${ids.o1}", block: { number: ${head + 1} }) { id } market { providers } }`);
    expect(partial.data).to.deep.equal({ offer: null, market: { providers: 2 } });
    expect(partial.errors![0].extensions).to.include({ argument: "block.number" });
  });

  it("after a reorg, the history tables equal a clean index's and the blocks before it answer as before", async function () {
    const history = (db: Db) => Object.fromEntries(Object.values(HISTORY_TABLES).map((table) => [table, dumpTables(db)[table]]));
    const freshDump = async () => {
      const fresh = openStore({ file: ":memory:" });
      try {
        await createIndexer({ rpcUrls: [anvil.url], deployment: m.deployment, store: fresh }).syncOnce();
        return dumpTables(fresh.db);
      } finally {
        fresh.close();
      }
    };
    const now = await m.latestTimestamp();
    const o3 = await m.createOffer(p2, { gpuModel: H100, gpus: 4, pricePerGpuHour: 1_800_000n, region: "eu-west", expiresAt: now + 86400 });
    const j3 = await m.createJob(c1, o3, 2, 3600);
    await m.send(p2, "market", "acceptJob", [j3]);
    await m.send(p2, "market", "updateOffer", [o3, 6, 1_900_000n, now + 2 * 86400]);
    await indexer.syncOnce();
    const before = history(store.db);
    const beforeReorg = Number(await m.publicClient.getBlockNumber());
    const j3Accepted = await asOf({ number: beforeReorg - 1 });
    expect(j3Accepted.market.jobsByState.find((row: { state: string }) => row.state === "RUNNING").count).to.equal(1);

    // The last three blocks (the job, its acceptance, the reprice) are replaced by a closed offer and an empty block.
    await m.testClient.request({ method: "anvil_reorg", params: [3, [marketTx(m, p2, "closeOffer", [o3], 0)]] } as never);
    const result = await indexer.syncOnce();
    expect(result.reorgDepth).to.be.greaterThan(0);
    const after = history(store.db);
    expect(after).to.not.deep.equal(before);
    expect(dumpTables(store.db)).to.deep.equal(await freshDump());
    expect((after.jobs_history as Array<{ id: number }>).some((row) => row.id === Number(j3))).to.equal(false);
    expect((after.offers_history as Array<{ id: number; state: string; valid_to_block: number | null }>).filter((row) => row.id === Number(o3)).map((row) => [row.state, row.valid_to_block === null])).to.deep.equal([
      ["OPEN", false],
      ["CLOSED", true],
    ]);
    // Blocks before the fork answer as they did; the re-orged ones as the new chain has them.
    for (const step of steps) expect(await asOf({ number: step.block }), step.name).to.deep.equal(step.api);
    const replaced = await asOf({ number: beforeReorg - 1 });
    expect(replaced.market.jobsByState.find((row: { state: string }) => row.state === "RUNNING")?.count ?? 0).to.equal(0);
    expect(await asOf({ number: Number(await m.publicClient.getBlockNumber()) })).to.deep.equal(await asOf());
  });

  it("dates what the clock changed in skipped finalized blocks at the first block that reached it, whatever the batches", async function () {
    const now = await m.latestTimestamp();
    const expiresAt = now + 3600;
    const offer = await m.createOffer(p1, { gpuModel: A100, gpus: 2, pricePerGpuHour: 900_000n, region: "ap-south", expiresAt });
    const job = await m.createJob(c1, offer, 1, 3600);
    // 120 empty blocks a minute apart: the offer expires and the job's accept window closes among them.
    await m.testClient.mine({ blocks: 120, interval: 60 });
    await m.send(p1, "market", "heartbeat", []);
    await m.testClient.mine({ blocks: 5 });
    const head = Number(await m.publicClient.getBlockNumber());
    const firstBlockAt = async (timestamp: number) => {
      for (let n = head - 130; ; n++) if (Number((await m.publicClient.getBlock({ blockNumber: BigInt(n) })).timestamp) >= timestamp) return n;
    };
    const acceptDeadline = Number((await m.read<ChainJob>("market", "getJob", [job])).acceptDeadline);

    const dumps = [];
    for (const options of [{ finalityDepth: 1000 }, { finalityDepth: 2 }, { finalityDepth: 2, maxBlockRange: 7, initialBlockRange: 7 }]) {
      const fresh = openStore({ file: ":memory:" });
      try {
        await createIndexer({ rpcUrls: [anvil.url], deployment: m.deployment, store: fresh, ...options }).syncOnce();
        const since = (table: string, id: bigint, state: string) =>
          fresh.db.prepare(`SELECT valid_from_block FROM ${table} WHERE id = ? AND state = ?`).pluck().get(Number(id), state);
        expect(since("offers_history", offer, "EXPIRED"), JSON.stringify(options)).to.equal(await firstBlockAt(expiresAt));
        expect(since("jobs_history", job, "EXPIRED"), JSON.stringify(options)).to.equal(await firstBlockAt(acceptDeadline + 1));
        // A finalized index skipped the empty blocks but applied the two where the clock changed something.
        const applied = fresh.db.prepare("SELECT count(*) FROM block_times WHERE number > ? AND number < ?").pluck().get(head - 126, head - 5);
        if (options.finalityDepth === 2) expect(applied, JSON.stringify(options)).to.be.lessThan(25);
        const dump = dumpTables(fresh.db);
        delete (dump as Record<string, unknown>).checkpoint;
        dumps.push(dump);
      } finally {
        fresh.close();
      }
    }
    expect(dumps[1]).to.deep.equal(dumps[0]);
    expect(dumps[2]).to.deep.equal(dumps[0]);

    await indexer.syncOnce();
    const expiredAt = await firstBlockAt(expiresAt);
    const offerAt = async (number: number) =>
      (await post(server.url, `{ offer(id: "${offer}", block: { number: ${number} }) { state } }`)).data.offer.state;
    expect([await offerAt(expiredAt - 1), await offerAt(expiredAt)]).to.deep.equal(["OPEN", "EXPIRED"]);
  });

  it("_meta(block) of a block the indexer skipped reports the clock its answers use: the applied block's before it", async function () {
    // The previous test's empty finalized blocks: the indexer applied only those where the clock changed something.
    const head = Number(await m.publicClient.getBlockNumber());
    const applied = new Set(store.db.prepare("SELECT number FROM block_times").pluck().all() as number[]);
    let skipped = head - 1;
    while (applied.has(skipped) || !applied.has(skipped - 1)) skipped--;
    const before = store.db.prepare("SELECT timestamp FROM block_times WHERE number = ?").pluck().get(skipped - 1) as number;
    const result = await post(server.url, `{ _meta(block: { number: ${skipped} }) { block { number hash timestamp } } market(block: { number: ${skipped} }) { jobs } }`);
    expect(result.data._meta.block).to.deep.equal({ number: skipped, hash: "", timestamp: before });
    // The block's own timestamp is later: the store never had it, so it is not reported.
    expect(Number((await m.publicClient.getBlock({ blockNumber: BigInt(skipped) })).timestamp)).to.be.greaterThan(before);
    const appliedBefore = await post(server.url, `{ market(block: { number: ${skipped - 1} }) { jobs } }`);
    expect(result.data.market).to.deep.equal(appliedBefore.data.market);
  });

  it("answers a database indexed before time travel from the block it was upgraded at, and names that block before it", async function () {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "gpumesh-time-travel-"));
    try {
      const migrations = path.join(dir, "migrations");
      fs.mkdirSync(migrations);
      const source = path.join(__dirname, "..", "..", "src", "store", "migrations");
      for (const name of fs.readdirSync(source)) if (Number(name.slice(0, 3)) <= 8) fs.copyFileSync(path.join(source, name), path.join(migrations, name));
      const file = path.join(dir, "old.db");
      // A version-8 database: its indexer wrote no history (its own store code is this one's, minus the tables).
      const old = openStore({ file, migrationsDir: migrations });
      for (const history of ["009_time_travel.sql", "013_unversioned_heartbeats.sql"]) old.db.exec(fs.readFileSync(path.join(source, history), "utf8"));
      await createIndexer({ rpcUrls: [anvil.url], deployment: m.deployment, store: old }).syncOnce({ maxBatches: 1 });
      const upgradedAt = old.db.prepare("SELECT block_number FROM checkpoint").pluck().get() as number;
      for (const table of [...Object.values(HISTORY_TABLES), "block_times", "history_start"]) old.db.exec(`DROP TABLE ${table}`);
      old.db.exec("ALTER TABLE jobs DROP COLUMN gpu_seconds_sold");
      old.close();

      // Served read-only as it is, it has no history to answer from, and says so.
      const readonly = openStore({ file, readonly: true });
      const served = await createServer({ app: createGraphqlApp({ db: readonly.db, logger: silentLogger() }), port: 0 });
      try {
        const result = await post(served.url, `{ market(block: { number: ${upgradedAt} }) { providers } }`);
        expect(result.errors![0].message).to.match(/^this database keeps no history \(it was indexed by a version of gpumesh before time travel\)/);
        expect(result.errors![0].extensions).to.include({ argument: "block" });
      } finally {
        await served.close();
        readonly.close();
      }

      const upgraded = openStore({ file });
      expect(upgraded.schemaVersion).to.be.at.least(9);
      await createIndexer({ rpcUrls: [anvil.url], deployment: m.deployment, store: upgraded }).syncOnce();
      const app = await createServer({ app: createGraphqlApp({ db: upgraded.db, logger: silentLogger() }), port: 0 });
      try {
        const result = await post(app.url, `{ market(block: { number: ${upgradedAt - 1} }) { providers } }`);
        expect(result.errors![0].message).to.equal(
          `block ${upgradedAt - 1} is before this database's history, which starts at block ${upgradedAt} (it was indexed before time travel; index into a fresh --db for all of it)`,
        );
        expect(result.errors![0].extensions).to.include({ argument: "block.number", historyStart: upgradedAt });
        await indexer.syncOnce();
        const head = Number(await m.publicClient.getBlockNumber());
        const fresh = await asOf({ number: head });
        expect(await asOf({ number: head }, app.url)).to.deep.equal(fresh);
        const at = (await post(app.url, `{ market(block: { number: ${upgradedAt} }) { providers } }`)).data;
        expect(at.market.providers).to.be.a("number");
      } finally {
        await app.close();
        upgraded.close();
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("time travel: the market's sums as of a block are exact", function () {
  it("sums amounts of any length exactly, in SQL below 19 digits and in JS above", function () {
    const store = openStore({ file: ":memory:" });
    try {
      const { db } = store;
      db.prepare("INSERT INTO checkpoint (id, chain_id, block_number, block_hash, block_timestamp) VALUES (1, 31337, 10, '0x01', 1000)").run();
      const insert = db.prepare(
        `INSERT INTO jobs_history (id, offer_id, state, escrow, claimed, provider_paid, fee, bond, finalized_at, gpu_seconds_sold, valid_from_block, valid_to_block)
         VALUES (@id, @offer, @state, @escrow, @claimed, @paid, @fee, '0', @finalized, 0, @from, @to)`,
      );
      const job = { escrow: "0", claimed: "0", paid: "0", fee: "0", finalized: null as number | null, from: 5, to: null as number | null };
      // Offer 1, open jobs: one escrow of 30 digits, so its group is summed from its rows.
      insert.run({ ...job, id: 1, offer: 1, state: "CREATED", escrow: "123456789012345678901234567890", claimed: "1" });
      insert.run({ ...job, id: 2, offer: 1, state: "CREATED", escrow: "5" });
      // Offer 2, settled jobs of 18 digits, whose chunks carry into the next: summed in SQL.
      insert.run({ ...job, id: 3, offer: 2, state: "SETTLED", paid: "999999999999999999", fee: "999999999", finalized: 900 });
      insert.run({ ...job, id: 4, offer: 2, state: "SETTLED", paid: "999999999999999999", fee: "1", finalized: 900 });
      // Replaced before block 10, and not yet alive at it: neither counts.
      insert.run({ ...job, id: 5, offer: 2, state: "SETTLED", paid: "7", from: 5, to: 8 });
      insert.run({ ...job, id: 6, offer: 2, state: "SETTLED", paid: "7", from: 11 });
      const history = createHistory(db, createReads(db));
      const lookup = history.byNumber(10);
      expect(lookup.found).to.equal(true);
      const totals = history.at((lookup as { block: { number: number; timestamp: number } }).block).marketTotals();
      expect(totals.escrowed).to.equal((123456789012345678901234567890n + 5n - 1n).toString());
      expect(totals.volume).to.equal((2n * 999999999999999999n).toString());
      expect(totals.feesCollected).to.equal("1000000000");
    } finally {
      store.close();
    }
  });
});

import { expect } from "chai";
import { createGraphqlApp, createServer, type GraphqlServer } from "../../src/graphql/app";
import { silentLogger } from "../../src/internal/logger";
import { openStore, type Store } from "../../src/store/db";
import { createIndexer } from "../../src/sync/indexer";
import { startAnvil, type Anvil } from "./helpers/anvil";
import { dumpTables } from "./helpers/dump";
import { H100, MESH, USDC, setUpMarket } from "./helpers/market";

describe("GraphQL utilization over time, against a real chain", function () {
  let anvil: Anvil;
  const stores: Store[] = [];
  let server: GraphqlServer | undefined;

  afterEach(async function () {
    await server?.close();
    server = undefined;
    for (const store of stores.splice(0)) store.close();
    await anvil?.stop();
  });

  it("integrates offered and leased GPUs into hour buckets, clock expiries at their moment, whatever the batch boundaries", async function () {
    anvil = await startAnvil();
    const m = await setUpMarket(anvil.url);
    const [, p1, , , c1] = m.accounts;
    await m.registerProvider(p1, 5_000n * MESH);
    await m.fund(c1, { usdc: 10_000n * USDC });
    const hour = Math.ceil((await m.latestTimestamp()) / 3600) * 3600 + 3600;
    const at = (seconds: number) => m.testClient.setNextBlockTimestamp({ timestamp: BigInt(hour + seconds) });
    await at(0);
    await m.createOffer(p1, { gpuModel: H100, gpus: 10, pricePerGpuHour: 2_000_000n, region: "eu-west", expiresAt: hour + 30 * 86400 });
    // 4 GPUs held from 00:30 by a job nobody accepts: its accept window (30 minutes) closes at 01:00:00, so its GPUs
    // are free from 01:00:01, with no event.
    await at(1800);
    await m.createJob(c1, 1n, 4, 3600);
    await at(4000);
    await m.testClient.mine({ blocks: 1 });

    const big = openStore({ file: ":memory:" });
    const small = openStore({ file: ":memory:" });
    stores.push(big, small);
    await createIndexer({ rpcUrls: [anvil.url], deployment: m.deployment, store: big, finalityDepth: 1000 }).syncOnce();
    const smallIndexer = createIndexer({ rpcUrls: [anvil.url], deployment: m.deployment, store: small, finalityDepth: 3, initialBlockRange: 1, maxBlockRange: 1 });
    while (!(await smallIndexer.syncOnce()).caughtUp);
    expect(dumpTables(small.db).utilization_buckets).to.deep.equal(dumpTables(big.db).utilization_buckets);

    server = await createServer({ app: createGraphqlApp({ db: big.db, logger: silentLogger() }), port: 0 });
    const response = await fetch(`${server.url}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ query: `{ utilization(from: ${hour}) { start end gpuHoursOffered gpuHoursLeased utilization } }` }),
    });
    const { data, errors } = (await response.json()) as { data: any; errors?: unknown };
    expect(errors).to.equal(undefined);
    expect(data.utilization).to.deep.equal([
      // 10 GPUs for the hour; 4 from 00:30:00 to 01:00:01, of which 1800 s in this hour.
      { start: hour, end: hour + 3600, gpuHoursOffered: 10, gpuHoursLeased: 2, utilization: 0.2 },
      // Up to the indexed block at 01:06:40: 4 GPU-seconds leased, 10 GPUs offered for 400 s.
      { start: hour + 3600, end: hour + 7200, gpuHoursOffered: 4000 / 3600, gpuHoursLeased: 4 / 3600, utilization: 4 / 4000 },
    ]);
    const bad = await fetch(`${server.url}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ query: `{ utilization(from: 10, to: 5) { start } }` }),
    });
    expect(((await bad.json()) as any).errors[0].message).to.match(/argument "from" \(10\) is after "to" \(5\)/);
  });
});

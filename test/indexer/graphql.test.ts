import Database from "better-sqlite3";
import { expect } from "chai";
import { createGraphqlApp, createServer, type GraphqlServer, type IndexerStatus } from "../../src/graphql/app";
import { silentLogger } from "../../src/internal/logger";
import { JOB_STATES } from "../../src/protocol";
import {
  A100,
  C1,
  C2,
  C3,
  DAY_START,
  H100,
  HOUR_START,
  HUGE_PRICE,
  P1,
  P2,
  P3,
  RTX,
  SPONSOR,
  createFixture,
  createMigratedDatabase,
  modelId,
  type Fixture,
} from "./graphql-fixture";

interface GraphqlResponse {
  data?: any;
  errors?: Array<{ message: string; extensions?: Record<string, unknown> }>;
}

function client(baseUrl: string) {
  const post = async (query: string, variables?: Record<string, unknown>) => {
    const response = await fetch(`${baseUrl}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/json" },
      body: JSON.stringify({ query, variables }),
    });
    return { status: response.status, body: (await response.json()) as GraphqlResponse };
  };
  return {
    post,
    /** The data of a query that must succeed. */
    async data(query: string, variables?: Record<string, unknown>): Promise<any> {
      const { body } = await post(query, variables);
      expect(body.errors, JSON.stringify(body.errors)).to.equal(undefined);
      return body.data;
    },
    /** The first error of a query that must fail. */
    async error(query: string, variables?: Record<string, unknown>) {
      const { body } = await post(query, variables);
      expect(body.errors, `expected an error, got ${JSON.stringify(body.data)}`).to.be.an("array").that.is.not.empty;
      return body.errors![0];
    },
  };
}

const STATUS: IndexerStatus & { headBlock: number } = {
  headBlock: 121,
  confirmations: 0,
  rpcRequests: 10,
  rpcErrors: 1,
  rpcLatencySeconds: { count: 10, sum: 0.5 },
};

describe("GraphQL API over a real SQLite store", function () {
  let fixture: Fixture;
  let reader: Database.Database;
  let server: GraphqlServer;
  let api: ReturnType<typeof client>;

  before(async function () {
    fixture = createFixture();
    // The server reads through its own read-only connection, as `gpumesh serve` does beside a writing indexer.
    reader = new Database(fixture.file, { readonly: true, fileMustExist: true });
    const app = createGraphqlApp({ db: reader, status: () => STATUS, logger: silentLogger() });
    server = await createServer({ app, host: "127.0.0.1", port: 0 });
    api = client(server.url);
  });

  after(async function () {
    await server?.close();
    reader?.close();
    fixture?.close();
  });

  describe("_meta and market", function () {
    it("reports indexing progress from the checkpoint and the status provider", async function () {
      const { _meta } = await api.data("{ _meta { chainId block { number hash timestamp } headBlock lagBlocks reorgs eventsIngested } }");
      expect(_meta).to.deep.equal({
        chainId: 31337,
        block: { number: 120, hash: "0x" + "ab".repeat(32), timestamp: 1700090000 },
        headBlock: 121,
        lagBlocks: 1,
        reorgs: 2,
        eventsIngested: 345,
      });
    });

    it("answers market totals from the roll-ups, amounts as decimal strings", async function () {
      const { market } = await api.data(`{ market {
        providers activeProviders totalStaked totalLocked totalUnbonding totalSlashed escrowed disputeBondsHeld volume
        feesCollected gpuHoursSold jobsByState { state count } jobs gpusOffered gpusLeased gpusAvailable utilization } }`);
      expect(market).to.deep.equal({
        providers: 3,
        activeProviders: 2,
        totalStaked: "5100000000000000000000",
        totalLocked: "1000000000000000000000",
        totalUnbonding: "50000000000000000000",
        totalSlashed: "7",
        escrowed: "61500000",
        disputeBondsHeld: "0",
        volume: "9000123",
        feesCollected: "225003",
        gpuHoursSold: 10,
        // Every state of src/protocol, in the contract's order.
        jobsByState: [
          { state: "CREATED", count: 0 },
          { state: "RUNNING", count: 3 },
          { state: "COMPLETED", count: 0 },
          { state: "DISPUTED", count: 0 },
          { state: "SETTLED", count: 3 },
          { state: "RESOLVED", count: 0 },
          { state: "CANCELLED", count: 1 },
          { state: "RECLAIMED", count: 0 },
          { state: "DECLINED", count: 0 },
          { state: "EXPIRED", count: 0 },
          { state: "DARK", count: 0 },
        ],
        jobs: 7,
        gpusOffered: 24,
        gpusLeased: 11,
        gpusAvailable: 13,
        utilization: 11 / 24,
      });
    });

    it("sees the indexer's new writes on the next request", async function () {
      fixture.writer.prepare("UPDATE market_totals SET gpus_offered = 22 WHERE id = 1").run();
      try {
        const { market } = await api.data("{ market { gpusOffered utilization } }");
        expect(market).to.deep.equal({ gpusOffered: 22, utilization: 11 / 22 });
      } finally {
        fixture.writer.prepare("UPDATE market_totals SET gpus_offered = 24 WHERE id = 1").run();
      }
      expect((await api.data("{ market { gpusOffered } }")).market.gpusOffered).to.equal(24);
    });

    it("reads the head block live, never from a cached answer", async function () {
      const query = "{ _meta { headBlock lagBlocks } }";
      expect((await api.data(query))._meta).to.deep.equal({ headBlock: 121, lagBlocks: 1 });
      STATUS.headBlock = 125;
      try {
        expect((await api.data(query))._meta).to.deep.equal({ headBlock: 125, lagBlocks: 5 });
      } finally {
        STATUS.headBlock = 121;
      }
    });

    it("sees writes made through its own connection when it shares the indexer's", async function () {
      const shared = createFixture();
      const sharedServer = await createServer({ app: createGraphqlApp({ db: shared.writer, logger: silentLogger() }), port: 0 });
      try {
        const sharedApi = client(sharedServer.url);
        const query = `{ capacity(gpuModel: "${A100}") { gpusOffered } offers(where: { state: OPEN }) { totalCount } }`;
        expect(await sharedApi.data(query)).to.deep.equal({ capacity: [{ gpusOffered: 10 }], offers: { totalCount: 4 } });
        shared.writer.prepare("UPDATE capacity SET gpus_offered = 12 WHERE region = 'us-east' AND gpus_offered = 10").run();
        shared.writer.prepare("UPDATE offers SET state = 'CLOSED' WHERE id = 5").run();
        expect(await sharedApi.data(query)).to.deep.equal({ capacity: [{ gpusOffered: 12 }], offers: { totalCount: 3 } });
      } finally {
        await sharedServer.close();
        shared.close();
      }
    });
  });

  describe("GPU models and capacity", function () {
    it("lists the catalog by name with each model's capacity", async function () {
      const { gpuModels } = await api.data("{ gpuModels { id name vramGb listed listedAt capacity { gpusOffered gpusLeased offers } } }");
      expect(gpuModels).to.deep.equal([
        { id: modelId(A100), name: A100, vramGb: 80, listed: true, listedAt: 1699900000, capacity: { gpusOffered: 10, gpusLeased: 5, offers: 1 } },
        { id: modelId(H100), name: H100, vramGb: 80, listed: true, listedAt: 1699900000, capacity: { gpusOffered: 14, gpusLeased: 6, offers: 3 } },
        { id: modelId(RTX), name: RTX, vramGb: 24, listed: false, listedAt: 1699900000, capacity: null },
      ]);
      expect((await api.data(`{ gpuModel(name: "${RTX}") { vramGb } }`)).gpuModel).to.deep.equal({ vramGb: 24 });
    });

    const FIELDS = "gpuModel region gpusOffered gpusLeased gpusAvailable utilization providers offers askFloor askMedian";

    it("groups by GPU model (the default): asks over open offers with free GPUs, GPU-weighted median", async function () {
      const { capacity } = await api.data(`{ capacity { ${FIELDS} model { name } } }`);
      expect(capacity).to.deep.equal([
        { gpuModel: A100, region: null, gpusOffered: 10, gpusLeased: 5, gpusAvailable: 5, utilization: 0.5, providers: 1, offers: 1, askFloor: "1000000", askMedian: "1000000", model: { name: A100 } },
        // Offer 3 has 2 free at 2.0, offer 1 has 6 free at 2.5: the 4th of 8 free GPUs is at 2.5. Offer 2 is full.
        { gpuModel: H100, region: null, gpusOffered: 14, gpusLeased: 6, gpusAvailable: 8, utilization: 6 / 14, providers: 2, offers: 3, askFloor: "2000000", askMedian: "2500000", model: { name: H100 } },
      ]);
    });

    it("groups by region and by model and region, and filters both", async function () {
      const byRegion = (await api.data(`{ capacity(groupBy: REGION) { ${FIELDS} model { name } } }`)).capacity;
      expect(byRegion).to.deep.equal([
        { gpuModel: null, region: "eu-west", gpusOffered: 10, gpusLeased: 2, gpusAvailable: 8, utilization: 0.2, providers: 2, offers: 2, askFloor: "2000000", askMedian: "2500000", model: null },
        { gpuModel: null, region: "us-east", gpusOffered: 14, gpusLeased: 9, gpusAvailable: 5, utilization: 9 / 14, providers: 1, offers: 2, askFloor: "1000000", askMedian: "1000000", model: null },
      ]);
      const both = (await api.data(`{ capacity(groupBy: GPU_MODEL_REGION) { ${FIELDS} } }`)).capacity;
      expect(both.map((b: any) => [b.gpuModel, b.region, b.gpusOffered, b.providers, b.askFloor])).to.deep.equal([
        [A100, "us-east", 10, 1, "1000000"],
        [H100, "eu-west", 10, 2, "2000000"],
        [H100, "us-east", 4, 1, null],
      ]);
      const filtered = (await api.data(`{ capacity(groupBy: GPU_MODEL_REGION, gpuModel: "${H100}", region: "us-east") { ${FIELDS} } }`)).capacity;
      expect(filtered).to.deep.equal([
        { gpuModel: H100, region: "us-east", gpusOffered: 4, gpusLeased: 4, gpusAvailable: 0, utilization: 1, providers: 1, offers: 1, askFloor: null, askMedian: null },
      ]);
      expect((await api.data(`{ capacity(region: "ap-south") { gpuModel } }`)).capacity).to.deep.equal([]);
    });

    it("rejects an unknown GPU model by name", async function () {
      const error = await api.error(`{ capacity(gpuModel: "X999") { gpuModel } }`);
      expect(error.message).to.contain('unknown GPU model "X999"').and.contain(H100);
      expect(error.extensions?.code).to.equal("BAD_USER_INPUT");
    });
  });

  describe("prices", function () {
    const FIELDS = "start end jobs gpuHours notional open high low close vwap askFloor";

    it("answers hourly buckets over all regions, vwap = notional / GPU-seconds rounded down, intervals without jobs absent", async function () {
      const { prices } = await api.data(`{ prices(gpuModel: "${H100}") { ${FIELDS} } }`);
      expect(prices).to.deep.equal([
        { start: HOUR_START, end: HOUR_START + 3600, jobs: 2, gpuHours: 4, notional: "37000000000", open: "2500000", high: "3000000", low: "2000000", close: "2600000", vwap: "2569444", askFloor: "2000000" },
        { start: HOUR_START + 3600, end: HOUR_START + 7200, jobs: 1, gpuHours: 1, notional: "7200000000", open: "2000000", high: "2000000", low: "2000000", close: "2000000", vwap: "2000000", askFloor: "2000000" },
        { start: HOUR_START + 86400, end: HOUR_START + 90000, jobs: 1, gpuHours: 1, notional: "9000000000", open: "2500000", high: "2500000", low: "2500000", close: "2500000", vwap: "2500000", askFloor: "2000000" },
      ]);
    });

    it("narrows by region, interval and time range", async function () {
      const region = (await api.data(`{ prices(gpuModel: "${H100}", region: "eu-west") { start vwap } }`)).prices;
      expect(region).to.deep.equal([{ start: HOUR_START, vwap: "2500000" }]);
      const daily = (await api.data(`{ prices(gpuModel: "${H100}", interval: DAY) { start end jobs gpuHours vwap } }`)).prices;
      expect(daily).to.deep.equal([{ start: DAY_START, end: DAY_START + 86400, jobs: 4, gpuHours: 7, vwap: "2380952" }]);
      // from inside a bucket keeps that bucket; to is the last start kept.
      const range = (await api.data(`{ prices(gpuModel: "${H100}", from: ${HOUR_START + 3601}, to: ${HOUR_START + 86400}) { start } }`)).prices;
      expect(range.map((p: any) => p.start)).to.deep.equal([HOUR_START + 3600, HOUR_START + 86400]);
      expect((await api.data(`{ prices(gpuModel: "${RTX}") { start } }`)).prices).to.deep.equal([]);
    });

    it("rejects an unknown model and a reversed range", async function () {
      const unknown = await api.error(`{ prices(gpuModel: "H200-NOPE") { start } }`);
      expect(unknown.message).to.contain('unknown GPU model "H200-NOPE"').and.contain('"gpuModel"');
      const reversed = await api.error(`{ prices(gpuModel: "${H100}", from: 20, to: 10) { start } }`);
      expect(reversed.message).to.contain('"from"');
    });
  });

  describe("providers", function () {
    it("finds a provider by any-case address with its derived fields and links", async function () {
      const { provider } = await api.data(`{ provider(id: "${P2.toUpperCase().replace("0X", "0x")}") {
        id address metadataUri registeredAt staked stake locked unbonding unbondingReadyAt slashed earned
        jobsCompleted jobsDisputed activeOffers updatedAt
        offers { totalCount items { id state } }
        jobs(orderDirection: DESC) { totalCount items { id } }
      } }`);
      expect(provider).to.deep.equal({
        id: P2,
        address: P2,
        metadataUri: "ipfs://p2",
        registeredAt: 1699950100,
        staked: "100000000000000000000",
        stake: "100000000000000000000",
        locked: "0",
        unbonding: "50000000000000000000",
        unbondingReadyAt: 1700600000,
        slashed: "7",
        earned: "123",
        jobsCompleted: 5,
        jobsDisputed: 1,
        activeOffers: 1,
        updatedAt: 1700090000,
        offers: { totalCount: 2, items: [{ id: "3", state: "OPEN" }, { id: "4", state: "CLOSED" }] },
        jobs: { totalCount: 2, items: [{ id: "6" }, { id: "3" }] },
      });
      expect((await api.data(`{ provider(id: "0x${"9".repeat(40)}") { id } }`)).provider).to.equal(null);
    });

    it("lists stake movements in chain order", async function () {
      const { provider } = await api.data(`{ provider(id: "${P1}") { stakeMovements { totalCount items { id kind amount job { id } provider { address } } } } }`);
      expect(provider.stakeMovements).to.deep.equal({
        totalCount: 3,
        items: [
          { id: "5-0", kind: "STAKE", amount: "5000000000000000000000", job: null, provider: { address: P1 } },
          { id: "51-1", kind: "LOCK", amount: "1000000000000000000", job: { id: "2" }, provider: { address: P1 } },
          { id: "51-3", kind: "LOCK", amount: "1000000000000000000", job: { id: "1" }, provider: { address: P1 } },
        ],
      });
    });

    it("orders by amounts exactly (beyond 2^64) and by counts, and filters", async function () {
      const order = async (args: string) =>
        (await api.data(`{ providers${args ? `(${args})` : ""} { totalCount items { address } } }`)).providers.items.map(
          (p: any) => p.address,
        );
      expect(await order("")).to.deep.equal([P1, P2, P3]);
      expect(await order("orderBy: ADDRESS, orderDirection: DESC")).to.deep.equal([P3, P2, P1]);
      expect(await order("orderBy: STAKED, orderDirection: DESC")).to.deep.equal([P1, P2, P3]);
      expect(await order("orderBy: EARNED, orderDirection: DESC")).to.deep.equal([P3, P1, P2]);
      expect(await order("orderBy: JOBS_COMPLETED, orderDirection: DESC")).to.deep.equal([P2, P1, P3]);
      expect(await order("where: { active: true }")).to.deep.equal([P1, P2]);
      expect(await order("where: { active: false }")).to.deep.equal([P3]);
      expect(await order(`where: { address: "${P2.toUpperCase().replace("0X", "0x")}" }`)).to.deep.equal([P2]);
      const { providers } = await api.data("{ providers(where: { active: true }) { totalCount } }");
      expect(providers.totalCount).to.equal(2);
    });

    it("pages nested lists per parent, each with its own cursor and count", async function () {
      const { providers } = await api.data(`{ providers { items { address jobs(first: 2) { items { id } pageInfo { hasNextPage endCursor } totalCount } } } }`);
      const pages = providers.items.map((p: any) => [p.address, p.jobs.items.map((j: any) => j.id), p.jobs.pageInfo.hasNextPage, p.jobs.totalCount]);
      expect(pages).to.deep.equal([
        [P1, ["1", "2"], true, 5],
        [P2, ["3", "6"], false, 2],
        [P3, [], false, 0],
      ]);
      const cursor = providers.items[0].jobs.pageInfo.endCursor;
      const next = await api.data(`query($after: String) { provider(id: "${P1}") { jobs(first: 2, after: $after) { items { id } } } }`, { after: cursor });
      expect(next.provider.jobs.items).to.deep.equal([{ id: "4" }, { id: "5" }]);
    });
  });

  describe("offers", function () {
    const ids = async (args: string) =>
      (await api.data(`{ offers(${args}) { totalCount items { id } } }`)).offers.items.map((o: any) => Number(o.id));

    it("carries the event fields, derived fields and links", async function () {
      const { offer } = await api.data(`{ offer(id: "1") {
        id gpuModel model { id name } region gpus gpusLeased gpusAvailable pricePerGpuHour price minDuration maxDuration
        carbonIntensity renewableBps expiresAt state createdAt createdBlock updatedAt
        provider { address activeOffers } jobs { totalCount items { id client { address } } }
      } }`);
      expect(offer).to.deep.equal({
        id: "1",
        gpuModel: H100,
        model: { id: modelId(H100), name: H100 },
        region: "eu-west",
        gpus: 8,
        gpusLeased: 2,
        gpusAvailable: 6,
        pricePerGpuHour: "2500000",
        price: "2500000",
        minDuration: 600,
        maxDuration: 86400,
        carbonIntensity: 121,
        renewableBps: 5001,
        expiresAt: 1800000000,
        state: "OPEN",
        createdAt: 1699990000,
        createdBlock: 11,
        updatedAt: 1699990000,
        provider: { address: P1, activeOffers: 3 },
        jobs: { totalCount: 3, items: [{ id: "1", client: { address: C1 } }, { id: "2", client: { address: C2 } }, { id: "7", client: { address: C2 } }] },
      });
      expect((await api.data('{ offer(id: "999") { id } }')).offer).to.equal(null);
    });

    it("filters by provider, model, region, state, free GPUs and maximum price (exact past 2^63)", async function () {
      expect(await ids(`where: { provider: "${P1.toUpperCase().replace("0X", "0x")}" }`)).to.deep.equal([1, 2, 5]);
      expect(await ids(`where: { gpuModel: "${H100}" }`)).to.deep.equal([1, 2, 3, 6]);
      expect(await ids(`where: { region: "us-east" }`)).to.deep.equal([2, 5]);
      expect(await ids("where: { state: OPEN }")).to.deep.equal([1, 2, 3, 5]);
      expect(await ids("where: { minGpusAvailable: 5 }")).to.deep.equal([1, 4, 5]);
      expect(await ids('where: { maxPricePerGpuHour: "2000000" }')).to.deep.equal([3, 4, 5]);
      expect(await ids(`where: { maxPricePerGpuHour: "${HUGE_PRICE}" }`)).to.deep.equal([1, 2, 3, 4, 5, 6]);
      expect(await ids(`where: { maxPricePerGpuHour: "${BigInt(HUGE_PRICE) - 1n}" }`)).to.deep.equal([1, 2, 3, 4, 5]);
      expect(await ids(`where: { gpuModel: "${H100}", state: OPEN, region: "eu-west", minGpusAvailable: 1 }`)).to.deep.equal([1, 3]);
    });

    it("saturates uint32 GPU counts and expiry times that GraphQL Int cannot hold", async function () {
      fixture.writer
        .prepare(
          `INSERT INTO offers (id, provider, gpu_model, region, gpus, gpus_leased, price_per_gpu_hour, price_sort, min_duration,
             max_duration, carbon_intensity, renewable_bps, expires_at, state, created_at, created_block, updated_at)
           VALUES (99, ?, ?, 'eu-west', 4000000000, 0, '1', 1, 60, 60, 0, 0, 4294967295, 'CLOSED', 1700000000, 99, 1700000000)`,
        )
        .run(P3, modelId(RTX));
      fixture.writer.prepare("UPDATE market_totals SET gpus_offered = 4000000024 WHERE id = 1").run();
      try {
        const data = await api.data('{ offer(id: "99") { gpus gpusAvailable expiresAt } market { gpusOffered gpusAvailable utilization } }');
        expect(data.offer).to.deep.equal({ gpus: 2147483647, gpusAvailable: 2147483647, expiresAt: 2147483647 });
        expect(data.market).to.deep.equal({ gpusOffered: 2147483647, gpusAvailable: 2147483647, utilization: 11 / 4000000024 });
      } finally {
        fixture.writer.prepare("DELETE FROM offers WHERE id = 99").run();
        fixture.writer.prepare("UPDATE market_totals SET gpus_offered = 24 WHERE id = 1").run();
      }
    });

    it("orders by price, free GPUs and creation, both directions", async function () {
      expect(await ids("orderBy: PRICE")).to.deep.equal([5, 4, 3, 1, 2, 6]);
      expect(await ids("orderBy: PRICE, orderDirection: DESC")).to.deep.equal([6, 2, 1, 3, 4, 5]);
      expect(await ids("orderBy: GPUS_AVAILABLE, orderDirection: DESC")).to.deep.equal([4, 1, 5, 3, 6, 2]);
      expect(await ids("orderBy: CREATED_AT, orderDirection: DESC")).to.deep.equal([6, 5, 4, 3, 2, 1]);
    });
  });

  describe("jobs", function () {
    async function walk(orderBy: string, direction: string, pageSize: number, where = ""): Promise<{ ids: number[]; totals: number[] }> {
      const ids: number[] = [];
      const totals: number[] = [];
      let after: string | null = null;
      for (let guard = 0; guard < 20; guard++) {
        const data: any = await api.data(
          `query($after: String) { jobs(orderBy: ${orderBy}, orderDirection: ${direction}, first: ${pageSize}, after: $after${where ? `, where: ${where}` : ""}) {
            items { id } pageInfo { hasNextPage endCursor } totalCount } }`,
          { after },
        );
        ids.push(...data.jobs.items.map((j: any) => Number(j.id)));
        totals.push(data.jobs.totalCount);
        if (!data.jobs.pageInfo.hasNextPage) return { ids, totals };
        after = data.jobs.pageInfo.endCursor;
      }
      throw new Error("pagination did not end");
    }

    it("a page reads only the columns its selection needs, and answers every field as the job itself does", async function () {
      const { __type } = await api.data(`{ __type(name: "Job") { fields { name args { name } type { kind name ofType { kind name } } } } }`);
      const selectionOf = async (field: { name: string; type: { kind: string; name: string | null; ofType: { kind: string; name: string } | null } }) => {
        const named = field.type.kind === "NON_NULL" ? field.type.ofType! : field.type;
        if (named.kind !== "OBJECT") return field.name;
        // An object by a field of its own, so that its resolver must find the job's column.
        const { __type: object } = await api.data(`{ __type(name: "${named.name}") { fields { name } } }`);
        const names = (object.fields as Array<{ name: string }>).map((f) => f.name);
        return `${field.name} { ${names.includes("id") ? "id" : names.includes("name") ? "name" : "__typename"} }`;
      };
      const fields = __type.fields as Array<{ name: string; args: unknown[]; type: any }>;
      expect(fields.length).to.be.greaterThan(40);
      const byId = (items: Array<{ id: string }>) => Object.fromEntries(items.map((item) => [item.id, item]));
      for (const field of fields) {
        const selection = await selectionOf(field);
        // Beside the id on the root page, and through a fragment on a provider's nested page.
        const root = await api.data(`{ jobs(first: 100) { items { id ${selection} } } }`);
        const nested = await api.data(`{ provider(id: "${P1}") { jobs(first: 100) { items { ...F } } } } fragment F on Job { id ${selection} }`);
        const ids: string[] = root.jobs.items.map((item: { id: string }) => item.id);
        expect(ids.length, field.name).to.be.greaterThan(3);
        const whole = await api.data(`{ ${ids.map((id) => `j${id}: job(id: "${id}") { id ${selection} }`).join(" ")} }`);
        expect(byId(root.jobs.items), field.name).to.deep.equal(byId(Object.values(whole)));
        for (const item of nested.provider.jobs.items) expect(item, field.name).to.deep.equal(whole[`j${item.id}`]);
      }
    });

    it("pages through every ordering without duplicates or gaps", async function () {
      const cases: Array<[string, string, number[]]> = [
        ["ID", "ASC", [1, 2, 3, 4, 5, 6, 7]],
        ["ID", "DESC", [7, 6, 5, 4, 3, 2, 1]],
        ["CREATED_AT", "ASC", [1, 2, 3, 4, 5, 6, 7]],
        // Jobs 4 and 5 share a timestamp: the id breaks the tie in the same direction.
        ["CREATED_AT", "DESC", [7, 6, 5, 4, 3, 2, 1]],
        ["PRICE", "ASC", [4, 3, 6, 1, 2, 7, 5]],
        ["PRICE", "DESC", [5, 7, 2, 1, 6, 3, 4]],
      ];
      for (const [orderBy, direction, expected] of cases) {
        for (const pageSize of [1, 2, 3, 7, 50]) {
          const { ids, totals } = await walk(orderBy, direction, pageSize);
          expect(ids, `${orderBy} ${direction} by ${pageSize}`).to.deep.equal(expected);
          expect(new Set(totals)).to.deep.equal(new Set([7]));
        }
      }
      const filtered = await walk("PRICE", "DESC", 2, `{ provider: "${P1}" }`);
      expect(filtered).to.deep.equal({ ids: [5, 7, 2, 1, 4], totals: [5, 5, 5] });
    });

    it("filters by client, provider, payer, offer, state, model, region and creation time", async function () {
      const ids = async (where: string) =>
        (await api.data(`{ jobs(where: ${where}) { totalCount items { id } } }`)).jobs.items.map((j: any) => Number(j.id));
      expect(await ids(`{ client: "${C1.toUpperCase().replace("0X", "0x")}" }`)).to.deep.equal([1, 3, 4]);
      expect(await ids(`{ provider: "${P2}" }`)).to.deep.equal([3, 6]);
      expect(await ids(`{ payer: "${SPONSOR}" }`)).to.deep.equal([2]);
      expect(await ids('{ offer: "1" }')).to.deep.equal([1, 2, 7]);
      expect(await ids("{ state: SETTLED }")).to.deep.equal([2, 3, 7]);
      expect(await ids(`{ gpuModel: "${A100}" }`)).to.deep.equal([4]);
      expect(await ids('{ region: "us-east" }')).to.deep.equal([4, 5]);
      expect(await ids("{ createdAfter: 1700003600, createdBefore: 1700010000 }")).to.deep.equal([3, 4, 5]);
      expect(await ids(`{ client: "${C2}", state: SETTLED }`)).to.deep.equal([2, 7]);
    });

    it("carries every field and resolves its links", async function () {
      const { job } = await api.data(`{ job(id: "2") {
        id gpuModel model { name vramGb } region gpus pricePerGpuHour price duration gpuHours cost escrow specHash state
        createdAt createdBlock acceptDeadline startedAt endedAt completedAt disputedAt finalizedAt endedEarly
        collateral claimed earned paid providerPaid refunded fee cancelFee slashed providerShareBps resultHash reasonHash
        offer { id provider { address } } client { id address jobs { totalCount } provider { address } }
        payer { address } provider { address jobsCompleted }
      } }`);
      expect(job).to.deep.equal({
        id: "2",
        gpuModel: H100,
        model: { name: H100, vramGb: 80 },
        region: "eu-west",
        gpus: 1,
        pricePerGpuHour: "2500000",
        price: "2500000",
        duration: 7200,
        gpuHours: 2,
        cost: "5000000",
        escrow: "5125000",
        specHash: "0x" + "2".padStart(64, "0"),
        state: "SETTLED",
        createdAt: 1700000100,
        createdBlock: 52,
        acceptDeadline: 1700001900,
        startedAt: 1700000160,
        endedAt: 1700007360,
        completedAt: 1700007360,
        disputedAt: null,
        finalizedAt: 1700100100,
        endedEarly: false,
        collateral: "1000000000000000000",
        claimed: "0",
        earned: "5000000",
        paid: "5000000",
        providerPaid: "5000000",
        refunded: "0",
        fee: "125000",
        cancelFee: "0",
        slashed: "0",
        providerShareBps: null,
        resultHash: "0x" + "ee".repeat(32),
        reasonHash: null,
        offer: { id: "1", provider: { address: P1 } },
        client: { id: C2, address: C2, jobs: { totalCount: 3 }, provider: null },
        payer: { address: SPONSOR },
        provider: { address: P1, jobsCompleted: 2 },
      });
    });

    it("resolves the links of a whole page", async function () {
      const { jobs } = await api.data("{ jobs(first: 10) { items { id provider { address } offer { id gpuModel } client { address } } } }");
      expect(jobs.items.map((j: any) => [j.id, j.provider.address, j.offer.id, j.client.address])).to.deep.equal([
        ["1", P1, "1", C1],
        ["2", P1, "1", C2],
        ["3", P2, "3", C1],
        ["4", P1, "5", C1],
        ["5", P1, "2", C2],
        ["6", P2, "3", C3],
        ["7", P1, "1", C2],
      ]);
      const { account } = await api.data(`{ account(id: "${P1}") { address provider { address } jobs { totalCount } } }`);
      expect(account).to.deep.equal({ address: P1, provider: { address: P1 }, jobs: { totalCount: 0 } });
    });
  });

  describe("protocol v2 facts", function () {
    it("serves terms, receipts, bonds, the time a provider went dark and its signs of life", async function () {
      const data = await api.data(`{
        terms { id publishedAt livenessTimeout disputeBondBps resolveWindow }
        running: job(id: "1") { state endsAt receiptedUntil darkSince bond resolveDeadline bondToProvider staleFinalized extensions terms { id livenessTimeout } earnedSoFar claimable secondsLeft }
        later: job(id: "4") { darkSince }
        settled: job(id: "2") { darkSince endsAt earnedSoFar claimable secondsLeft }
        provider(id: "${P1}") { lastHeartbeatAt jobsAccepted jobsDeclined jobsExpired jobsDark
          heartbeats { totalCount items { id at kind job { id } } } }
        other: provider(id: "${P2}") { lastHeartbeatAt heartbeats { totalCount } }
      }`);
      expect(data.terms).to.deep.equal([{ id: "1", publishedAt: 1699900000, livenessTimeout: 900, disputeBondBps: 500, resolveWindow: 604800 }]);
      expect(data.running).to.deep.equal({
        state: "RUNNING",
        endsAt: 1700003660,
        receiptedUntil: 1700000600,
        // Last sign of life 1700001000 + the 900 s liveness timeout, passed at the indexed block (1700090000).
        darkSince: 1700001900,
        bond: "0",
        resolveDeadline: null,
        bondToProvider: null,
        staleFinalized: false,
        extensions: 0,
        terms: { id: "1", livenessTimeout: 900 },
        // The whole hour is used by the indexed block; claims stop at the receipted 540 s (0.75 USDC) + the
        // collateral's worth (half the 5 USDC cost).
        earnedSoFar: "5000000",
        claimable: "3250000",
        secondsLeft: 0,
      });
      // Started after the provider's last heartbeat: dark from its start + the timeout.
      expect(data.later.darkSince).to.equal(1700007260 + 900);
      expect(data.settled).to.deep.equal({ darkSince: null, endsAt: 1700007360, earnedSoFar: "5000000", claimable: "0", secondsLeft: null });
      expect(data.provider).to.deep.equal({
        lastHeartbeatAt: 1700001000,
        jobsAccepted: 5,
        jobsDeclined: 0,
        jobsExpired: 0,
        jobsDark: 0,
        heartbeats: {
          totalCount: 2,
          items: [
            { id: "51-4", at: 1700000060, kind: "ACCEPT", job: { id: "1" } },
            { id: "60-0", at: 1700001000, kind: "HEARTBEAT", job: null },
          ],
        },
      });
      expect(data.other).to.deep.equal({ lastHeartbeatAt: null, heartbeats: { totalCount: 0 } });
      const { values } = await api.data('{ __type(name: "JobState") { values: enumValues { name } } }').then((d) => ({ values: d.__type.values }));
      expect(values.map((v: { name: string }) => v.name)).to.deep.equal(JOB_STATES);
    });
  });

  describe("bad input", function () {
    async function stillServing() {
      const { market } = await api.data("{ market { providers } }");
      expect(market.providers).to.equal(3);
    }

    it("names the unknown GPU model", async function () {
      const error = await api.error(`{ offers(where: { gpuModel: "B300" }) { totalCount } }`);
      expect(error.message).to.contain('unknown GPU model "B300"').and.contain("where.gpuModel");
      await stillServing();
    });

    it("refuses first above 1000 and below 0, naming first", async function () {
      const large = await api.error("{ jobs(first: 100000) { totalCount } }");
      expect(large.message).to.contain('"first"').and.contain("1000");
      expect(large.extensions?.code).to.equal("BAD_USER_INPUT");
      const negative = await api.error("{ offers(first: -1) { totalCount } }");
      expect(negative.message).to.contain('"first"');
      const nested = await api.error(`{ provider(id: "${P1}") { jobs(first: 5000) { totalCount } } }`);
      expect(nested.message).to.contain('"first"');
      await stillServing();
    });

    it("names the argument holding a malformed address", async function () {
      const byId = await api.error('{ provider(id: "0x12") { address } }');
      expect(byId.message).to.contain("malformed address").and.contain('"id"').and.contain("0x12");
      const inFilter = await api.error('{ jobs(where: { client: "0xzz11111111111111111111111111111111111111" }) { totalCount } }');
      expect(inFilter.message).to.contain("malformed address").and.contain('"where.client"');
      const inOffers = await api.error('{ offers(where: { provider: "nope" }) { totalCount } }');
      expect(inOffers.message).to.contain('"where.provider"');
      await stillServing();
    });

    it("refuses queries deeper than the limit", async function () {
      const deep = `{ job(id: "1") { offer { provider { offers { items { jobs { items { offer { provider { jobs { items {
        offer { provider { offers { items { id } } } } } } } } } } } } } } } }`;
      const error = await api.error(deep);
      expect(error.message).to.contain("depth").and.contain("limit");
      await stillServing();
    });

    it("refuses queries whose cost is over the limit, with literals or variables", async function () {
      const literal = await api.error("{ providers(first: 1000) { items { jobs(first: 1000) { items { offer { id } } } } } }");
      expect(literal.message).to.contain("cost");
      const variables = await api.error(
        "query($a: Int, $b: Int) { providers(first: $a) { items { offers(first: $b) { items { jobs(first: $b) { items { id } } } } } } }",
        { a: 1000, b: 1000 },
      );
      expect(variables.message).to.contain("cost");
      // A `first` that is no Int is refused by the variables' coercion, naming the variable, not priced at its value.
      for (const f of [1e300, 2.5]) {
        const notInt = await api.error("query($f: Int) { jobs(first: $f) { items { id } } }", { f });
        expect(notInt.message).to.contain('Variable "$f" got invalid value').and.contain("Int cannot represent");
      }
      const small = await api.data(
        "query($a: Int, $b: Int) { providers(first: $a) { items { offers(first: $b) { items { jobs(first: $b) { items { id } } } } } } }",
        { a: 2, b: 2 },
      );
      expect(small.providers.items).to.have.length(2);
    });

    it("refuses malformed BigInt, ids and cursors", async function () {
      const bigint = await api.error('{ offers(where: { maxPricePerGpuHour: "12abc" }) { totalCount } }');
      expect(bigint.message).to.contain("BigInt");
      const negative = await api.error("query($p: BigInt) { offers(where: { maxPricePerGpuHour: $p }) { totalCount } }", { p: "-5" });
      expect(negative.message).to.contain("BigInt");
      const id = await api.error('{ job(id: "abc") { id } }');
      expect(id.message).to.contain('"id"').and.contain("is not a decimal integer");
      // A decimal integer is refused for what is wrong with it, not as "not a decimal integer".
      expect((await api.error('{ job(id: "-1") { id } }')).message).to.contain('"-1" is negative');
      const huge = await api.error('{ offer(id: "99999999999999999999") { id } }');
      expect(huge.message).to.contain('"99999999999999999999" is out of range: ids have at most 15 digits');
      expect(huge.extensions?.argument).to.equal("id");
      const { job } = await api.data('{ job(id: "0001") { id } }');
      expect(job.id).to.equal("1");
      const cursor = await api.error('{ jobs(after: "not-a-cursor") { totalCount } }');
      expect(cursor.message).to.contain('"after"');
      const { jobs } = await api.data("{ jobs(first: 1, orderBy: PRICE) { pageInfo { endCursor } } }");
      const mixed = await api.error(`{ jobs(orderBy: ID, after: "${jobs.pageInfo.endCursor}") { totalCount } }`);
      expect(mixed.message).to.contain("PRICE");
      await stillServing();
    });

    it("refuses a request body over 1 MiB", async function () {
      const response = await fetch(`${server.url}/graphql`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ query: `{ market { providers } } # ${"x".repeat(2 * 1024 * 1024)}` }),
      });
      expect(response.status).to.equal(413);
      await stillServing();
    });

    it("masks unexpected failures", async function () {
      fixture.writer
        .prepare("INSERT INTO price_buckets (gpu_model, region, interval, start, jobs, gpu_seconds, notional) VALUES (?, '', 'HOUR', 0, 1, 3600, 'corrupt')")
        .run(modelId(RTX));
      try {
        const error = await api.error(`{ prices(gpuModel: "${RTX}") { vwap } }`);
        expect(error.message).to.equal("Unexpected error.");
        expect(JSON.stringify(error)).not.to.contain("corrupt");
      } finally {
        fixture.writer.prepare("DELETE FROM price_buckets WHERE start = 0").run();
      }
      await stillServing();
    });
  });

  describe("operations", function () {
    it("answers /health and /ready", async function () {
      const health = await fetch(`${server.url}/health`);
      expect(health.status).to.equal(200);
      expect(await health.json()).to.deep.equal({ status: "ok" });
      const ready = await fetch(`${server.url}/ready`);
      expect(ready.status).to.equal(200);
      expect(await ready.json()).to.include({ status: "ready", indexedBlock: 120, headBlock: 121, lagBlocks: 1 });
    });

    it("answers a path it does not serve with a JSON 404 that names it, without reading the body", async function () {
      const response = await fetch(`${server.url}/graphq1`, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
      expect(response.status).to.equal(404);
      expect(await response.json()).to.deep.equal({ errors: [{ message: "no such path /graphq1: GraphQL is served at /graphql" }] });
    });

    it("exposes Prometheus metrics of indexing and of the API", async function () {
      await api.data("{ market { providers } }");
      const response = await fetch(`${server.url}/metrics`);
      expect(response.status).to.equal(200);
      const text = await response.text();
      for (const line of [
        "gpumesh_indexed_block 120",
        "gpumesh_head_block 121",
        "gpumesh_events_ingested_total 345",
        "gpumesh_reorgs_total 2",
        "gpumesh_rpc_requests_total 10",
        "gpumesh_rpc_errors_total 1",
        "gpumesh_rpc_request_duration_seconds_sum 0.5",
        "gpumesh_rpc_request_duration_seconds_count 10",
      ]) {
        expect(text).to.contain(line + "\n");
      }
      expect(text).to.match(/gpumesh_graphql_requests_total\{code="200"\} \d+/);
      expect(text).to.match(/gpumesh_graphql_request_duration_seconds_bucket\{le="0.02"\} \d+/);
      expect(text).to.match(/gpumesh_graphql_errors_total\{phase="validation"\} \d+/);
    });

    it("serves GraphiQL to a browser", async function () {
      const response = await fetch(`${server.url}/graphql`, { headers: { accept: "text/html" } });
      expect(response.status).to.equal(200);
      const html = await response.text();
      expect(html).to.contain("GPU Mesh");
      // Self-contained: no script or stylesheet from a CDN, so it works offline.
      expect(html).not.to.match(/(src|href)=["']?https?:/);
    });

    it("is not ready while far behind the head or before the first block", async function () {
      const behind = createGraphqlApp({ db: reader, status: () => ({ headBlock: 500, confirmations: 2 }), logger: silentLogger() });
      const behindServer = await createServer({ app: behind, port: 0 });
      const empty = createMigratedDatabase(":memory:");
      try {
        const response = await fetch(`${behindServer.url}/ready`);
        expect(response.status).to.equal(503);
        expect(await response.json()).to.include({ status: "syncing", lagBlocks: 380 });

        const fresh = createGraphqlApp({ db: empty, logger: silentLogger(), chainId: 8453 });
        const freshServer = await createServer({ app: fresh, port: 0 });
        try {
          expect((await fetch(`${freshServer.url}/ready`)).status).to.equal(503);
          const meta = await client(freshServer.url).data("{ _meta { chainId block { number hash } headBlock lagBlocks } market { utilization } capacity { gpuModel } }");
          expect(meta).to.deep.equal({
            _meta: { chainId: 8453, block: { number: 0, hash: "0x" + "0".repeat(64) }, headBlock: null, lagBlocks: null },
            market: { utilization: 0 },
            capacity: [],
          });
        } finally {
          await freshServer.close();
        }
      } finally {
        await behindServer.close();
        empty.close();
      }
    });
  });
});

describe("GraphQL API on a migrated but empty store", function () {
  it("answers every list empty", async function () {
    const db = createMigratedDatabase(":memory:");
    const server = await createServer({ app: createGraphqlApp({ db, logger: silentLogger() }), port: 0 });
    try {
      const data = await client(server.url).data(
        "{ gpuModels { name } providers { totalCount items { id } pageInfo { hasNextPage endCursor } } offers { totalCount } jobs { totalCount } }",
      );
      expect(data).to.deep.equal({
        gpuModels: [],
        providers: { totalCount: 0, items: [], pageInfo: { hasNextPage: false, endCursor: null } },
        offers: { totalCount: 0 },
        jobs: { totalCount: 0 },
      });
    } finally {
      await server.close();
      db.close();
    }
  });
});

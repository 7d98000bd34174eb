import { Writable } from "node:stream";
import { expect } from "chai";
import pino from "pino";
import { classifyRpcError, createChainClient, RpcError } from "../../src/chain/client";
import { openStore, type Store } from "../../src/store/db";
import { createIndexer } from "../../src/sync/indexer";
import { freePort, startAnvil, type Anvil } from "./helpers/anvil";
import { dumpTables } from "./helpers/dump";
import { generateActivity } from "./helpers/load";
import { setUpMarket, type MarketSession } from "./helpers/market";
import { startFaultProxy, type FaultProxy } from "./helpers/proxy";
import { syncToHead } from "./helpers/sync";

describe("indexer: RPC failures", function () {
  let anvil: Anvil;
  let m: MarketSession;
  let reference: ReturnType<typeof dumpTables>;
  let proxy: FaultProxy | undefined;
  let store: Store | undefined;

  before(async function () {
    anvil = await startAnvil();
    m = await setUpMarket(anvil.url);
    await generateActivity(m, 20);
    const direct = openStore({ file: ":memory:" });
    await createIndexer({ rpcUrls: [anvil.url], deployment: m.deployment, store: direct }).syncOnce();
    reference = dumpTables(direct.db);
    direct.close();
  });

  afterEach(async function () {
    await proxy?.close();
    proxy = undefined;
    store?.close();
    store = undefined;
  });

  after(async function () {
    await anvil?.stop();
  });

  it("completes through refused ranges, 429s, 503s, dropped connections and late answers with the same tables", async function () {
    proxy = await startFaultProxy(anvil.url, {
      maxLogsRange: 7,
      rateLimitEvery: 5,
      unavailableEvery: 11,
      resetEvery: 13,
      slowEvery: 17,
      slowMs: 1500,
    });
    store = openStore({ file: ":memory:" });
    const status = await syncToHead({
      rpcUrls: [proxy.url],
      deployment: m.deployment,
      store,
      initialBlockRange: 64,
      requestTimeoutMs: 500,
      retryBaseDelayMs: 5,
      maxRetries: 8,
    });
    expect(dumpTables(store.db)).to.deep.equal(reference);
    expect(proxy.counts.rangeRefused, "ranges refused").to.be.greaterThan(0);
    expect(proxy.counts.rateLimited, "429s").to.be.greaterThan(0);
    expect(proxy.counts.unavailable + proxy.counts.reset, "503s and resets").to.be.greaterThan(0);
    expect(proxy.counts.slow, "late answers").to.be.greaterThan(0);
    expect(status.rpcErrorsByKind.range).to.be.greaterThan(0);
    expect(status.rpcErrorsByKind.rate_limit).to.be.greaterThan(0);
    expect(status.rpcErrorsByKind.transient).to.be.greaterThan(0);
    expect(status.rpcErrorsByKind.timeout).to.be.greaterThan(0);
    expect(status.rpcErrorsByKind.fatal).to.equal(0);
    expect(status.rpcErrors).to.equal(Object.values(status.rpcErrorsByKind).reduce((a, b) => a + b, 0));
  });

  it("falls back to the next URL when the first one is down", async function () {
    const deadUrl = `http://127.0.0.1:${await freePort()}`;
    store = openStore({ file: ":memory:" });
    const status = await syncToHead({ rpcUrls: [deadUrl, anvil.url], deployment: m.deployment, store, retryBaseDelayMs: 5 });
    expect(dumpTables(store.db)).to.deep.equal(reference);
    expect(status.rpcErrorsByKind.transient).to.be.greaterThan(0);
  });

  it("a lagging node reporting a lower head causes no rollback", async function () {
    store = openStore({ file: ":memory:" });
    await createIndexer({ rpcUrls: [anvil.url], deployment: m.deployment, store }).syncOnce();
    proxy = await startFaultProxy(anvil.url, { headLagBlocks: 30 });
    const lagging = createIndexer({ rpcUrls: [proxy.url], deployment: m.deployment, store });
    const result = await lagging.syncOnce();
    expect(result.nodeBehind).to.equal(true);
    expect(result.reorgDepth).to.equal(0);
    expect(dumpTables(store.db)).to.deep.equal(reference);
    expect((store.db.prepare("SELECT reorgs FROM checkpoint").get() as { reorgs: number }).reorgs).to.equal(0);
  });

  it("does not retry fatal errors, and keeps credentials out of messages and logs", async function () {
    proxy = await startFaultProxy(anvil.url);
    const secret = "k3yK3yK3yK3yK3yK3yK3yK3y";
    // The proxy answers any path; a 404 comes from anvil itself for paths it does not serve.
    const url = `http://127.0.0.1:${anvil.port}/v2/${secret}`;
    let logged = "";
    const logger = pino(
      { level: "debug" },
      new Writable({
        write(chunk, _encoding, done) {
          logged += chunk;
          done();
        },
      }),
    );
    store = openStore({ file: ":memory:" });
    const indexer = createIndexer({ rpcUrls: [url], deployment: m.deployment, store, logger, retryBaseDelayMs: 5 });
    let failure: unknown;
    await indexer.start().catch((error) => (failure = error));
    expect(failure).to.be.instanceOf(RpcError);
    expect((failure as RpcError).kind).to.equal("fatal");
    expect(indexer.status.snapshot().rpcRequests).to.equal(1);
    expect((failure as Error).message).to.not.include(secret);
    expect(logged).to.not.include(secret);
    expect(logged).to.include("/v2/***");
  });

  it("classifies node errors as providers word them", async function () {
    const rpc = (code: number, message: string) => Object.assign(new Error(message), { code, details: message });
    const http = (status: number, details = "") => Object.assign(new Error("HTTP request failed."), { status, details });
    expect(classifyRpcError(rpc(-32005, "query returned more than 10000 results"))).to.equal("range");
    expect(classifyRpcError(rpc(-32602, "Log response size exceeded. You can make eth_getLogs requests with up to a 2K block range"))).to.equal("range");
    expect(classifyRpcError(rpc(-32000, "block range is too wide"))).to.equal("range");
    expect(classifyRpcError(rpc(-32614, "eth_getLogs is limited to a 10,000 range"))).to.equal("range");
    expect(classifyRpcError(http(413))).to.equal("range");
    expect(classifyRpcError(http(429, "Too Many Requests"))).to.equal("rate_limit");
    expect(classifyRpcError(rpc(-32005, "daily request count exceeded, request rate limited"))).to.equal("rate_limit");
    expect(classifyRpcError(rpc(-32007, "100/second request limit reached - reduce calls per second"))).to.equal("rate_limit");
    expect(classifyRpcError(Object.assign(new Error("The request took too long to respond."), { name: "TimeoutError" }))).to.equal("timeout");
    expect(classifyRpcError(http(503, "Service Unavailable"))).to.equal("transient");
    expect(classifyRpcError(http(502))).to.equal("transient");
    expect(classifyRpcError(Object.assign(new Error("HTTP request failed."), { cause: new Error("fetch failed") }))).to.equal("transient");
    expect(classifyRpcError(rpc(-32000, "header not found"))).to.equal("transient");
    expect(classifyRpcError(rpc(-32603, "internal error"))).to.equal("transient");
    expect(classifyRpcError(http(401, "Unauthorized"))).to.equal("fatal");
    expect(classifyRpcError(http(403, "Forbidden"))).to.equal("fatal");
    expect(classifyRpcError(rpc(-32601, "the method eth_foo does not exist/is not available"))).to.equal("fatal");
    expect(classifyRpcError(rpc(-32602, "invalid argument 0: hex string without 0x prefix"))).to.equal("fatal");
  });

  it("backs off exponentially with jitter, only for retryable errors", async function () {
    proxy = await startFaultProxy(anvil.url, { unavailableEvery: 1 });
    const delays: number[] = [];
    const client = createChainClient({
      rpcUrls: [proxy.url],
      maxRetries: 4,
      retryBaseDelayMs: 100,
      random: () => 1,
      sleep: async (ms) => {
        delays.push(ms);
      },
    });
    let failure: unknown;
    await client.getBlockNumber().catch((error) => (failure = error));
    expect((failure as RpcError).kind).to.equal("transient");
    expect(delays).to.deep.equal([100, 200, 400, 800]);
    expect(proxy.counts.requests).to.equal(5);
  });
});

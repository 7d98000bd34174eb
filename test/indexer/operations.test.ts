import { Writable } from "node:stream";
import { expect } from "chai";
import pino from "pino";
import { Registry } from "prom-client";
import type { IndexerStatus as ApiIndexerStatus } from "../../src/graphql/app";
import { openStore, type Store } from "../../src/store/db";
import { createIndexer } from "../../src/sync/indexer";
import { resolveSyncOptions } from "../../src/sync/options";
import { createIndexerStatus, isCaughtUp, registerIndexerMetrics } from "../../src/sync/status";
import { startAnvil, type Anvil } from "./helpers/anvil";
import { H100, MESH, USDC, setUpMarket, type MarketSession } from "./helpers/market";

describe("indexer: following the head, watchdog, status and metrics", function () {
  let anvil: Anvil;
  let m: MarketSession;
  let store: Store;

  before(async function () {
    anvil = await startAnvil();
    m = await setUpMarket(anvil.url);
    const [, provider, , , client] = m.accounts;
    await m.registerProvider(provider, 1_000n * MESH);
    await m.fund(client, { usdc: 1_000n * USDC });
    const now = await m.latestTimestamp();
    const offer = await m.createOffer(provider, { gpuModel: H100, gpus: 4, pricePerGpuHour: 2_000_000n, region: "eu-west", expiresAt: now + 86400 });
    await m.createJob(client, offer, 1, 3600);
    store = openStore({ file: ":memory:" });
  });

  after(async function () {
    store?.close();
    await anvil?.stop();
  });

  it("follows new blocks in realtime, recreates RPC clients when the head stalls, and stops on request", async function () {
    let logged = "";
    const logger = pino(
      { level: "info" },
      new Writable({
        write(chunk, _encoding, done) {
          logged += chunk;
          done();
        },
      }),
    );
    const status = createIndexerStatus(m.deployment.chainId);
    const indexer = createIndexer({ rpcUrls: [anvil.url], deployment: m.deployment, store, logger, status, pollIntervalMs: 20, stallPolls: 3 });
    const running = indexer.start();
    const waitFor = async (condition: () => boolean) => {
      for (let i = 0; i < 500 && !condition(); i++) await new Promise((resolve) => setTimeout(resolve, 10));
      expect(condition()).to.equal(true);
    };
    await waitFor(() => status.snapshot().phase === "realtime");
    expect(isCaughtUp(status.snapshot())).to.equal(true);
    // No new blocks: after three polls at the same head the watchdog steps in.
    await waitFor(() => logged.includes("rpc clients recreated"));
    const [, provider] = m.accounts;
    const receipt = await m.send(provider, "staking", "updateMetadata", ["https://provider.example/v2"]);
    await waitFor(() => (status.snapshot().indexedBlock ?? 0) >= Number(receipt.blockNumber));
    const row = store.db.prepare("SELECT metadata_uri FROM providers WHERE address = ?").get(provider.toLowerCase()) as { metadata_uri: string };
    expect(row.metadata_uri).to.equal("https://provider.example/v2");
    await indexer.stop();
    await running;
    expect(status.snapshot().phase).to.equal("stopped");
  });

  it("keeps its RPC clients on a dev chain whose head stands still: it mines only when sent a transaction", async function () {
    let logged = "";
    const logger = pino({ level: "info" }, new Writable({ write: (chunk, _encoding, done) => ((logged += chunk), done()) }));
    const status = createIndexerStatus(m.deployment.chainId);
    // The chain's defaults (31337: no watchdog), polled fast: 40 polls at one head, past any watchdog's 30.
    const indexer = createIndexer({ rpcUrls: [anvil.url], deployment: m.deployment, store, logger, status, pollIntervalMs: 20 });
    expect(indexer.options.stallPolls).to.equal(null);
    expect(resolveSyncOptions(1, {}).stallPolls).to.equal(30);
    const running = indexer.start();
    const head = Number(await m.publicClient.getBlockNumber());
    for (let i = 0; i < 1000 && !(status.snapshot().rpcRequests >= 80 && status.snapshot().phase === "realtime"); i++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const polled = status.snapshot().rpcRequests;
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect(status.snapshot().rpcRequests - polled).to.be.greaterThan(60);
    expect(Number(await m.publicClient.getBlockNumber())).to.equal(head);
    expect(logged).to.not.include("rpc clients recreated");
    await indexer.stop();
    await running;
  });

  it("exposes a status the GraphQL app accepts, and Prometheus metrics", async function () {
    const status = createIndexerStatus(m.deployment.chainId);
    const indexer = createIndexer({ rpcUrls: [anvil.url], deployment: m.deployment, store, status });
    await indexer.syncOnce();
    const snapshot = status.snapshot();
    const forApi: ApiIndexerStatus = snapshot;
    expect(forApi.headBlock).to.equal(snapshot.indexedBlock);
    expect(snapshot.eventsIngested).to.be.greaterThan(0);
    expect(snapshot.rpcLatencySeconds.count).to.equal(snapshot.rpcRequests);

    const registry = new Registry();
    registerIndexerMetrics(registry, status);
    await indexer.syncOnce();
    const text = await registry.metrics();
    expect(text).to.match(new RegExp(`gpumesh_indexer_indexed_block ${snapshot.indexedBlock}`));
    expect(text).to.match(/gpumesh_indexer_head_block \d+/);
    expect(text).to.match(new RegExp(`gpumesh_indexer_events_ingested_total ${snapshot.eventsIngested}`));
    expect(text).to.match(/gpumesh_indexer_rpc_request_duration_seconds_count\{method="eth_blockNumber"\} [1-9]/);
    expect(text).to.match(/gpumesh_indexer_reorgs_total 0/);
  });
});

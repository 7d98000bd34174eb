import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { Address } from "viem";
import { silentLogger } from "../../../src/internal/logger";
import { startIndexAndServe, type IndexAndServe } from "../../../src/service";
import { WEB_BUILD_DIR } from "../../../src/web/static";
import { startAnvil, type Anvil } from "../../indexer/helpers/anvil";
import { A100, H100, MESH, USDC, setUpMarket, type MarketSession } from "../../indexer/helpers/market";

export interface WebMarket {
  anvil: Anvil;
  m: MarketSession;
  service: IndexAndServe;
  /** http://127.0.0.1:<port>: the web app at /, GraphQL at /graphql. */
  url: string;
  providers: Address[];
  clients: Address[];
  offers: bigint[];
  jobs: bigint[];
  /** Resolves once the API has indexed the chain's head. */
  caughtUp(): Promise<void>;
  query<T = any>(text: string, variables?: Record<string, unknown>): Promise<T>;
  stop(): Promise<void>;
}

/**
 * A real chain (anvil) with GPU Mesh deployed and a small market on it (two providers, offers of two models in two
 * regions, jobs running, completed and declined over a few hours), indexed and served with the web app by
 * the same process `gpumesh run` uses.
 */
export async function startWebMarket(): Promise<WebMarket> {
  if (!fs.existsSync(path.join(WEB_BUILD_DIR, "index.html"))) throw new Error(`no web build in ${WEB_BUILD_DIR}: run \`npm run build:web\``);
  const anvil = await startAnvil();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "gpumesh-web-"));
  let service: IndexAndServe | undefined;
  try {
    const m = await setUpMarket(anvil.url, { dir });
    const [, p1, p2, , c1, c2] = m.accounts;
    await m.registerProvider(p1, 100_000n * MESH);
    await m.registerProvider(p2, 100_000n * MESH);
    for (const client of [c1, c2]) await m.fund(client, { usdc: 1_000_000n * USDC });
    const now = await m.latestTimestamp();
    const year = now + 365 * 86400;
    const offers = [
      // Carbon intensity and renewable share differ between the offers: the energy view and filters have something to show.
      await m.createOffer(p1, { gpuModel: H100, gpus: 16, pricePerGpuHour: 2_450_000n, region: "eu-west", expiresAt: year, carbonIntensity: 60, renewableBps: 8000 }),
      await m.createOffer(p2, { gpuModel: H100, gpus: 8, pricePerGpuHour: 2_100_000n, region: "us-east", expiresAt: year, carbonIntensity: 380, renewableBps: 2000 }),
      await m.createOffer(p2, { gpuModel: A100, gpus: 32, pricePerGpuHour: 1_300_000n, region: "us-east", expiresAt: year, renewableBps: 9000 }),
    ];
    const jobs: bigint[] = [];
    const plan: Array<[number, Address, number, "complete" | "run" | "decline"]> = [
      [0, c1, 2, "complete"],
      [1, c2, 4, "complete"],
      [2, c1, 8, "run"],
      [0, c2, 1, "decline"],
      [1, c1, 2, "run"],
    ];
    for (const [which, client, gpus, fate] of plan) {
      const provider = which === 0 ? p1 : p2;
      const job = await m.createJob(client, offers[which]!, gpus, 2 * 3600);
      jobs.push(job);
      if (fate === "decline") {
        await m.send(provider, "market", "declineJob", [job, `0x${"11".repeat(32)}`]);
      } else {
        await m.send(provider, "market", "acceptJob", [job]);
        if (fate === "complete") await m.send(provider, "market", "completeJob", [job, `0x${"22".repeat(32)}`]);
      }
      // Jobs an hour and a half apart: the hour candles get several buckets.
      await m.increaseTime(5400);
      await m.send(p1, "market", "heartbeat", []);
      await m.send(p2, "market", "heartbeat", []);
    }
    // A reprice: the ask floor moves.
    await m.send(p1, "market", "updateOffer", [offers[0]!, 16, 2_300_000n, year]);

    service = await startIndexAndServe({
      rpcUrls: [anvil.url],
      deployment: m.deployment,
      dbFile: path.join(dir, "index.db"),
      host: "127.0.0.1",
      port: 0,
      logger: silentLogger(),
      confirmations: 0,
      pollIntervalMs: 100,
    });
    const url = service.server.url;
    const query = async <T>(text: string, variables?: Record<string, unknown>): Promise<T> => {
      const response = await fetch(`${url}/graphql`, {
        method: "POST",
        headers: { "content-type": "application/json", accept: "application/json" },
        body: JSON.stringify({ query: text, variables }),
      });
      const body = (await response.json()) as { data?: T; errors?: unknown[] };
      if (body.errors) throw new Error(JSON.stringify(body.errors));
      return body.data!;
    };
    const caughtUp = async () => {
      const started = Date.now();
      for (;;) {
        const head = Number(await m.publicClient.getBlockNumber());
        const indexed = (await query<{ _meta: { block: { number: number } } }>("{ _meta { block { number } } }"))._meta.block.number;
        if (indexed >= head) return;
        if (Date.now() - started > 60_000) throw new Error(`the indexer stayed at block ${indexed} of ${head}`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    };
    await caughtUp();
    const running = service;
    return {
      anvil,
      m,
      service: running,
      url,
      providers: [p1, p2],
      clients: [c1, c2],
      offers,
      jobs,
      caughtUp,
      query,
      async stop() {
        await running.stop();
        await anvil.stop();
        fs.rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await service?.stop().catch(() => undefined);
    await anvil.stop();
    throw error;
  }
}

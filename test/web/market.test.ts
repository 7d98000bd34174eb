import http from "node:http";
import { expect } from "chai";
import type { Browser } from "playwright-core";
import { formatBps } from "../../src/protocol/units";
import { H100, MESH } from "../indexer/helpers/market";
import { expectNoProblems, figureLayouts, horizontalOverflow, launchBrowser, openPage, readmeScreenshot, screenshot, VIEWPORTS, type ViewportName, type WatchedPage } from "./helpers/browser";
import { seriousAxeViolations } from "./helpers/audit";
import { startWebMarket, type WebMarket } from "./helpers/market";

/**
 * The market pages in a real browser (Debian chromium) against a real chain and the indexer's API, served by the
 * same process: figures agree with the API, filters and sorting ask the API, figures move without a reload, each page
 * renders at desktop and phone width without sideways overflow, and no page logs an error.
 */
describe("web app: market pages against a real chain", function () {
  let market: WebMarket;
  let browser: Browser;
  let watched: WatchedPage | undefined;

  before(async function () {
    market = await startWebMarket();
    browser = await launchBrowser();
  });

  after(async function () {
    await browser?.close();
    await market?.stop();
  });

  afterEach(async function () {
    const current = watched;
    watched = undefined;
    if (current) {
      await current.close();
      expectNoProblems(current);
    }
  });

  async function open(path: string, viewport: ViewportName = "desktop") {
    watched = await openPage(browser, viewport);
    await watched.page.goto(`${market.url}${path}`);
    return watched.page;
  }

  it("serves the app at / beside /graphql, with its assets, the SPA fallback and no way out of the build folder", async function () {
    const home = await fetch(`${market.url}/`);
    expect(home.status).to.equal(200);
    expect(home.headers.get("content-type")).to.match(/^text\/html/);
    const html = await home.text();
    const script = /src="(\/assets\/[^"]+\.js)"/.exec(html)?.[1];
    expect(script, html).to.be.a("string");
    const asset = await fetch(`${market.url}${script}`);
    expect(asset.headers.get("content-type")).to.match(/^text\/javascript/);
    expect(asset.headers.get("cache-control")).to.contain("immutable");
    expect(asset.headers.get("content-encoding")).to.equal("gzip");
    const plain = await fetch(`${market.url}${script}`, { headers: { "accept-encoding": "identity" } });
    expect(plain.headers.get("content-encoding")).to.equal(null);
    expect(await plain.text()).to.equal(await asset.text());
    const deep = await fetch(`${market.url}/offers/1`);
    expect(deep.status).to.equal(200);
    expect(await deep.text()).to.equal(html);
    // Sent as written (fetch would normalize the dots away before they reach the server).
    const raw = (path: string) =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        const request = http.get({ host: "127.0.0.1", port: market.service.server.port, path }, (response) => {
          let body = "";
          response.on("data", (chunk) => (body += chunk));
          response.on("end", () => resolve({ status: response.statusCode!, body }));
        });
        request.once("error", reject);
      });
    for (const escape of [
      "/../package.json",
      "/assets/../../../package.json",
      "/%2e%2e/%2e%2e/package.json",
      "/..%2f..%2f..%2fpackage.json",
      "/assets/%2e%2e%5c%2e%2e%5c%2e%2e%5cpackage.json",
      "/%00index.html",
      "/assets/missing.js",
    ]) {
      const response = await raw(escape);
      expect(response.status, escape).to.equal(404);
      expect(response.body, escape).not.to.contain('"name"');
    }
    // Page-like paths that climb out get the app's page, never a file from outside.
    const climb = await raw("/../../../../etc/passwd");
    expect(climb.body).to.equal(html);
    const config = (await (await fetch(`${market.url}/web-config.json`)).json()) as any;
    expect(config.deployment.contracts.JobMarket.address).to.equal(market.m.deployment.contracts.JobMarket.address);
    expect(config.deployment.tokens.payment.decimals).to.equal(6);
    const graphql = await market.query("{ _meta { chainId } }");
    expect(graphql._meta.chainId).to.equal(31337);
    expect((await fetch(`${market.url}/health`)).status).to.equal(200);
  });

  for (const viewport of Object.keys(VIEWPORTS) as ViewportName[]) {
    it(`renders the market page with the API's figures (${viewport})`, async function () {
      const page = await open("/", viewport);
      const { market: stats, capacity, offers } = await market.query(
        "{ market { gpusOffered gpusLeased utilization volume gpusRentable } capacity(groupBy: GPU_MODEL) { gpuModel gpusOffered gpusRentable } offers(where: { state: OPEN }, orderBy: PRICE) { items { gpusRentable } } }",
      );
      await page.getByTestId("gpus-offered").getByText(String(stats.gpusOffered), { exact: true }).waitFor();
      // Rentable GPUs: the market's figure in the headline, per bucket and per offer in the tables.
      const rentable = capacity.map((bucket: { gpusRentable: number }) => bucket.gpusRentable);
      expect(rentable.every((value: unknown) => typeof value === "number")).to.equal(true);
      expect(await page.getByTestId("gpus-rentable").locator(".figure-value").textContent()).to.equal(stats.gpusRentable.toLocaleString("en-US"));
      expect(await page.getByTestId("capacity-rentable").allTextContents()).to.deep.equal(rentable.map(String));
      await page.getByTestId("offer-rentable").first().waitFor();
      expect(await page.getByTestId("offer-rentable").allTextContents()).to.deep.equal(offers.items.map((offer: { gpusRentable: number }) => String(offer.gpusRentable)));
      expect(await page.getByTestId("gpus-leased").textContent()).to.contain(String(stats.gpusLeased));
      expect(await page.getByTestId("utilization").textContent()).to.contain(`${(stats.utilization * 100).toFixed(1)}%`);
      // Exact amounts from bigint base units, as the CLI prints them.
      const volume = BigInt(stats.volume);
      expect(await page.getByTestId("volume").textContent()).to.contain(`${volume / 1_000_000n}.${(volume % 1_000_000n).toString().padStart(6, "0").replace(/0+$/, "").padEnd(2, "0")} USDC`);
      expect(await page.getByTestId("jobs-by-state").textContent()).to.match(/running\s*2/).and.match(/declined\s*1/);
      const capacityRows = page.getByTestId("capacity-table").locator("tbody tr");
      expect(await capacityRows.count()).to.equal(capacity.length);
      expect(await page.getByTestId("capacity-table").textContent()).to.contain("H100-SXM-80GB").and.contain("A100-SXM-80GB");
      // The candles are drawn on canvases once the chart chunk is in.
      await page.getByTestId("price-chart").locator("canvas").first().waitFor();
      await page.getByTestId("utilization-chart").locator("canvas").first().waitFor();
      expect(await page.getByTestId("price-summary").textContent()).to.match(/with jobs; last close \d+\.\d{2} USDC/);
      expect(await page.getByTestId("offer-row").count()).to.equal(3);
      expect(await horizontalOverflow(page)).to.equal(0);
      // A headline figure never breaks inside its number nor spills out of its box; at desktop width number and unit
      // ("57.195 USDC") read on one line.
      const figures = await figureLayouts(page);
      expect(figures.length).to.be.greaterThan(8);
      for (const figure of figures) {
        expect(figure, JSON.stringify(figure)).to.include({ numberLines: 1, overflowPx: 0 });
        if (viewport === "desktop") expect(figure.lines, JSON.stringify(figure)).to.equal(1);
      }
      await screenshot(page, "market", viewport);
      if (viewport === "desktop") await readmeScreenshot(page, "market");
      expect(await seriousAxeViolations(page)).to.deep.equal([]);
    });
  }

  it("filters and sorts offers through the API", async function () {
    const page = await open("/");
    const rows = page.getByTestId("offer-row");
    await rows.first().waitFor();
    const prices = async () => (await page.getByTestId("offer-price").allTextContents()).map((text) => text.trim());
    expect(await prices()).to.deep.equal(["1.30 USDC", "2.10 USDC", "2.30 USDC"]);
    await page.getByRole("button", { name: /Price per GPU-h/ }).click();
    await page.waitForFunction(() => (globalThis as any).document.querySelector('[data-testid="offer-price"]')?.textContent === "2.30 USDC");
    expect(await prices()).to.deep.equal(["2.30 USDC", "2.10 USDC", "1.30 USDC"]);
    await page.getByLabel("Model").last().selectOption("H100-SXM-80GB");
    await page.getByTestId("offers-count").getByText("2 of 2 offers").waitFor();
    await page.getByLabel(/Max price/).fill("2.2");
    await page.getByTestId("offers-count").getByText("1 of 1 offers").waitFor();
    expect(await prices()).to.deep.equal(["2.10 USDC"]);
    await page.getByLabel(/Max price/).fill("2.1234567");
    await page.getByRole("alert").getByText(/more than 6 decimals/).waitFor();
  });

  it("shows the energy view: each open offer's price against its carbon intensity, the API's GPU-weighted averages and emissions, at both widths", async function () {
    const { market: stats, capacity, offers } = await market.query(
      "{ market { estimatedEmissionsKg } capacity(groupBy: GPU_MODEL) { gpuModel avgCarbonIntensity avgRenewableBps } offers(where: { state: OPEN }, first: 1000) { items { id carbonIntensity pricePerGpuHour } } }",
    );
    for (const viewport of Object.keys(VIEWPORTS) as ViewportName[]) {
      const page = await open("/", viewport);
      const points = page.getByTestId("energy-point");
      await points.nth(offers.items.length - 1).waitFor();
      const plotted = await points.evaluateAll((circles) => circles.map((circle) => [circle.getAttribute("data-offer"), circle.getAttribute("data-carbon"), circle.getAttribute("data-price")].join()));
      expect(plotted.sort()).to.deep.equal(offers.items.map((offer: any) => [offer.id, offer.carbonIntensity, offer.pricePerGpuHour].join()).sort());
      expect(await page.getByTestId("energy-carbon").allTextContents()).to.deep.equal(capacity.map((bucket: any) => `${bucket.avgCarbonIntensity.toFixed(0)} g/kWh`));
      expect(await page.getByTestId("energy-renewable").allTextContents()).to.deep.equal(capacity.map((bucket: any) => formatBps(Math.round(bucket.avgRenewableBps))));
      // The two H100 offers: (16 x 60 + 8 x 380) / 24 gCO2e/kWh and (16 x 80% + 8 x 20%) / 24 renewable.
      const h100 = capacity.find((bucket: any) => bucket.gpuModel === "H100-SXM-80GB");
      expect([h100.avgCarbonIntensity, h100.avgRenewableBps]).to.deep.equal([(16 * 60 + 8 * 380) / 24, 6000]);
      expect(await page.getByTestId("emissions").locator(".figure-value").textContent()).to.equal(`${stats.estimatedEmissionsKg.toFixed(1)} kg CO2e`);
      expect(await horizontalOverflow(page)).to.equal(0);
      await page.getByTestId("energy-scatter").screenshot({ path: (await screenshot(page, "market-energy", viewport)).replace(/\.png$/, "-scatter.png") });
      expect(await seriousAxeViolations(page)).to.deep.equal([]);
      const current = watched!;
      watched = undefined;
      await current.close();
      expectNoProblems(current);
    }
  });

  it("filters offers by max carbon intensity and min renewable share and sorts them by either, through the API", async function () {
    const page = await open("/");
    await page.getByTestId("offer-row").nth(2).waitFor();
    const column = (testId: string) => page.getByTestId(testId).allTextContents();
    const until = (testId: string, expected: string[]) =>
      page.waitForFunction(
        ([id, joined]) => [...(globalThis as any).document.querySelectorAll(`[data-testid="${id}"]`)].map((cell: any) => cell.textContent).join() === joined,
        [testId, expected.join()] as const,
      );
    await page.getByRole("button", { name: /gCO2e\/kWh/ }).click();
    await until("offer-carbon", ["60", "120", "380"]);
    await page.getByRole("button", { name: /gCO2e\/kWh/ }).click();
    await until("offer-carbon", ["380", "120", "60"]);
    await page.getByRole("button", { name: /^Renewable/ }).click();
    await until("offer-renewable", ["20%", "80%", "90%"]);
    await page.getByLabel(/Max carbon/).fill("200");
    await until("offer-carbon", ["60", "120"]);
    await page.getByLabel(/Min renewable/).fill("85");
    await until("offer-carbon", ["120"]);
    expect(await column("offer-renewable")).to.deep.equal(["90%"]);
    await page.getByLabel(/Max carbon/).fill("");
    await page.getByLabel(/Min renewable/).fill("80%");
    await until("offer-renewable", ["80%", "90%"]);
    await page.getByLabel(/Min renewable/).fill("150");
    await page.getByRole("alert").getByText(/not a percentage from 0 to 100/).waitFor();
    await page.getByLabel(/Max carbon/).fill("low");
    await page.getByRole("alert").getByText(/not a whole number of gCO2e per kWh/).waitFor();
  });

  it("filters offers by their provider's reliability, through the API", async function () {
    const page = await open("/");
    await page.getByTestId("offer-row").first().waitFor();
    const { providers } = await market.query("{ providers(orderBy: RELIABILITY, orderDirection: DESC) { items { reliability } } }");
    // The best provider's score: the offers of the others (if they score less) leave the table.
    const best = providers.items[0].reliability as number;
    const { offers } = await market.query(`{ offers(where: { state: OPEN, minProviderReliability: ${best} }, orderBy: PRICE) { items { id } } }`);
    await page.getByLabel(/Min provider reliability/).fill(String(best));
    await page.waitForFunction(
      (expected) => [...(globalThis as any).document.querySelectorAll('[data-testid="offer-row"] th a')].map((a: any) => a.textContent).join() === expected,
      offers.items.map((offer: { id: string }) => `#${offer.id}`).join(),
    );
    await page.getByLabel(/Min provider reliability/).fill("1.5");
    await page.getByRole("alert").getByText(/not a score from 0 to 1/).waitFor();
  });

  it("draws utilization over time by hour and by day, its last point the API's", async function () {
    const page = await open("/");
    await page.getByTestId("utilization-chart").locator("canvas").first().waitFor();
    for (const [interval, unit] of [["HOUR", "hour"], ["DAY", "day"]] as const) {
      await page.getByRole("group", { name: "Utilization interval" }).getByRole("button", { name: unit, exact: true }).click();
      const points = (await market.query(`{ utilization(interval: ${interval}) { start end gpuHoursOffered gpuHoursLeased utilization } }`)).utilization;
      expect(points.length).to.be.above(0);
      const last = points.at(-1);
      // The market's jobs lease GPUs over several hours: the last hour is partly leased, not empty.
      expect(last.gpuHoursLeased).to.be.above(0);
      const expected =
        `${points.length} ${unit}s with GPUs offered; this ${unit} so far (up to the indexed block): ${(last.utilization * 100).toFixed(1)}% leased, ` +
        `${last.gpuHoursLeased.toFixed(1)} of ${last.gpuHoursOffered.toFixed(1)} GPU-hours`;
      await page.getByTestId("utilization-summary").getByText(expected, { exact: true }).waitFor();
    }
    expect(await horizontalOverflow(page)).to.equal(0);
  });

  it("moves the figures without a reload when the chain moves", async function () {
    const page = await open("/");
    const before = (await market.query("{ market { gpusOffered } }")).market.gpusOffered as number;
    await page.getByTestId("gpus-offered").getByText(String(before), { exact: true }).waitFor();
    const marker = await page.evaluate(() => ((globalThis as any).__notReloaded = true));
    const [p1] = market.providers;
    const now = await market.m.latestTimestamp();
    await market.m.createOffer(p1!, { gpuModel: H100, gpus: 5, pricePerGpuHour: 1_999_999n, region: "ap-south", expiresAt: now + 86400 });
    await page.getByTestId("gpus-offered").getByText(String(before + 5), { exact: true }).waitFor({ timeout: 20_000 });
    expect(await page.evaluate(() => (globalThis as any).__notReloaded)).to.equal(marker);
    await page.getByTestId("offer-row").nth(3).waitFor();
  });

  it("ranks providers by reliability with uptime, completion rate and time to accept, filters and re-ranks them, at both widths", async function () {
    const ranked = (
      await market.query(
        "{ providers(orderBy: RELIABILITY, orderDirection: DESC) { items { id jobsAccepted jobsCompleted reliability completionRate medianSecondsToAccept uptime(window: 86400) } } }",
      )
    ).providers.items;
    expect(ranked.length).to.equal(2);
    // Two providers may register within the same second: the API's order (ties by address) is the truth.
    const byRegistration = (await market.query("{ providers(orderBy: REGISTERED_AT, orderDirection: ASC) { items { id } } }")).providers.items;
    for (const viewport of Object.keys(VIEWPORTS) as ViewportName[]) {
      const page = await open("/", viewport);
      await page.getByRole("link", { name: "Providers", exact: true }).click();
      await page.getByTestId("provider-row").nth(ranked.length - 1).waitFor();
      const links = await page.getByTestId("provider-row").getByRole("link").evaluateAll((anchors) => anchors.map((anchor) => (anchor as any).title));
      expect(links).to.deep.equal(ranked.map((provider: { id: string }) => provider.id));
      expect(await page.getByTestId("provider-row").first().textContent()).to.contain(`${ranked[0].jobsCompleted} / ${ranked[0].jobsAccepted}`);
      const column = (testId: string) => page.getByTestId(testId).allTextContents();
      expect(await column("provider-reliability")).to.deep.equal(ranked.map((provider: any) => provider.reliability.toFixed(3)));
      expect(await column("provider-uptime")).to.deep.equal(ranked.map((provider: any) => `${(provider.uptime * 100).toFixed(1)}%`));
      expect(await column("provider-completion")).to.deep.equal(ranked.map((provider: any) => `${(provider.completionRate * 100).toFixed(1)}%`));
      // Jobs here are accepted in the block after their creation: a second or a few.
      expect(await column("provider-accept")).to.deep.equal(ranked.map((provider: any) => `${provider.medianSecondsToAccept}s`));
      // The reliability filter asks the API: above the lower score only the better provider stays.
      const threshold = (ranked[0].reliability + ranked[1].reliability) / 2;
      const filtered = (await market.query(`{ providers(where: { minReliability: ${threshold} }) { items { id } } }`)).providers.items;
      await page.getByLabel(/Min reliability/).fill(threshold.toFixed(6));
      await page.waitForFunction((expected) => (globalThis as any).document.querySelectorAll('[data-testid="provider-row"]').length === expected, filtered.length);
      await page.getByLabel(/Min reliability/).fill("1.5");
      await page.getByRole("alert").getByText(/not a share between 0 and 1/).waitFor();
      await page.getByLabel(/Min reliability/).fill("");
      await page.getByTestId("provider-row").nth(ranked.length - 1).waitFor();
      await page.getByLabel("Rank by").selectOption("REGISTERED_AT");
      await page.waitForFunction(
        (expected) => [...(globalThis as any).document.querySelectorAll('[data-testid="provider-row"] a')].map((anchor: any) => anchor.title).join() === expected,
        byRegistration.map((provider: { id: string }) => provider.id).join(),
      );
      expect(await horizontalOverflow(page)).to.equal(0);
      await screenshot(page, "providers", viewport);
      const current = watched!;
      watched = undefined;
      await current.close();
      expectNoProblems(current);
    }
  });

  it("opens the pages of an offer, a provider and a job from the links, at both widths", async function () {
    for (const viewport of Object.keys(VIEWPORTS) as ViewportName[]) {
      const page = await open("/", viewport);
      await page.getByTestId("offer-row").first().waitFor();
      await page.getByRole("link", { name: `#${market.offers[2]}` }).click();
      await page.getByRole("heading", { name: `Offer #${market.offers[2]}` }).waitFor();
      expect(await page.getByTestId("offer-facts").textContent()).to.contain("A100-SXM-80GB").and.contain("1.30 USDC").and.contain("90%");
      await page.getByTestId("jobs-table").waitFor();
      expect(await horizontalOverflow(page)).to.equal(0);
      await screenshot(page, "offer", viewport);

      await page.getByRole("link", { name: `#${market.jobs[2]}` }).click();
      await page.getByRole("heading", { name: new RegExp(`Job #${market.jobs[2]}`) }).waitFor();
      const job = (await market.query(`{ job(id: "${market.jobs[2]}") { cost escrow } }`)).job;
      const money = (await page.getByTestId("job-money").textContent())!;
      const usdc = (value: string) => `${BigInt(value) / 1_000_000n}.${(BigInt(value) % 1_000_000n).toString().padStart(6, "0").replace(/0+$/, "").padEnd(2, "0")} USDC`;
      expect(money).to.contain(usdc(job.cost)).and.contain(usdc(job.escrow));
      expect(await page.getByTestId("job-timeline").textContent()).to.contain("created").and.contain("started");
      expect(await horizontalOverflow(page)).to.equal(0);
      await screenshot(page, "job", viewport);

      await page.getByRole("link", { name: market.providers[1]!.toLowerCase() }).first().click();
      await page.getByRole("heading", { name: /^Provider 0x/ }).waitFor();
      const record = (await market.query(`{ provider(id: "${market.providers[1]!.toLowerCase()}") { reliability uptime(window: 86400) completionRate medianSecondsToAccept } }`)).provider;
      const facts = (await page.getByTestId("provider-facts").textContent())!;
      expect(facts).to.contain("100000 MESH");
      expect(facts).to.contain(`Reliability (0..1)${record.reliability.toFixed(3)}`);
      expect(facts).to.contain(`Uptime, last 24 h${(record.uptime * 100).toFixed(1)}%`);
      expect(facts).to.contain(`Completion rate${(record.completionRate * 100).toFixed(1)}%`);
      expect(facts).to.contain(`Median time to accept${record.medianSecondsToAccept}s`);
      expect(await horizontalOverflow(page)).to.equal(0);
      await screenshot(page, "provider", viewport);
      const current = watched!;
      watched = undefined;
      await current.close();
      expectNoProblems(current);
    }
  });
  it("counts as rentable only the free GPUs a provider's unlocked stake can back, and the figures follow an unstake", async function () {
    const page = await open("/");
    await page.getByTestId("offer-rentable").first().waitFor();
    const [, p2] = market.providers;
    const unlocked = await market.m.read<bigint>("staking", "unlockedStake", [p2!]);
    // Leave p2 0.05 MESH of unlocked stake: fewer of its free GPUs can be rented than are listed, even for the
    // offers' one-minute minimum duration.
    await market.m.send(p2!, "staking", "requestUnstake", [unlocked - MESH / 20n]);
    await market.caughtUp();
    const { capacity, offers, market: stats } = await market.query(
      "{ market { gpusAvailable gpusRentable } capacity(groupBy: GPU_MODEL) { gpusRentable } offers(where: { state: OPEN }, orderBy: PRICE) { items { gpusAvailable gpusRentable } } }",
    );
    const total = stats.gpusRentable;
    expect(total).to.be.below(stats.gpusAvailable);
    await page.getByTestId("gpus-rentable").locator(".figure-value").getByText(total.toLocaleString("en-US"), { exact: true }).waitFor({ timeout: 20_000 });
    await page.waitForFunction(
      (expected) => [...(globalThis as any).document.querySelectorAll('[data-testid="offer-rentable"]')].map((cell: any) => cell.textContent).join() === expected,
      offers.items.map((offer: { gpusRentable: number }) => String(offer.gpusRentable)).join(),
    );
    expect(offers.items.some((offer: { gpusAvailable: number; gpusRentable: number }) => offer.gpusRentable < offer.gpusAvailable)).to.equal(true);
    expect(await page.getByTestId("capacity-rentable").allTextContents()).to.deep.equal(capacity.map((bucket: { gpusRentable: number }) => String(bucket.gpusRentable)));
  });
});

import fs from "node:fs";
import path from "node:path";
import zlib from "node:zlib";
import { WEB_BUILD_DIR } from "../../src/web/static";
import { seriousAxeViolations } from "./helpers/audit";
import { horizontalOverflow, launchBrowser, openPage } from "./helpers/browser";
import { startWebMarket } from "./helpers/market";

/**
 * `npm run bench:web`: the web app's budgets, measured on the built app against a real chain and indexer.
 *   initial JS gzipped <= 300 KB (the scripts index.html loads before anything else, modulepreloads included),
 *   market page first render with data <= 1.5 s (navigation start to the headline figures and the offers table on
 *   screen, median of 5 cold loads), no sideways overflow at 390 px, and no serious axe-core violation, on every page.
 * Writes bench/web.json; exits 1 when a budget is broken.
 */
const BUDGET = { initialJsGzipBytes: 300 * 1024, firstRenderMs: 1500 };
const RUNS = 5;

function initialJs(): { files: string[]; gzipBytes: number; rawBytes: number } {
  const html = fs.readFileSync(path.join(WEB_BUILD_DIR, "index.html"), "utf8");
  const files = [...html.matchAll(/<(?:script[^>]*\ssrc|link[^>]*rel="modulepreload"[^>]*\shref)="([^"]+\.js)"/g)].map((match) => match[1]!);
  let gzipBytes = 0;
  let rawBytes = 0;
  for (const file of files) {
    const content = fs.readFileSync(path.join(WEB_BUILD_DIR, file));
    rawBytes += content.length;
    gzipBytes += zlib.gzipSync(content, { level: 9 }).length;
  }
  return { files, gzipBytes, rawBytes };
}

async function main(): Promise<number> {
  const bundle = initialJs();
  const market = await startWebMarket();
  const browser = await launchBrowser();
  try {
    const renders: number[] = [];
    let marketPageScripts: string[] = [];
    for (let run = 0; run < RUNS; run++) {
      // Observed from inside the page, from the document's start: performance.now() counts from the navigation.
      const watched = await openPage(browser, "desktop", (context) =>
        context.addInitScript(() => {
          const scope = globalThis as any;
          const ready = () =>
            scope.document.querySelector('[data-testid="offer-row"]') && scope.document.querySelector('[data-testid="gpus-offered"]');
          new MutationObserver((_records, observer) => {
            if (!ready()) return;
            scope.__firstDataRenderMs = performance.now();
            observer.disconnect();
          }).observe(scope.document, { childList: true, subtree: true });
        }),
      );
      const scripts = new Set<string>();
      watched.page.on("response", (response) => {
        const url = new URL(response.url());
        if (url.pathname.endsWith(".js")) scripts.add(url.pathname);
      });
      await watched.page.goto(`${market.url}/`);
      await watched.page.getByTestId("offer-row").first().waitFor();
      await watched.page.getByTestId("price-chart").locator("canvas").first().waitFor();
      marketPageScripts = [...scripts];
      renders.push(await watched.page.evaluate(() => (globalThis as any).__firstDataRenderMs as number));
      await watched.close();
    }
    const firstRender = [...renders].sort((a, b) => a - b)[Math.floor(RUNS / 2)]!;

    // Each page with what shows it is rendered with data (the consoles without a wallet: their connect panel).
    const pages: Array<[string, string]> = [
      ["/", '[data-testid="offer-row"]'],
      ["/providers", '[data-testid="provider-row"]'],
      [`/offers/${market.offers[0]}`, '[data-testid="offer-facts"]'],
      [`/jobs/${market.jobs[0]}`, '[data-testid="job-money"]'],
      [`/providers/${market.providers[0]!.toLowerCase()}`, '[data-testid="provider-facts"]'],
      ["/console/provider", "#wallet"],
      ["/console/client", "#wallet"],
    ];
    const audits: Array<{ page: string; overflowPx: number; serious: Awaited<ReturnType<typeof seriousAxeViolations>> }> = [];
    for (const [pagePath, readySelector] of pages) {
      const watched = await openPage(browser, "phone");
      await watched.page.goto(`${market.url}${pagePath}`);
      await watched.page.locator(readySelector).first().waitFor();
      await watched.page.waitForTimeout(300);
      audits.push({ page: pagePath, overflowPx: await horizontalOverflow(watched.page), serious: await seriousAxeViolations(watched.page) });
      await watched.close();
    }

    const marketPageGzipBytes = marketPageScripts.reduce(
      (sum, file) => sum + zlib.gzipSync(fs.readFileSync(path.join(WEB_BUILD_DIR, file)), { level: 9 }).length,
      0,
    );
    const result = {
      measuredAt: new Date().toISOString(),
      initialJs: { files: bundle.files, gzipBytes: bundle.gzipBytes, rawBytes: bundle.rawBytes, budgetGzipBytes: BUDGET.initialJsGzipBytes },
      marketPageJs: { files: marketPageScripts, gzipBytes: marketPageGzipBytes },
      marketFirstRenderMs: { median: Math.round(firstRender), runs: renders.map(Math.round), budget: BUDGET.firstRenderMs },
      phone390: audits.map((audit) => ({ page: audit.page, overflowPx: audit.overflowPx, seriousAxeViolations: audit.serious.length })),
    };
    const lines = [
      `initial JS gzipped     ${(bundle.gzipBytes / 1024).toFixed(1)} KB (${(bundle.rawBytes / 1024).toFixed(1)} KB raw, ${bundle.files.length} files; budget 300 KB)`,
      `market page JS gzipped ${(marketPageGzipBytes / 1024).toFixed(1)} KB with the chart chunk loaded after the first render (${marketPageScripts.length} files)`,
      `market first render    ${Math.round(firstRender)} ms median of ${RUNS} (${renders.map(Math.round).join(", ")} ms; budget 1500 ms)`,
      ...audits.map(
        (audit) =>
          `390 px ${audit.page.padEnd(52)} overflow ${audit.overflowPx} px, serious axe violations ${audit.serious.length}${audit.serious.map((v) => `\n    ${v.impact} ${v.id}: ${v.help} (${v.targets.join(", ")})`).join("")}`,
      ),
    ];
    process.stdout.write(lines.join("\n") + "\n");
    fs.writeFileSync(path.join(__dirname, "..", "..", "bench", "web.json"), JSON.stringify(result, null, 2) + "\n");
    const ok =
      bundle.gzipBytes <= BUDGET.initialJsGzipBytes &&
      firstRender <= BUDGET.firstRenderMs &&
      audits.every((audit) => audit.overflowPx === 0 && audit.serious.length === 0);
    process.stdout.write(ok ? "web budgets: all met\n" : "web budgets: BROKEN\n");
    return ok ? 0 : 1;
  } finally {
    await browser.close();
    await market.stop();
  }
}

main().then(
  (code) => process.exit(code),
  (error) => {
    console.error(error);
    process.exit(1);
  },
);

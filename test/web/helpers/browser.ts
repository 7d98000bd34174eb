import fs from "node:fs";
import path from "node:path";
import { chromium, type Browser, type BrowserContext, type Locator, type Page } from "playwright-core";

/** Debian's chromium (`apt-get install -y chromium`): nothing downloads a browser here. */
export const CHROMIUM = process.env.GPUMESH_CHROMIUM ?? "/usr/bin/chromium";
const FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run"];
/** Screenshots of every page, desktop and phone width; gitignored. */
export const SCREENSHOT_DIR = path.join(__dirname, "..", "screenshots");

export const VIEWPORTS = {
  desktop: { width: 1280, height: 900 },
  phone: { width: 390, height: 844 },
} as const;
export type ViewportName = keyof typeof VIEWPORTS;

export async function launchBrowser(): Promise<Browser> {
  if (!fs.existsSync(CHROMIUM)) throw new Error(`no browser at ${CHROMIUM}: run \`apt-get install -y chromium\``);
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: FLAGS });
}

export interface WatchedPage {
  context: BrowserContext;
  page: Page;
  /** Console errors, uncaught exceptions and failed requests seen so far. */
  problems: string[];
  close(): Promise<void>;
}

/**
 * A fresh page that records every console error, uncaught exception and failed request: a test calls
 * expectNoProblems() at its end, so any of them fails it.
 */
export async function openPage(
  browser: Browser,
  viewport: ViewportName = "desktop",
  prepare?: (context: BrowserContext) => Promise<unknown>,
): Promise<WatchedPage> {
  const context = await browser.newContext({ viewport: VIEWPORTS[viewport], deviceScaleFactor: 1 });
  if (prepare) await prepare(context);
  const page = await context.newPage();
  const problems: string[] = [];
  page.on("console", (message) => {
    if (message.type() === "error") problems.push(`console error: ${message.text()}`);
  });
  page.on("pageerror", (error) => problems.push(`uncaught: ${error.message}`));
  page.on("requestfailed", (request) => {
    // Polls cut short by leaving a page are not failures.
    if (request.failure()?.errorText !== "net::ERR_ABORTED") problems.push(`request failed: ${request.url()} ${request.failure()?.errorText}`);
  });
  return { context, page, problems, close: () => context.close() };
}

export function expectNoProblems(watched: WatchedPage): void {
  if (watched.problems.length > 0) throw new Error(`the page reported problems:\n${watched.problems.join("\n")}`);
}

/** Saves <name>-<viewport>.png of the whole page. */
export async function screenshot(page: Page, name: string, viewport: ViewportName): Promise<string> {
  fs.mkdirSync(SCREENSHOT_DIR, { recursive: true });
  const file = path.join(SCREENSHOT_DIR, `${name}-${viewport}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

/** The README's pictures (docs/screenshots/, committed): rewritten only when GPUMESH_README_SCREENSHOTS is set. */
export const README_SCREENSHOT_DIR = path.join(__dirname, "..", "..", "..", "docs", "screenshots");
const README_VIEWPORT = { width: 1280, height: 800 };

/**
 * Saves <name>.png of one 1280x800 screen, scrolled to `top` when given: into docs/screenshots/ with
 * GPUMESH_README_SCREENSHOTS=1, else beside the other screenshots as readme-<name>.png (so a plain run leaves the
 * committed pictures alone). Restores the page's viewport.
 */
export async function readmeScreenshot(page: Page, name: string, top?: Locator): Promise<string> {
  const refresh = Boolean(process.env.GPUMESH_README_SCREENSHOTS);
  const dir = refresh ? README_SCREENSHOT_DIR : SCREENSHOT_DIR;
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, refresh ? `${name}.png` : `readme-${name}.png`);
  const viewport = page.viewportSize();
  await page.setViewportSize(README_VIEWPORT);
  if (top) await top.evaluate((element) => element.scrollIntoView({ block: "start" }));
  else await page.evaluate(() => (globalThis as any).scrollTo(0, 0));
  // Charts follow their box's new size on the next frame.
  await page.waitForTimeout(300);
  await page.screenshot({ path: file });
  if (viewport) await page.setViewportSize(viewport);
  return file;
}

/** How far the page is wider than its viewport (0 when nothing overflows sideways). */
export async function horizontalOverflow(page: Page): Promise<number> {
  return page.evaluate(() => {
    const root = (globalThis as any).document.documentElement;
    return Math.max(0, root.scrollWidth - root.clientWidth);
  });
}

export interface FigureLayout {
  text: string;
  /** Lines the whole value takes. */
  lines: number;
  /** Lines its number (the text before the first space) takes: more than 1 means the number broke. */
  numberLines: number;
  /** How far the value's text reaches past the right edge of its box, in px (0 when it fits). */
  overflowPx: number;
}

/**
 * How each headline figure's value (`.figure-value`) is laid out, measured on its text whatever its markup: lines
 * from the text's line boxes (a smaller unit on the number's line counts as the same line).
 */
export async function figureLayouts(page: Page): Promise<FigureLayout[]> {
  return page.$$eval(".figure-value", (elements) =>
    elements.map((element) => {
      const doc = (globalThis as any).document;
      const nodes: any[] = [];
      const walker = doc.createTreeWalker(element, 4 /* NodeFilter.SHOW_TEXT */);
      for (let node = walker.nextNode(); node; node = walker.nextNode()) nodes.push(node);
      const rangeOf = (start: number, end: number) => {
        const range = doc.createRange();
        let position = 0;
        let started = false;
        for (const node of nodes) {
          const length = node.data.length;
          if (!started && start <= position + length) {
            range.setStart(node, start - position);
            started = true;
          }
          if (end <= position + length) {
            range.setEnd(node, end - position);
            break;
          }
          position += length;
        }
        return range;
      };
      const lines = (range: any) => {
        const rects = [...range.getClientRects()].filter((rect: any) => rect.width > 0).sort((a: any, b: any) => a.top - b.top);
        let count = 0;
        let bottom = -Infinity;
        for (const rect of rects as any[]) {
          if (rect.top >= bottom - 1) {
            count += 1;
            bottom = rect.bottom;
          } else {
            bottom = Math.max(bottom, rect.bottom);
          }
        }
        return count;
      };
      const text: string = element.textContent ?? "";
      const space = text.indexOf(" ");
      const whole = rangeOf(0, text.length);
      return {
        text,
        lines: lines(whole),
        numberLines: lines(rangeOf(0, space === -1 ? text.length : space)),
        overflowPx: Math.max(0, Math.round(whole.getBoundingClientRect().right - element.getBoundingClientRect().right)),
      };
    }),
  );
}

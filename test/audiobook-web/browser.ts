import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import type { TestContext } from "node:test";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";

/** Debian's Chromium: playwright-core downloads no browser of its own. */
export const CHROMIUM_PATH = process.env.OUTLAST_CHROMIUM ?? "/usr/bin/chromium";

const ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--disable-quic",
  "--no-first-run",
];

/** Where screenshots go (gitignored): look at them after a run. */
export const ARTIFACTS_DIR = new URL("../../test-artifacts/audiobook/", import.meta.url).pathname;

/**
 * A Chromium closed when the test ends; each `context()` is a browser
 * profile of its own (its own cookies and storage), like another person.
 * Fails (never skips) when Chromium is not installed.
 */
export async function launchBrowser(t: TestContext): Promise<{ browser: Browser; context(): Promise<{ context: BrowserContext; page: Page }> }> {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(`Chromium is not installed at ${CHROMIUM_PATH}; the browser tests need it: apt-get update && apt-get install -y chromium`);
  }
  const browser = await chromium.launch({ executablePath: CHROMIUM_PATH, headless: true, args: ARGS });
  t.after(() => browser.close());
  const errors: string[] = [];
  t.after(() => {
    if (errors.length > 0) throw new Error(`The page threw: ${errors.join("; ")}`);
  });
  return {
    browser,
    async context() {
      const context = await browser.newContext({ viewport: { width: 900, height: 820 }, acceptDownloads: true });
      const page = await context.newPage();
      // A page error is a bug of the app: it fails the test that caused it.
      page.on("pageerror", (error) => errors.push(error.message));
      return { context, page };
    },
  };
}

/** Saves a full-page screenshot under test-artifacts/audiobook/ and returns its path. */
export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(ARTIFACTS_DIR, { recursive: true });
  const path = join(ARTIFACTS_DIR, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}

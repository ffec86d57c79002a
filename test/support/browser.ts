import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import type { TestContext } from "node:test";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import { tempDir } from "./temp.js";

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
export const ARTIFACTS_DIR = new URL("../../test-artifacts/", import.meta.url).pathname;

/**
 * A fresh Chromium with its own profile and one page, all closed when the
 * test ends. Fails (never skips) when Chromium is not installed.
 */
export async function openBrowser(t: TestContext, viewport = { width: 1360, height: 900 }): Promise<{ context: BrowserContext; page: Page }> {
  requireChromium();
  const profile = tempDir(t, "outlast-chromium");
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: ARGS,
    viewport,
  });
  t.after(() => context.close());
  const page = context.pages()[0] ?? (await context.newPage());
  // A page error is a bug of the dashboard: make it fail the test that caused it.
  const errors: Error[] = [];
  page.on("pageerror", (error) => errors.push(error));
  t.after(() => {
    if (errors.length > 0) throw new Error(`The page threw: ${errors.map((e) => e.message).join("; ")}`);
  });
  return { context, page };
}

/**
 * A Chromium closed when the test ends; each `context()` is a browser
 * profile of its own (its own cookies and storage), like another person.
 * Fails (never skips) when Chromium is not installed.
 */
export async function launchBrowser(
  t: TestContext,
  viewport = { width: 900, height: 820 },
): Promise<{ browser: Browser; context(): Promise<{ context: BrowserContext; page: Page }> }> {
  requireChromium();
  const browser = await chromium.launch({ executablePath: CHROMIUM_PATH, headless: true, args: ARGS });
  t.after(() => browser.close());
  const errors: string[] = [];
  t.after(() => {
    if (errors.length > 0) throw new Error(`The page threw: ${errors.join("; ")}`);
  });
  return {
    browser,
    async context() {
      const context = await browser.newContext({ viewport, acceptDownloads: true });
      const page = await context.newPage();
      // A page error is a bug of the page: it fails the test that caused it.
      page.on("pageerror", (error) => errors.push(error.message));
      return { context, page };
    },
  };
}

function requireChromium(): void {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(`Chromium is not installed at ${CHROMIUM_PATH}; the browser tests need it: apt-get update && apt-get install -y chromium`);
  }
}

/** Saves a full-page screenshot under test-artifacts/ (or its `folder`) and returns its path. */
export async function screenshot(page: Page, name: string, folder = ""): Promise<string> {
  const dir = join(ARTIFACTS_DIR, folder);
  mkdirSync(dir, { recursive: true });
  const path = join(dir, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}

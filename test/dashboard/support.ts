import type { TestContext } from "node:test";
import type { Page } from "playwright-core";
import { defineDemoTask } from "../../src/cli/demo-task.js";
import { Outlast } from "../../src/engine/outlast.js";
import { serve, type RunningServer } from "../../src/server/node.js";
import { sqliteStore } from "../../src/store/sqlite/index.js";
import { quietLogger } from "../support/engine.js";
import { tempDbPath } from "../support/temp.js";

export const ADMIN_KEY = "dashboard-test-admin-key-0123";
const SECRET = "dashboard-test-signing-secret-0123";

export interface DashboardServer {
  outlast: Outlast;
  server: RunningServer;
  /** The dashboard's URL with the admin key, as the CLI prints it. */
  url: string;
}

/**
 * A real server on a free port: SQLite temp file, demo.count and
 * report.build (a task that waits for `ms` and logs), and the tasks of
 * `define`; workers started.
 */
export async function dashboardServer(t: TestContext, options: { define?: (outlast: Outlast) => void } = {}): Promise<DashboardServer> {
  const outlast = new Outlast({
    store: sqliteStore({ path: tempDbPath(t) }),
    leaseMs: 2000,
    progressIntervalMs: 50,
    pollIntervalMs: 100,
    abortGraceMs: 500,
    logger: quietLogger,
  });
  defineDemoTask(outlast);
  outlast.define("report.build", {
    queue: "reports",
    async run(input: unknown, ctx) {
      const ms = typeof input === "object" && input !== null && "ms" in input ? Number(input.ms) : 0;
      ctx.log(`building a report for ${ctx.task.owner}`);
      await new Promise((resolve) => setTimeout(resolve, ms));
      ctx.log("report done");
      return { pages: 3 };
    },
  });
  options.define?.(outlast);
  await outlast.start();
  const server = await serve(outlast, { port: 0, adminKey: ADMIN_KEY, secret: SECRET, logger: "silent", shutdownGraceMs: 0 });
  t.after(async () => {
    await server.close();
    await outlast.close({ graceMs: 0 });
  });
  return { outlast, server, url: `${server.url}/dashboard#key=${ADMIN_KEY}` };
}

/** Polls until `check` returns a value that is not undefined; fails naming `what`. */
export async function eventually<T>(check: () => Promise<T | undefined> | T | undefined, what: string, ms = 15_000): Promise<T> {
  const deadline = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ""}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Text of the first element matching `selector`, or undefined when there is none yet. */
export async function textOf(page: Page, selector: string): Promise<string | undefined> {
  const el = page.locator(selector).first();
  if ((await el.count()) === 0) return undefined;
  return ((await el.textContent()) ?? "").trim();
}

/** The progress bar's aria-valuenow inside `selector`. */
export async function barValue(page: Page, selector: string): Promise<number | undefined> {
  const bar = page.locator(`${selector} [role="progressbar"]`).first();
  if ((await bar.count()) === 0) return undefined;
  const value = await bar.getAttribute("aria-valuenow");
  return value === null ? undefined : Number(value);
}

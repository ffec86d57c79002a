import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { openBrowser, screenshot } from "../support/browser.js";
import { until } from "../support/engine.js";
import { guardLeaks } from "../support/leaks.js";
import { ADMIN_KEY, barValue, dashboardServer, eventually, textOf } from "./support.js";

guardLeaks();

describe("dashboard in Chromium", () => {
  test("the overview shows queue counts, a running task's bar moving live, workers and watchers", async (t) => {
    const { outlast, server, url } = await dashboardServer(t);
    const done = await Promise.all([1, 2, 3].map(() => outlast.submit("demo.count", { to: 2, everyMs: 0 }, { owner: "ann" })));
    const failed = await outlast.submit("demo.count", { to: 3, everyMs: 0, failAt: 2 }, { owner: "ann", maxAttempts: 1 });
    await until(async () => (await Promise.all([...done, failed].map((d) => outlast.get(d.id)))).every((x) => x?.state === "succeeded" || x?.state === "failed"), "the short tasks");
    const long = await outlast.submit("demo.count", { to: 300, everyMs: 30 }, { owner: "bob" });

    const { page } = await openBrowser(t);
    await page.goto(url);
    // The key left the address bar once read.
    assert.equal(new URL(page.url()).hash, "#/");

    const row = 'tr[data-queue="default"]';
    assert.equal(await eventually(() => textOf(page, `${row} td[data-state="succeeded"]`).then((s) => (s === "3" ? s : undefined)), "3 succeeded"), "3");
    assert.equal(await textOf(page, `${row} td[data-state="failed"]`), "1");

    const running = `section[aria-label^="Running"] tr[data-task="${long.id}"]`;
    const first = await eventually(() => barValue(page, running), "the running task's bar");
    const later = await eventually(async () => {
      const v = await barValue(page, running);
      return v !== undefined && v > first ? v : undefined;
    }, "the bar to move without a reload");
    assert.ok(later > first);

    // The failure is listed with its error.
    assert.match((await eventually(() => textOf(page, `.failures li[data-task="${failed.id}"] .failure-error`), "the failure")) ?? "", /Failing at 2 on purpose/);

    const worker = `tr[data-worker="${outlast.workerId}"]`;
    assert.ok(await eventually(() => textOf(page, `${worker} a[href="#/task/${long.id}"]`), "the worker running the long task"));
    const streams = Number(await eventually(() => textOf(page, `tr[data-node="${outlast.workerId}"] [data-field="streams"]`), "this node's streams"));
    assert.ok(streams >= 1, "the dashboard's own stream is counted");
    assert.ok(server.handler.openStreams >= 1);
    await page.waitForTimeout(300);
    await screenshot(page, "dashboard-overview");

    // Pause and resume a queue.
    const reports = 'tr[data-queue="reports"]';
    await page.click(`${reports} button:has-text("Pause")`);
    await eventually(() => textOf(page, `${reports} .badge-paused`), "the paused badge");
    assert.equal((await outlast.listQueues()).find((q) => q.name === "reports")?.paused, true);
    await page.click(`${reports} button:has-text("Resume")`);
    await eventually(() => textOf(page, `${reports} .badge-active`), "the active badge");
    assert.equal((await outlast.listQueues()).find((q) => q.name === "reports")?.paused, false);

    await page.click('nav[aria-label="Sections"] a:has-text("Failed")');
    assert.match((await eventually(() => textOf(page, `table[aria-label="Tasks"] tr[data-task="${failed.id}"] .error-text`), "the failed list")) ?? "", /on purpose/);
    await screenshot(page, "dashboard-failed");
    await page.click('nav[aria-label="Sections"] a:has-text("Workers")');
    await eventually(() => textOf(page, worker), "the workers page");
    await screenshot(page, "dashboard-workers");
  });

  test("an admin changes a queue's limits from the queues card, on every node, and resets them to the declared ones", async (t) => {
    const { outlast, url } = await dashboardServer(t);
    const { page } = await openBrowser(t);
    await page.goto(url);
    const row = 'tr[data-queue="reports"]';
    assert.equal(await eventually(() => textOf(page, `${row} [data-field="concurrency"]`), "the queue's limits"), "10");
    await page.click(`${row} button:has-text("Limits")`);
    const form = 'form[aria-label="Limits of reports"]';
    await page.fill(`${form} input[name="concurrency"]`, "x");
    await page.click(`${form} button:has-text("Save")`);
    assert.match((await eventually(() => textOf(page, `${form} [role="alert"]`), "the refusal of a bad number")) ?? "", /whole number/);
    await page.fill(`${form} input[name="concurrency"]`, "2");
    await page.fill(`${form} input[name="maxQueued"]`, "40");
    await page.click(`${form} button:has-text("Save")`);
    await eventually(() => textOf(page, `${row} [data-field="concurrency"]`).then((v) => (v === "2*" ? v : undefined)), "the changed limit, marked as an operator's");
    assert.equal(await textOf(page, `${row} [data-field="maxQueued"]`), "40*");
    const stored = (await outlast.queueSettings()).find((q) => q.name === "reports");
    assert.deepEqual(stored?.overrides, { concurrency: 2, maxQueued: 40 }, "only the changed fields are the operator's");
    await screenshot(page, "dashboard-queue-limits");
    await page.click(`${row} button:has-text("Limits")`);
    await page.click(`${form} button:has-text("Reset")`);
    await eventually(() => textOf(page, `${row} [data-field="concurrency"]`).then((v) => (v === "10" ? v : undefined)), "the declared limit after a reset");
    assert.deepEqual((await outlast.queueSettings()).find((q) => q.name === "reports")?.overrides, {});
  });

  test("a wrong key is refused at the login form; the right one signs in", async (t) => {
    const { server } = await dashboardServer(t);
    const { page } = await openBrowser(t, { width: 1100, height: 700 });
    await page.goto(`${server.url}/dashboard`);
    await page.fill("#admin-key", "not-the-admin-key-000000");
    await page.click('button[type="submit"]');
    assert.match((await eventually(() => textOf(page, '[role="alert"]'), "the refusal")) ?? "", /refused/);
    await screenshot(page, "dashboard-login");
    await page.fill("#admin-key", ADMIN_KEY);
    await page.click('button[type="submit"]');
    await eventually(() => textOf(page, 'tr[data-queue="default"]'), "the queues after signing in");
  });
});

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { openBrowser, screenshot } from "../support/browser.js";
import { until } from "../support/engine.js";
import { guardLeaks } from "../support/leaks.js";
import { barValue, dashboardServer, eventually, textOf } from "./support.js";

guardLeaks();

describe("task page in Chromium", () => {
  test("cancels a running task from its page", async (t) => {
    const { outlast, server } = await dashboardServer(t);
    const task = await outlast.submit("demo.count", { to: 500, everyMs: 30 }, { owner: "carol" });
    await until(async () => (await outlast.get(task.id))?.state === "running", "the task to start");

    const { page } = await openBrowser(t);
    await page.goto(`${server.url}/dashboard#key=${encodeURIComponent("dashboard-test-admin-key-0123")}`);
    // Signed in (the key taken from the URL and kept) before going on: a loaded machine may be slow to get there.
    await eventually(() => textOf(page, 'button:has-text("Sign out")'), "the signed-in dashboard");
    await page.goto(`${server.url}/dashboard#/task/${task.id}`);
    await eventually(() => textOf(page, ".badge-running"), "the running badge");
    // Input and a live bar.
    assert.match((await textOf(page, 'section[aria-label="Input"] .json')) ?? "", /"to": 500/);
    const first = await eventually(() => barValue(page, ".task-bar"), "the bar");
    await eventually(async () => ((await barValue(page, ".task-bar")) ?? 0) > first || undefined, "the bar to move");
    await screenshot(page, "dashboard-task-running");

    await page.click('button:has-text("Cancel task")');
    await eventually(() => textOf(page, ".task-summary .badge-canceled"), "the canceled badge");
    await until(async () => (await outlast.get(task.id))?.state === "canceled", "the task to be canceled in the store");
    // The timeline shows the final state it heard live.
    assert.ok(await eventually(() => textOf(page, '.timeline .ev-state:last-of-type .ev-text').then((s) => (s?.startsWith("canceled") ? s : undefined)), "canceled in the timeline"));
    assert.ok(await textOf(page, 'button:has-text("Retry task")'), "a canceled task can be retried");
    await screenshot(page, "dashboard-task-canceled");
  });

  test("retries a failed task, which runs again and succeeds", async (t) => {
    const { outlast, server, url } = await dashboardServer(t);
    const task = await outlast.submit("demo.count", { to: 40, everyMs: 10, failAt: 5 }, { owner: "dan", maxAttempts: 1 });
    const report = await outlast.submit("report.build", { ms: 0 }, { owner: "dan" });
    await until(async () => (await outlast.get(task.id))?.state === "failed", "the task to fail");
    await until(async () => (await outlast.get(report.id))?.state === "succeeded", "the report");

    const { page } = await openBrowser(t);
    await page.goto(url);
    await page.goto(`${url.split("#")[0]}#/task/${task.id}`);
    assert.match((await eventually(() => textOf(page, '[aria-label="Error"]'), "the error")) ?? "", /Failing at 5 on purpose/);
    await screenshot(page, "dashboard-task-failed");

    await page.click('button:has-text("Retry task")');
    await eventually(() => textOf(page, ".task-summary .badge-succeeded"), "the retried task to succeed on the page");
    const after = await outlast.get(task.id);
    assert.equal(after?.state, "succeeded");
    assert.equal(after?.attempt, 2);
    assert.match((await eventually(() => textOf(page, 'section[aria-label="Result"] .json'), "the result")) ?? "", /"counted": 40/);
    await screenshot(page, "dashboard-task-retried");

    // Logs of another task show on its page.
    await page.goto(`${url.split("#")[0]}#/task/${report.id}`);
    assert.match((await eventually(() => textOf(page, 'ol[aria-label="Logs"]'), "the logs")) ?? "", /building a report for dan.*report done/s);
    await screenshot(page, "dashboard-task-logs");
  });
});

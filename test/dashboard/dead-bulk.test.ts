import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { UnrecoverableError } from "../../src/index.js";
import { openBrowser, screenshot } from "../support/browser.js";
import { until } from "../support/engine.js";
import { guardLeaks } from "../support/leaks.js";
import { dashboardServer, eventually, textOf } from "./support.js";

guardLeaks();

describe("dead letters and bulk actions in Chromium", () => {
  test("redrives every matching dead letter, and cancels the queued tasks of a filter in bulk", async (t) => {
    let runs = 0;
    const { outlast, url } = await dashboardServer(t, {
      define(o) {
        // Fails its first run only: redriven, it succeeds and stays out of the dead letters.
        o.define("dl.boom", {
          queue: "boom",
          maxAttempts: 1,
          run() {
            runs += 1;
            if (runs === 1) throw new UnrecoverableError("boom on purpose", { code: "exploded" });
            return "fine";
          },
        });
        o.define("held.task", { queue: "held", run: () => "ran" });
      },
    });
    const dead = await outlast.submit("dl.boom", {});
    await until(async () => (await outlast.get(dead.id))?.state === "failed", "the task to fail");
    await outlast.pauseQueue("held");
    const held = [];
    for (let i = 0; i < 3; i++) held.push((await outlast.submit("held.task", { i }, { owner: "erin" })).id);
    const other = await outlast.submit("held.task", { i: 9 }, { owner: "frank" });

    const { page } = await openBrowser(t);
    await page.goto(url);
    await page.click('nav a:has-text("Dead letters")');
    const row = `table[aria-label="Dead letters"] tr[data-task="${dead.id}"]`;
    assert.match((await eventually(() => textOf(page, row), "the dead letter's row")) ?? "", /dl\.boom.*boom.*exploded.*boom on purpose/s);
    await page.fill('input[name="code"]', "exploded");
    await page.click('form[aria-label="Filters"] button:has-text("Apply")');
    await eventually(() => (page.url().includes("code=exploded") ? true : undefined), "the filter in the URL");
    await eventually(() => textOf(page, row), "the row under the filter");
    await screenshot(page, "dashboard-dead-letters");

    await page.click('button:has-text("Redrive all matching")');
    assert.match((await textOf(page, ".confirm-question")) ?? "", /code=exploded/);
    await page.click('button:has-text("Yes, redrive them")');
    assert.equal(await eventually(() => textOf(page, '.notice[role="status"]'), "the count"), "Redrove 1 task");
    await until(async () => (await outlast.get(dead.id))?.state === "succeeded", "the redriven task to succeed");
    await eventually(async () => ((await page.locator(row).count()) === 0 ? true : undefined), "the row to leave the list");
    await eventually(() => textOf(page, ".empty"), "no dead letters left");

    // Bulk cancel on the Tasks list: queued tasks of owner erin, not frank's.
    await page.click('nav a:has-text("Tasks")');
    // The dead letters' filter form has the same fields: fill the Tasks page's once it is there.
    await page.waitForSelector('table[aria-label="Tasks"]');
    await page.fill('input[name="owner"]', "erin");
    await page.selectOption('select[name="state"]', "queued");
    await page.click('form[aria-label="Filters"] button:has-text("Apply")');
    await eventually(async () => ((await page.locator('table[aria-label="Tasks"] tbody tr').count()) === 3 ? true : undefined), "erin's three queued tasks");
    await page.click('details.bulk summary');
    await page.click('button:has-text("Cancel all")');
    assert.match((await textOf(page, ".confirm-question")) ?? "", /state=queued, owner=erin/);
    await screenshot(page, "dashboard-bulk-confirm");
    await page.click('button:has-text("Yes, cancel all")');
    assert.equal(await eventually(() => textOf(page, '.bulk .notice[role="status"]'), "the count"), "Canceled 3 tasks");
    for (const id of held) assert.equal((await outlast.get(id))?.state, "canceled");
    assert.equal((await outlast.get(other.id))?.state, "queued", "another owner's task is left alone");
    await eventually(() => textOf(page, ".empty"), "the list to empty");
    await screenshot(page, "dashboard-bulk-done");
  });
});

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { openBrowser, screenshot } from "../support/browser.js";
import { until } from "../support/engine.js";
import { guardLeaks } from "../support/leaks.js";
import { dashboardServer, eventually, textOf } from "./support.js";

guardLeaks();

describe("search and pagination in Chromium", () => {
  test("finds tasks by a prefix of id, owner or name, and pages through more than one page", async (t) => {
    const { outlast, url } = await dashboardServer(t);
    // Delayed an hour: they stay queued, so the list is stable.
    const paged = [];
    for (let i = 0; i < 63; i++) paged.push(await outlast.submit("demo.count", { to: 1 }, { owner: "pager", delayMs: 3_600_000 }));
    const reports = await Promise.all([1, 2].map(() => outlast.submit("report.build", { ms: 0 }, { owner: "erin" })));
    const odd = await outlast.submit("demo.count", { to: 1 }, { owner: "50%_off", delayMs: 3_600_000 });
    await outlast.submit("demo.count", { to: 1 }, { owner: "50x_off", delayMs: 3_600_000 });
    await until(async () => (await Promise.all(reports.map((r) => outlast.get(r.id)))).every((r) => r?.state === "succeeded"), "the reports");

    const { page } = await openBrowser(t);
    await page.goto(url);
    const rows = () => page.locator('table[aria-label="Tasks"] tbody tr').count();

    // Owner prefix: 63 tasks, 50 a page.
    await page.selectOption('select[aria-label="Search by"]', "prefix");
    await page.fill('input[aria-label="Search"]', "pag");
    await page.press('input[aria-label="Search"]', "Enter");
    await eventually(async () => ((await rows()) === 50 ? true : undefined), "a first page of 50");
    assert.equal(await textOf(page, ".pager .muted"), "Page 1");
    await screenshot(page, "dashboard-tasks-page1");
    const firstPageIds = await page.locator('table[aria-label="Tasks"] tbody tr').evaluateAll((trs) => trs.map((tr) => tr.getAttribute("data-task")));
    await page.click('button:has-text("Next")');
    await eventually(async () => ((await rows()) === 13 ? true : undefined), "a second page of 13");
    assert.equal(await textOf(page, ".pager .muted"), "Page 2");
    assert.ok(await page.locator('button:has-text("Next")').isDisabled());
    const secondPageIds = await page.locator('table[aria-label="Tasks"] tbody tr').evaluateAll((trs) => trs.map((tr) => tr.getAttribute("data-task")));
    assert.deepEqual(new Set([...firstPageIds, ...secondPageIds]), new Set(paged.map((p) => p.id)));
    await page.click('button:has-text("Previous")');
    await eventually(async () => ((await rows()) === 50 ? true : undefined), "back to the first page");

    // Name prefix.
    const shown = () => page.locator('table[aria-label="Tasks"] tbody tr').evaluateAll((trs) => trs.map((tr) => tr.getAttribute("data-task")));
    await page.fill('input[aria-label="Search"]', "report.");
    await page.press('input[aria-label="Search"]', "Enter");
    await eventually(async () => ((await rows()) === 2 ? true : undefined), "the two reports");
    assert.deepEqual(new Set(await shown()), new Set(reports.map((r) => r.id)));

    // Id prefix; a % is a plain character.
    await page.fill('input[aria-label="Search"]', reports[1]!.id.slice(0, -2));
    await page.press('input[aria-label="Search"]', "Enter");
    await eventually(async () => ((await shown()).join() === reports[1]!.id ? true : undefined), "the report by its id's prefix");
    await page.fill('input[aria-label="Search"]', "50%");
    await page.press('input[aria-label="Search"]', "Enter");
    await eventually(async () => ((await shown()).join() === odd.id ? true : undefined), "only the owner 50%_off");
    assert.equal(await page.inputValue('form[aria-label="Filters"] input[name="q"]'), "50%", "the tasks page shows what it searched");
    await page.fill('input[aria-label="Search"]', "nobody-starts-so");
    await page.press('input[aria-label="Search"]', "Enter");
    assert.equal(await eventually(() => textOf(page, ".empty"), "no match"), "No tasks match.");

    // Id: opens the task.
    await page.selectOption('select[aria-label="Search by"]', "id");
    await page.fill('input[aria-label="Search"]', reports[0]!.id);
    await page.press('input[aria-label="Search"]', "Enter");
    assert.equal(await eventually(() => textOf(page, "section.card h2").then((h) => (h?.includes(reports[0]!.id) ? h : undefined)), "the task page"), `Task ${reports[0]!.id}`);

    // An unknown id says so.
    await page.fill('input[aria-label="Search"]', "tsk_nope");
    await page.press('input[aria-label="Search"]', "Enter");
    assert.match((await eventually(() => textOf(page, '[role="alert"]'), "not found")) ?? "", /No task tsk_nope/);
  });
});

describe("task titles in Chromium", () => {
  test("a title shows in the task list and on the task page, and the search box finds it by its first letters", async (t) => {
    const { outlast, url } = await dashboardServer(t);
    const titled = await outlast.submit("demo.count", { to: 1 }, { owner: "tia", title: "Der Zauberberg 🏔", delayMs: 3_600_000 });
    const untitled = await outlast.submit("demo.count", { to: 1 }, { owner: "tia", delayMs: 3_600_000 });

    const { page } = await openBrowser(t);
    await page.goto(url);
    await page.fill('input[aria-label="Search"]', "Der Zau");
    await page.press('input[aria-label="Search"]', "Enter");
    const row = page.locator(`table[aria-label="Tasks"] tbody tr[data-task="${titled.id}"]`);
    assert.equal(await eventually(async () => ((await row.count()) === 1 ? (await row.locator(".task-title").textContent())?.trim() : undefined), "the titled task"), "Der Zauberberg 🏔");
    assert.equal(await page.locator('table[aria-label="Tasks"] tbody tr').count(), 1, "only the titled task");

    await page.fill('input[aria-label="Search"]', "tia");
    await page.press('input[aria-label="Search"]', "Enter");
    const untitledRow = page.locator(`table[aria-label="Tasks"] tbody tr[data-task="${untitled.id}"]`);
    await eventually(async () => ((await untitledRow.count()) === 1 ? true : undefined), "both of tia's tasks");
    assert.equal(await untitledRow.locator(".task-title").count(), 0, "no title, just the name");
    await screenshot(page, "dashboard-task-titles");

    await row.locator("a").first().click();
    const facts = () => page.locator("dl.facts").textContent();
    assert.match(await eventually(async () => ((await facts())?.includes("Title") ? await facts() : undefined), "the task page's facts") ?? "", /TitleDer Zauberberg 🏔/);
  });
});

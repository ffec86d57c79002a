import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { StandardSchemaV1 } from "@standard-schema/spec";
import type { Page } from "playwright-core";
import { openBrowser, screenshot } from "../support/browser.js";
import { until } from "../support/engine.js";
import { guardLeaks } from "../support/leaks.js";
import type { Outlast, Task } from "../../src/index.js";
import { barValue, dashboardServer, eventually, textOf } from "./support.js";

guardLeaks();

/** Gates the leaves wait on, opened by the test. */
function gates() {
  const open = new Map<string, () => void>();
  const waits = new Map<string, Promise<void>>();
  const wait = (name: string) => {
    let promise = waits.get(name);
    if (!promise) {
      promise = new Promise<void>((resolve) => open.set(name, resolve));
      waits.set(name, promise);
    }
    return promise;
  };
  return {
    wait,
    release(name: string) {
      void wait(name);
      open.get(name)!();
    },
    releaseAll() {
      for (const release of open.values()) release();
    },
  };
}

/** The approver's name, or a refusal the API answers with 422. */
const approval: StandardSchemaV1<unknown, { by: string }> = {
  "~standard": {
    version: 1,
    vendor: "dashboard-test",
    validate(value) {
      const by = (value as { by?: unknown } | null)?.by;
      if (typeof by !== "string" || by.length === 0) return { issues: [{ message: "Expected the approver's name", path: ["by"] }] };
      return { value: { by } };
    },
  },
};

/**
 * A root with two leaves and a branch of two leaves of its own; each leaf
 * reports half its work, then waits for the test to let it end. And a task
 * that waits for the signal "approve".
 */
function defineFamily(outlast: Outlast, gate: ReturnType<typeof gates>): void {
  outlast.define("family.leaf", {
    queue: "family",
    async run(input: unknown, ctx) {
      const name = (input as { gate: string }).gate;
      ctx.progress({ percent: 50, message: `leaf ${name} half done` });
      await gate.wait(name);
      return { leaf: name };
    },
  });
  outlast.define("family.branch", {
    queue: "family",
    async run(_input, ctx) {
      const outcomes = await ctx.runChildren([
        { key: "a", name: "family.leaf", input: { gate: "branch-a" } },
        { key: "b", name: "family.leaf", input: { gate: "branch-b" } },
      ]);
      return { leaves: outcomes.length };
    },
  });
  outlast.define("family.root", {
    queue: "family",
    async run(_input, ctx) {
      const outcomes = await ctx.runChildren([
        { key: "leaf-1", name: "family.leaf", input: { gate: "leaf-1" }, title: "First leaf" },
        { key: "leaf-2", name: "family.leaf", input: { gate: "leaf-2" } },
        // Twice the work of a leaf: it counts twice in the root's bar.
        { key: "branch", name: "family.branch", weight: 2 },
      ]);
      return { children: outcomes.map((o) => o.state) };
    },
  });
  outlast.define("family.approval", {
    signals: { approve: approval },
    async run(_input, ctx) {
      const { by } = await ctx.waitForSignal<{ by: string }>("approve", { timeoutMs: 3_600_000 });
      return { approvedBy: by };
    },
  });
}

const rows = (page: Page, list: string) => page.locator(`${list} > li.child`);

describe("children and waits in the dashboard (Chromium)", () => {
  test("a parent shows its children as a tree with their bars under its rolled-up bar; a task waiting for a signal gets it from Send signal", async (t) => {
    const gate = gates();
    t.after(() => gate.releaseAll());
    const { outlast, url } = await dashboardServer(t, { define: (o) => defineFamily(o, gate) });
    const base = url.split("#")[0]!;
    const root = await outlast.submit("family.root", {}, { owner: "fay" });
    const children = async (id: string): Promise<Task[]> => (await outlast.children(id)).tasks;
    // Every leaf half done: the root is at 50%, waiting for 2 running leaves and the waiting branch.
    await until(async () => (await outlast.get(root.id))?.progress.children?.running === 2, "the root's leaves to run");
    const [leaf1, , branch] = await children(root.id);
    await until(async () => (await children(branch!.id)).every((c) => c.state === "running" && c.progress.percent === 50), "the branch's leaves to run");
    await until(async () => (await outlast.get(root.id))?.progress.percent === 50, "the root's rolled-up bar at 50%");

    const { page } = await openBrowser(t);
    await page.goto(url);
    await page.goto(`${base}#/task/${root.id}`);
    await eventually(() => textOf(page, ".task-summary .badge-waiting"), "the waiting badge");
    assert.match((await textOf(page, ".wait-note")) ?? "", /Waiting for its children/);
    assert.equal(await eventually(() => barValue(page, ".task-bar"), "the root's bar"), 50);
    assert.equal(await textOf(page, '.task-bar [aria-label="Children"]'), "0 of 3 done · 2 running · 1 waiting");

    // The tree: one row per child, in submit order, each with its state, its own bar and a link to its page.
    const tree = 'ol[aria-label^="Children of"]';
    await eventually(async () => ((await rows(page, tree).count()) === 3 ? true : undefined), "three child rows");
    const row = (n: number) => rows(page, tree).nth(n);
    assert.deepEqual(
      await rows(page, tree).evaluateAll((lis) => lis.map((li) => li.querySelector(".child-name a")?.textContent)),
      ["First leaf", "family.leaf", "family.branch"],
    );
    for (const n of [0, 1, 2]) assert.equal(await barValue(page, `${tree} > li.child:nth-child(${n + 1}) > .child-row`), 50);
    assert.equal(await row(0).locator(".badge").textContent(), "running");
    assert.equal(await row(2).locator(".badge").textContent(), "waiting");
    assert.equal(await row(2).locator(".child-counts").textContent(), "0 of 2 done · 2 running");
    assert.equal(await row(0).locator(".child-name a").getAttribute("href"), `#/task/${leaf1!.id}`);

    // The branch opens to show its own children.
    await row(2).getByRole("button", { name: `Show the children of ${branch!.id}` }).click();
    const nested = `li.child[data-task="${branch!.id}"] ol[aria-label="Children of ${branch!.id}"]`;
    await eventually(async () => ((await rows(page, nested).count()) === 2 ? true : undefined), "the branch's two rows");
    for (const n of [1, 2]) assert.equal(await barValue(page, `${nested} > li.child:nth-child(${n}) > .child-row`), 50);
    await screenshot(page, "dashboard-children-tree");

    // A leaf ends: its row, the counts and the rolled-up bar follow live (1·100 + 1·50 + 2·50 of 4).
    gate.release("leaf-1");
    await eventually(() => textOf(page, `${tree} > li.child:nth-child(1) .badge-succeeded`), "the first leaf's row to say succeeded");
    assert.equal(await barValue(page, `${tree} > li.child:nth-child(1) > .child-row`), 100);
    await eventually(async () => ((await textOf(page, '.task-bar [aria-label="Children"]')) === "1 of 3 done · 1 running · 1 waiting" ? true : undefined), "the counts");
    await eventually(async () => ((await barValue(page, ".task-bar")) === 62.5 ? true : undefined), "the root's bar at 62.5%");
    // A branch leaf ends: the branch's row and its open list move too.
    gate.release("branch-a");
    await eventually(() => textOf(page, `${nested} > li.child:nth-child(1) .badge-succeeded`), "the branch's first leaf to succeed");
    await eventually(async () => ((await row(2).locator(".child-counts").textContent()) === "1 of 2 done · 1 running" ? true : undefined), "the branch's counts");
    await eventually(async () => ((await barValue(page, `${tree} > li.child:nth-child(3) > .child-row`)) === 75 ? true : undefined), "the branch's bar at 75%");
    await screenshot(page, "dashboard-children-moving");

    // A child's page links to its parent.
    await row(0).locator(".child-name a").click();
    await eventually(() => textOf(page, `.fact:has(dt:text-is("Parent")) a[href="#/task/${root.id}"]`), "the link to the parent");
    await page.click(`.fact:has(dt:text-is("Parent")) a`);
    await eventually(() => textOf(page, `.task-summary .badge-waiting`), "back on the root's page");

    // Everything ends: the root runs again, succeeds, and its bar is full.
    gate.releaseAll();
    await eventually(() => textOf(page, ".task-summary .badge-succeeded"), "the root to succeed");
    assert.equal(await eventually(() => barValue(page, ".task-bar"), "the full bar"), 100);
    await eventually(async () => ((await textOf(page, '.task-bar [aria-label="Children"]')) === "3 of 3 done" ? true : undefined), "all done");
    assert.deepEqual((await outlast.get(root.id))?.result, { children: ["succeeded", "succeeded", "succeeded"] });

    // A task waiting for a signal: listed under "waiting", its page says for what, and Send signal delivers it.
    const approvalTask = await outlast.submit("family.approval", {}, { owner: "fay" });
    await until(async () => (await outlast.get(approvalTask.id))?.state === "waiting", "the approval to wait");
    await page.goto(`${base}#/tasks?state=waiting`);
    assert.equal(await page.locator('select[name="state"]').inputValue(), "waiting");
    assert.match(
      (await eventually(() => textOf(page, `tr[data-task="${approvalTask.id}"]`), "the waiting task in the list")) ?? "",
      /waiting for signal "approve" \(times out at /,
    );
    await page.goto(`${base}#/`);
    assert.equal(await eventually(() => textOf(page, 'tr[data-queue="default"] td[data-state="waiting"]').then((n) => (n === "1" ? n : undefined)), "a waiting count"), "1");

    await page.goto(`${base}#/task/${approvalTask.id}`);
    await eventually(() => textOf(page, ".task-summary .badge-waiting"), "the waiting badge");
    assert.match((await textOf(page, ".wait-note")) ?? "", /Waiting for signal "approve" \(times out at .+\)/);
    await page.click('button:has-text("Send signal")');
    const form = page.locator('form[aria-label="Send signal"]');
    assert.equal(await form.locator('input[name="signal"]').inputValue(), "approve", "the name it waits for");
    // Not JSON: said in the page, nothing sent.
    await form.locator('textarea[name="payload"]').fill("{by: ana");
    await form.locator('button:has-text("Send")').click();
    assert.match((await eventually(() => textOf(page, 'form[aria-label="Send signal"] [role="alert"]'), "the JSON error")) ?? "", /The payload is not JSON/);
    // Refused by the signal's schema: the API's 422 message, and the task still waits.
    await form.locator('textarea[name="payload"]').fill('{"by": 7}');
    await form.locator('button:has-text("Send")').click();
    assert.equal(
      await eventually(() => textOf(page, 'form[aria-label="Send signal"] [role="alert"]').then((s) => (s?.startsWith("Input") ? s : undefined)), "the API's refusal"),
      'Input for "family.approval signal approve" is invalid at by: Expected the approver\'s name',
    );
    assert.equal((await outlast.get(approvalTask.id))?.state, "waiting");
    await screenshot(page, "dashboard-signal-refused");
    await form.locator('textarea[name="payload"]').fill('{"by": "ana"}');
    await form.locator('button:has-text("Send")').click();
    assert.match((await eventually(() => textOf(page, ".notice"), "the delivered note")) ?? "", /Signal "approve" delivered/);
    await eventually(() => textOf(page, ".task-summary .badge-succeeded"), "the approved task to succeed");
    assert.match((await eventually(() => textOf(page, 'section[aria-label="Result"] .json'), "the result")) ?? "", /"approvedBy": "ana"/);
    assert.equal(await page.locator('button:has-text("Send signal")').count(), 0, "nothing waits for a signal any more");
    await screenshot(page, "dashboard-signal-delivered");
  });
});

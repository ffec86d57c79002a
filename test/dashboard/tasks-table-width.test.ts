import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { openBrowser, screenshot } from "../support/browser.js";
import { until } from "../support/engine.js";
import { guardLeaks } from "../support/leaks.js";
import { dashboardServer, eventually } from "./support.js";

guardLeaks();

const WIDTH = 1360;

describe("the task table in Chromium", () => {
  test("fits a 1,360 px window: every row's action button is inside the viewport, with no sideways scrolling", async (t) => {
    // As the audiobook reports a chapter: a progress message as long as a chapter's title.
    const { outlast, url } = await dashboardServer(t, {
      define: (o) =>
        o.define("book.speak", {
          async run(_input, ctx) {
            ctx.progress({ current: 3, total: 12, message: "Chapter 3 — The Adventure of the Engineer's Thumb, read aloud" });
            await new Promise((resolve) => ctx.signal.addEventListener("abort", resolve, { once: true }));
            return null;
          },
        }),
    });
    // The widest cells a real table gets: owners that do not break (an anonymous session's id, an e-mail),
    // a failure's error, a waiting task's note and a running task's bar.
    const owners = ["anon_01m8t5q3er2yn2fecfb15cttaf7q2w9xk4c1", "someone.with.a.rather.long.address@example-company.com"];
    const failed = await outlast.submit("demo.count", { to: 3, everyMs: 0, failAt: 2 }, { owner: owners[0]!, maxAttempts: 1 });
    await until(async () => (await outlast.get(failed.id))?.state === "failed", "the failure");
    for (const owner of owners) await outlast.submit("demo.count", { to: 1 }, { owner, delayMs: 3_600_000 });
    const running = await outlast.submit("book.speak", {}, { owner: owners[1]! });
    t.after(() => outlast.cancel(running.id).catch(() => {}));

    const { page } = await openBrowser(t, { width: WIDTH, height: 900 });
    await page.goto(url);
    await page.evaluate(() => (location.hash = "#/tasks"));
    const buttons = page.locator('table[aria-label="Tasks"] tbody tr td:last-child button');
    await eventually(async () => ((await buttons.count()) === 4 ? true : undefined), "four rows with an action");
    await eventually(() => page.locator(`tr[data-task="${running.id}"] [role="progressbar"]`).count().then((n) => (n > 0 ? true : undefined)), "the running bar");
    await screenshot(page, "dashboard-tasks-1360");

    const boxes = await buttons.evaluateAll((els) =>
      els.map((el) => {
        // The card scrolls sideways: a button past its edge is hidden even inside the window.
        const card = el.closest(".card")!.getBoundingClientRect();
        const box = el.getBoundingClientRect();
        return { left: box.left, right: box.right, cardRight: card.right };
      }),
    );
    for (const box of boxes) {
      assert.ok(box.left >= 0 && box.right <= Math.min(WIDTH, box.cardRight), `an action button at ${box.left}–${box.right} px, outside the ${WIDTH} px window or its card (to ${box.cardRight} px)`);
    }
    const scrollWidth = await page.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(scrollWidth <= WIDTH, `the page is ${scrollWidth} px wide`);
  });
});

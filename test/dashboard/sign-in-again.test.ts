import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { serve } from "../../src/server/node.js";
import { openBrowser, screenshot } from "../support/browser.js";
import { guardLeaks } from "../support/leaks.js";
import { dashboardServer, eventually, textOf } from "./support.js";

guardLeaks();

const NEW_KEY = "dashboard-test-key-after-restart-0123";

describe("signing in again in Chromium", () => {
  test("when the server restarts with another admin key, the open dashboard shows its sign-in form and works again once signed in", async (t) => {
    const { outlast, server, url } = await dashboardServer(t);
    const { page } = await openBrowser(t);
    await page.goto(url);
    await eventually(() => textOf(page, 'tr[data-queue="default"]'), "the queues, signed in");

    // The same engine and port, another key: what a restart of `outlast serve` with a new key looks like to the page.
    const port = Number(new URL(server.url).port);
    await server.close(); // which also stops the workers
    await outlast.start();
    const again = await serve(outlast, { port, adminKey: NEW_KEY, secret: "dashboard-test-signing-secret-0123", logger: "silent", shutdownGraceMs: 0 });
    t.after(() => again.close());

    // The panels poll within 3-10 s; the live stream reconnects within its backoff.
    await eventually(() => page.locator("#admin-key").count().then((n) => (n > 0 ? true : undefined)), "the sign-in form", 30_000);
    assert.match((await textOf(page, ".login-card")) ?? "", /refused|sign in again/i);
    await screenshot(page, "dashboard-signed-out-after-key-change");

    await page.fill("#admin-key", NEW_KEY);
    await page.click('button[type="submit"]');
    await eventually(() => textOf(page, 'tr[data-queue="default"]'), "the queues after signing in again");
    const task = await outlast.submit("demo.count", { to: 200, everyMs: 20 }, { owner: "kim" });
    await eventually(() => textOf(page, `section[aria-label^="Running"] tr[data-task="${task.id}"]`), "a running task, live, with the new key");
    assert.equal(await page.locator(".error-note").count(), 0, "no panel shows an error");
    await outlast.cancel(task.id);
  });
});

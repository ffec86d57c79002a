import assert from "node:assert/strict";
import { test } from "node:test";
import { openBrowser } from "../support/browser.js";
import { guardLeaks } from "../support/leaks.js";
import { dashboardServer, eventually, textOf } from "./support.js";

guardLeaks();

test("the workers view lists a worker over HTTP, marked with its key, beside the processes", async (t) => {
  const { outlast, server, url } = await dashboardServer(t, { define: (o) => o.remote("tts.chapter", { queue: "tts" }) });
  const { secret } = await outlast.createWorkerKey({ name: "gpu boxes", queues: ["tts"] });
  const task = await outlast.submit("tts.chapter", { chapter: 1 });
  const claimed = await fetch(`${server.url}/api/v1/worker/claim`, {
    method: "POST",
    headers: { authorization: `Bearer ${secret}`, "content-type": "application/json" },
    body: JSON.stringify({ workerId: "gpu-box-1", names: ["tts.chapter"], host: "gpu-box", pid: 77 }),
  });
  assert.equal(((await claimed.json()) as { tasks: unknown[] }).tasks.length, 1);

  const { page } = await openBrowser(t);
  await page.goto(url);
  await page.click('nav[aria-label="Sections"] a:has-text("Workers")');
  const remote = 'tr[data-worker="gpu-box-1"]';
  assert.equal(await eventually(() => textOf(page, `${remote} [data-field="remote"]`), "the remote worker's mark"), "HTTP · gpu boxes");
  assert.match((await textOf(page, remote)) ?? "", /gpu-box · 77/);
  assert.ok(await textOf(page, `${remote} a[href="#/task/${task.id}"]`), "the task it holds");
  // The process running the library is listed too, and not marked.
  assert.ok(await eventually(() => textOf(page, `tr[data-worker="${outlast.workerId}"]`), "the process's row"));
  assert.equal(await page.locator(`tr[data-worker="${outlast.workerId}"] [data-field="remote"]`).count(), 0);
});

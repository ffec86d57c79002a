// The README's React page, built by Vite from the packed package, served on
// one origin and talking to the API on another (CORS, the anonymous session
// cookie), in real Chromium: the bar moves, a reload brings it back.
import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "node:test";
import { openBrowser } from "../support/browser.js";
import { guardLeaks } from "../support/leaks.js";
import { tempDir } from "../support/temp.js";
import { consumerApps, freePort, startApp, waitForHttp } from "./support.js";

guardLeaks();

test("useTask and useUnfinishedTasks in a Vite + React page: a bar that moves, back after a reload, to the end", async (t) => {
  const cwd = join(consumerApps().apps, "vite-react");
  const [apiPort, pagePort] = [await freePort(), await freePort()];
  const api = `http://127.0.0.1:${apiPort}`;
  const page = `http://127.0.0.1:${pagePort}`;
  const vite = "../node_modules/vite/bin/vite.js";

  const build = startApp(t, cwd, process.execPath, [vite, "build"], { VITE_OUTLAST_URL: api });
  assert.equal(await build.exited, 0, build.output());
  startApp(t, cwd, process.execPath, ["api.mjs"], { PORT: String(apiPort), APP_ORIGIN: page, OUTLAST_DB: join(tempDir(t), "outlast.db") });
  startApp(t, cwd, process.execPath, [vite, "preview", "--port", String(pagePort), "--strictPort", "--host", "127.0.0.1"]);
  await waitForHttp(`${api}/healthz`);
  await waitForHttp(page);

  const { page: tab } = await openBrowser(t);
  await tab.goto(page);
  await tab.getByRole("button", { name: "Count to 40" }).click();
  const row = tab.locator("li[data-task]");
  await row.waitFor({ timeout: 20_000 });
  const id = await row.getAttribute("data-task");
  const value = async () => Number(await tab.locator(`li[data-task="${id}"] progress`).getAttribute("value"));
  await tab.waitForFunction((taskId) => Number(document.querySelector(`li[data-task="${taskId}"] progress`)?.getAttribute("value")) > 0, id, { timeout: 20_000 });
  const first = await value();
  await tab.waitForFunction(([taskId, seen]) => Number(document.querySelector(`li[data-task="${taskId}"] progress`)?.getAttribute("value")) > Number(seen), [id, first] as const, { timeout: 20_000 });

  // A reload: no ids kept by the page, the session cookie brings the same owner back.
  const beforeReload = await value();
  await tab.reload();
  await tab.locator(`li[data-task="${id}"]`).waitFor({ timeout: 20_000 });
  await tab.waitForFunction(([taskId, seen]) => Number(document.querySelector(`li[data-task="${taskId}"] progress`)?.getAttribute("value")) >= Number(seen), [id, beforeReload] as const, { timeout: 20_000 });
  await tab.locator(`li[data-task="${id}"][data-state="succeeded"]`).waitFor({ timeout: 30_000 });
  assert.equal(await value(), 100);
  assert.equal(await tab.locator("li[data-task]").count(), 1, "one task, shown once");
});

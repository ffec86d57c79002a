// The README's Next.js recipe in a Next.js app that installed the packed
// package: `next build` evaluates the route and must open no database,
// `next start` serves the API under /jobs with resumable streams.
import assert from "node:assert/strict";
import { existsSync, rmSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { guardLeaks } from "../support/leaks.js";
import { tempDir } from "../support/temp.js";
import { checkMountedApi, consumerApps, freePort, startApp, waitForHttp } from "./support.js";

guardLeaks();

test("next build starts nothing; next start serves the API under /jobs, streams resume with Last-Event-ID", async (t) => {
  const cwd = join(consumerApps().apps, "next");
  rmSync(join(cwd, ".next"), { recursive: true, force: true });
  const db = join(tempDir(t), "outlast.db");
  const env = { OUTLAST_DB: db };
  const build = startApp(t, cwd, process.execPath, ["../node_modules/next/dist/bin/next", "build"], env);
  assert.equal(await build.exited, 0, build.output());
  assert.equal(existsSync(db), false, "next build opened the database: the route module made the engine at import");

  const port = await freePort();
  const server = startApp(t, cwd, process.execPath, ["../node_modules/next/dist/bin/next", "start", "-p", String(port), "-H", "127.0.0.1"], env);
  const base = `http://127.0.0.1:${port}`;
  await waitForHttp(`${base}/jobs/healthz`);
  await checkMountedApi(`${base}/jobs`);
  assert.ok(existsSync(db), "the first request made the engine");
  await server.stop();
});

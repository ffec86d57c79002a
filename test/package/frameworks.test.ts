// The README's Express 5, Fastify 5 and Hono recipes, run as written in apps
// that installed the packed package: mounted under /jobs beside the app's own
// JSON route, submit, follow the stream, reconnect with Last-Event-ID.
import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "node:test";
import { guardLeaks } from "../support/leaks.js";
import { tempDir } from "../support/temp.js";
import { ADMIN_KEY, checkMountedApi, consumerApps, freePort, startApp, statusOf, waitForHttp } from "./support.js";

guardLeaks();

for (const framework of ["express", "fastify", "hono"]) {
  test(`${framework}: the README recipe serves the API under /jobs beside the app's own routes`, async (t) => {
    const port = await freePort();
    const app = startApp(t, join(consumerApps().apps, framework), process.execPath, ["server.mjs"], {
      PORT: String(port),
      OUTLAST_DB: join(tempDir(t), "outlast.db"),
    });
    const base = `http://127.0.0.1:${port}`;
    await waitForHttp(`${base}/jobs/healthz`);
    await checkMountedApi(`${base}/jobs`, { echo: `${base}/api/echo` });

    // The dashboard finds its files and its API under the prefix too.
    assert.equal(await statusOf(`${base}/jobs/dashboard`), 200);
    assert.equal(await statusOf(`${base}/jobs/dashboard/app.js`), 200);
    const admin = { headers: { authorization: `Bearer ${ADMIN_KEY}` } };
    assert.equal(await statusOf(`${base}/jobs/api/v1/queues`, admin), 200);
    // Outlast answers only under its prefix.
    assert.equal(await statusOf(`${base}/api/v1/queues`, admin), 404);
    await app.stop();
  });
}

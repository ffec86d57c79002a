import { test } from "node:test";
import assert from "node:assert/strict";
import { defineDemoTask } from "../../src/cli/demo-task.js";
import { OutlastClient, type ConnectionView, type Task } from "../../src/client/index.js";
import { browserWakeups } from "../../src/client/wakeups.js";
import { Outlast } from "../../src/engine/outlast.js";
import { serve } from "../../src/server/node.js";
import { sqliteStore } from "../../src/store/sqlite/index.js";
import { guardLeaks } from "../support/leaks.js";
import { tempDbPath } from "../support/temp.js";
import { ADMIN_KEY, quietLogger, SECRET, until } from "./harness.js";

guardLeaks();

/** Timers that never fire: only a wakeup can end a backoff, so the test sees what the `online` event does. */
const stalled = { after: () => () => {} };

test("a real server stops and comes back on the same port: the client reconnects on the browser's online event and the watch goes on", async (t) => {
  const outlast = new Outlast({ store: sqliteStore({ path: tempDbPath(t) }), pollIntervalMs: 100, logger: quietLogger });
  defineDemoTask(outlast);
  t.after(() => outlast.close({ graceMs: 0 }));
  await outlast.start();
  const options = { adminKey: ADMIN_KEY, secret: SECRET, logger: "silent", shutdownGraceMs: 0 } as const;
  const first = await serve(outlast, { port: 0, ...options });
  let second: Awaited<ReturnType<typeof serve>> | null = null;
  t.after(async () => {
    await first.close();
    await second?.close();
  });

  // Delayed: unfinished for the whole test.
  const task = await outlast.submit("demo.count", { to: 1 }, { delayMs: 3_600_000 });
  const win = new EventTarget();
  const doc = Object.assign(new EventTarget(), { visibilityState: "visible" });
  const client = new OutlastClient({ baseUrl: first.url, token: ADMIN_KEY, storage: null, timers: stalled, wakeups: browserWakeups(win, doc) });
  t.after(() => client.close());
  const views: ConnectionView[] = [];
  let seen: Task | null = null;
  client.watch(task.id, { onTask: (x) => (seen = x), onConnectionChange: (_state, view) => views.push(view) });
  await until(() => client.connectionState === "open" && seen !== null, "the stream open", 15_000);

  await first.close();
  await until(() => client.connectionView.lost, "the client to see the connection lost", 15_000);

  // While the server is still down an online event makes one attempt, which fails: still lost.
  const attemptsBefore = views.filter((v) => v.state === "connecting").length;
  win.dispatchEvent(new Event("online"));
  await until(() => views.filter((v) => v.state === "connecting").length > attemptsBefore && client.connectionState === "backoff", "an attempt that fails", 15_000);
  assert.equal(client.connectionView.lost, true);

  second = await serve(outlast, { port: first.port, ...options });
  await outlast.start(); // closing the first server stopped the workers, as a restart would
  win.dispatchEvent(new Event("online"));
  await until(() => client.connectionState === "open", "the reconnect after the online event", 15_000);
  assert.equal(client.connectionView.lost, false);

  await outlast.cancel(task.id);
  await until(() => (seen as Task | null)?.state === "canceled", "the cancel, live over the new stream", 15_000);
});

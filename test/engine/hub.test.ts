// The hub's fan-out to many watchers of one task: every listener gets every
// event of the live feed, once and in order.
import assert from "node:assert/strict";
import { test } from "node:test";
import type { StoredEvent } from "../../src/core/events.js";
import { Hub } from "../../src/engine/hub.js";
import { claimOne, submitRequest, T0 } from "../../src/store/contract/support.js";
import { sqliteStore } from "../../src/store/sqlite/index.js";
import { guardLeaks } from "../support/leaks.js";
import { tempDbPath } from "../support/temp.js";

guardLeaks();

test("2,000 listeners of one task each get every event once and in order", async (t) => {
  const store = sqliteStore({ path: tempDbPath(t) });
  t.after(() => store.close());
  await store.init();
  const hub = new Hub(store);
  t.after(() => hub.close());
  const request = submitRequest();
  const seen: number[][] = Array.from({ length: 2_000 }, () => []);
  let served = 0;
  const stops = seen.map((list) =>
    hub.onTask(request.id, (event: StoredEvent) => {
      served++;
      list.push(event.seq);
    }),
  );
  t.after(() => stops.forEach((stop) => stop()));

  await store.submit(request, T0);
  const claimed = await claimOne(store, T0);
  for (let i = 1; i <= 3; i++) await store.recordProgress(claimed.lease, { percent: i * 25 }, T0 + i);
  await store.finish(claimed.lease, { state: "succeeded", result: null }, T0 + 10);
  // The live feed carries every event, superseded progress too (the log keeps only the last of a run).
  const last = (await store.getTask(request.id))!.lastSeq;
  const seqs = Array.from({ length: last }, (_, i) => i + 1);
  for (let i = 0; i < 200 && served < seqs.length * seen.length; i++) await new Promise((resolve) => setImmediate(resolve));

  assert.equal(served, seqs.length * seen.length, "every listener got every event");
  const wrong = seen.find((list) => list.join() !== seqs.join());
  assert.equal(wrong, undefined, `each in order, none twice: ${wrong?.join()} for ${seqs.join()}`);
});

import assert from "node:assert/strict";
import { test } from "node:test";
import { OutlastClient, OutlastClientError } from "../../src/client/index.js";
import type { Outlast } from "../../src/engine/outlast.js";
import { UnrecoverableError } from "../../src/index.js";
import { mintOwnerToken } from "../../src/server/index.js";
import { guardLeaks } from "../support/leaks.js";
import { ADMIN_KEY, harness, listenServer, SECRET, until } from "./harness.js";

guardLeaks();

function define(outlast: Outlast): void {
  outlast.define("cb.fail", {
    queue: "cbq",
    maxAttempts: 1,
    run(input: { code: string }) {
      throw new UnrecoverableError(`failed with ${input.code}`, { code: input.code });
    },
  });
  // No worker runs its queue here: its tasks stay queued.
  outlast.define("cb.idle", { queue: "cbw", run: () => "never" });
}

test("client.bulk cancels, retries and redrives a filter's tasks on a real server and answers how many", async (t) => {
  const h = await harness(t, { define });
  await h.outlast.start({ queues: ["cbq"] });
  const { base } = await listenServer(t, h.handler);
  const client = new OutlastClient({ baseUrl: base, token: ADMIN_KEY, storage: null });
  t.after(() => client.close());
  const attempts = async () => (await h.outlast.listRecords({ name: "cb.fail" })).tasks.reduce((sum, task) => sum + (task.state === "failed" ? task.attempt : 0), 0);

  const before = new Date(Date.now() - 1000);
  for (const code of ["x", "y", "x"]) await client.submit("cb.fail", { code });
  await until(async () => (await attempts()) === 3, "three failed attempts");
  const idle = await Promise.all([1, 2].map(async () => (await client.submit("cb.idle", {}, { owner: "bob" })).task.id));

  assert.equal(await client.bulk("cancel", { queue: "cbq" }), 0, "finished tasks are not canceled");
  assert.equal(await client.bulk("redrive", { queue: "cbq", code: "y" }), 1);
  await until(async () => (await attempts()) === 4, "the redriven task to fail again");
  assert.equal(await client.bulk("retry", { name: "cb.fail", since: before }), 3, "a Date is sent as ISO text");
  await until(async () => (await attempts()) === 7, "the retried tasks to fail again");
  assert.equal(await client.bulk("cancel", { owner: "bob", until: Date.now() + 60_000 }), 2, "epoch milliseconds too");
  for (const id of idle) assert.equal((await client.get(id)).state, "canceled");
  assert.equal(await client.bulk("cancel", { owner: "bob", since: new Date(Date.now() + 60_000).toISOString() }), 0, "nothing created after a future time");

  await assert.rejects(client.bulk("cancel", {}), (e: unknown) => e instanceof OutlastClientError && e.status === 400 && e.code === "bad_request", "an empty filter");
  await assert.rejects(client.bulk("cancel", { since: Number.NaN }), (e: unknown) => e instanceof OutlastClientError && e.code === "bad_request" && /since/.test(e.message), "a time that is no time");
  await assert.rejects(client.bulk("cancel", { since: "last week" }), (e: unknown) => e instanceof OutlastClientError && e.code === "bad_request");
  const alice = new OutlastClient({ baseUrl: base, token: (await mintOwnerToken(h.outlast, { owner: "alice", secret: SECRET })).token, storage: null });
  t.after(() => alice.close());
  await assert.rejects(alice.bulk("cancel", { owner: "alice" }), (e: unknown) => e instanceof OutlastClientError && e.status === 403 && e.code === "forbidden");
});

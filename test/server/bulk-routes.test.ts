import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { UnrecoverableError } from "../../src/index.js";
import { mintOwnerToken } from "../../src/server/index.js";
import type { Outlast } from "../../src/engine/outlast.js";
import { guardLeaks } from "../support/leaks.js";
import { harness, json, SECRET, until, type Harness } from "./harness.js";

guardLeaks();

type Err = { error: { code: string; message: string; details?: unknown } };

async function expectError(response: Response, status: number, code: string): Promise<Err> {
  const body = await json<Err>(response);
  assert.equal(response.status, status, JSON.stringify(body));
  assert.equal(body.error.code, code);
  return body;
}

function define(outlast: Outlast): void {
  outlast.define("bk.fail", {
    queue: "bq",
    maxAttempts: 1,
    run(input: { code: string }) {
      throw new UnrecoverableError(`failed with ${input.code}`, { code: input.code });
    },
  });
  // Its queue has no worker in these tests: its tasks stay queued.
  outlast.define("bk.idle", { queue: "bw", run: () => "never" });
}

async function bulk(h: Harness, action: string, filter: Record<string, unknown>): Promise<number> {
  const response = await h.request("/api/v1/tasks/bulk", { method: "POST", json: { action, filter } });
  const body = await json<{ count: number }>(response);
  assert.equal(response.status, 200, JSON.stringify(body));
  return body.count;
}

/** Every bk.fail task failed, after `attempts` attempts in all. */
async function allFailed(h: Harness, attempts: number): Promise<void> {
  await until(async () => {
    const tasks = (await h.outlast.listRecords({ name: "bk.fail" })).tasks;
    return tasks.every((task) => task.state === "failed") && tasks.reduce((sum, task) => sum + task.attempt, 0) === attempts;
  }, `the bk.fail tasks to fail after ${attempts} attempts`);
}

describe("POST /api/v1/tasks/bulk", () => {
  test("cancel, retry and redrive every task of a filter and answer how many they touched", async (t) => {
    const h = await harness(t, { define });
    await h.outlast.start({ queues: ["bq"] });
    const before = new Date(Date.now() - 1000).toISOString();
    for (const code of ["x", "y", "x", "y", "x"]) await h.outlast.submit("bk.fail", { code });
    await allFailed(h, 5);
    const idle = [];
    for (let i = 0; i < 3; i++) idle.push((await h.outlast.submit("bk.idle", {})).id);

    assert.equal(await bulk(h, "cancel", { until: before }), 0, "nothing was created before");
    assert.equal(await bulk(h, "cancel", { queue: "bq" }), 0, "finished tasks are not canceled");
    // Narrowed by owner: paged through the task list, by ids.
    assert.equal(await bulk(h, "redrive", { owner: "anonymous", code: "y" }), 2);
    await allFailed(h, 7);
    // 5 failed + 3 queued: retry touches the failed ones only.
    assert.equal(await bulk(h, "retry", { owner: "anonymous" }), 5);
    await allFailed(h, 12);
    assert.equal(await bulk(h, "cancel", { owner: "anonymous", since: before }), 3);
    for (const id of idle) assert.equal((await h.outlast.get(id))?.state, "canceled");
    assert.equal(await bulk(h, "cancel", { queue: "bw" }), 0, "canceled already: skipped");
    assert.equal(await bulk(h, "retry", { queue: "bw", state: "queued" }), 0, "retry takes no queued task");
    assert.equal(await bulk(h, "retry", { queue: "bw", state: "canceled" }), 3);
    // By queue, name and code only: the dead-letter redrive by filter.
    assert.equal(await bulk(h, "redrive", { queue: "bq", code: "x" }), 3);
    await allFailed(h, 15);
    assert.equal(await bulk(h, "redrive", { name: "bk.idle" }), 0, "no dead letters there");
  });

  test("bad bodies answer 400 bad_request; only the admin key may use it", async (t) => {
    const h = await harness(t, { define });
    const path = "/api/v1/tasks/bulk";
    const bad = async (body: unknown) => expectError(await h.request(path, { method: "POST", json: body }), 400, "bad_request");
    await bad({ action: "delete", filter: { queue: "bw" } });
    await bad({ action: "cancel" });
    await bad({ filter: { queue: "bw" } });
    await bad({ action: "cancel", filter: {} });
    await bad({ action: "cancel", filter: { queue: "bw" }, force: true });
    const unknown = await bad({ action: "cancel", filter: { queue: "bw", colour: "red" } });
    assert.match(unknown.error.message, /colour/);
    await bad({ action: "cancel", filter: { since: "yesterday" } });
    await bad({ action: "cancel", filter: { until: 5 } });
    await bad({ action: "cancel", filter: { state: "done" } });
    await bad({ action: "cancel", filter: { queue: "" } });
    await bad({ action: "cancel", filter: "bw" });
    await bad([]);
    await expectError(await h.request(path, { method: "POST", body: "not json", headers: { "content-type": "application/json" } }), 400, "bad_request");
    await assert.rejects(h.outlast.bulk("cancel", {}), (error: Error & { code?: string }) => error.code === "bad_request");
    await assert.rejects(h.outlast.bulk("cancel", { queue: "bw", colour: "red" } as never), (error: Error & { code?: string }) => error.code === "bad_request");

    const alice = (await mintOwnerToken(h.outlast, { owner: "alice", secret: SECRET })).token;
    await expectError(await h.request(path, { method: "POST", token: alice, json: { action: "cancel", filter: { owner: "alice" } } }), 403, "forbidden");
    await expectError(await h.request(path, { method: "POST", token: null, json: { action: "cancel", filter: { owner: "alice" } } }), 401, "unauthorized");
  });
});

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { UnrecoverableError } from "../../src/index.js";
import { mintOwnerToken } from "../../src/server/index.js";
import type { Outlast } from "../../src/engine/outlast.js";
import { guardLeaks } from "../support/leaks.js";
import { expectError, harness, json, SECRET, until } from "./harness.js";

guardLeaks();

type DeadTask = { id: string; name: string; queue: string; state: string; deadLetter: boolean; error: { code?: string } | null };
type Page = { tasks: DeadTask[]; nextCursor: string | null };


function define(outlast: Outlast): void {
  outlast.queue("dq", { deadLetter: "dr.notify" });
  outlast.define("dr.fail", {
    queue: "dq",
    maxAttempts: 1,
    async run(input: { code: string }, ctx) {
      await ctx.step("once", () => "done");
      throw new UnrecoverableError(`failed with ${input.code}`, { code: input.code });
    },
  });
  outlast.define("dr.notify", { run: () => "noted" });
}

describe("dead letters over HTTP", () => {
  test("GET /api/v1/dead lists them newest first with filters and pages; redrive and purge by ids and by filter answer a count", async (t) => {
    const h = await harness(t, { start: true, define });
    const ids: string[] = [];
    for (const code of ["a", "b", "a"]) {
      ids.push((await h.outlast.submit("dr.fail", { code })).id);
      await until(async () => (await h.outlast.get(ids.at(-1)!))?.state === "failed", "the task to fail");
    }
    const all = await json<Page>(await h.request("/api/v1/dead"));
    assert.deepEqual(all.tasks.map((task) => task.id), [...ids].reverse());
    assert.ok(all.tasks.every((task) => task.deadLetter && task.queue === "dq"));
    const onlyA = await json<Page>(await h.request("/api/v1/dead?code=a&queue=dq&name=dr.fail"));
    assert.deepEqual(onlyA.tasks.map((task) => task.id), [ids[2], ids[0]]);
    const first = await json<Page>(await h.request("/api/v1/dead?limit=2"));
    assert.equal(first.tasks.length, 2);
    const rest = await json<Page>(await h.request(`/api/v1/dead?limit=2&cursor=${encodeURIComponent(first.nextCursor!)}`));
    assert.deepEqual(rest.tasks.map((task) => task.id), [ids[0]]);
    assert.equal(rest.nextCursor, null);
    assert.equal((await json<Page>(await h.request(`/api/v1/dead?since=${encodeURIComponent(new Date(Date.now() + 60_000).toISOString())}`))).tasks.length, 0);
    await expectError(await h.request("/api/v1/dead?cursor=made-up"), 400, "bad_cursor");
    await expectError(await h.request("/api/v1/dead?since=yesterday"), 400, "bad_request");

    // The queue's dead-letter handler ran once for each.
    await until(async () => (await h.outlast.list({ name: "dr.notify", state: "succeeded" })).tasks.length === 3, "a handler task per dead letter");
    const notes = (await h.outlast.listRecords({ name: "dr.notify" })).tasks;
    assert.deepEqual(notes.map((note) => (note.input as { taskId: string }).taskId).sort(), [...ids].sort());
    assert.deepEqual(notes.find((note) => (note.input as { taskId: string }).taskId === ids[1])?.input, {
      taskId: ids[1],
      name: "dr.fail",
      queue: "dq",
      owner: "anonymous",
      error: { message: "failed with b", code: "b", unrecoverable: true },
    });

    const redrive = await h.request("/api/v1/dead/redrive", { method: "POST", json: { ids: [ids[1]] } });
    assert.equal(redrive.status, 200);
    assert.deepEqual(await json(redrive), { count: 1 });
    await until(async () => (await h.outlast.get(ids[1]!))?.state === "failed" && (await h.outlast.get(ids[1]!))!.attempt === 2, "the redriven task to run again");
    const purge = await h.request("/api/v1/dead/purge", { method: "POST", json: { filter: { code: "a" } } });
    assert.deepEqual(await json(purge), { count: 2 });
    assert.equal(await h.outlast.get(ids[0]!), null);
    assert.deepEqual((await json<Page>(await h.request("/api/v1/dead"))).tasks.map((task) => task.id), [ids[1]]);
    assert.deepEqual(await json(await h.request("/api/v1/dead/redrive", { method: "POST", json: { filter: {} } })), { count: 1 });
  });

  test("bad bodies answer 400 bad_request, and only the admin key may use the routes", async (t) => {
    const h = await harness(t, { define });
    for (const action of ["redrive", "purge"]) {
      const path = `/api/v1/dead/${action}`;
      await expectError(await h.request(path, { method: "POST", json: { ids: ["tsk_1"], filter: {} } }), 400, "bad_request");
      await expectError(await h.request(path, { method: "POST", json: {} }), 400, "bad_request");
      await expectError(await h.request(path, { method: "POST", json: { ids: [] } }), 400, "bad_request");
      await expectError(await h.request(path, { method: "POST", json: { ids: "tsk_1" } }), 400, "bad_request");
      await expectError(await h.request(path, { method: "POST", json: { ids: ["tsk_1"], force: true } }), 400, "bad_request");
      await expectError(await h.request(path, { method: "POST", json: { filter: { queue: "dq", state: "failed" } } }), 400, "bad_request");
      await expectError(await h.request(path, { method: "POST", json: { filter: { since: "not a time" } } }), 400, "bad_request");
      assert.deepEqual(await json(await h.request(path, { method: "POST", json: { ids: ["tsk_nothing"] } })), { count: 0 });
    }
    const alice = (await mintOwnerToken(h.outlast, { owner: "alice", secret: SECRET })).token;
    await expectError(await h.request("/api/v1/dead", { token: alice }), 403, "forbidden");
    await expectError(await h.request("/api/v1/dead/redrive", { method: "POST", token: alice, json: { filter: {} } }), 403, "forbidden");
    await expectError(await h.request("/api/v1/dead/purge", { method: "POST", token: alice, json: { filter: {} } }), 403, "forbidden");
  });
});

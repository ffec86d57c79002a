import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { z } from "zod";
import { mintOwnerToken } from "../../src/server/index.js";
import type { Outlast } from "../../src/engine/outlast.js";
import { guardLeaks } from "../support/leaks.js";
import { expectError, harness, json, SECRET, until } from "./harness.js";

guardLeaks();

type TaskBody = { task: { id: string; state: string; parentId: string | null; waitingFor: { kind: string; name?: string } | null; progress: Record<string, unknown> }; token: string };


function define(outlast: Outlast): void {
  outlast.define("fr.child", { run: (input: { n: number }) => input.n * 10 });
  outlast.define("fr.join", { run: (input: { children: { result: number }[] }) => input.children.reduce((sum, c) => sum + c.result, 0) });
  outlast.define("fr.approve", {
    signals: { approved: z.object({ by: z.string() }) },
    async run(_input, ctx) {
      return ctx.waitForSignal("approved");
    },
  });
}

describe("groups, children and signals over HTTP", () => {
  test("POST /api/v1/groups runs the children then the then task; the children page lists them for the owner only", async (t) => {
    const h = await harness(t, { start: true, define });
    const alice = (await mintOwnerToken(h.outlast, { owner: "alice", secret: SECRET })).token;
    const bob = (await mintOwnerToken(h.outlast, { owner: "bob", secret: SECRET })).token;
    const submit = await h.request("/api/v1/groups", {
      method: "POST",
      token: alice,
      json: { name: "fr.group", idempotencyKey: "g1", children: [1, 2, 3].map((n) => ({ name: "fr.child", input: { n } })), then: { name: "fr.join", input: {} } },
    });
    assert.equal(submit.status, 202);
    const { task, token } = await json<TaskBody>(submit);
    assert.equal(task.state, "waiting");
    const again = await h.request("/api/v1/groups", {
      method: "POST",
      token: alice,
      json: { name: "fr.group", idempotencyKey: "g1", children: [{ name: "fr.child", input: { n: 9 } }] },
    });
    assert.equal(again.status, 200, "the same key attaches to the group");
    await until(async () => (await h.outlast.get(task.id))?.state === "succeeded", "the group to end");
    const ended = await json<TaskBody>(await h.request(`/api/v1/tasks/${task.id}`, { token }));
    assert.equal((ended.task as unknown as { result: number }).result, 60);
    assert.equal((ended.task.progress as { percent: number }).percent, 100);

    const page = await json<{ tasks: TaskBody["task"][]; nextCursor: string | null }>(await h.request(`/api/v1/tasks/${task.id}/children?limit=2`, { token: alice }));
    assert.equal(page.tasks.length, 2);
    assert.ok(page.tasks.every((c) => c.parentId === task.id));
    const rest = await json<{ tasks: unknown[]; nextCursor: string | null }>(
      await h.request(`/api/v1/tasks/${task.id}/children?cursor=${encodeURIComponent(page.nextCursor!)}`, { token: alice }),
    );
    assert.equal(rest.tasks.length, 2, "the third child and the then task");
    assert.equal(rest.nextCursor, null);
    await expectError(await h.request(`/api/v1/tasks/${task.id}/children`, { token: bob }), 404, "not_found");
    assert.equal((await h.request(`/api/v1/tasks/${task.id}/children`, { token })).status, 200, "the group's task token reads its children");
  });

  test("POST /api/v1/groups refuses bad bodies with clear codes and stores nothing", async (t) => {
    const h = await harness(t, { define });
    const post = (body: unknown) => h.request("/api/v1/groups", { method: "POST", json: body });
    await expectError(await post({ name: "g", children: [] }), 400, "bad_request");
    await expectError(await post({ name: "g" }), 400, "bad_request");
    await expectError(await post({ name: "g", children: [{ name: "fr.child", inputs: {} }] }), 400, "bad_request");
    await expectError(await post({ name: "g", children: [{ name: "no.such" }] }), 404, "unknown_task_name");
    await expectError(await post({ name: "g", children: [{ name: "fr.child", key: "a" }, { name: "fr.child", key: "a" }] }), 400, "bad_request");
    await expectError(await post({ name: "g", children: [{ name: "fr.child" }], failure: "sometimes" }), 400, "bad_request");
    await expectError(await post({ name: "g", children: [{ name: "fr.child" }], then: { name: "no.such" } }), 404, "unknown_task_name");
    await expectError(await post({ name: "bad name!", children: [{ name: "fr.child" }] }), 400, "bad_request");
    assert.equal((await h.outlast.list()).tasks.length, 0);
  });

  test("signals: 202 while waiting (owner or task token), 422 for a bad payload (it keeps waiting), 409 once finished, 404 for another owner", async (t) => {
    const h = await harness(t, { start: true, define });
    const alice = (await mintOwnerToken(h.outlast, { owner: "alice", secret: SECRET })).token;
    const bob = (await mintOwnerToken(h.outlast, { owner: "bob", secret: SECRET })).token;
    const { task, token } = await json<TaskBody>(await h.request("/api/v1/tasks", { method: "POST", token: alice, json: { name: "fr.approve" } }));
    await until(async () => (await h.outlast.get(task.id))?.state === "waiting", "the task to wait");
    const waiting = await json<TaskBody>(await h.request(`/api/v1/tasks/${task.id}`, { token: alice }));
    assert.deepEqual(waiting.task.waitingFor, { kind: "signal", name: "approved", until: null });
    const listed = await json<{ tasks: { id: string }[] }>(await h.request("/api/v1/tasks?state=waiting", { token: alice }));
    assert.deepEqual(listed.tasks.map((x) => x.id), [task.id]);

    const signal = (payload: unknown, as: string, name = "approved") =>
      h.request(`/api/v1/tasks/${task.id}/signals/${name}`, { method: "POST", token: as, json: { payload } });
    await expectError(await signal({ by: 1 }, alice), 422, "invalid_input");
    assert.equal((await h.outlast.get(task.id))?.state, "waiting");
    await expectError(await signal({ by: "bob" }, bob), 404, "not_found");
    await expectError(await h.request(`/api/v1/tasks/${task.id}/signals/approved`, { method: "POST", token: alice, json: { payload: 1, extra: 2 } }), 400, "bad_request");
    await expectError(await signal(1, alice, "bad name!"), 400, "bad_request");
    const sent = await signal({ by: "ana" }, token);
    assert.equal(sent.status, 202);
    assert.equal((await json<{ delivered: boolean }>(sent)).delivered, true);
    await until(async () => (await h.outlast.get(task.id))?.state === "succeeded", "the task to finish");
    assert.deepEqual((await h.outlast.get(task.id))?.result, { by: "ana" });
    await expectError(await signal({ by: "ana" }, alice), 409, "conflict");
  });
});

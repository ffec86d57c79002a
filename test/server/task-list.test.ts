import assert from "node:assert/strict";
import { test } from "node:test";
import { mintOwnerToken } from "../../src/server/index.js";
import { guardLeaks } from "../support/leaks.js";
import { harness, json, SECRET } from "./harness.js";

guardLeaks();

type Page = { tasks: { id: string; owner: string }[]; nextCursor: string | null };
type Err = { error: { code: string; message: string; details?: unknown } };

async function twoOwners(t: import("node:test").TestContext) {
  const h = await harness(t);
  const alice = (await mintOwnerToken(h.outlast, { owner: "alice", secret: SECRET })).token;
  const submit = async (token: string) => h.request("/api/v1/tasks", { method: "POST", token, json: { name: "demo.count", input: { to: 1 } } });
  for (let i = 0; i < 3; i++) assert.equal((await submit(alice)).status, 202);
  assert.equal((await h.request("/api/v1/tasks", { method: "POST", json: { name: "demo.count", input: { to: 1 }, owner: "bob" } })).status, 202);
  return { h, alice };
}

test("an owner token that asks for another owner's list is refused 403, not answered with its own", async (t) => {
  const { h, alice } = await twoOwners(t);
  const refused = await h.request("/api/v1/tasks?owner=bob", { token: alice });
  const body = await json<Err>(refused);
  assert.equal(refused.status, 403, JSON.stringify(body));
  assert.equal(body.error.code, "forbidden");
  assert.match(body.error.message, /owner/);

  const own = await h.request("/api/v1/tasks?owner=alice", { token: alice });
  assert.equal(own.status, 200);
  assert.deepEqual(new Set((await json<Page>(own)).tasks.map((task) => task.owner)), new Set(["alice"]));
  const bobs = await json<Page>(await h.request("/api/v1/tasks?owner=bob"));
  assert.deepEqual(bobs.tasks.map((task) => task.owner), ["bob"], "the admin key still lists any owner");
});

test("a cursor the server did not give out answers 400 bad_cursor; its own cursors page on", async (t) => {
  const { h, alice } = await twoOwners(t);
  const first = await json<Page>(await h.request("/api/v1/tasks?limit=2", { token: alice }));
  assert.equal(first.tasks.length, 2);
  assert.ok(first.nextCursor !== null);
  const second = await json<Page>(await h.request(`/api/v1/tasks?limit=2&cursor=${encodeURIComponent(first.nextCursor)}`, { token: alice }));
  assert.equal(second.tasks.length, 1);
  assert.equal(second.nextCursor, null);
  assert.ok(!first.tasks.some((task) => task.id === second.tasks[0]!.id));

  const tampered = first.nextCursor.replace(/^./, (c) => (c === "1" ? "2" : "1"));
  for (const cursor of ["garbage", "not-a-cursor", "!!!", "0", "zzzzzzzzzzzz", tampered, `${first.nextCursor}x`, " "]) {
    const response = await h.request(`/api/v1/tasks?cursor=${encodeURIComponent(cursor)}`, { token: alice });
    const body = await json<Err>(response);
    assert.equal(response.status, 400, `${cursor}: ${JSON.stringify(body)}`);
    assert.equal(body.error.code, "bad_cursor", cursor);
    assert.deepEqual(body.error.details, { field: "cursor" });
  }
});

test("q finds tasks by a prefix of id, owner or name: an owner among its own, the admin among all, page by page", async (t) => {
  const { h, alice } = await twoOwners(t);
  const all = await json<Page>(await h.request("/api/v1/tasks"));
  const bobs = all.tasks.filter((task) => task.owner === "bob");
  assert.equal(bobs.length, 1);

  const admin = await json<Page>(await h.request("/api/v1/tasks?q=bo"));
  assert.deepEqual(admin.tasks.map((task) => task.id), [bobs[0]!.id], "owner prefix");
  const byName = await json<Page>(await h.request("/api/v1/tasks?q=demo."));
  assert.equal(byName.tasks.length, 4, "name prefix, every owner for the admin");
  const byId = await json<Page>(await h.request(`/api/v1/tasks?q=${encodeURIComponent(bobs[0]!.id.slice(0, -3))}`));
  assert.deepEqual(byId.tasks.map((task) => task.id), [bobs[0]!.id], "id prefix");
  assert.deepEqual((await json<Page>(await h.request("/api/v1/tasks?q=%25"))).tasks, [], "a % is literal");

  const own = await json<Page>(await h.request("/api/v1/tasks?q=bo", { token: alice }));
  assert.deepEqual(own.tasks, [], "an owner never finds another owner's tasks");
  const first = await json<Page>(await h.request("/api/v1/tasks?q=demo&limit=2", { token: alice }));
  assert.equal(first.tasks.length, 2);
  assert.ok(first.nextCursor !== null);
  const second = await json<Page>(await h.request(`/api/v1/tasks?q=demo&limit=2&cursor=${encodeURIComponent(first.nextCursor)}`, { token: alice }));
  assert.equal(second.tasks.length, 1);
  assert.equal(second.nextCursor, null);
  assert.deepEqual(new Set([...first.tasks, ...second.tasks].map((task) => task.owner)), new Set(["alice"]));

  for (const q of ["", "x".repeat(513), "a\u0000b"]) {
    const response = await h.request(`/api/v1/tasks?q=${encodeURIComponent(q)}`);
    const body = await json<Err>(response);
    assert.equal(response.status, 400, `${JSON.stringify(q)}: ${JSON.stringify(body)}`);
    assert.equal(body.error.code, "bad_request");
    assert.deepEqual(body.error.details, { field: "q" });
  }
});

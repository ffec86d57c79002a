import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { guardLeaks } from "../support/leaks.js";
import { harness, json, SECRET, ADMIN_KEY, until } from "./harness.js";
import { signOwnerToken } from "../../src/server/tokens.js";
import { mintOwnerToken } from "../../src/server/index.js";

guardLeaks();

type Body = { task: Record<string, unknown>; token: string };
type Err = { error: { code: string; message: string; details?: unknown } };

async function expectError(response: Response, status: number, code: string): Promise<Err> {
  const body = await json<Err>(response);
  assert.equal(response.status, status, JSON.stringify(body));
  assert.equal(body.error.code, code);
  assert.equal(typeof body.error.message, "string");
  return body;
}

const key = new TextEncoder().encode(SECRET);

describe("tasks routes", () => {
  test("submit answers 202 with the task and a task token; the same idempotency key answers 200 with it", async (t) => {
    const h = await harness(t);
    const first = await h.request("/api/v1/tasks", { method: "POST", json: { name: "demo.count", input: { to: 3 }, idempotencyKey: "k1" } });
    assert.equal(first.status, 202);
    const created = await json<Body>(first);
    assert.equal(created.task.state, "queued");
    assert.equal(created.task.owner, "anonymous");
    assert.match(created.token, /^ey/);
    const again = await h.request("/api/v1/tasks", { method: "POST", json: { name: "demo.count", input: { to: 3 }, idempotencyKey: "k1" } });
    assert.equal(again.status, 200);
    assert.equal((await json<Body>(again)).task.id, created.task.id);
    // The task token reads that task.
    const read = await h.request(`/api/v1/tasks/${created.task.id as string}`, { token: created.token });
    assert.equal(read.status, 200);
  });

  test("submit refuses bad requests with the documented codes and stores nothing", async (t) => {
    const h = await harness(t, { bodyLimitBytes: 1024 });
    const post = (init: RequestInit & { json?: unknown }) => h.request("/api/v1/tasks", { method: "POST", ...init });
    await expectError(await post({ json: { name: "no.such", input: {} } }), 404, "unknown_task_name");
    const invalid = await expectError(await post({ json: { name: "demo.count", input: { to: "ten" } } }), 422, "invalid_input");
    assert.ok(Array.isArray(invalid.error.details));
    assert.deepEqual((invalid.error.details as { path: unknown[] }[])[0]!.path, ["to"]);
    await expectError(await post({ body: "{not json", headers: { "content-type": "application/json" } }), 400, "bad_request");
    await expectError(await post({ body: "" }), 400, "bad_request");
    await expectError(await post({ json: { name: 42 } }), 400, "bad_request");
    await expectError(await post({ json: [1, 2] }), 400, "bad_request");
    await expectError(await post({ json: { name: "demo.count", input: { to: 1 }, priority: "high" } }), 400, "bad_request");
    await expectError(await post({ json: { name: "demo.count", input: { to: 1 }, delayMs: -5 } }), 400, "bad_request");
    await expectError(await post({ json: { name: "demo.count", input: { to: 1 }, idempotencyKey: "lone \ud800" } }), 400, "bad_request");
    await expectError(await post({ json: { name: "demo.count", input: { to: 1, pad: "x".repeat(2000) } } }), 413, "payload_too_large");
    const page = await json<{ tasks: unknown[] }>(await h.request("/api/v1/tasks"));
    assert.equal(page.tasks.length, 0);
  });

  test("POST /api/v1/tasks/batch submits one task per input, in order, all or none", async (t) => {
    const h = await harness(t);
    const minted = await json<{ token: string }>(await h.request("/api/v1/tokens", { method: "POST", json: { owner: "erin" } }));
    const batch = (body: unknown, token = minted.token) => h.request("/api/v1/tasks/batch", { method: "POST", token, json: body });
    const ok = await batch({ name: "demo.count", inputs: [{ to: 1 }, { to: 2 }, { to: 3 }], priority: 3 });
    assert.equal(ok.status, 202);
    const { tasks } = await json<{ tasks: { id: string; owner: string; priority: number; state: string }[] }>(ok);
    assert.deepEqual(
      tasks.map((task) => [task.owner, task.priority, task.state]),
      tasks.map(() => ["erin", 3, "queued"]),
    );
    const invalid = await expectError(await batch({ name: "demo.count", inputs: [{ to: 1 }, { to: "x" }] }), 422, "invalid_input");
    assert.deepEqual((invalid.error.details as { path: unknown[] }[])[0]!.path, [1, "to"]);
    await expectError(await batch({ name: "demo.count", inputs: [{ to: 1 }], idempotencyKey: "k" }), 400, "bad_request");
    await expectError(await batch({ name: "demo.count", inputs: [] }), 400, "bad_request");
    await expectError(await batch({ name: "no.such", inputs: [{}] }), 404, "unknown_task_name");
    await expectError(await batch({ name: "demo.count", inputs: [{ to: 1 }], owner: "someone-else" }), 403, "forbidden");
    const mine = await json<{ tasks: { id: string }[] }>(await h.request("/api/v1/tasks", { token: minted.token }));
    assert.deepEqual(mine.tasks.map((task) => task.id).sort(), tasks.map((task) => task.id).sort(), "only the first batch was stored");
  });

  test("a full queue answers 429 queue_full with Retry-After", async (t) => {
    const h = await harness(t, { define: (o) => o.queue("default", { maxQueued: 1 }), start: true });
    await h.outlast.pauseQueue("default");
    const ok = await h.request("/api/v1/tasks", { method: "POST", json: { name: "demo.count", input: { to: 1 } } });
    assert.equal(ok.status, 202);
    const full = await h.request("/api/v1/tasks", { method: "POST", json: { name: "demo.count", input: { to: 1 } } });
    assert.ok(Number(full.headers.get("retry-after")) >= 1);
    await expectError(full, 429, "queue_full");
  });

  test("get, list, cancel, retry and artifacts", async (t) => {
    const h = await harness(t);
    const { token: ownerToken } = await mintOwnerToken(h.outlast, { owner: "alice", secret: SECRET });
    const submit = async (to: number) =>
      (await json<Body>(await h.request("/api/v1/tasks", { method: "POST", token: ownerToken, json: { name: "demo.count", input: { to } } }))).task;
    const a = await submit(1);
    const b = await submit(2);
    assert.equal(a.owner, "alice");
    await h.request("/api/v1/tasks", { method: "POST", json: { name: "demo.count", input: { to: 3 }, owner: "bob" } });

    const got = await h.request(`/api/v1/tasks/${a.id as string}`, { token: ownerToken });
    assert.equal((await json<Body>(got)).task.id, a.id);
    await expectError(await h.request("/api/v1/tasks/tsk_nope", { token: ownerToken }), 404, "not_found");

    const mine = await json<{ tasks: { id: string }[]; nextCursor: string | null }>(await h.request("/api/v1/tasks", { token: ownerToken }));
    assert.deepEqual(mine.tasks.map((x) => x.id), [b.id, a.id]);
    const paged = await json<{ tasks: { id: string }[]; nextCursor: string }>(await h.request("/api/v1/tasks?limit=1", { token: ownerToken }));
    assert.deepEqual(paged.tasks.map((x) => x.id), [b.id]);
    const next = await json<{ tasks: { id: string }[] }>(
      await h.request(`/api/v1/tasks?limit=1&cursor=${encodeURIComponent(paged.nextCursor)}`, { token: ownerToken }),
    );
    assert.deepEqual(next.tasks.map((x) => x.id), [a.id]);
    const all = await json<{ tasks: unknown[] }>(await h.request("/api/v1/tasks"));
    assert.equal(all.tasks.length, 3);
    const bobs = await json<{ tasks: unknown[] }>(await h.request("/api/v1/tasks?owner=bob"));
    assert.equal(bobs.tasks.length, 1);
    await expectError(await h.request("/api/v1/tasks?state=sleeping"), 400, "bad_request");
    await expectError(await h.request("/api/v1/tasks?limit=0"), 400, "bad_request");
    await expectError(await h.request("/api/v1/tasks?limit=abc"), 400, "bad_request");

    await expectError(await h.request(`/api/v1/tasks/${a.id as string}/retry`, { method: "POST", token: ownerToken }), 409, "conflict");
    const canceled = await h.request(`/api/v1/tasks/${a.id as string}/cancel`, { method: "POST", token: ownerToken });
    assert.equal(canceled.status, 200);
    assert.equal((await json<Body>(canceled)).task.state, "canceled");
    await expectError(await h.request(`/api/v1/tasks/${a.id as string}/cancel`, { method: "POST", token: ownerToken }), 409, "conflict");
    const retried = await h.request(`/api/v1/tasks/${a.id as string}/retry`, { method: "POST", token: ownerToken });
    assert.equal(retried.status, 202);
    assert.equal((await json<Body>(retried)).task.state, "queued");
    await expectError(await h.request(`/api/v1/tasks/${a.id as string}/artifacts/audio.mp3`, { token: ownerToken }), 404, "not_found");
  });

  test("a task token reads and watches its task but may not cancel it, list, or submit", async (t) => {
    const h = await harness(t);
    const { task, token } = await json<Body>(await h.request("/api/v1/tasks", { method: "POST", json: { name: "demo.count", input: { to: 1 } } }));
    const other = await json<Body>(await h.request("/api/v1/tasks", { method: "POST", json: { name: "demo.count", input: { to: 1 } } }));
    assert.equal((await h.request(`/api/v1/tasks/${task.id as string}`, { token })).status, 200);
    await expectError(await h.request(`/api/v1/tasks/${other.task.id as string}`, { token }), 404, "not_found");
    await expectError(await h.request(`/api/v1/tasks/${task.id as string}/cancel`, { method: "POST", token }), 403, "forbidden");
    await expectError(await h.request("/api/v1/tasks", { token }), 403, "forbidden");
    await expectError(await h.request("/api/v1/tasks", { method: "POST", token, json: { name: "demo.count", input: { to: 1 } } }), 403, "forbidden");
  });

  test("owner tokens limited to queues may submit only there", async (t) => {
    const h = await harness(t);
    h.outlast.queue("tts");
    const { token } = await mintOwnerToken(h.outlast, { owner: "carol", secret: SECRET, queues: ["tts"] });
    await expectError(
      await h.request("/api/v1/tasks", { method: "POST", token, json: { name: "demo.count", input: { to: 1 }, queue: "default" } }),
      403,
      "forbidden",
    );
    const ok = await h.request("/api/v1/tasks", { method: "POST", token, json: { name: "demo.count", input: { to: 1 }, queue: "tts" } });
    assert.equal(ok.status, 202);
  });
});

describe("auth", () => {
  test("missing, malformed, forged and expired tokens are 401; owner tokens on admin routes are 403", async (t) => {
    const h = await harness(t);
    await expectError(await h.request("/api/v1/tasks", { token: null }), 401, "unauthorized");
    await expectError(await h.request("/api/v1/tasks", { token: null, headers: { authorization: "Basic abc" } }), 401, "unauthorized");
    await expectError(await h.request("/api/v1/tasks", { token: "not-a-token" }), 401, "unauthorized");
    const forged = await signOwnerToken(new TextEncoder().encode("another-secret-0123456789"), "alice", 60, null);
    await expectError(await h.request("/api/v1/tasks", { token: forged.token }), 401, "unauthorized");
    const expired = await signOwnerToken(key, "alice", 1, null, Date.now() - 60_000);
    const body = await expectError(await h.request("/api/v1/tasks", { token: expired.token }), 401, "unauthorized");
    assert.match(body.error.message, /expired/);
    const { token } = await mintOwnerToken(h.outlast, { owner: "alice", secret: SECRET });
    for (const [method, path] of [
      ["GET", "/api/v1/queues"],
      ["POST", "/api/v1/queues/default/pause"],
      ["POST", "/api/v1/queues/default/resume"],
      ["GET", "/api/v1/workers"],
      ["GET", "/metrics"],
      ["POST", "/api/v1/tokens"],
    ] as const) {
      await expectError(await h.request(path, { method, token, json: method === "POST" ? { owner: "x" } : undefined }), 403, "forbidden");
    }
  });

  test("POST /api/v1/tokens mints owner tokens that work", async (t) => {
    const h = await harness(t);
    const minted = await h.request("/api/v1/tokens", { method: "POST", json: { owner: "dave", ttlSeconds: 120 } });
    assert.equal(minted.status, 201);
    const { token, expiresAt } = await json<{ token: string; expiresAt: string }>(minted);
    assert.ok(Date.parse(expiresAt) > Date.now() + 100_000);
    const sub = await h.request("/api/v1/tasks", { method: "POST", token, json: { name: "demo.count", input: { to: 1 } } });
    assert.equal((await json<Body>(sub)).task.owner, "dave");
    await expectError(await h.request("/api/v1/tokens", { method: "POST", json: { owner: "" } }), 400, "bad_request");
    await expectError(await h.request("/api/v1/tokens", { method: "POST", json: { owner: "nul\u0000" } }), 400, "bad_request");
    await expectError(await h.request("/api/v1/tokens", { method: "POST", json: { owner: "x", ttlSeconds: 1e12 } }), 400, "bad_request");
  });

  test("the signing key comes from the store when no secret is given, so tokens survive a new handler", async (t) => {
    const h = await harness(t, { secret: undefined as unknown as string });
    const { token } = await mintOwnerToken(h.outlast, { owner: "erin" });
    assert.equal((await h.request("/api/v1/tasks", { token })).status, 200);
    const stored = await h.outlast.store.getOrCreateSecret("token-signing", () => "unused-new-value-0000");
    assert.notEqual(stored, "unused-new-value-0000");
  });

  test("anonymous sessions: off by default; on, they set an HttpOnly cookie usable instead of a token, with Origin checked on writes", async (t) => {
    const off = await harness(t);
    await expectError(await off.request("/api/v1/session", { method: "POST", token: null }), 404, "not_found");

    const h = await harness(t, { anonymousSessions: true });
    const res = await h.request("http://localhost/api/v1/session", { method: "POST", token: null });
    assert.equal(res.status, 200);
    const { owner, token } = await json<{ owner: string; token: string }>(res);
    const cookie = res.headers.get("set-cookie") ?? "";
    assert.match(cookie, /^outlast_session=[^;]+; Path=\/; HttpOnly; SameSite=Lax; Max-Age=\d+$/);
    const jar = cookie.split(";")[0]!;
    assert.equal(jar, `outlast_session=${token}`);

    const submit = (headers: Record<string, string>) =>
      h.request("http://localhost/api/v1/tasks", { method: "POST", token: null, headers: { cookie: jar, ...headers }, json: { name: "demo.count", input: { to: 1 } } });
    await expectError(await submit({}), 403, "forbidden");
    await expectError(await submit({ origin: "http://evil.example" }), 403, "forbidden");
    const ok = await submit({ origin: "http://localhost" });
    assert.equal(ok.status, 202);
    assert.equal((await json<Body>(ok)).task.owner, owner);
    const list = await h.request("http://localhost/api/v1/tasks", { token: null, headers: { cookie: jar } });
    assert.equal((await json<{ tasks: unknown[] }>(list)).tasks.length, 1);

    // A reload keeps its owner; another site cannot swap the session.
    const again = await h.request("http://localhost/api/v1/session", { method: "POST", token: null, headers: { cookie: jar } });
    assert.equal((await json<{ owner: string }>(again)).owner, owner);
    await expectError(
      await h.request("http://localhost/api/v1/session", { method: "POST", token: null, headers: { origin: "http://evil.example" } }),
      403,
      "forbidden",
    );
    // The admin key is never taken from a cookie.
    await expectError(await h.request("http://localhost/api/v1/queues", { token: null, headers: { cookie: `outlast_session=${ADMIN_KEY}` } }), 401, "unauthorized");
  });
});

describe("operations routes", () => {
  test("queues, pause and resume, workers, metrics, healthz, readyz, the home page and unknown routes", async (t) => {
    const h = await harness(t, { start: true });
    const queues = await json<{ queues: { name: string; paused: boolean; counts: Record<string, number> }[] }>(await h.request("/api/v1/queues"));
    const def = queues.queues.find((q) => q.name === "default");
    assert.ok(def);
    assert.deepEqual(Object.keys(def.counts).sort(), ["canceled", "failed", "queued", "running", "succeeded", "waiting"]);
    const paused = await h.request("/api/v1/queues/default/pause", { method: "POST" });
    assert.equal((await json<{ queue: { paused: boolean } }>(paused)).queue.paused, true);
    const listed = await json<{ queues: { name: string; paused: boolean }[] }>(await h.request("/api/v1/queues"));
    assert.equal(listed.queues.find((q) => q.name === "default")?.paused, true);
    await h.request("/api/v1/queues/default/resume", { method: "POST" });
    await expectError(await h.request("/api/v1/queues/nope/pause", { method: "POST" }), 404, "not_found");

    await until(async () => (await json<{ workers: unknown[] }>(await h.request("/api/v1/workers"))).workers.length === 1, "a worker heartbeat");

    const { task } = await json<Body>(await h.request("/api/v1/tasks", { method: "POST", json: { name: "demo.count", input: { to: 1, everyMs: 0 } } }));
    await until(async () => (await h.outlast.get(task.id as string))?.state === "succeeded", "the task to finish");
    const metrics = await h.request("/metrics");
    assert.equal(metrics.status, 200);
    const text = await metrics.text();
    assert.match(text, /outlast_tasks\{queue="default",state="succeeded"\} 1/);
    assert.match(text, /outlast_task_duration_seconds_count\{state="succeeded"\} 1/);
    assert.match(text, /outlast_open_streams 0/);
    assert.match(text, /outlast_queue_depth\{queue="default"\}/);

    assert.deepEqual(await json(await h.request("/healthz", { token: null })), { ok: true });
    assert.deepEqual(await json(await h.request("/readyz", { token: null })), { ok: true });
    const home = await h.request("/", { token: null });
    assert.match(await home.text(), /Outlast is running/);
    await expectError(await h.request("/api/v1/nothing-here"), 404, "not_found");
    await expectError(await h.request("/api/v1/tasks", { method: "DELETE" }), 404, "not_found");
  });

  test("after close the handler answers 503 unavailable", async (t) => {
    const h = await harness(t);
    await h.handler.close();
    await expectError(await h.request("/api/v1/tasks"), 503, "unavailable");
  });

  test("readyz is 503 when the store is gone", async (t) => {
    const h = await harness(t);
    await h.outlast.store.close();
    await expectError(await h.request("/readyz", { token: null }), 503, "unavailable");
  });
});

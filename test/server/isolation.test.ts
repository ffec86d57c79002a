import { test } from "node:test";
import assert from "node:assert/strict";
import { guardLeaks } from "../support/leaks.js";
import { harness, json, listen, SECRET, ADMIN_KEY } from "./harness.js";
import { mintOwnerToken } from "../../src/server/index.js";
import { signOwnerToken } from "../../src/server/tokens.js";
import { SseReader } from "./sse-reader.js";

guardLeaks();

type Route = { method: "GET" | "POST"; path: (id: string) => string; body?: unknown; stream?: boolean };

const TASK_ROUTES: Route[] = [
  { method: "GET", path: (id) => `/api/v1/tasks/${id}` },
  { method: "POST", path: (id) => `/api/v1/tasks/${id}/cancel` },
  { method: "POST", path: (id) => `/api/v1/tasks/${id}/retry` },
  { method: "GET", path: (id) => `/api/v1/tasks/${id}/artifacts/out.txt` },
  { method: "GET", path: (id) => `/api/v1/tasks/${id}/events`, stream: true },
  { method: "GET", path: (id) => `/api/v1/events?tasks=${id}`, stream: true },
];

const ALL_ROUTES: Route[] = [
  ...TASK_ROUTES,
  { method: "GET", path: () => "/api/v1/tasks" },
  { method: "POST", path: () => "/api/v1/tasks", body: { name: "demo.count", input: { to: 1 } } },
  { method: "GET", path: () => "/api/v1/events", stream: true },
  { method: "GET", path: () => "/api/v1/queues" },
  { method: "POST", path: () => "/api/v1/queues/default/pause" },
  { method: "GET", path: () => "/api/v1/workers" },
  { method: "GET", path: () => "/metrics" },
  { method: "POST", path: () => "/api/v1/tokens", body: { owner: "x" } },
];

test("two owners: on every route and both stream kinds, the other's task does not exist; bad tokens are 401", async (t) => {
  const h = await harness(t);
  const base = await listen(t, h.handler);
  const alice = (await mintOwnerToken(h.outlast, { owner: "alice", secret: SECRET })).token;
  const bob = (await mintOwnerToken(h.outlast, { owner: "bob", secret: SECRET })).token;
  const post = async (token: string) =>
    (await json<{ task: { id: string }; token: string }>(
      await h.request("/api/v1/tasks", { method: "POST", token, json: { name: "demo.count", input: { to: 1 } } }),
    ));
  const a = await post(alice);
  const b = await post(bob);

  const call = async (route: Route, id: string, token: string, viaQuery = false) => {
    const url = base + route.path(id) + (viaQuery ? `${route.path(id).includes("?") ? "&" : "?"}token=${encodeURIComponent(token)}` : "");
    const headers: Record<string, string> = viaQuery ? {} : { authorization: `Bearer ${token}` };
    if (route.body) headers["content-type"] = "application/json";
    const res = await fetch(url, { method: route.method, headers, ...(route.body ? { body: JSON.stringify(route.body) } : {}) });
    const text = res.headers.get("content-type")?.startsWith("text/event-stream") ? (await res.body?.cancel(), "") : await res.text();
    return { status: res.status, code: text ? (JSON.parse(text) as { error?: { code: string } }).error?.code : undefined };
  };

  for (const [token, foreign] of [
    [alice, b.task.id],
    [bob, a.task.id],
    [a.token, b.task.id],
    [b.token, a.task.id],
  ] as const) {
    for (const route of TASK_ROUTES) {
      const got = await call(route, foreign, token);
      assert.deepEqual(got, { status: 404, code: "not_found" }, `${route.method} ${route.path("ID")}`);
    }
  }
  // A multi-task stream naming one visible and one foreign task is refused whole.
  assert.deepEqual(await call({ method: "GET", path: () => `/api/v1/events?tasks=${a.task.id},${b.task.id}` }, "", alice), {
    status: 404,
    code: "not_found",
  });
  // Lists show only one's own.
  const listed = await json<{ tasks: { id: string }[] }>(await h.request("/api/v1/tasks", { token: alice }));
  assert.deepEqual(listed.tasks.map((x) => x.id), [a.task.id]);

  const expired = (await signOwnerToken(new TextEncoder().encode(SECRET), "alice", 1, null, Date.now() - 10_000)).token;
  const forged = (await signOwnerToken(new TextEncoder().encode("some-other-secret-xyz"), "alice", 600, null)).token;
  const tampered = alice.slice(0, -3) + (alice.endsWith("abc") ? "xyz" : "abc");
  for (const bad of [expired, forged, tampered, "garbage", "a.b.c", ADMIN_KEY + "x"]) {
    for (const route of ALL_ROUTES) {
      const got = await call(route, a.task.id, bad);
      assert.deepEqual(got, { status: 401, code: "unauthorized" }, `${route.method} ${route.path("ID")} with a bad token`);
      if (route.stream) {
        const viaQuery = await call(route, a.task.id, bad, true);
        assert.deepEqual(viaQuery, { status: 401, code: "unauthorized" });
      }
    }
  }
  // ?token= is accepted only on event streams.
  assert.equal((await call({ method: "GET", path: () => "/api/v1/tasks" }, "", alice, true)).status, 401);
  const ok = await fetch(`${base}/api/v1/tasks/${a.task.id}/events?token=${alice}`);
  assert.equal(ok.status, 200);
  const reader = new SseReader(ok);
  assert.equal((await reader.next())?.event, "snapshot");
  await reader.cancel();
});

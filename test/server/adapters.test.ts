import { test } from "node:test";
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { guardLeaks } from "../support/leaks.js";
import { harness, ADMIN_KEY } from "./harness.js";
import { toNodeListener } from "../../src/server/index.js";
import { SseReader } from "./sse-reader.js";

guardLeaks();

test("plain Node http.createServer with toNodeListener serves requests and streams", async (t) => {
  const h = await harness(t, { start: true });
  const server: Server = createServer(toNodeListener(h.handler));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  t.after(async () => {
    await h.handler.close();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const res = await fetch(`${base}/api/v1/tasks`, {
    method: "POST",
    headers: { authorization: `Bearer ${ADMIN_KEY}`, "content-type": "application/json" },
    body: JSON.stringify({ name: "demo.count", input: { to: 3, everyMs: 1 } }),
  });
  assert.equal(res.status, 202);
  const { task } = (await res.json()) as { task: { id: string } };
  const reader = new SseReader(await fetch(`${base}/api/v1/tasks/${task.id}/events`, { headers: { authorization: `Bearer ${ADMIN_KEY}` } }));
  let last = await reader.next();
  for (let e = last; e; e = await reader.next()) last = e;
  assert.deepEqual(last?.data.result, { counted: 3, ranSteps: 3 });
});

test("a fetch-style framework (Next.js route handlers, Bun, Deno) calls the handler with a Request", async (t) => {
  const h = await harness(t);
  // What a route file exports as GET/POST is the handler itself.
  const GET = h.handler;
  const res = await GET(new Request("https://app.example/api/v1/tasks", { headers: { authorization: `Bearer ${ADMIN_KEY}` } }));
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), { tasks: [], nextCursor: null });
  const health = await h.handler.fetch(new Request("https://app.example/healthz"));
  assert.equal(health.status, 200);
});

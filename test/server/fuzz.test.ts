import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { guardLeaks } from "../support/leaks.js";
import { harness, ADMIN_KEY, SECRET } from "./harness.js";
import { mintOwnerToken } from "../../src/server/index.js";

guardLeaks();

const PATHS = [
  "/api/v1/tasks",
  "/api/v1/tasks/ID",
  "/api/v1/tasks/ID/cancel",
  "/api/v1/tasks/ID/retry",
  "/api/v1/tasks/ID/events",
  "/api/v1/tasks/ID/artifacts/x",
  "/api/v1/events",
  "/api/v1/tokens",
  "/api/v1/session",
  "/api/v1/queues",
  "/api/v1/queues/default/pause",
  "/api/v1/workers",
  "/metrics",
];

test("random requests always get a 2xx or a 4xx with an error code, store nothing when refused, and never hurt the server", async (t) => {
  const h = await harness(t, { anonymousSessions: true, bodyLimitBytes: 4096, maxStreamsPerOwner: 1000 });
  const alice = (await mintOwnerToken(h.outlast, { owner: "alice", secret: SECRET })).token;
  const existing = ((await (await h.request("/api/v1/tasks", { method: "POST", token: alice, json: { name: "demo.count", input: { to: 1 } } })).json()) as {
    task: { id: string };
  }).task.id;
  let created = 1;
  const statuses = new Map<number, number>();

  const body = fc.oneof(
    fc.string({ maxLength: 200 }),
    fc.json({ maxDepth: 3 }),
    fc.record(
      {
        name: fc.oneof(fc.constant("demo.count"), fc.string({ maxLength: 20 }), fc.integer()),
        input: fc.oneof(fc.anything({ maxDepth: 2 }), fc.record({ to: fc.oneof(fc.integer({ min: -5, max: 0 }), fc.double(), fc.string()) })),
        queue: fc.oneof(fc.string({ maxLength: 10 }), fc.integer()),
        priority: fc.oneof(fc.double(), fc.string(), fc.integer()),
        delayMs: fc.oneof(fc.integer({ min: -10, max: -1 }), fc.double({ min: 0.1, max: 0.9 }), fc.string()),
        owner: fc.string({ maxLength: 300 }),
        ttlSeconds: fc.oneof(fc.integer(), fc.double(), fc.string()),
      },
      { requiredKeys: [] },
    ).map((x) => JSON.stringify(x)),
    fc.uint8Array({ maxLength: 300 }).map((bytes) => new TextDecoder("latin1").decode(bytes)),
    fc.constant("x".repeat(5000)),
  );
  const token = fc.oneof(
    { arbitrary: fc.constant(ADMIN_KEY), weight: 3 },
    { arbitrary: fc.constant(alice), weight: 3 },
    fc.constant(null),
    fc.string({ maxLength: 80 }),
    fc.constant(alice.slice(0, -2)),
  );
  const query = fc.dictionary(
    fc.constantFrom("state", "limit", "cursor", "queue", "name", "owner", "tasks", "after", "token", "x"),
    fc.string({ maxLength: 40 }),
    { maxKeys: 4 },
  );
  const header = fc.record(
    {
      "content-type": fc.constantFrom("application/json", "text/plain", "multipart/form-data; boundary=x", ""),
      "last-event-id": fc.string({ maxLength: 60 }),
      cookie: fc.string({ maxLength: 60 }).map((s) => `outlast_session=${s}`),
      origin: fc.constantFrom("http://localhost", "http://evil.example", "null"),
      "content-length": fc.nat(100_000).map(String),
    },
    { requiredKeys: [] },
  );

  await fc.assert(
    fc.asyncProperty(
      fc.oneof({ arbitrary: fc.constant("/api/v1/tasks"), weight: 4 }, { arbitrary: fc.constant("/api/v1/tokens"), weight: 1 }, fc.constantFrom(...PATHS)),
      fc.oneof({ arbitrary: fc.constantFrom("GET", "POST"), weight: 8 }, fc.constantFrom("PUT", "DELETE", "PATCH")),
      body,
      token,
      query,
      header,
      fc.oneof({ arbitrary: fc.constant(existing), weight: 3 }, fc.string({ maxLength: 40 })),
      async (path, method, text, bearer, params, headers, id) => {
        const url = new URL(`http://localhost${path.replace("ID", encodeURIComponent(id) || "x")}`);
        for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
        const h2 = new Headers();
        for (const [k, v] of Object.entries(headers)) if (k !== "content-length") h2.set(k, v);
        if (bearer !== null) h2.set("authorization", `Bearer ${bearer.replace(/[\r\n]/g, "")}`);
        let response: Response;
        try {
          response = await h.handler(
            new Request(url, { method, headers: h2, ...(method === "GET" ? {} : { body: text }) }),
          );
        } catch (error) {
          assert.fail(`the handler threw: ${String(error)}`);
        }
        const type = response.headers.get("content-type") ?? "";
        if (type.startsWith("text/event-stream")) {
          assert.equal(response.status, 200);
          await response.body?.cancel();
          return;
        }
        const raw = await response.text();
        statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
        assert.ok(response.status < 500, `${method} ${url.pathname} answered ${response.status}: ${raw}`);
        if (response.status >= 400) {
          const parsed = JSON.parse(raw) as { error: { code: string; message: string } };
          assert.equal(typeof parsed.error.code, "string");
          assert.equal(typeof parsed.error.message, "string");
        } else if (method === "POST" && url.pathname === "/api/v1/tasks" && response.status === 202) {
          created++;
        }
      },
    ),
    { numRuns: 400 },
  );

  // The generators must reach past auth and parsing, not only bounce off the first check.
  for (const status of [200, 400, 401, 403, 404, 413]) assert.ok((statuses.get(status) ?? 0) > 0, `no ${status} answers: ${[...statuses]}`);
  const stored = await h.outlast.store.listTasks({ limit: 1000 });
  assert.equal(stored.tasks.length, created, "only accepted submits stored anything");
  assert.equal((await h.request("/healthz", { token: null })).status, 200);
  const ok = await h.request("/api/v1/tasks", { method: "POST", json: { name: "demo.count", input: { to: 1 } } });
  assert.equal(ok.status, 202);
});

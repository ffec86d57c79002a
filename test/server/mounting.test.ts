// How an app mounts the handler: under a prefix, for pages on other origins
// (CORS), made lazily on the first request, and behind body parsers.
import assert from "node:assert/strict";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { test, type TestContext } from "node:test";
import { Outlast, OutlastError } from "../../src/index.js";
import { createHandler, serve, toNodeListener } from "../../src/server/index.js";
import { sqliteStore } from "../../src/store/sqlite/index.js";
import { defineDemoTask } from "../../src/cli/demo-task.js";
import { guardLeaks } from "../support/leaks.js";
import { tempDbPath } from "../support/temp.js";
import { ADMIN_KEY, harness, json, listen, quietLogger, SECRET, until } from "./harness.js";
import { SseReader } from "./sse-reader.js";

guardLeaks();

const admin = { authorization: `Bearer ${ADMIN_KEY}` };

test("basePath: the API and the dashboard answer under the prefix only, bodies and streams included", async (t) => {
  const h = await harness(t, { basePath: "/jobs", start: true });
  const submit = await h.handler(
    new Request("http://app.example/jobs/api/v1/tasks", { method: "POST", headers: { ...admin, "content-type": "application/json" }, body: JSON.stringify({ name: "demo.count", input: { to: 2, everyMs: 1 } }) }),
  );
  assert.equal(submit.status, 202);
  const { task } = await json<{ task: { id: string } }>(submit);
  const stream = await h.handler(new Request(`http://app.example/jobs/api/v1/tasks/${task.id}/events`, { headers: admin }));
  assert.equal(stream.status, 200);
  const reader = new SseReader(stream);
  let last = await reader.next();
  for (let e = last; e; e = await reader.next()) last = e;
  assert.equal(last?.data.state, "succeeded");
  assert.equal((await h.handler(new Request("http://app.example/jobs/healthz"))).status, 200);
  assert.equal((await h.handler(new Request("http://app.example/jobs/dashboard"))).status, 200);
  const home = await (await h.handler(new Request("http://app.example/jobs/"))).text();
  assert.match(home, /href="\/jobs\/healthz"/, "the home page links under the prefix");
  assert.match(home, /href="\/jobs\/dashboard"/);
  for (const path of ["/api/v1/tasks", "/jobsx/api/v1/tasks", "/healthz", "/"]) {
    const response = await h.handler(new Request(`http://app.example${path}`, { headers: admin }));
    assert.equal(response.status, 404, path);
    assert.equal((await json<{ error: { code: string } }>(response)).error.code, "not_found");
  }
});

test("basePath and cors options that cannot work are refused when the handler is made", async (t) => {
  const h = await harness(t);
  for (const basePath of ["jobs", "/jobs/", "/a b", "/../x"]) {
    assert.throws(() => createHandler(h.outlast, { adminKey: ADMIN_KEY, basePath }), (e: unknown) => e instanceof OutlastError && e.code === "bad_request", basePath);
  }
  for (const origins of [["app.example"], ["https://app.example/"], ["https://app.example/path"], "https://app.example"]) {
    assert.throws(
      () => createHandler(h.outlast, { adminKey: ADMIN_KEY, cors: { origins: origins as string[] } }),
      (e: unknown) => e instanceof OutlastError && e.code === "bad_request",
      JSON.stringify(origins),
    );
  }
});

test("cors: a listed origin gets preflights and credentials; another origin gets no CORS headers", async (t) => {
  const h = await harness(t, { cors: { origins: ["https://app.example"], maxAgeSeconds: 60 } });
  const preflight = await h.handler(
    new Request("http://api.example/api/v1/tasks", {
      method: "OPTIONS",
      headers: { origin: "https://app.example", "access-control-request-method": "POST", "access-control-request-headers": "content-type, last-event-id" },
    }),
  );
  assert.equal(preflight.status, 204);
  assert.equal(preflight.headers.get("access-control-allow-origin"), "https://app.example");
  assert.equal(preflight.headers.get("access-control-allow-credentials"), "true");
  assert.equal(preflight.headers.get("access-control-max-age"), "60");
  assert.match(preflight.headers.get("access-control-allow-headers") ?? "", /last-event-id/);
  assert.match(preflight.headers.get("access-control-allow-methods") ?? "", /POST/);

  const read = await h.handler(new Request("http://api.example/api/v1/tasks", { headers: { ...admin, origin: "https://app.example" } }));
  assert.equal(read.status, 200);
  assert.equal(read.headers.get("access-control-allow-origin"), "https://app.example");
  assert.match(read.headers.get("vary") ?? "", /origin/i);
  assert.match(read.headers.get("access-control-expose-headers") ?? "", /retry-after/);

  const other = await h.handler(new Request("http://api.example/api/v1/tasks", { headers: { ...admin, origin: "https://evil.example" } }));
  assert.equal(other.headers.get("access-control-allow-origin"), null);
});

test("cors on Node: a stream written straight to the socket carries the headers middleware added, and is let go when the client leaves", async (t) => {
  const h = await harness(t, { cors: { origins: ["https://app.example"] }, start: true });
  const base = await listen(t, h.handler);
  const submit = await fetch(`${base}/api/v1/tasks`, {
    method: "POST",
    headers: { ...admin, "content-type": "application/json" },
    body: JSON.stringify({ name: "demo.count", input: { to: 1000, everyMs: 20 } }),
  });
  const { task } = await json<{ task: { id: string } }>(submit);
  const abort = new AbortController();
  const stream = await fetch(`${base}/api/v1/tasks/${task.id}/events`, { headers: { ...admin, origin: "https://app.example" }, signal: abort.signal });
  assert.equal(stream.status, 200);
  assert.equal(stream.headers.get("content-type"), "text/event-stream; charset=utf-8");
  assert.equal(stream.headers.get("cache-control"), "no-cache, no-transform");
  assert.equal(stream.headers.get("x-accel-buffering"), "no");
  assert.equal(stream.headers.get("access-control-allow-origin"), "https://app.example");
  assert.equal(stream.headers.get("access-control-allow-credentials"), "true");
  assert.match(stream.headers.get("vary") ?? "", /origin/i);
  const reader = new SseReader(stream);
  assert.equal((await reader.next())?.event, "snapshot");
  const live = await reader.next();
  assert.ok(live && live.event !== "snapshot", "then live events");
  assert.equal(h.handler.openStreams, 1);
  abort.abort();
  await until(() => h.handler.openStreams === 0, "the stream to be let go");
  await h.outlast.cancel(task.id);
});

test("on Node, a stream whose client left before the route answered is let go, not kept writing to a closed response", async (t) => {
  const h = await harness(t);
  const { task } = await json<{ task: { id: string } }>(await h.request("/api/v1/tasks", { method: "POST", json: { name: "demo.count", input: { to: 3 } } }));
  const listener = toNodeListener(h.handler);
  let answered: Promise<void> | null = null;
  const server = createServer((req, res) => {
    // The client is gone (its socket closed) by the time the handler runs.
    req.socket.destroy();
    res.on("close", () => (answered = listener(req, res)));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const port = (server.address() as AddressInfo).port;
  await fetch(`http://127.0.0.1:${port}/api/v1/tasks/${task.id}/events`, { headers: admin }).catch(() => null);
  await until(() => answered !== null, "the handler to run");
  await answered;
  await until(() => h.handler.openStreams === 0, "the stream to be let go");
});

test("cors: a listed origin may write with the session cookie, another is refused (CSRF)", async (t) => {
  const h = await harness(t, { cors: { origins: ["https://app.example"] }, anonymousSessions: true });
  const session = await h.handler(new Request("http://api.example/api/v1/session", { method: "POST", headers: { origin: "https://app.example" } }));
  assert.equal(session.status, 200);
  const cookie = session.headers.get("set-cookie")!.split(";")[0]!;
  const write = (origin: string) =>
    h.handler(
      new Request("http://api.example/api/v1/tasks", {
        method: "POST",
        headers: { cookie, origin, "content-type": "application/json" },
        body: JSON.stringify({ name: "demo.count", input: { to: 1 } }),
      }),
    );
  assert.equal((await write("https://app.example")).status, 202);
  const refused = await write("https://evil.example");
  assert.equal(refused.status, 403);
});

test("a handler made from a function makes its engine on the first request, once, and retries a failed start", async (t) => {
  let calls = 0;
  let fail = true;
  let made: Outlast | null = null;
  t.after(() => made?.close({ graceMs: 0 }));
  const handler = createHandler(
    async () => {
      calls++;
      if (fail) throw new OutlastError("unavailable", "database down");
      made ??= new Outlast({ store: sqliteStore({ path: tempDbPath(t) }), logger: quietLogger });
      defineDemoTask(made);
      return made;
    },
    { adminKey: ADMIN_KEY, secret: SECRET, logger: "silent" },
  );
  t.after(() => handler.close());
  assert.equal(calls, 0, "making the handler made no engine");
  assert.equal(handler.openStreams, 0);
  assert.throws(() => handler.app, (e: unknown) => e instanceof OutlastError && e.code === "unavailable");
  const down = await handler(new Request("http://x/api/v1/tasks", { headers: admin }));
  assert.equal(down.status, 503);
  assert.equal((await json<{ error: { code: string } }>(down)).error.code, "unavailable");
  fail = false;
  const answers = await Promise.all([1, 2, 3].map(() => handler(new Request("http://x/api/v1/tasks", { headers: admin }))));
  assert.deepEqual(answers.map((r) => r.status), [200, 200, 200]);
  assert.equal(calls, 2, "one failed start, then one start shared by three requests");
});

async function nodeServer(t: TestContext, parse: (req: IncomingMessage & { body?: unknown }) => Promise<void>, listener: ReturnType<typeof toNodeListener>): Promise<string> {
  const server: Server = createServer((req, res) => {
    void parse(req).then(() => listener(req, res));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  t.after(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function readBody(req: IncomingMessage): Promise<string> {
  let text = "";
  for await (const chunk of req) text += String(chunk);
  return text;
}

test("toNodeListener takes a JSON body a middleware already parsed (express.json()), and says so when it cannot", async (t) => {
  const h = await harness(t);
  const listener = toNodeListener(h.handler);
  // What express.json() and express.urlencoded() leave behind: the stream read, the result on req.body.
  const base = await nodeServer(
    t,
    async (req) => {
      if (req.method !== "POST") return;
      const text = await readBody(req);
      req.body = req.headers["content-type"]?.startsWith("application/json") ? JSON.parse(text) : Object.fromEntries(new URLSearchParams(text));
    },
    listener,
  );
  const parsed = await fetch(`${base}/api/v1/tasks`, { method: "POST", headers: { ...admin, "content-type": "application/json" }, body: JSON.stringify({ name: "demo.count", input: { to: 2 } }) });
  assert.equal(parsed.status, 202);
  assert.equal((await json<{ task: { name: string } }>(parsed)).task.name, "demo.count");
  const form = await fetch(`${base}/api/v1/tasks`, { method: "POST", headers: { ...admin, "content-type": "application/x-www-form-urlencoded" }, body: "name=demo.count" });
  assert.equal(form.status, 400);
  const { error } = await json<{ error: { code: string; message: string } }>(form);
  assert.equal(error.code, "bad_request");
  assert.match(error.message, /already read by another middleware/);
});

test("one dispose shuts everything down: the engine closes its server and ends its streams first", async (t) => {
  const outlast = new Outlast({ store: sqliteStore({ path: tempDbPath(t) }), logger: quietLogger });
  defineDemoTask(outlast);
  await outlast.start();
  const server = await serve(outlast, { port: 0, adminKey: ADMIN_KEY, secret: SECRET, logger: "silent", shutdownGraceMs: 0 });
  const { task } = await json<{ task: { id: string } }>(
    await fetch(`${server.url}/api/v1/tasks`, { method: "POST", headers: { ...admin, "content-type": "application/json" }, body: JSON.stringify({ name: "demo.count", input: { to: 1000, everyMs: 20 } }) }),
  );
  const reader = new SseReader(await fetch(`${server.url}/api/v1/tasks/${task.id}/events`, { headers: admin }));
  assert.ok(await reader.next(), "the stream is open");
  await outlast[Symbol.asyncDispose]();
  // The stream was ended by the server (not cut), and nothing listens any more.
  while (await reader.next()) {
    // events sent before the end
  }
  assert.equal(server.server.listening, false);
  await assert.rejects(fetch(`${server.url}/healthz`));
  await server[Symbol.asyncDispose](); // closing again is harmless
});

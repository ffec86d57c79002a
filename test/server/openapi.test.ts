// The OpenAPI document against the server it describes: its shape, every
// route answered by the real server (and nothing answered that it omits),
// every example accepted, and the answers matching their schemas.
import assert from "node:assert/strict";
import { test } from "node:test";
import { apiDocument, ROUTES } from "../../src/server/routes.js";
import type { OpenApiDocument, JsonObject } from "../../src/server/openapi.js";
import { mintOwnerToken } from "../../src/server/tokens.js";
import { guardLeaks } from "../support/leaks.js";
import { ADMIN_KEY, harness, json, listen, SECRET } from "./harness.js";

guardLeaks();

const METHODS = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];

interface Operation {
  method: string;
  path: string;
  op: JsonObject;
}

function operations(doc: OpenApiDocument): Operation[] {
  return Object.entries(doc.paths).flatMap(([path, item]) =>
    Object.entries(item)
      .filter(([method]) => METHODS.includes(method))
      .map(([method, op]) => ({ method, path, op })),
  );
}

/** The JSON Pointer `ref` (`#/components/…`) in `doc`, or undefined. */
function resolve(doc: unknown, ref: string): unknown {
  let at: unknown = doc;
  for (const part of ref.slice(2).split("/")) {
    if (at === null || typeof at !== "object") return undefined;
    at = (at as Record<string, unknown>)[part.replace(/~1/g, "/").replace(/~0/g, "~")];
  }
  return at;
}

function* refs(value: unknown): Generator<string> {
  if (Array.isArray(value)) for (const item of value) yield* refs(item);
  else if (value !== null && typeof value === "object") {
    for (const [key, item] of Object.entries(value)) {
      if (key === "$ref" && typeof item === "string") yield item;
      else yield* refs(item);
    }
  }
}

/** A URL of the operation: path parameters from the examples or `fallback`, and the query example. */
function urlOf(base: string, { path, op }: Operation, fallback: string): string {
  const parameters = (op.parameters ?? []) as JsonObject[];
  const example = (name: string, where: string) => parameters.find((p) => p.name === name && p.in === where)?.example as string | undefined;
  const filled = path.replace(/\{([^}]+)\}/g, (_, name: string) => encodeURIComponent(example(name, "path") ?? fallback));
  const query = new URLSearchParams();
  for (const p of parameters) if (p.in === "query" && typeof p.example === "string") query.set(p.name as string, p.example);
  const search = query.toString();
  return `${base}${filled}${search ? `?${search}` : ""}`;
}

function exampleBody(op: JsonObject): unknown {
  const body = op.requestBody as { content?: Record<string, { example?: unknown }> } | undefined;
  return body?.content?.["application/json"]?.example;
}

/** Sends the operation; a stream is read only up to its headers, then let go. */
async function send(url: string, method: string, op: JsonObject, token: string | null, withBody = true): Promise<{ status: number; contentType: string; body: unknown }> {
  const headers: Record<string, string> = {};
  if (token !== null) headers.authorization = `Bearer ${token}`;
  const example = exampleBody(op);
  const init: RequestInit = { method: method.toUpperCase(), headers };
  if (withBody && example !== undefined) {
    headers["content-type"] = "application/json";
    init.body = JSON.stringify(example);
  }
  const abort = new AbortController();
  const response = await fetch(url, { ...init, signal: abort.signal });
  const contentType = response.headers.get("content-type") ?? "";
  let body: unknown = null;
  if (contentType.startsWith("text/event-stream")) abort.abort();
  else if (contentType.startsWith("application/json")) body = await response.json();
  else await response.arrayBuffer();
  return { status: response.status, contentType, body };
}

function isNoRoute(answer: { status: number; body: unknown }): boolean {
  const error = (answer.body as { error?: { code?: string; message?: string } } | null)?.error;
  return answer.status === 404 && error?.code === "not_found" && (error.message ?? "").startsWith("No route ");
}

test("the document is OpenAPI 3.1 in shape: operations, parameters, responses, references and security all hold together", () => {
  const doc = apiDocument();
  assert.equal(doc.openapi, "3.1.0");
  assert.equal(typeof doc.info.title, "string");
  assert.equal(typeof doc.info.version, "string");
  assert.deepEqual(JSON.parse(JSON.stringify(doc)), doc, "plain JSON");
  const ops = operations(doc);
  assert.ok(ops.length >= 30, `${ops.length} operations`);
  const ids = ops.map(({ op }) => op.operationId);
  assert.equal(new Set(ids).size, ids.length, "operationIds are unique");
  const tags = new Set(doc.tags.map((tag) => tag.name));
  for (const { method, path, op } of ops) {
    const where = `${method.toUpperCase()} ${path}`;
    assert.match(path, /^\/[^:]*$/, `${where}: a path template with {name} parameters`);
    assert.equal(typeof op.operationId, "string", where);
    assert.equal(typeof op.summary, "string", where);
    for (const tag of op.tags as string[]) assert.ok(tags.has(tag), `${where}: tag ${tag} is declared`);
    const parameters = (op.parameters ?? []) as JsonObject[];
    const seen = new Set<string>();
    for (const p of parameters) {
      assert.ok(["query", "path", "header", "cookie"].includes(p.in as string), `${where}: parameter ${String(p.name)} in ${String(p.in)}`);
      assert.ok(!seen.has(`${String(p.in)} ${String(p.name)}`), `${where}: parameter ${String(p.name)} is listed once`);
      seen.add(`${String(p.in)} ${String(p.name)}`);
      assert.ok(p.schema !== null && typeof p.schema === "object", `${where}: parameter ${String(p.name)} has a schema`);
      if (p.in === "path") assert.equal(p.required, true, `${where}: path parameters are required`);
    }
    for (const [, name] of path.matchAll(/\{([^}]+)\}/g)) assert.ok(seen.has(`path ${name}`), `${where}: {${name}} is a path parameter`);
    for (const p of parameters) if (p.in === "path") assert.ok(path.includes(`{${String(p.name)}}`), `${where}: ${String(p.name)} is in the path`);
    const responses = op.responses as Record<string, JsonObject>;
    assert.ok(Object.keys(responses).length > 0, `${where}: has responses`);
    assert.ok(Object.keys(responses).some((status) => status.startsWith("2")), `${where}: has a 2xx response`);
    for (const [status, response] of Object.entries(responses)) {
      assert.match(status, /^([1-5]\d\d|default)$/, `${where}: response key ${status}`);
      const resolved = (typeof response.$ref === "string" ? resolve(doc, response.$ref) : response) as JsonObject;
      assert.equal(typeof resolved.description, "string", `${where} ${status}: a description`);
    }
    if (op.requestBody !== undefined) {
      const content = (op.requestBody as { content: Record<string, { schema?: unknown }> }).content;
      assert.ok(content["application/json"]?.schema, `${where}: the body has a JSON schema`);
    }
    assert.ok(Array.isArray(op.security), `${where}: says its security ([] for none)`);
    for (const requirement of op.security as JsonObject[]) {
      for (const scheme of Object.keys(requirement)) assert.ok(doc.components.securitySchemes[scheme], `${where}: security scheme ${scheme} is declared`);
    }
  }
  for (const ref of refs(doc)) {
    assert.match(ref, /^#\/components\//, `${ref} points into components`);
    assert.ok(resolve(doc, ref) !== undefined, `${ref} resolves`);
  }
  for (const scheme of Object.values(doc.components.securitySchemes)) assert.ok(["http", "apiKey"].includes(scheme.type as string));
});

test("the schemas say what the server enforces: a submit needs a name and refuses unknown fields; SSE routes answer text/event-stream", () => {
  const doc = apiDocument();
  const submit = doc.paths["/api/v1/tasks"]?.post as JsonObject;
  const schema = (submit.requestBody as { content: Record<string, { schema: JsonObject }> }).content["application/json"]!.schema;
  assert.deepEqual(schema.required, ["name"]);
  assert.equal(schema.additionalProperties, false);
  assert.deepEqual((schema.properties as Record<string, JsonObject>).name, { type: "string", minLength: 1, maxLength: 128 });
  const list = doc.paths["/api/v1/tasks"]?.get as JsonObject;
  const limit = (list.parameters as JsonObject[]).find((p) => p.name === "limit");
  assert.deepEqual(limit?.schema, { type: "string", pattern: "^\\d{1,3}$" });
  assert.deepEqual((list.parameters as JsonObject[]).find((p) => p.name === "state")?.schema, {
    type: "string",
    enum: ["queued", "running", "waiting", "succeeded", "failed", "canceled"],
  });
  const patch = doc.paths["/api/v1/queues/{name}"]?.patch as JsonObject;
  const patchSchema = (patch.requestBody as { content: Record<string, { schema: JsonObject }> }).content["application/json"]!.schema;
  assert.ok("rateLimit" in (patchSchema.properties as JsonObject), "PATCH queue documents rateLimit");
  for (const path of ["/api/v1/tasks/{id}/events", "/api/v1/events"]) {
    const ok = ((doc.paths[path]?.get as JsonObject).responses as Record<string, JsonObject>)["200"]!;
    assert.ok((ok.content as JsonObject)["text/event-stream"], `${path} answers text/event-stream`);
  }
  const task = doc.components.schemas.Task as JsonObject;
  assert.ok((task.required as string[]).includes("state"));
  assert.deepEqual(((doc.paths["/api/v1/tasks"]?.post as JsonObject).security as JsonObject[]).map((s) => Object.keys(s)[0]), ["adminKey", "ownerToken", "sessionCookie"]);
  assert.deepEqual(((doc.paths["/api/v1/queues"]?.get as JsonObject).security as JsonObject[]).map((s) => Object.keys(s)[0]), ["adminKey"]);
  assert.deepEqual((doc.paths["/healthz"]?.get as JsonObject).security, []);
});

test("GET /api/v1/openapi.json needs no token and names the mount prefix in servers", async (t) => {
  const root = await harness(t);
  const answer = await root.request("/api/v1/openapi.json", { token: null });
  assert.equal(answer.status, 200);
  const doc = await json<OpenApiDocument>(answer);
  assert.deepEqual(doc, JSON.parse(JSON.stringify(apiDocument())));
  assert.equal(doc.servers[0]?.url, "/");

  const mounted = await harness(t, { basePath: "/jobs" });
  const under = await mounted.handler(new Request("http://app.example/jobs/api/v1/openapi.json"));
  assert.equal(under.status, 200);
  assert.equal((await json<OpenApiDocument>(under)).servers[0]?.url, "/jobs");
});

test("every route the router mounts is described, and every described operation is answered by a route (not the unknown-route 404)", async (t) => {
  const h = await harness(t);
  const base = await listen(t, h.handler);
  const doc = apiDocument();
  const described = new Set(operations(doc).map(({ method, path }) => `${method.toUpperCase()} ${path}`));
  // Middleware is registered as ALL /*: every other registration is a route.
  const mounted = h.handler.app.routes.filter((route) => route.method !== "ALL").map((route) => `${route.method} ${route.path.replace(/:([A-Za-z0-9_]+)/g, "{$1}")}`);
  assert.ok(mounted.length >= 30, `${mounted.length} routes mounted`);
  for (const route of mounted) assert.ok(described.has(route), `${route} is mounted but not in the document`);
  assert.deepEqual(new Set(mounted), described, "the document describes exactly what is mounted");

  for (const operation of operations(doc)) {
    const answer = await send(urlOf(base, operation, "tsk_missing"), operation.method, operation.op, ADMIN_KEY);
    assert.ok(!isNoRoute(answer), `${operation.method.toUpperCase()} ${operation.path} is answered by a route: ${answer.status} ${JSON.stringify(answer.body)}`);
  }
  // The check above can fail: a path the table does not hold gets exactly that answer.
  assert.ok(isNoRoute(await send(`${base}/api/v1/nothing-here`, "get", {}, ADMIN_KEY)));
});

test("security as documented: no token is 401, an owner token on an admin route 403, and routes without security answer without one", async (t) => {
  const h = await harness(t);
  const base = await listen(t, h.handler);
  const owner = (await mintOwnerToken(h.outlast, { owner: "alice", secret: SECRET })).token;
  for (const operation of operations(apiDocument())) {
    const where = `${operation.method.toUpperCase()} ${operation.path}`;
    const schemes = (operation.op.security as JsonObject[]).map((s) => Object.keys(s)[0]);
    const url = urlOf(base, operation, "tsk_missing");
    const anonymous = await send(url, operation.method, operation.op, null);
    if (schemes.length === 0) {
      assert.notEqual(anonymous.status, 401, `${where} needs no token`);
      continue;
    }
    assert.equal(anonymous.status, 401, `${where} without a token: ${JSON.stringify(anonymous.body)}`);
    if (!schemes.includes("ownerToken")) {
      const asOwner = await send(url, operation.method, operation.op, owner);
      assert.equal(asOwner.status, 403, `${where} with an owner token: ${JSON.stringify(asOwner.body)}`);
    }
  }
});

test("every example in the document is accepted by the real server, and every JSON answer matches its documented schema", async (t) => {
  const h = await harness(t, {
    anonymousSessions: true,
    define: (outlast) => {
      outlast.queue("default", { concurrency: 2 });
      // A task run over HTTP, for the worker routes' examples (nothing of it is queued: a claim takes nothing).
      outlast.queue("tts");
      outlast.remote("tts.chapter", { queue: "tts" });
    },
  });
  const base = await listen(t, h.handler);
  const minted = await fetch(`${base}/api/v1/worker-keys`, {
    method: "POST",
    headers: { authorization: `Bearer ${ADMIN_KEY}`, "content-type": "application/json" },
    body: JSON.stringify({ name: "openapi-test", queues: ["tts", "default"] }),
  });
  assert.equal(minted.status, 201);
  const { secret: workerKey } = await json<{ secret: string }>(minted);
  // A real task, so the routes of one task answer 200 rather than 404.
  const submitted = await fetch(`${base}/api/v1/tasks`, {
    method: "POST",
    headers: { authorization: `Bearer ${ADMIN_KEY}`, "content-type": "application/json" },
    body: JSON.stringify({ name: "demo.count", input: { to: 2, everyMs: 0 } }),
  });
  assert.equal(submitted.status, 202);
  const { task } = await json<{ task: { id: string } }>(submitted);

  const byId = new Map(ROUTES.map((route) => [route.id, route]));
  let checked = 0;
  let withExample = 0;
  for (const operation of operations(apiDocument())) {
    const where = `${operation.method.toUpperCase()} ${operation.path}`;
    if (exampleBody(operation.op) !== undefined) withExample++;
    const forWorkers = ((operation.op.security ?? []) as JsonObject[]).some((requirement) => "workerKey" in requirement);
    const answer = await send(urlOf(base, operation, task.id), operation.method, operation.op, forWorkers ? workerKey : ADMIN_KEY);
    assert.notEqual(answer.status, 400, `${where}: its example is refused: ${JSON.stringify(answer.body)}`);
    assert.ok(answer.status < 400 || [404, 409].includes(answer.status) || (operation.path.startsWith("/dashboard") && answer.status === 500), `${where}: ${answer.status} ${JSON.stringify(answer.body)}`);
    if (answer.status >= 300) continue;
    const documented = (operation.op.responses as Record<string, JsonObject>)[String(answer.status)];
    assert.ok(documented, `${where}: answered ${answer.status}, which the document does not list`);
    const types = Object.keys((documented.content ?? {}) as JsonObject);
    if (types.length > 0) assert.ok(types.some((type) => answer.contentType.startsWith(type) || type === "application/octet-stream"), `${where}: ${answer.contentType} is one of ${types.join(", ")}`);
    const schema = byId.get(operation.op.operationId as string)?.responses[String(answer.status)]?.schema;
    if (schema === undefined) continue;
    const parsed = schema.safeParse(answer.body);
    assert.ok(parsed.success, `${where}: the answer does not match its schema: ${JSON.stringify(parsed.error?.issues)} in ${JSON.stringify(answer.body).slice(0, 500)}`);
    checked++;
  }
  assert.ok(withExample >= 9, `${withExample} request examples`);
  assert.ok(checked >= 20, `${checked} answers checked against their schemas`);
});

import assert from "node:assert/strict";
import type { TestContext } from "node:test";
import type { AddressInfo } from "node:net";
import type { Server } from "node:http";
import { serve as serveNode } from "@hono/node-server";
import { Outlast } from "../../src/engine/outlast.js";
import { sqliteStore } from "../../src/store/sqlite/index.js";
import { createHandler, type OutlastHandler } from "../../src/server/handler.js";
import type { HandlerOptions } from "../../src/server/options.js";
import { defineDemoTask } from "../../src/cli/demo-task.js";
import { tempDbPath } from "../support/temp.js";

export const ADMIN_KEY = "test-admin-key-0123456789";
export const SECRET = "test-signing-secret-0123456789";

export const quietLogger = { info() {}, warn() {}, error() {} };

export interface Harness {
  outlast: Outlast;
  handler: OutlastHandler;
  /** In-process request through the Hono app. */
  request(path: string, init?: RequestInit & { token?: string | null; json?: unknown }): Promise<Response>;
}

/** An engine on a temp SQLite file with demo.count, and a handler; all closed after the test. */
export async function harness(
  t: TestContext,
  options: HandlerOptions & { start?: boolean; define?: (outlast: Outlast) => void } = {},
): Promise<Harness> {
  const outlast = new Outlast({
    store: sqliteStore({ path: tempDbPath(t) }),
    leaseMs: 2000,
    progressIntervalMs: 20,
    pollIntervalMs: 100,
    logger: quietLogger,
  });
  defineDemoTask(outlast);
  options.define?.(outlast);
  const { start, define: _define, ...handlerOptions } = options;
  const handler = createHandler(outlast, { adminKey: ADMIN_KEY, secret: SECRET, logger: "silent", ...handlerOptions });
  t.after(async () => {
    await handler.close();
    await outlast.close({ graceMs: 0 });
  });
  if (start) await outlast.start();
  return {
    outlast,
    handler,
    async request(path, init = {}) {
      const { token = ADMIN_KEY, json, ...rest } = init;
      const headers = new Headers(rest.headers);
      if (token !== null) headers.set("authorization", `Bearer ${token}`);
      if (json !== undefined) headers.set("content-type", "application/json");
      const body = json !== undefined ? JSON.stringify(json) : rest.body;
      return handler.app.request(path, { ...rest, headers, ...(body !== undefined ? { body } : {}) });
    },
  };
}

/** Runs the handler on a real port; closed after the test. */
export async function listen(t: TestContext, handler: OutlastHandler): Promise<string> {
  return (await listenServer(t, handler)).base;
}

/** Like {@link listen}, also giving the server (to cut its connections). */
export async function listenServer(t: TestContext, handler: OutlastHandler): Promise<{ base: string; server: Server }> {
  const server = await new Promise<Server>((resolve) => {
    const s = serveNode({ fetch: handler.fetch, port: 0, hostname: "127.0.0.1" }, () => resolve(s as Server)) as Server;
  });
  t.after(async () => {
    await handler.close();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return { base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

export async function json<T = Record<string, unknown>>(response: Response): Promise<T> {
  return (await response.json()) as T;
}

/** Waits until `check` holds, polling; fails with `what` after `ms`. */
export async function until(check: () => boolean | Promise<boolean>, what: string, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** An error answer (API.md "Errors"): its status, its code, and a message. */
export async function expectError(response: Response, status: number, code: string): Promise<{ error: { code: string; message: string; details?: unknown } }> {
  const body = await json<{ error: { code: string; message: string; details?: unknown } }>(response);
  assert.equal(response.status, status, JSON.stringify(body));
  assert.equal(body.error.code, code);
  assert.equal(typeof body.error.message, "string");
  return body;
}

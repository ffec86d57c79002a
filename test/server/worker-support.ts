import assert from "node:assert/strict";
import type { TestContext } from "node:test";
import { Outlast, type OutlastOptions } from "../../src/engine/outlast.js";
import { fileArtifacts } from "../../src/engine/artifacts.js";
import { createHandler } from "../../src/server/handler.js";
import type { HandlerOptions } from "../../src/server/options.js";
import { postgresStore } from "../../src/store/postgres/index.js";
import { sqliteStore } from "../../src/store/sqlite/index.js";
import type { Store } from "../../src/store/store.js";
import { PG_URL, testSchema } from "../support/pg.js";
import { tempDbPath, tempDir } from "../support/temp.js";
import { ADMIN_KEY, listen, quietLogger, SECRET } from "./harness.js";

/** Which store a worker-routes suite runs on. */
export type StoreKind = "sqlite" | "postgres";

export async function makeStore(t: TestContext, kind: StoreKind): Promise<Store> {
  if (kind === "sqlite") return sqliteStore({ path: tempDbPath(t) });
  // Small pools: the database's connections are shared with every other test run.
  return postgresStore({ connectionString: PG_URL, schema: await testSchema(t), maxConnections: 3, pollIntervalMs: 100 });
}

export interface WorkerServer {
  outlast: Outlast;
  base: string;
  /** A worker key for the queues asked (default ["tts"]). */
  key: string;
  keyId: string;
  /** A JSON call: `token` defaults to the worker key; `admin: true` uses the admin key. */
  call(path: string, init?: { method?: string; json?: unknown; body?: BodyInit; token?: string | null; headers?: Record<string, string> }): Promise<Response>;
  admin(path: string, init?: { method?: string; json?: unknown }): Promise<Response>;
  submit(name: string, input?: unknown, options?: Record<string, unknown>): Promise<string>;
  claim(body: Record<string, unknown>, token?: string): Promise<ClaimAnswer>;
}

export interface ClaimedTaskAnswer {
  task: { id: string; name: string; state: string; attempt: number; queue: string };
  lease: string;
  leaseExpiresAt: string;
  input: unknown;
  attempt: number;
  steps: Record<string, unknown>;
  checkpoint: unknown;
  timeoutMs: number | null;
  stallMs: number | null;
}

export interface ClaimAnswer {
  tasks: ClaimedTaskAnswer[];
  heartbeatMs: number;
}

/**
 * A server on a real port with `tts.chapter` declared remote (queue "tts",
 * 3 attempts, a 50 ms backoff without jitter), a worker key for "tts", and
 * artifacts in a temp folder; all closed when the test ends.
 */
export async function workerServer(
  t: TestContext,
  kind: StoreKind,
  options: {
    engine?: Partial<OutlastOptions>;
    handler?: HandlerOptions;
    define?: (outlast: Outlast) => void;
    start?: boolean;
    queues?: string[];
  } = {},
): Promise<WorkerServer> {
  const outlast = new Outlast({
    store: await makeStore(t, kind),
    leaseMs: 2000,
    progressIntervalMs: 20,
    pollIntervalMs: 100,
    abortGraceMs: 10_000,
    logger: quietLogger,
    artifacts: fileArtifacts({ dir: tempDir(t, "worker-artifacts") }),
    ...options.engine,
  });
  t.after(() => outlast.close({ graceMs: 0 }));
  outlast.remote("tts.chapter", { queue: "tts", maxAttempts: 3, backoff: { baseMs: 50, maxMs: 50, jitter: 0 } });
  options.define?.(outlast);
  const handler = createHandler(outlast, { adminKey: ADMIN_KEY, secret: SECRET, logger: "silent", ...options.handler });
  const base = await listen(t, handler);
  if (options.start) await outlast.start();
  const call: WorkerServer["call"] = async (path, init = {}) => {
    const headers: Record<string, string> = { ...init.headers };
    const token = init.token === undefined ? key : init.token;
    if (token !== null) headers.authorization = `Bearer ${token}`;
    let body = init.body;
    if (init.json !== undefined) {
      headers["content-type"] = "application/json";
      body = JSON.stringify(init.json);
    }
    return fetch(`${base}${path}`, { method: init.method ?? (body === undefined ? "GET" : "POST"), headers, ...(body !== undefined ? { body } : {}) });
  };
  const admin: WorkerServer["admin"] = (path, init = {}) => call(path, { ...init, token: ADMIN_KEY });
  const minted = await admin("/api/v1/worker-keys", { json: { name: "test workers", queues: options.queues ?? ["tts"] } });
  assert.equal(minted.status, 201);
  const { secret, key: record } = (await minted.json()) as { secret: string; key: { id: string } };
  const key = secret;
  return {
    outlast,
    base,
    key,
    keyId: record.id,
    call,
    admin,
    async submit(name, input = {}, extra = {}) {
      const res = await admin("/api/v1/tasks", { json: { name, input, ...extra } });
      const answer = (await res.json()) as { task: { id: string } };
      assert.equal(res.status, 202, JSON.stringify(answer));
      return answer.task.id;
    },
    async claim(body, token) {
      const res = await call("/api/v1/worker/claim", { json: { workerId: "w1", names: ["tts.chapter"], ...body }, ...(token ? { token } : {}) });
      const answer = (await res.json()) as ClaimAnswer;
      assert.equal(res.status, 200, JSON.stringify(answer));
      return answer;
    },
  };
}

/** Waits until `check` holds, polling; fails with `what` after `ms`. */
export async function eventually(check: () => boolean | Promise<boolean>, what: string, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

export async function expectCode(response: Response, status: number, code: string): Promise<{ code: string; message: string; details?: unknown }> {
  const body = (await response.json()) as { error: { code: string; message: string; details?: unknown } };
  assert.equal(response.status, status, JSON.stringify(body));
  assert.equal(body.error.code, code, JSON.stringify(body));
  assert.ok(body.error.message.length > 0);
  return body.error;
}

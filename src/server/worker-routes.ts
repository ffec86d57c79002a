import type { Context, Hono } from "hono";
import { OutlastError } from "../core/errors.js";
import { toPublicTask } from "../core/task.js";
import { WAIT_STEP_PREFIX } from "../core/waits.js";
import type { RemoteEnd, RemoteLease, RemoteWorker } from "../engine/remote-work.js";
import type { WorkerKeyRecord } from "../store/store.js";
import { parseBody, readJson } from "./body.js";
import type { ServerContext } from "./context.js";
import { authenticateWorker } from "./worker-auth.js";
import {
  checkpointBody,
  claimBody,
  finishBody,
  heartbeatAllBody,
  heartbeatBody,
  logBody,
  progressBody,
  stepBody,
  titleBody,
  type FinishBody,
} from "./worker-bodies.js";
import { decodeLease, encodeLease, heartbeatMsFor } from "./worker-lease.js";
import type { z } from "zod";

const iso = (ms: number) => new Date(ms).toISOString();
const OK = { ok: true } as const;

/**
 * Workers over HTTP (docs/api-extensions.md, "Workers over HTTP"): any
 * process with a worker key claims tasks, reports under each task's lease
 * and finishes them. The engine's RemoteWork applies the rules; this only
 * reads bodies, turns leases into strings and back, and shapes answers.
 */
export function workerRoutes(app: Hono, ctx: ServerContext): void {
  const { outlast } = ctx;
  const remote = outlast.remoteWork;

  const keyOf = (c: Context) => authenticateWorker(c.req.raw, outlast, ctx.auth);
  const body = async <T>(c: Context, schema: z.ZodType<T>): Promise<T> => parseBody(schema, await readJson(c.req.raw, ctx.options.bodyLimitBytes));
  const workerOf = (c: Context, key: WorkerKeyRecord, named: { workerId?: string | undefined; host?: string | undefined; pid?: number | undefined }): RemoteWorker => ({
    // A report that does not name its worker is counted under the key (the lease still fences it).
    id: named.workerId ?? `key:${key.id}`,
    host: named.host ?? null,
    pid: named.pid ?? null,
    address: ctx.clientAddress(c.req.raw, c.env),
    key,
  });
  /** The task's lease from a body's `lease` (or `?lease=`), and the worker that sends it. */
  const leased = async <T extends { lease: string; workerId?: string }>(c: Context, schema: z.ZodType<T>) => {
    const key = await keyOf(c);
    const read = await body(c, schema);
    return { read, worker: workerOf(c, key, read), lease: decodeLease(taskIdOf(c), read.lease) };
  };
  const queryLeased = async (c: Context) => {
    const key = await keyOf(c);
    return { worker: workerOf(c, key, {}), lease: decodeLease(taskIdOf(c), c.req.query("lease")) };
  };

  app.post("/api/v1/worker/claim", async (c) => {
    const key = await keyOf(c);
    const read = await body(c, claimBody);
    const leaseMs = read.leaseMs ?? outlast.leaseMs;
    const claims = await remote.claim(workerOf(c, key, read), { names: read.names, limit: read.limit ?? 1, leaseMs, waitMs: read.waitMs ?? 0 }, c.req.raw.signal);
    return c.json({
      tasks: claims.map((claim) => ({
        task: toPublicTask(claim.task),
        lease: encodeLease(claim.lease),
        leaseExpiresAt: iso(claim.leaseExpiresAt),
        input: claim.task.input ?? null,
        attempt: claim.task.attempt,
        steps: Object.fromEntries(claim.steps),
        checkpoint: claim.task.checkpoint ?? null,
        timeoutMs: claim.timeoutMs,
        stallMs: claim.stallMs,
      })),
      heartbeatMs: heartbeatMsFor(leaseMs),
    });
  });

  app.post("/api/v1/worker/heartbeat", async (c) => {
    const key = await keyOf(c);
    const read = await body(c, heartbeatAllBody);
    const leases = read.tasks.map((t) => decodeLease(t.taskId, t.lease));
    const statuses = await remote.heartbeatAll(workerOf(c, key, read), leases);
    const shortest = leases.reduce((ms, lease) => Math.min(ms, lease.leaseMs), outlast.leaseMs);
    return c.json({
      tasks: statuses.map((s) => ({ ...s, leaseExpiresAt: s.leaseExpiresAt === null ? null : iso(s.leaseExpiresAt) })),
      heartbeatMs: heartbeatMsFor(shortest),
    });
  });

  app.post("/api/v1/worker/tasks/:id/heartbeat", async (c) => {
    const { worker, lease } = await leased(c, heartbeatBody);
    const status = await remote.heartbeat(worker, lease);
    return c.json({ cancelRequested: status.cancelRequested, leaseExpiresAt: iso(status.leaseExpiresAt), heartbeatMs: heartbeatMsFor(lease.leaseMs) });
  });

  app.post("/api/v1/worker/tasks/:id/progress", async (c) => {
    const { read, worker, lease } = await leased(c, progressBody);
    const { percent, current, total, message, data } = read.progress;
    await remote.progress(worker, lease, {
      ...(percent !== undefined ? { percent } : {}),
      ...(current !== undefined ? { current } : {}),
      ...(total !== undefined ? { total } : {}),
      ...(message !== undefined ? { message } : {}),
      ...(data !== undefined ? { data } : {}),
    });
    return c.json(OK);
  });

  app.put("/api/v1/worker/tasks/:id/steps/:name", async (c) => {
    const name = stepName(c.req.param("name"));
    const { read, worker, lease } = await leased(c, stepBody);
    await remote.step(worker, lease, name, read.result ?? null);
    return c.json(OK);
  });

  app.get("/api/v1/worker/tasks/:id/steps", async (c) => {
    const { worker, lease } = await queryLeased(c);
    return c.json({ steps: Object.fromEntries(await remote.steps(worker, lease)) });
  });

  app.put("/api/v1/worker/tasks/:id/checkpoint", async (c) => {
    const { read, worker, lease } = await leased(c, checkpointBody);
    await remote.checkpoint(worker, lease, read.data ?? null);
    return c.json(OK);
  });

  app.put("/api/v1/worker/tasks/:id/title", async (c) => {
    const { read, worker, lease } = await leased(c, titleBody);
    await remote.title(worker, lease, read.title as string);
    return c.json(OK);
  });

  app.post("/api/v1/worker/tasks/:id/logs", async (c) => {
    const { read, worker, lease } = await leased(c, logBody);
    await remote.log(worker, lease, read.message);
    return c.json(OK);
  });

  app.put("/api/v1/worker/tasks/:id/artifacts/:name", async (c) => {
    const { worker, lease } = await queryLeased(c);
    const limit = ctx.options.artifactLimitBytes;
    const declared = c.req.header("content-length");
    if (declared !== undefined && Number(declared) > limit) throw tooLarge(limit);
    const raw = c.req.raw.body;
    if (raw === null) throw new OutlastError("bad_request", "Send the file as the request's body");
    const contentType = c.req.header("content-type")?.slice(0, 255) || "application/octet-stream";
    const artifact = await remote.saveArtifact(worker, lease, c.req.param("name"), raw.pipeThrough(atMost(limit)), contentType);
    return c.json({ artifact }, 201);
  });

  app.post("/api/v1/worker/tasks/:id/finish", async (c) => {
    const { read, worker, lease } = await leased(c, finishBody);
    const record = await remote.finish(worker, lease, remoteEnd(read));
    return c.json({ task: (await outlast.get(record.id)) ?? toPublicTask(record) });
  });

  // Any other method or path under the prefix is not a route: say so before asking for a key.
  app.all("/api/v1/worker/*", (c) => {
    throw new OutlastError("not_found", `No worker route ${c.req.method} ${c.req.path.slice(0, 200)}`);
  });
}

function taskIdOf(c: Context): string {
  const id = c.req.param("id") ?? "";
  if (!/^[A-Za-z0-9_-]{1,128}$/.test(id)) throw new OutlastError("not_found", "No such task");
  return id;
}

function stepName(name: string | undefined): string {
  if (name === undefined || name.length === 0 || name.length > 200) throw new OutlastError("bad_request", "A step name must be 1 to 200 characters");
  if (name.startsWith(WAIT_STEP_PREFIX)) throw new OutlastError("bad_request", `Step names starting with "${WAIT_STEP_PREFIX}" are kept for waits`);
  return name;
}

function remoteEnd(body: FinishBody): RemoteEnd {
  switch (body.outcome) {
    case "succeeded":
      return { outcome: "succeeded", result: body.result ?? null };
    case "failed":
      return { outcome: "failed", error: taskError(body.error), ...(body.retryable !== undefined ? { retryable: body.retryable } : {}) };
    case "retry":
      return { outcome: "retry", afterMs: body.afterMs, ...(body.error ? { error: taskError(body.error) } : {}) };
    case "released":
      return { outcome: "released" };
  }
}

function taskError(error: { message: string; code?: string | undefined }): { message: string; code?: string } {
  return error.code === undefined ? { message: error.message } : { message: error.message, code: error.code };
}

function tooLarge(limit: number): OutlastError {
  return new OutlastError("payload_too_large", `The file is larger than ${limit} bytes, the most an artifact may be here (artifactLimitBytes)`, { details: { limit } });
}

/** Passes bytes on until there are more than `limit`, then fails the stream: the artifact store drops what it wrote. */
function atMost(limit: number): TransformStream<Uint8Array, Uint8Array> {
  let size = 0;
  return new TransformStream({
    transform(chunk, controller) {
      size += chunk.byteLength;
      if (size > limit) controller.error(tooLarge(limit));
      else controller.enqueue(chunk);
    },
  });
}

import type { Context } from "hono";
import { z } from "zod";
import { OutlastError } from "../core/errors.js";
import { toPublicTask } from "../core/task.js";
import { WAIT_STEP_PREFIX } from "../core/waits.js";
import type { RemoteEnd, RemoteWorker } from "../engine/remote-work.js";
import type { WorkerKeyRecord } from "../store/store.js";
import type { ServerContext } from "./context.js";
import { defineRoute, param, type Route } from "./route.js";
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

const iso = (ms: number) => new Date(ms).toISOString();
const OK = { ok: true } as const;
const TAG = "workers";
const okAnswer = z.looseObject({ ok: z.literal(true) });
const EXAMPLE_LEASE = "1.30000";
const taskParams = { id: "The task's id (from the claim)" };
const leaseQuery = z.object({ lease: z.string().min(1).max(64).optional().meta({ description: "The task's lease, as the claim handed it out" }) });

/** The calling worker: its key (read first, so a wrong credential is refused before anything else is read) and the identity a body names. */
function workerOf(
  c: Context,
  ctx: ServerContext,
  key: WorkerKeyRecord,
  named: { workerId?: string | undefined; host?: string | undefined; pid?: number | undefined },
): RemoteWorker {
  return {
    // A report that does not name its worker is counted under the key (the lease still fences it).
    id: named.workerId ?? `key:${key.id}`,
    host: named.host ?? null,
    pid: named.pid ?? null,
    address: ctx.clientAddress(c.req.raw, c.env),
    key,
  };
}

const keyOf = (c: Context, ctx: ServerContext) => authenticateWorker(c.req.raw, ctx.outlast, ctx.auth);

/** The task's lease from a body's `lease`, and the worker that sends it. */
async function leased<T extends { lease: string; workerId?: string }>(c: Context, ctx: ServerContext, read: () => Promise<T>) {
  const key = await keyOf(c, ctx);
  const body = await read();
  return { read: body, worker: workerOf(c, ctx, key, body), lease: decodeLease(taskIdOf(c), body.lease) };
}

/** The same from `?lease=` (routes whose body is not JSON, or that have none). */
async function queryLeased(c: Context, ctx: ServerContext) {
  const key = await keyOf(c, ctx);
  return { worker: workerOf(c, ctx, key, {}), lease: decodeLease(taskIdOf(c), c.req.query("lease")) };
}

/**
 * Workers over HTTP (docs/api-extensions.md, "Workers over HTTP"): any
 * process with a worker key claims tasks, reports under each task's lease
 * and finishes them. The engine's RemoteWork applies the rules; this only
 * reads bodies, turns leases into strings and back, and shapes answers.
 */
export const workerRoutes: readonly Route[] = [
  defineRoute({
    method: "post",
    path: "/api/v1/worker/claim",
    id: "workerClaim",
    tag: TAG,
    summary: "Claim runnable tasks of the key's queues, waiting up to waitMs for one (long poll)",
    auth: "worker",
    body: claimBody,
    example: { workerId: "py-worker-1", names: ["tts.chapter"], limit: 4, waitMs: 0 },
    responses: { "200": { description: "The claimed tasks (none when nothing came within waitMs), each with its lease, input and recorded steps" } },
    async handle(c, ctx, input) {
      const key = await keyOf(c, ctx);
      const read = await input.body();
      const leaseMs = read.leaseMs ?? ctx.outlast.leaseMs;
      const claims = await ctx.outlast.remoteWork.claim(
        workerOf(c, ctx, key, read),
        { names: read.names, limit: read.limit ?? 1, leaseMs, waitMs: read.waitMs ?? 0 },
        c.req.raw.signal,
      );
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
    },
  }),

  defineRoute({
    method: "post",
    path: "/api/v1/worker/heartbeat",
    id: "workerHeartbeatAll",
    tag: TAG,
    summary: "Renew the leases of every task a worker holds; answers which were asked to cancel or were lost",
    auth: "worker",
    body: heartbeatAllBody,
    example: { workerId: "py-worker-1", tasks: [] },
    responses: { "200": { description: "Each task's lease status" } },
    async handle(c, ctx, input) {
      const key = await keyOf(c, ctx);
      const read = await input.body();
      const leases = read.tasks.map((t) => decodeLease(t.taskId, t.lease));
      const statuses = await ctx.outlast.remoteWork.heartbeatAll(workerOf(c, ctx, key, read), leases);
      const shortest = leases.reduce((ms, lease) => Math.min(ms, lease.leaseMs), ctx.outlast.leaseMs);
      return c.json({
        tasks: statuses.map((s) => ({ ...s, leaseExpiresAt: s.leaseExpiresAt === null ? null : iso(s.leaseExpiresAt) })),
        heartbeatMs: heartbeatMsFor(shortest),
      });
    },
  }),

  defineRoute({
    method: "post",
    path: "/api/v1/worker/tasks/:id/heartbeat",
    id: "workerHeartbeat",
    tag: TAG,
    summary: "Renew one task's lease; answers whether it was asked to cancel (409 lease_lost when the lease is gone)",
    auth: "worker",
    params: taskParams,
    body: heartbeatBody,
    example: { workerId: "py-worker-1", lease: EXAMPLE_LEASE },
    responses: { "200": { description: "The lease renewed" } },
    async handle(c, ctx, input) {
      const { worker, lease } = await leased(c, ctx, () => input.body());
      const status = await ctx.outlast.remoteWork.heartbeat(worker, lease);
      return c.json({ cancelRequested: status.cancelRequested, leaseExpiresAt: iso(status.leaseExpiresAt), heartbeatMs: heartbeatMsFor(lease.leaseMs) });
    },
  }),

  defineRoute({
    method: "post",
    path: "/api/v1/worker/tasks/:id/progress",
    id: "workerProgress",
    tag: TAG,
    summary: "Report a task's progress under its lease",
    auth: "worker",
    params: taskParams,
    body: progressBody,
    example: { lease: EXAMPLE_LEASE, progress: { percent: 40, message: "chapter 2 of 5" } },
    responses: { "200": { description: "Saved", schema: okAnswer } },
    async handle(c, ctx, input) {
      const { read, worker, lease } = await leased(c, ctx, () => input.body());
      const { percent, current, total, message, data } = read.progress;
      await ctx.outlast.remoteWork.progress(worker, lease, {
        ...(percent !== undefined ? { percent } : {}),
        ...(current !== undefined ? { current } : {}),
        ...(total !== undefined ? { total } : {}),
        ...(message !== undefined ? { message } : {}),
        ...(data !== undefined ? { data } : {}),
      });
      return c.json(OK);
    },
  }),

  defineRoute({
    method: "put",
    path: "/api/v1/worker/tasks/:id/steps/:name",
    id: "workerStep",
    tag: TAG,
    summary: "Record a step's result under the task's lease (a retry replays it)",
    auth: "worker",
    params: { ...taskParams, name: "The step's name (1 to 200 characters, not starting with ~)" },
    body: stepBody,
    example: { lease: EXAMPLE_LEASE, result: { seconds: 12.5 } },
    exampleParams: { id: "tsk_missing", name: "chapter-1" },
    responses: { "200": { description: "Recorded", schema: okAnswer } },
    async handle(c, ctx, input) {
      const { read, worker, lease } = await leased(c, ctx, () => input.body());
      await ctx.outlast.remoteWork.step(worker, lease, stepName(param(c, "name")), read.result ?? null);
      return c.json(OK);
    },
  }),

  defineRoute({
    method: "get",
    path: "/api/v1/worker/tasks/:id/steps",
    id: "workerSteps",
    tag: TAG,
    summary: "The task's recorded steps, by name",
    auth: "worker",
    params: taskParams,
    query: leaseQuery,
    exampleQuery: { lease: EXAMPLE_LEASE },
    responses: { "200": { description: "The steps", schema: z.looseObject({ steps: z.record(z.string(), z.unknown()) }) } },
    async handle(c, ctx) {
      const { worker, lease } = await queryLeased(c, ctx);
      return c.json({ steps: Object.fromEntries(await ctx.outlast.remoteWork.steps(worker, lease)) });
    },
  }),

  defineRoute({
    method: "put",
    path: "/api/v1/worker/tasks/:id/checkpoint",
    id: "workerCheckpoint",
    tag: TAG,
    summary: "Save the task's checkpoint under its lease",
    auth: "worker",
    params: taskParams,
    body: checkpointBody,
    example: { lease: EXAMPLE_LEASE, data: { chapter: 3 } },
    responses: { "200": { description: "Saved", schema: okAnswer } },
    async handle(c, ctx, input) {
      const { read, worker, lease } = await leased(c, ctx, () => input.body());
      await ctx.outlast.remoteWork.checkpoint(worker, lease, read.data ?? null);
      return c.json(OK);
    },
  }),

  defineRoute({
    method: "put",
    path: "/api/v1/worker/tasks/:id/title",
    id: "workerTitle",
    tag: TAG,
    summary: "Set the task's title under its lease",
    auth: "worker",
    params: taskParams,
    body: titleBody,
    example: { lease: EXAMPLE_LEASE, title: "Moby Dick — chapter 3" },
    responses: { "200": { description: "Saved", schema: okAnswer } },
    async handle(c, ctx, input) {
      const { read, worker, lease } = await leased(c, ctx, () => input.body());
      await ctx.outlast.remoteWork.title(worker, lease, read.title as string);
      return c.json(OK);
    },
  }),

  defineRoute({
    method: "post",
    path: "/api/v1/worker/tasks/:id/logs",
    id: "workerLog",
    tag: TAG,
    summary: "Append a line to the task's log under its lease",
    auth: "worker",
    params: taskParams,
    body: logBody,
    example: { lease: EXAMPLE_LEASE, message: "loaded the voice model" },
    responses: { "200": { description: "Appended", schema: okAnswer } },
    async handle(c, ctx, input) {
      const { read, worker, lease } = await leased(c, ctx, () => input.body());
      await ctx.outlast.remoteWork.log(worker, lease, read.message);
      return c.json(OK);
    },
  }),

  defineRoute({
    method: "put",
    path: "/api/v1/worker/tasks/:id/artifacts/:name",
    id: "workerArtifact",
    tag: TAG,
    summary: "Save a file of the task (the request's body, at most artifactLimitBytes) under its lease, given as ?lease=",
    auth: "worker",
    params: { ...taskParams, name: "The file's name" },
    query: leaseQuery,
    headers: { "Content-Type": "The file's type (default application/octet-stream)" },
    exampleParams: { id: "tsk_missing", name: "chapter-1.wav" },
    exampleQuery: { lease: EXAMPLE_LEASE },
    responses: { "201": { description: "The saved artifact" } },
    async handle(c, ctx) {
      const { worker, lease } = await queryLeased(c, ctx);
      const limit = ctx.options.artifactLimitBytes;
      const declared = c.req.header("content-length");
      if (declared !== undefined && Number(declared) > limit) throw tooLarge(limit);
      const raw = c.req.raw.body;
      if (raw === null) throw new OutlastError("bad_request", "Send the file as the request's body");
      const contentType = c.req.header("content-type")?.slice(0, 255) || "application/octet-stream";
      const artifact = await ctx.outlast.remoteWork.saveArtifact(worker, lease, param(c, "name"), raw.pipeThrough(atMost(limit)), contentType);
      return c.json({ artifact }, 201);
    },
  }),

  defineRoute({
    method: "post",
    path: "/api/v1/worker/tasks/:id/finish",
    id: "workerFinish",
    tag: TAG,
    summary: "End the task's attempt under its lease: succeeded, failed, retry later, or released (handed back unrun)",
    auth: "worker",
    params: taskParams,
    body: finishBody,
    example: { lease: EXAMPLE_LEASE, outcome: "succeeded", result: { seconds: 61.2 } },
    responses: { "200": { description: "The task as it is now" } },
    async handle(c, ctx, input) {
      const { read, worker, lease } = await leased(c, ctx, () => input.body());
      const record = await ctx.outlast.remoteWork.finish(worker, lease, remoteEnd(read));
      return c.json({ task: (await ctx.outlast.get(record.id)) ?? toPublicTask(record) });
    },
  }),
];

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

import { z } from "zod";
import { OutlastError } from "../core/errors.js";
import type { TaskState } from "../core/states.js";
import type { SubmitOptions } from "../engine/definitions.js";
import type { Outlast } from "../engine/outlast.js";
import { checkTaskToken, requireOwnerOrAdmin, scopeOf, validId, visibleRecord } from "./access.js";
import type { Principal } from "./auth.js";
import { batchBody, bulkBody, submitBody, type SubmitBody } from "./body.js";
import type { ServerContext } from "./context.js";
import { signTaskToken } from "./tokens.js";
import { artifactResponse } from "./artifact-response.js";
import { openCursor, sealCursor } from "./page-cursor.js";
import { cursorParam, pageLimitParam, searchParam, shortTextParam, taskStateParam, tokenParam } from "./query-params.js";
import { caller, defineRoute, param, type Route } from "./route.js";
import { artifactsAnswer, countAnswer, taskAnswer, taskPageAnswer, tasksAnswer, taskWithTokenAnswer } from "./response-schemas.js";

const DEFAULT_OWNER = "anonymous";

const taskId = { id: "The task's id" };

const listQuery = z.object({
  state: taskStateParam.optional().meta({ description: "Only tasks in this state" }),
  queue: shortTextParam.optional().meta({ description: "Only tasks of this queue" }),
  name: shortTextParam.optional().meta({ description: "Only tasks of this name" }),
  q: searchParam.optional().meta({ description: "Tasks whose id, owner, name or title starts with this (exact, case-sensitive)" }),
  cursor: cursorParam.optional(),
  limit: pageLimitParam.optional().meta({ description: "Tasks per page, 1 to 200 (default 50)" }),
  owner: shortTextParam.optional().meta({ description: "Admin key: one owner's tasks (an owner token may name only its own)" }),
});

const artifactQuery = z.object({
  filename: z.string().optional().meta({ description: "The name the browser saves the file under (1 to 255 characters, no / or \\ or control characters)" }),
  token: tokenParam.optional(),
});

export const taskRoutes: readonly Route[] = [
  defineRoute({
    method: "post",
    path: "/api/v1/tasks",
    id: "submitTask",
    tag: "tasks",
    summary: "Submit a task",
    description: "200 with the existing task when `idempotencyKey` matches a queued, running or succeeded task of the same owner and name; 202 otherwise (a failed or canceled one is resumed).",
    auth: "owner",
    body: submitBody,
    example: { name: "demo.count", input: { to: 3, everyMs: 0 }, priority: 1, title: "Count to three" },
    responses: {
      "200": { description: "The task the idempotency key names", schema: taskWithTokenAnswer },
      "202": { description: "The task, queued (or resumed)", schema: taskWithTokenAnswer },
    },
    async handle(c, ctx, input) {
      const { body, options } = await readSubmit(ctx, caller(input), input.body);
      if (body.idempotencyKey !== undefined) options.idempotencyKey = body.idempotencyKey;
      if (body.dedupe !== undefined) options.dedupe = body.dedupe as NonNullable<SubmitOptions["dedupe"]>;
      // The API answers with the queue position, so count it here (the library's submit does not).
      const { outcome, task } = await ctx.outlast.submitWithOutcome(body.name, body.input, { ...options, withPosition: true });
      const token = await signTaskToken(await ctx.auth.key(), task.owner, task.id);
      return c.json({ task, token }, outcome === "existing" ? 200 : 202);
    },
  }),

  defineRoute({
    method: "post",
    path: "/api/v1/tasks/batch",
    id: "submitBatch",
    tag: "tasks",
    summary: "Submit one task per input, all or none",
    auth: "owner",
    body: batchBody,
    example: { name: "demo.count", inputs: [{ to: 2, everyMs: 0 }, { to: 3, everyMs: 0 }] },
    responses: { "202": { description: "The tasks, in input order", schema: tasksAnswer } },
    async handle(c, ctx, input) {
      const { body, options } = await readSubmit(ctx, caller(input), input.body);
      // No task tokens: one per task would cost a signature each; the caller's own token watches them all.
      return c.json({ tasks: await ctx.outlast.submitMany(body.name, body.inputs, options) }, 202);
    },
  }),

  // An operator's action over every task of a filter (docs/api-extensions.md).
  defineRoute({
    method: "post",
    path: "/api/v1/tasks/bulk",
    id: "bulkAction",
    tag: "operations",
    summary: "Cancel, retry or redrive every task of a filter",
    auth: "admin",
    body: bulkBody,
    example: { action: "cancel", filter: { queue: "no-such-queue" } },
    responses: { "200": { description: "How many tasks it touched", schema: countAnswer } },
    async handle(c, ctx, input) {
      const body = await input.body();
      const filter = Object.fromEntries(Object.entries(body.filter).filter(([, value]) => value !== undefined));
      return c.json({ count: await ctx.outlast.bulk(body.action, filter) }, 200);
    },
  }),

  defineRoute({
    method: "get",
    path: "/api/v1/tasks",
    id: "listTasks",
    tag: "tasks",
    summary: "List tasks, newest first",
    description: "Only the caller's own unless admin.",
    auth: "owner",
    query: listQuery,
    exampleQuery: { state: "queued", limit: "10" },
    responses: { "200": { description: "A page of tasks", schema: taskPageAnswer } },
    async handle(c, ctx, input) {
      const principal = caller(input);
      requireOwnerOrAdmin(principal);
      const q = input.query();
      const filter: Parameters<Outlast["list"]>[0] = {};
      if (q.state !== undefined) filter.state = q.state as TaskState;
      if (q.queue !== undefined) filter.queue = q.queue;
      if (q.name !== undefined) filter.name = q.name;
      if (q.q !== undefined) filter.search = q.q;
      if (q.cursor !== undefined) filter.cursor = openCursor(await ctx.auth.key(), q.cursor);
      if (q.limit !== undefined) filter.limit = q.limit;
      if (principal.kind === "admin") {
        if (q.owner !== undefined) filter.owner = q.owner;
      } else {
        // Answering its own tasks instead would let a caller believe it saw the other owner's.
        if (q.owner !== undefined && q.owner !== principal.owner) {
          throw new OutlastError("forbidden", "Only the admin key lists another owner's tasks; leave out owner to list your own", { details: { field: "owner" } });
        }
        filter.owner = principal.owner;
      }
      const page = await ctx.outlast.list(filter);
      const nextCursor = page.nextCursor === null ? null : sealCursor(await ctx.auth.key(), page.nextCursor);
      return c.json({ ...page, nextCursor });
    },
  }),

  defineRoute({
    method: "get",
    path: "/api/v1/tasks/:id",
    id: "getTask",
    tag: "tasks",
    summary: "Read a task",
    auth: "task",
    params: taskId,
    responses: { "200": { description: "The task", schema: taskAnswer } },
    async handle(c, ctx, input) {
      const principal = caller(input);
      const id = param(c, "id");
      checkTaskToken(principal, id);
      const task = validId(id) ? await ctx.outlast.get(id, scopeOf(principal)) : null;
      if (!task) throw new OutlastError("not_found", `No task ${id.slice(0, 80)}`);
      return c.json({ task });
    },
  }),

  // A task token is not found on another task before it is refused a write on its own (404 before 403).
  defineRoute({
    method: "post",
    path: "/api/v1/tasks/:id/cancel",
    id: "cancelTask",
    tag: "tasks",
    summary: "Cancel a task",
    description: "A queued task is canceled at once; a running one gets its signal aborted. A finished task: 409.",
    auth: "owner",
    params: taskId,
    responses: { "200": { description: "The task", schema: taskAnswer } },
    async handle(c, ctx, input) {
      const principal = caller(input);
      const id = param(c, "id");
      checkTaskToken(principal, id);
      requireOwnerOrAdmin(principal);
      return c.json({ task: await ctx.outlast.cancel(knownId(id), scopeOf(principal)) }, 200);
    },
  }),

  defineRoute({
    method: "post",
    path: "/api/v1/tasks/:id/retry",
    id: "retryTask",
    tag: "tasks",
    summary: "Run a failed or canceled task again from its steps",
    auth: "owner",
    params: taskId,
    responses: { "202": { description: "The task, queued again", schema: taskAnswer } },
    async handle(c, ctx, input) {
      const principal = caller(input);
      const id = param(c, "id");
      checkTaskToken(principal, id);
      requireOwnerOrAdmin(principal);
      return c.json({ task: await ctx.outlast.retry(knownId(id), scopeOf(principal)) }, 202);
    },
  }),

  defineRoute({
    method: "get",
    path: "/api/v1/tasks/:id/artifacts",
    id: "listArtifacts",
    tag: "artifacts",
    summary: "The files a task saved",
    auth: "task",
    params: taskId,
    responses: { "200": { description: "The task's artifacts", schema: artifactsAnswer } },
    async handle(c, ctx, input) {
      const record = await visibleRecord(ctx.outlast, caller(input), param(c, "id"));
      return c.json({ artifacts: ctx.outlast.artifacts ? await ctx.outlast.artifacts.list(record.id) : [] });
    },
  }),

  defineRoute({
    method: "get",
    path: "/api/v1/tasks/:id/artifacts/:name",
    id: "getArtifact",
    tag: "artifacts",
    summary: "Download a file a task saved",
    description: "Supports `Range: bytes=a-b`, `a-` and `-n` (206); a range outside the file: 416.",
    auth: "task",
    queryToken: true,
    params: { ...taskId, name: "The artifact's name" },
    headers: { Range: "`bytes=a-b`, `bytes=a-` or `bytes=-n`: one byte range (206)" },
    query: artifactQuery,
    responses: {
      "200": { description: "The file", contentType: "application/octet-stream", headers: { "content-disposition": "inline or attachment, with the file's name" } },
      "206": { description: "The byte range asked for", contentType: "application/octet-stream", headers: { "content-range": "bytes a-b/SIZE" } },
    },
    async handle(c, ctx, input) {
      const record = await visibleRecord(ctx.outlast, caller(input), param(c, "id"));
      const q = input.query();
      return artifactResponse(ctx.outlast, record.id, param(c, "name"), { range: c.req.header("range"), filename: q.filename });
    },
  }),
];

/** What both submit routes check first: who may submit, the body, the task name, the queue; and the options every submit shares. */
async function readSubmit<B extends BatchOptionsBody>(ctx: ServerContext, principal: Principal, read: () => Promise<B>): Promise<{ body: B; options: SubmitOptions }> {
  const { outlast } = ctx;
  requireOwnerOrAdmin(principal);
  const body = await read();
  const options: SubmitOptions = { owner: ownerFor(principal, body) };
  if (!outlast.taskNames.includes(body.name)) {
    throw new OutlastError("unknown_task_name", `No task named "${body.name}" is defined on this server`);
  }
  checkQueueAllowed(outlast, principal, body);
  for (const key of ["queue", "priority", "runAt", "delayMs", "maxAttempts", "timeoutMs", "title", "cost"] as const) {
    if (body[key] !== undefined) (options as unknown as Record<string, unknown>)[key] = body[key];
  }
  return { body, options };
}

export function knownId(id: string): string {
  if (!validId(id)) throw new OutlastError("not_found", `No task ${id.slice(0, 80)}`);
  return id;
}

/** The fields both submit bodies share. */
type BatchOptionsBody = Omit<SubmitBody, "input" | "idempotencyKey">;

export function ownerFor(principal: Principal, body: Pick<SubmitBody, "owner">): string {
  if (principal.kind === "admin") return body.owner ?? DEFAULT_OWNER;
  if (body.owner !== undefined && principal.kind === "owner" && body.owner !== principal.owner) {
    throw new OutlastError("forbidden", "An owner token submits as its own owner; leave out owner");
  }
  return principal.owner;
}

/** Owner tokens minted with `queues` may submit only to those. */
export function checkQueueAllowed(outlast: Outlast, principal: Principal, body: Pick<SubmitBody, "name" | "queue">): void {
  if (principal.kind !== "owner" || principal.queues === null) return;
  const queue = body.queue ?? queueOfTask(outlast, body.name);
  if (queue === null) {
    throw new OutlastError("forbidden", `This token may submit only to queues ${principal.queues.join(", ")}: name the queue in the body`);
  }
  if (!principal.queues.includes(queue)) throw new OutlastError("forbidden", `This token may not submit to queue "${queue}"`);
}

/** The queue a task name runs on here, or null. */
function queueOfTask(outlast: Outlast, name: string): string | null {
  return outlast.queueOf(name);
}

export function badQuery(field: string, problem: string): OutlastError {
  return new OutlastError("bad_request", `Query parameter ${field} ${problem}`, { details: { field } });
}

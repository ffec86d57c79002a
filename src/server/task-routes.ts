import type { Hono } from "hono";
import { OutlastError } from "../core/errors.js";
import { isTaskState } from "../core/states.js";
import { isStorableText } from "../core/text.js";
import type { SubmitOptions } from "../engine/definitions.js";
import type { Outlast } from "../engine/outlast.js";
import { checkTaskToken, requireOwnerOrAdmin, scopeOf, validId, visibleRecord } from "./access.js";
import type { Principal } from "./auth.js";
import { requireAdmin } from "./auth.js";
import { batchBody, bulkBody, parseBody, readJson, submitBody, type SubmitBody } from "./body.js";
import type { z } from "zod";
import type { ServerContext } from "./context.js";
import { signTaskToken } from "./tokens.js";
import { artifactResponse } from "./artifact-response.js";
import { openCursor, sealCursor } from "./page-cursor.js";

const DEFAULT_OWNER = "anonymous";

export function taskRoutes(app: Hono, ctx: ServerContext): void {
  const { outlast } = ctx;

  app.post("/api/v1/tasks", async (c) => {
    const { body, options } = await readSubmit(c.req.raw, submitBody);
    if (body.idempotencyKey !== undefined) options.idempotencyKey = body.idempotencyKey;
    if (body.dedupe !== undefined) options.dedupe = body.dedupe as NonNullable<SubmitOptions["dedupe"]>;
    // The API answers with the queue position, so count it here (the library's submit does not).
    const { outcome, task } = await outlast.submitWithOutcome(body.name, body.input, { ...options, withPosition: true });
    const token = await signTaskToken(await ctx.auth.key(), task.owner, task.id);
    return c.json({ task, token }, outcome === "existing" ? 200 : 202);
  });

  app.post("/api/v1/tasks/batch", async (c) => {
    const { body, options } = await readSubmit(c.req.raw, batchBody);
    // No task tokens: one per task would cost a signature each; the caller's own token watches them all.
    return c.json({ tasks: await outlast.submitMany(body.name, body.inputs, options) }, 202);
  });

  /** What both submit routes check first: who may submit, the body, the task name, the queue; and the options every submit shares. */
  async function readSubmit<B extends BatchOptionsBody>(request: Request, schema: z.ZodType<B>): Promise<{ body: B; options: SubmitOptions }> {
    const principal = await ctx.authenticate(request);
    requireOwnerOrAdmin(principal);
    const body = parseBody(schema, await readJson(request, ctx.options.bodyLimitBytes));
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

  // Admin only: an operator's action over every task of a filter (docs/api-extensions.md).
  app.post("/api/v1/tasks/bulk", async (c) => {
    requireAdmin(await ctx.authenticate(c.req.raw));
    const body = parseBody(bulkBody, await readJson(c.req.raw, ctx.options.bodyLimitBytes));
    const filter = Object.fromEntries(Object.entries(body.filter).filter(([, value]) => value !== undefined));
    return c.json({ count: await outlast.bulk(body.action, filter) }, 200);
  });

  app.get("/api/v1/tasks", async (c) => {
    const principal = await ctx.authenticate(c.req.raw);
    requireOwnerOrAdmin(principal);
    const q = c.req.query();
    const filter: Parameters<Outlast["list"]>[0] = {};
    if (q.state !== undefined) {
      if (!isTaskState(q.state)) throw badQuery("state", "must be queued, running, waiting, succeeded, failed or canceled");
      filter.state = q.state;
    }
    if (q.queue !== undefined) filter.queue = shortText(q.queue, "queue");
    if (q.name !== undefined) filter.name = shortText(q.name, "name");
    if (q.q !== undefined) {
      if (!isStorableText(shortText(q.q, "q"))) throw badQuery("q", "must not hold NUL or half of a surrogate pair");
      filter.search = q.q;
    }
    if (q.cursor !== undefined) filter.cursor = openCursor(await ctx.auth.key(), shortText(q.cursor, "cursor"));
    if (q.limit !== undefined) filter.limit = pageLimit(q.limit);
    if (principal.kind === "admin") {
      if (q.owner !== undefined) filter.owner = shortText(q.owner, "owner");
    } else {
      // Answering its own tasks instead would let a caller believe it saw the other owner's.
      if (q.owner !== undefined && q.owner !== principal.owner) {
        throw new OutlastError("forbidden", "Only the admin key lists another owner's tasks; leave out owner to list your own", { details: { field: "owner" } });
      }
      filter.owner = principal.owner;
    }
    const page = await outlast.list(filter);
    const nextCursor = page.nextCursor === null ? null : sealCursor(await ctx.auth.key(), page.nextCursor);
    return c.json({ ...page, nextCursor });
  });

  app.get("/api/v1/tasks/:id", async (c) => {
    const principal = await ctx.authenticate(c.req.raw);
    const id = c.req.param("id");
    checkTaskToken(principal, id);
    const task = validId(id) ? await outlast.get(id, scopeOf(principal)) : null;
    if (!task) throw new OutlastError("not_found", `No task ${id.slice(0, 80)}`);
    return c.json({ task });
  });

  // A task token is not found on another task before it is refused a write on its own (404 before 403).
  app.post("/api/v1/tasks/:id/cancel", async (c) => {
    const principal = await ctx.authenticate(c.req.raw);
    const id = c.req.param("id");
    checkTaskToken(principal, id);
    requireOwnerOrAdmin(principal);
    return c.json({ task: await outlast.cancel(knownId(id), scopeOf(principal)) }, 200);
  });

  app.post("/api/v1/tasks/:id/retry", async (c) => {
    const principal = await ctx.authenticate(c.req.raw);
    const id = c.req.param("id");
    checkTaskToken(principal, id);
    requireOwnerOrAdmin(principal);
    return c.json({ task: await outlast.retry(knownId(id), scopeOf(principal)) }, 202);
  });

  app.get("/api/v1/tasks/:id/artifacts", async (c) => {
    const principal = await ctx.authenticate(c.req.raw);
    const record = await visibleRecord(outlast, principal, c.req.param("id"));
    return c.json({ artifacts: outlast.artifacts ? await outlast.artifacts.list(record.id) : [] });
  });

  app.get("/api/v1/tasks/:id/artifacts/:name", async (c) => {
    const principal = await ctx.authenticate(c.req.raw, true);
    const record = await visibleRecord(outlast, principal, c.req.param("id"));
    return artifactResponse(outlast, record.id, c.req.param("name"), { range: c.req.header("range"), filename: c.req.query("filename") });
  });
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

/** A page's `limit` query parameter. */
export function pageLimit(value: string): number {
  const limit = Number(value);
  if (!/^\d{1,3}$/.test(value) || limit < 1 || limit > 200) throw badQuery("limit", "must be a whole number from 1 to 200");
  return limit;
}

export function shortText(value: string, field: string): string {
  if (value.length === 0 || value.length > 512) throw badQuery(field, "must be 1 to 512 characters");
  return value;
}

export function badQuery(field: string, problem: string): OutlastError {
  return new OutlastError("bad_request", `Query parameter ${field} ${problem}`, { details: { field } });
}

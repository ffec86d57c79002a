import type { Hono } from "hono";
import { OutlastError } from "../core/errors.js";
import type { GroupRequest } from "../engine/families.js";
import { checkTaskToken, requireOwnerOrAdmin, scopeOf, validId } from "./access.js";
import { groupBody, parseBody, readJson, signalBody } from "./body.js";
import type { ServerContext } from "./context.js";
import { openCursor, sealCursor } from "./page-cursor.js";
import { checkQueueAllowed, knownId, ownerFor, pageLimit, shortText } from "./task-routes.js";
import { signTaskToken } from "./tokens.js";

/** Groups, a task's children, and signals (docs/api-extensions.md). */
export function familyRoutes(app: Hono, ctx: ServerContext): void {
  const { outlast } = ctx;

  app.post("/api/v1/groups", async (c) => {
    const principal = await ctx.authenticate(c.req.raw);
    requireOwnerOrAdmin(principal);
    const body = parseBody(groupBody, await readJson(c.req.raw, ctx.options.bodyLimitBytes));
    const names = [...body.children.map((child) => child.name), ...(body.then ? [body.then.name] : [])];
    for (const name of names) {
      if (!outlast.taskNames.includes(name)) throw new OutlastError("unknown_task_name", `No task named "${name}" is defined on this server`);
      checkQueueAllowed(outlast, principal, { name });
    }
    const group: GroupRequest = { name: body.name, owner: ownerFor(principal, body), children: body.children.map(withoutUndefined) };
    if (body.idempotencyKey !== undefined) group.idempotencyKey = body.idempotencyKey;
    if (body.title !== undefined) group.title = body.title as string;
    if (body.then !== undefined) group.then = withoutUndefined(body.then);
    if (body.failure !== undefined) group.failure = body.failure;
    const { outcome, task } = await outlast.submitGroupWithOutcome(group);
    const token = await signTaskToken(await ctx.auth.key(), task.owner, task.id);
    return c.json({ task, token }, outcome === "existing" ? 200 : 202);
  });

  app.get("/api/v1/tasks/:id/children", async (c) => {
    const principal = await ctx.authenticate(c.req.raw);
    const id = c.req.param("id");
    checkTaskToken(principal, id);
    const q = c.req.query();
    const options: { limit?: number; cursor?: string } = {};
    if (q.limit !== undefined) options.limit = pageLimit(q.limit);
    if (q.cursor !== undefined) options.cursor = openCursor(await ctx.auth.key(), shortText(q.cursor, "cursor"));
    const page = await outlast.children(knownId(id), options, scopeOf(principal));
    const nextCursor = page.nextCursor === null ? null : sealCursor(await ctx.auth.key(), page.nextCursor);
    return c.json({ tasks: page.tasks, nextCursor });
  });

  // The task's owner, or its task token (a page that holds only that), may signal it.
  app.post("/api/v1/tasks/:id/signals/:name", async (c) => {
    const principal = await ctx.authenticate(c.req.raw);
    const id = c.req.param("id");
    checkTaskToken(principal, id);
    if (!validId(id)) throw new OutlastError("not_found", `No task ${id.slice(0, 80)}`);
    const body = parseBody(signalBody, await readJson(c.req.raw, ctx.options.bodyLimitBytes));
    const { delivered, task } = await outlast.signal(id, c.req.param("name"), body.payload ?? null, scopeOf(principal));
    return c.json({ task, delivered }, 202);
  });
}

/** zod gives optional fields as present-but-undefined; the engine's options take them absent. */
function withoutUndefined<T extends object>(value: T): { [K in keyof T]: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as { [K in keyof T]: Exclude<T[K], undefined> };
}

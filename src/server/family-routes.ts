import { z } from "zod";
import { OutlastError } from "../core/errors.js";
import type { GroupRequest } from "../engine/families.js";
import { checkTaskToken, requireOwnerOrAdmin, scopeOf, validId } from "./access.js";
import { groupBody, signalBody } from "./body.js";
import { openCursor, sealCursor } from "./page-cursor.js";
import { cursorParam, pageLimitParam } from "./query-params.js";
import { signalAnswer, taskPageAnswer, taskWithTokenAnswer } from "./response-schemas.js";
import { caller, defineRoute, param, type Route } from "./route.js";
import { checkQueueAllowed, knownId, ownerFor } from "./task-routes.js";
import { signTaskToken } from "./tokens.js";

/** Groups, a task's children, and signals (docs/api-extensions.md). */
export const familyRoutes: readonly Route[] = [
  defineRoute({
    method: "post",
    path: "/api/v1/groups",
    id: "submitGroup",
    tag: "groups",
    summary: "Submit a group: children, then an optional task with their outcomes",
    description: "200 when `idempotencyKey` matches a group of the same owner and name that is not failed or canceled; 202 otherwise.",
    auth: "owner",
    body: groupBody,
    example: { name: "count.all", children: [{ name: "demo.count", input: { to: 1, everyMs: 0 } }, { name: "demo.count", input: { to: 2, everyMs: 0 }, key: "two", weight: 2 }], failure: "continue" },
    responses: {
      "200": { description: "The group the idempotency key names", schema: taskWithTokenAnswer },
      "202": { description: "The group, waiting for its children", schema: taskWithTokenAnswer },
    },
    async handle(c, ctx, input) {
      const { outlast } = ctx;
      const principal = caller(input);
      requireOwnerOrAdmin(principal);
      const body = await input.body();
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
    },
  }),

  defineRoute({
    method: "get",
    path: "/api/v1/tasks/:id/children",
    id: "listChildren",
    tag: "groups",
    summary: "A task's children, in submit order",
    auth: "task",
    params: { id: "The parent task's id" },
    query: z.object({ limit: pageLimitParam.optional().meta({ description: "Children per page, 1 to 200 (default 50)" }), cursor: cursorParam.optional() }),
    exampleQuery: { limit: "20" },
    responses: { "200": { description: "A page of children", schema: taskPageAnswer } },
    async handle(c, ctx, input) {
      const principal = caller(input);
      const id = param(c, "id");
      checkTaskToken(principal, id);
      const q = input.query();
      const options: { limit?: number; cursor?: string } = {};
      if (q.limit !== undefined) options.limit = q.limit;
      if (q.cursor !== undefined) options.cursor = openCursor(await ctx.auth.key(), q.cursor);
      const page = await ctx.outlast.children(knownId(id), options, scopeOf(principal));
      const nextCursor = page.nextCursor === null ? null : sealCursor(await ctx.auth.key(), page.nextCursor);
      return c.json({ tasks: page.tasks, nextCursor });
    },
  }),

  // The task's owner, or its task token (a page that holds only that), may signal it.
  defineRoute({
    method: "post",
    path: "/api/v1/tasks/:id/signals/:name",
    id: "sendSignal",
    tag: "groups",
    summary: "Send a signal to a task",
    description: "`delivered` when the task was waiting for it; otherwise it is kept until the task waits for it. A finished task: 409.",
    auth: "task",
    params: { id: "The task's id", name: "The signal's name: 1 to 128 letters, digits, `.`, `_`, `:`, `-`" },
    body: signalBody,
    example: { payload: { approved: true } },
    responses: { "202": { description: "The task, and whether it took the signal now", schema: signalAnswer } },
    async handle(c, ctx, input) {
      const principal = caller(input);
      const id = param(c, "id");
      checkTaskToken(principal, id);
      if (!validId(id)) throw new OutlastError("not_found", `No task ${id.slice(0, 80)}`);
      const body = await input.body();
      const { delivered, task } = await ctx.outlast.signal(id, param(c, "name"), body.payload ?? null, scopeOf(principal));
      return c.json({ task, delivered }, 202);
    },
  }),
];

/** zod gives optional fields as present-but-undefined; the engine's options take them absent. */
function withoutUndefined<T extends object>(value: T): { [K in keyof T]: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as { [K in keyof T]: Exclude<T[K], undefined> };
}

import { z } from "zod";
import { deadActionBody } from "./body.js";
import type { DeadLetterQuery, DeadLetterTarget } from "../engine/dead-letters.js";
import { openCursor, sealCursor } from "./page-cursor.js";
import { cursorParam, isoTimeParam, pageLimitParam, shortTextParam } from "./query-params.js";
import { countAnswer, taskPageAnswer } from "./response-schemas.js";
import { defineRoute, type Route } from "./route.js";

const deadQuery = z.object({
  queue: shortTextParam.optional().meta({ description: "Only dead letters of this queue" }),
  name: shortTextParam.optional().meta({ description: "Only dead letters of this task name" }),
  code: shortTextParam.optional().meta({ description: "Only dead letters whose `error.code` is this" }),
  since: isoTimeParam.optional().meta({ description: "Finished at or after this ISO time" }),
  until: isoTimeParam.optional().meta({ description: "Finished before this ISO time" }),
  limit: pageLimitParam.optional().meta({ description: "Tasks per page, 1 to 200 (default 50)" }),
  cursor: cursorParam.optional(),
});

/** Dead letters: failed tasks kept for an operator to redrive or purge (docs/api-extensions.md). Admin key only. */
export const deadRoutes: readonly Route[] = [
  defineRoute({
    method: "get",
    path: "/api/v1/dead",
    id: "listDeadLetters",
    tag: "dead letters",
    summary: "Dead letters, newest first by finishedAt",
    auth: "admin",
    query: deadQuery,
    exampleQuery: { since: "2024-01-01T00:00:00Z", limit: "5" },
    responses: { "200": { description: "A page of dead letters", schema: taskPageAnswer } },
    async handle(c, ctx, input) {
      const q = input.query();
      const query: DeadLetterQuery & { limit?: number; cursor?: string } = {};
      for (const field of ["queue", "name", "code", "since", "until"] as const) if (q[field] !== undefined) query[field] = q[field];
      if (q.limit !== undefined) query.limit = q.limit;
      if (q.cursor !== undefined) query.cursor = openCursor(await ctx.auth.key(), q.cursor);
      const page = await ctx.outlast.deadLetters(query);
      const nextCursor = page.nextCursor === null ? null : sealCursor(await ctx.auth.key(), page.nextCursor);
      return c.json({ tasks: page.tasks, nextCursor });
    },
  }),
  ...(["redrive", "purge"] as const).map((action) =>
    defineRoute({
      method: "post",
      path: `/api/v1/dead/${action}`,
      id: action === "redrive" ? "redriveDeadLetters" : "purgeDeadLetters",
      tag: "dead letters",
      summary: action === "redrive" ? "Run dead letters again from their steps" : "Delete dead letters with their events",
      description: "Exactly one of `ids` and `filter`.",
      auth: "admin",
      body: deadActionBody,
      example: action === "redrive" ? { ids: ["tsk_missing"] } : { filter: { queue: "no-such-queue", since: "2024-01-01T00:00:00Z" } },
      responses: { "200": { description: "How many dead letters it touched", schema: countAnswer } },
      async handle(c, ctx, input) {
        const body = await input.body();
        const target: DeadLetterTarget = body.ids !== undefined ? { ids: body.ids } : { filter: withoutUndefined(body.filter ?? {}) };
        const count = action === "redrive" ? await ctx.outlast.redrive(target) : await ctx.outlast.purgeDead(target);
        return c.json({ count }, 200);
      },
    }),
  ),
];

/** zod gives optional fields as present-but-undefined; the engine takes them absent. */
function withoutUndefined<T extends object>(value: T): { [K in keyof T]: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as { [K in keyof T]: Exclude<T[K], undefined> };
}

import type { Hono } from "hono";
import { requireAdmin } from "./auth.js";
import { deadActionBody, parseBody, readJson } from "./body.js";
import type { ServerContext } from "./context.js";
import type { DeadLetterQuery, DeadLetterTarget } from "../engine/dead-letters.js";
import { openCursor, sealCursor } from "./page-cursor.js";
import { badQuery, pageLimit, shortText } from "./task-routes.js";

/** Dead letters: failed tasks kept for an operator to redrive or purge (docs/api-extensions.md). Admin key only. */
export function deadRoutes(app: Hono, ctx: ServerContext): void {
  const { outlast } = ctx;

  app.get("/api/v1/dead", async (c) => {
    requireAdmin(await ctx.authenticate(c.req.raw));
    const q = c.req.query();
    const query: DeadLetterQuery & { limit?: number; cursor?: string } = {};
    for (const field of ["queue", "name", "code"] as const) if (q[field] !== undefined) query[field] = shortText(q[field], field);
    for (const field of ["since", "until"] as const) {
      if (q[field] === undefined) continue;
      if (!Number.isFinite(Date.parse(q[field]))) throw badQuery(field, "must be an ISO-8601 time");
      query[field] = q[field];
    }
    if (q.limit !== undefined) query.limit = pageLimit(q.limit);
    if (q.cursor !== undefined) query.cursor = openCursor(await ctx.auth.key(), shortText(q.cursor, "cursor"));
    const page = await outlast.deadLetters(query);
    const nextCursor = page.nextCursor === null ? null : sealCursor(await ctx.auth.key(), page.nextCursor);
    return c.json({ tasks: page.tasks, nextCursor });
  });

  for (const action of ["redrive", "purge"] as const) {
    app.post(`/api/v1/dead/${action}`, async (c) => {
      requireAdmin(await ctx.authenticate(c.req.raw));
      const body = parseBody(deadActionBody, await readJson(c.req.raw, ctx.options.bodyLimitBytes));
      const target: DeadLetterTarget = body.ids !== undefined ? { ids: body.ids } : { filter: withoutUndefined(body.filter ?? {}) };
      const count = action === "redrive" ? await outlast.redrive(target) : await outlast.purgeDead(target);
      return c.json({ count }, 200);
    });
  }
}

/** zod gives optional fields as present-but-undefined; the engine takes them absent. */
function withoutUndefined<T extends object>(value: T): { [K in keyof T]: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as { [K in keyof T]: Exclude<T[K], undefined> };
}

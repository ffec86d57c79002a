import { z } from "zod";
import { OutlastError } from "../core/errors.js";
import { isFinal } from "../core/states.js";
import { visibleRecord, validId } from "./access.js";
import { principalKey, type Principal } from "./auth.js";
import type { ServerContext } from "./context.js";
import { MultiStream, type MultiScope } from "./multi-stream.js";
import { SseStream } from "./sse.js";
import { sseResponse } from "./sse-response.js";
import { pumpTask } from "./task-stream.js";
import { tokenParam } from "./query-params.js";
import { caller, defineRoute, param, type Route } from "./route.js";

/** Most task ids one multi-task stream may name. */
export const MAX_STREAM_TASKS = 100;

const SSE_DESCRIPTION =
  "Server-Sent Events: `retry: 2000`, a `snapshot` event per task, then live `state`, `progress`, `log`, `step` (and `reset`) events, each with an `id:` cursor; `: ping` at least every 15 s. Resume with `Last-Event-ID` or `?after=`.";

const sseAnswer = { description: SSE_DESCRIPTION, contentType: "text/event-stream" };

const resumeHeader = { "Last-Event-ID": "Resume after this event id (what EventSource sends on a reconnect)" };

const resumeQuery = {
  after: z.string().optional().meta({ description: "Resume after this event id (the `Last-Event-ID` header wins)" }),
  token: tokenParam.optional(),
};

export const streamRoutes: readonly Route[] = [
  defineRoute({
    method: "get",
    path: "/api/v1/tasks/:id/events",
    id: "watchTask",
    tag: "events",
    summary: "Watch one task live",
    description: "Ends after the final `state` event; a reconnect that already saw it is answered 204.",
    auth: "task",
    queryToken: true,
    params: { id: "The task's id" },
    headers: resumeHeader,
    query: z.object(resumeQuery),
    responses: { "200": sseAnswer, "204": { description: "The stream already delivered the task's final state" } },
    async handle(c, ctx, input) {
      const principal = caller(input);
      const id = param(c, "id");
      const record = await visibleRecord(ctx.outlast, principal, id);
      const after = resumeCursor(c.req.raw);
      if (after !== undefined) {
        const seq = (await ctx.outlast.cursors()).decode(after);
        // It already saw the end: 204 stops a browser EventSource from reconnecting.
        if (seq !== null && isFinal(record.state) && seq >= record.lastSeq) return c.body(null, 204);
      }
      const sse = open(ctx, principal);
      // Closed on an error only: once caught up the stream lives on in the task's fan-out.
      pumpTask(ctx.outlast, ctx.fanouts, sse, id, after).catch((error: unknown) => fail(ctx, sse, error));
      return sseResponse(c.env, sse);
    },
  }),

  defineRoute({
    method: "get",
    path: "/api/v1/events",
    id: "watchTasks",
    tag: "events",
    summary: "Watch several tasks, or all of the caller's, on one connection",
    auth: "task",
    queryToken: true,
    query: z.object({
      tasks: z.string().optional().meta({ description: `1 to ${MAX_STREAM_TASKS} task ids, separated by commas; without it, every task of the caller's owner` }),
      ...resumeQuery,
    }),
    headers: resumeHeader,
    exampleQuery: { tasks: "tsk_missing" },
    responses: { "200": sseAnswer },
    async handle(c, ctx, input) {
      const principal = caller(input);
      const scope = await multiScope(ctx, principal, input.query().tasks);
      const sse = open(ctx, principal);
      const stream = new MultiStream(ctx.outlast, sse, scope, (error) => fail(ctx, sse, error));
      stream.start(resumeCursor(c.req.raw)).catch((error: unknown) => fail(ctx, sse, error));
      return sseResponse(c.env, sse);
    },
  }),
];

/** `Last-Event-ID` (what EventSource sends) wins over `?after=`. */
function resumeCursor(request: Request): string | undefined {
  const header = request.headers.get("last-event-id");
  if (header !== null && header.length > 0) return header.slice(0, 64 * 1024);
  const after = new URL(request.url).searchParams.get("after");
  return after !== null && after.length > 0 ? after.slice(0, 64 * 1024) : undefined;
}

async function multiScope(ctx: ServerContext, principal: Principal, tasks: string | undefined): Promise<MultiScope> {
  const owner = principal.kind === "admin" ? null : principal.owner;
  if (tasks === undefined || tasks === "") {
    if (principal.kind === "task") throw new OutlastError("forbidden", "A task token may only watch its own task: add ?tasks=ID");
    return { owner, tasks: null };
  }
  const ids = [...new Set(tasks.split(",").map((s) => s.trim()).filter((s) => s.length > 0))];
  if (ids.length > MAX_STREAM_TASKS || ids.some((id) => !validId(id))) {
    throw new OutlastError("bad_request", `tasks must list 1 to ${MAX_STREAM_TASKS} task ids, separated by commas`);
  }
  // Every id must be visible: one that is not is 404 for the whole stream, like any other route.
  for (const id of ids) await visibleRecord(ctx.outlast, principal, id);
  return { owner, tasks: ids };
}

function open(ctx: ServerContext, principal: Principal): SseStream {
  const sse = new SseStream(ctx.sseOptions);
  const limit = principal.kind === "admin" ? null : ctx.options.maxStreamsPerOwner;
  if (!ctx.streams.add(sse, principalKey(principal), limit)) {
    sse.close();
    throw new OutlastError("rate_limited", `At most ${limit} event streams per owner; close one, or watch several tasks on one stream`, {
      details: { retryAfterMs: 5000 },
    });
  }
  return sse;
}

function fail(ctx: ServerContext, sse: SseStream, error: unknown): void {
  if (!sse.closed) ctx.log.error({ err: error }, "event stream failed");
  sse.close();
}

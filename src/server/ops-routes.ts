import { hostname } from "node:os";
import type { Logger } from "pino";
import { z } from "zod";
import { OutlastError } from "../core/errors.js";
import { validId } from "./access.js";
import type { Outlast } from "../engine/outlast.js";
import { wholeNumberParam } from "./query-params.js";
import { detailAnswer, nodesAnswer, statsAnswer } from "./response-schemas.js";
import { defineRoute, param, type Route } from "./route.js";
import { KEEP_MS, TaskStats } from "./task-stats.js";

/** Most events one page of a task's timeline holds. */
const MAX_EVENTS_PAGE = 500;

const WINDOW_PROBLEM = "must be like 15m or 6h, from 1m to 24h";

/** `30s`, `15m`, `6h`…: from one minute to the day the ring keeps; in milliseconds. */
const windowParam = z
  .string()
  .regex(/^\d{1,5}(s|m|h)$/, WINDOW_PROBLEM)
  .transform((text) => Number(text.slice(0, -1)) * { s: 1000, m: 60_000, h: 3_600_000 }[text.slice(-1) as "s" | "m" | "h"])
  .refine((ms) => ms >= 60_000 && ms <= KEEP_MS, WINDOW_PROBLEM);

/** What the dashboard's throughput figures keep per handler: released when it closes. */
export interface OpsState {
  stats: TaskStats;
  /** Reads back, once, what happened before this process started (a restart). */
  history(): Promise<unknown>;
  startedAt: string;
  close(): void;
}

/** The live feed counts from now; what happened before is read back from the stored tasks, once, when first asked. */
export function opsState(outlast: Outlast, log: Logger): OpsState {
  const stats = new TaskStats((listener) => outlast.onTaskEvents({}, listener));
  const liveSince = Date.now();
  let loaded: Promise<unknown> | null = null;
  return {
    stats,
    history: () =>
      (loaded ??= stats
        .load((cursor) => outlast.listRecords({ limit: 1000, ...(cursor === undefined ? {} : { cursor }) }), liveSince - KEEP_MS, liveSince)
        .catch((error: unknown) => {
          loaded = null;
          log.warn({ err: error }, "reading the last day's task history for the dashboard failed");
        })),
    startedAt: new Date().toISOString(),
    close: () => stats.close(),
  };
}

/**
 * Admin routes the dashboard reads besides the documented ones (API.md,
 * "Operations for the dashboard"): throughput and latency per queue, the
 * nodes with their watchers, and a task's stored record with its timeline.
 */
export const opsRoutes: readonly Route[] = [
  defineRoute({
    method: "get",
    path: "/api/v1/stats",
    id: "stats",
    tag: "operations",
    summary: "Per-queue and all-queue time buckets of the last minutes or hours",
    auth: "admin",
    query: z.object({ window: windowParam.optional().meta({ description: "How far back: 1m to 24h, like 15m or 6h (default 15m)" }) }),
    exampleQuery: { window: "1h" },
    responses: { "200": { description: "Time buckets", schema: statsAnswer } },
    async handle(c, ctx, input) {
      const windowMs = input.query().window ?? 15 * 60_000;
      await ctx.ops.history();
      return c.json(ctx.ops.stats.series(windowMs, Date.now()));
    },
  }),

  defineRoute({
    method: "get",
    path: "/api/v1/nodes",
    id: "listNodes",
    tag: "operations",
    summary: "This node's streams and listeners, and every other process on the database",
    auth: "admin",
    responses: { "200": { description: "The nodes", schema: nodesAnswer } },
    async handle(c, ctx) {
      const { outlast } = ctx;
      const workers = await outlast.listWorkers();
      const self = workers.find((w) => w.id === outlast.workerId);
      // This process's counts are live; other nodes' streams are as of their last heartbeat.
      const nodes = [
        {
          id: outlast.workerId,
          self: true,
          host: self?.host ?? hostname(),
          pid: self?.pid ?? process.pid,
          startedAt: ctx.ops.startedAt,
          heartbeatAt: self ? new Date(self.heartbeatAt).toISOString() : null,
          streams: ctx.streams.size,
          listeners: outlast.watcherCount,
          running: self?.running.length ?? outlast.runningHere.length,
        },
        ...workers
          // Workers over HTTP are not processes on the database: /api/v1/workers lists them.
          .filter((w) => w.id !== outlast.workerId && !w.remote)
          .map((w) => ({
            id: w.id,
            self: false,
            host: w.host,
            pid: w.pid,
            startedAt: new Date(w.startedAt).toISOString(),
            heartbeatAt: new Date(w.heartbeatAt).toISOString(),
            streams: w.streams,
            listeners: null,
            running: w.running.length,
          })),
      ];
      return c.json({ nodes });
    },
  }),

  defineRoute({
    method: "get",
    path: "/api/v1/tasks/:id/detail",
    id: "taskDetail",
    tag: "operations",
    summary: "A task with its input, checkpoint, worker and a page of its event log",
    auth: "admin",
    params: { id: "The task's id" },
    query: z.object({
      after: wholeNumberParam(0, Number.MAX_SAFE_INTEGER).optional().meta({ description: "Events after this seq (default 0)" }),
      limit: wholeNumberParam(1, MAX_EVENTS_PAGE).optional().meta({ description: `Events per page, 1 to ${MAX_EVENTS_PAGE} (default ${MAX_EVENTS_PAGE})` }),
    }),
    exampleQuery: { after: "0", limit: "100" },
    responses: { "200": { description: "The task's stored record and events", schema: detailAnswer } },
    async handle(c, ctx, input) {
      const { outlast } = ctx;
      const id = param(c, "id");
      const record = validId(id) ? await outlast.getRecord(id) : null;
      if (!record) throw new OutlastError("not_found", `No task ${id.slice(0, 80)}`);
      const q = input.query();
      const after = q.after ?? 0;
      const limit = q.limit ?? MAX_EVENTS_PAGE;
      const [task, events] = await Promise.all([outlast.get(id), outlast.readEvents(id, after, limit)]);
      if (!task) throw new OutlastError("not_found", `No task ${id.slice(0, 80)}`);
      const last = events.at(-1);
      return c.json({
        task,
        input: record.input,
        checkpoint: record.checkpoint ?? null,
        idempotencyKey: record.idempotencyKey,
        timeoutMs: record.timeoutMs,
        workerId: record.workerId,
        cancelRequested: record.cancelRequested,
        events,
        nextAfter: events.length === limit && last ? last.seq : null,
      });
    },
  }),
];

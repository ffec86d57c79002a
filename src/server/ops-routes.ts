import { hostname } from "node:os";
import type { Hono } from "hono";
import { OutlastError } from "../core/errors.js";
import { validId } from "./access.js";
import { requireAdmin } from "./auth.js";
import type { ServerContext } from "./context.js";
import { KEEP_MS, TaskStats } from "./task-stats.js";

/** Most events one page of a task's timeline holds. */
const MAX_EVENTS_PAGE = 500;

/**
 * Admin routes the dashboard reads besides the documented ones (API.md,
 * "Operations for the dashboard"): throughput and latency per queue, the
 * nodes with their watchers, and a task's stored record with its timeline.
 * Returns what must be released when the handler closes.
 */
export function opsRoutes(app: Hono, ctx: ServerContext): { close(): void } {
  const { outlast } = ctx;
  const stats = new TaskStats((listener) => outlast.onTaskEvents({}, listener));
  // The live feed counts from now; what happened before (a restart) is read back from the stored tasks, once, when first asked.
  const liveSince = Date.now();
  let loaded: Promise<unknown> | null = null;
  const history = () =>
    (loaded ??= stats
      .load((cursor) => outlast.listRecords({ limit: 1000, ...(cursor === undefined ? {} : { cursor }) }), liveSince - KEEP_MS, liveSince)
      .catch((error: unknown) => {
        loaded = null;
        ctx.log.warn({ err: error }, "reading the last day's task history for the dashboard failed");
      }));
  const startedAt = new Date().toISOString();

  app.get("/api/v1/stats", async (c) => {
    requireAdmin(await ctx.authenticate(c.req.raw));
    const windowMs = parseWindow(c.req.query("window") ?? "15m");
    await history();
    return c.json(stats.series(windowMs, Date.now()));
  });

  app.get("/api/v1/nodes", async (c) => {
    requireAdmin(await ctx.authenticate(c.req.raw));
    const workers = await outlast.listWorkers();
    const self = workers.find((w) => w.id === outlast.workerId);
    // This process's counts are live; other nodes' streams are as of their last heartbeat.
    const nodes = [
      {
        id: outlast.workerId,
        self: true,
        host: self?.host ?? hostname(),
        pid: self?.pid ?? process.pid,
        startedAt,
        heartbeatAt: self ? new Date(self.heartbeatAt).toISOString() : null,
        streams: ctx.streams.open.size,
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
  });

  app.get("/api/v1/tasks/:id/detail", async (c) => {
    requireAdmin(await ctx.authenticate(c.req.raw));
    const id = c.req.param("id");
    const record = validId(id) ? await outlast.getRecord(id) : null;
    if (!record) throw new OutlastError("not_found", `No task ${id.slice(0, 80)}`);
    const after = wholeNumber(c.req.query("after") ?? "0", "after", 0, Number.MAX_SAFE_INTEGER);
    const limit = wholeNumber(c.req.query("limit") ?? String(MAX_EVENTS_PAGE), "limit", 1, MAX_EVENTS_PAGE);
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
  });

  return { close: () => stats.close() };
}

/** `30s`, `15m`, `6h`…: from one minute to the day the ring keeps. */
export function parseWindow(text: string): number {
  const match = /^(\d{1,5})(s|m|h)$/.exec(text);
  const ms = match ? Number(match[1]) * { s: 1000, m: 60_000, h: 3_600_000 }[match[2] as "s" | "m" | "h"] : NaN;
  if (!(ms >= 60_000 && ms <= KEEP_MS)) {
    throw new OutlastError("bad_request", "Query parameter window must be like 15m or 6h, from 1m to 24h", { details: { field: "window" } });
  }
  return ms;
}

function wholeNumber(text: string, field: string, min: number, max: number): number {
  const n = Number(text);
  if (!/^\d{1,16}$/.test(text) || !Number.isSafeInteger(n) || n < min || n > max) {
    throw new OutlastError("bad_request", `Query parameter ${field} must be a whole number from ${min} to ${max}`, { details: { field } });
  }
  return n;
}

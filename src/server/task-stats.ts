import type { StoredEvent } from "../core/events.js";
import type { TaskRecord } from "../core/task.js";

/** One time bucket of one queue, as `GET /api/v1/stats` answers it. */
export interface StatsBucket {
  /** Start of the bucket, ISO-8601. */
  at: string;
  submitted: number;
  succeeded: number;
  failed: number;
  canceled: number;
  /** Run time of attempts that ended in the bucket; null when none did. */
  runMeanMs: number | null;
  runP95Ms: number | null;
  /** Time from queued to started of attempts that started in the bucket. */
  waitMeanMs: number | null;
}

export interface StatsSeries {
  windowMs: number;
  bucketMs: number;
  from: string;
  to: string;
  queues: { name: string; buckets: StatsBucket[] }[];
  /** Every queue together. */
  all: StatsBucket[];
}

interface Fine {
  submitted: number;
  succeeded: number;
  failed: number;
  canceled: number;
  runCount: number;
  runSum: number;
  /** A reservoir sample of run times, for percentiles without keeping every one. */
  runSample: number[];
  waitCount: number;
  waitSum: number;
}

/** Finest bucket kept; coarser ones are merged from these at query time. */
export const FINE_BUCKET_MS = 5_000;
/** How far back the ring reaches. */
export const KEEP_MS = 24 * 60 * 60 * 1000;
const SAMPLE_SIZE = 48;
/** Tasks whose start (or queueing) time is remembered while they wait or run. */
const MAX_TRACKED = 20_000;
/** Buckets a series is cut into. */
const TARGET_BUCKETS = 60;

/**
 * Throughput and latency per queue over the last day, from the engine's
 * events as they happen: a bounded in-memory ring, so drawing a chart never
 * scans the task table. It counts what this process hears (every process on
 * the database, through the store's event feed), and at start it is filled
 * from the stored tasks of the day before (`load`), so a restart keeps the
 * history that retention has not removed.
 */
export class TaskStats {
  private readonly queues = new Map<string, Map<number, Fine>>();
  private readonly startedAt = new Map<string, number>();
  private readonly queuedAt = new Map<string, number>();
  private readonly stop: () => void;

  /** `subscribe` is the engine's feed of every event, e.g. `(l) => outlast.onTaskEvents({}, l)`. */
  constructor(subscribe: (listener: (event: StoredEvent) => void) => () => void) {
    this.stop = subscribe((event) => this.record(event));
  }

  close(): void {
    this.stop();
    this.queues.clear();
    this.startedAt.clear();
    this.queuedAt.clear();
  }

  /**
   * Fill the ring from stored tasks (newest first, pages from `read`) with
   * what happened from `since` until `until` — the moment the live feed
   * took over, so nothing is counted twice. Submits count at `createdAt`,
   * ends at `finishedAt` (with the last attempt's run time), starts at
   * `startedAt` (waiting since its `runAt`); a task still queued or running
   * is remembered, so its live end is timed. Stops after `maxTasks`.
   */
  async load(read: (cursor: string | undefined) => Promise<{ tasks: TaskRecord[]; nextCursor: string | null }>, since: number, until: number, maxTasks = 20_000): Promise<number> {
    let cursor: string | undefined;
    let seen = 0;
    const within = (at: number | null): at is number => at !== null && at >= since && at < until;
    for (;;) {
      const page = await read(cursor);
      for (const task of page.tasks) {
        if (within(task.createdAt)) this.submitted(task.queue, task.createdAt);
        if (within(task.startedAt)) this.started(task.queue, task.startedAt, Math.min(task.runAt, task.startedAt));
        if (within(task.finishedAt) && (task.state === "succeeded" || task.state === "failed" || task.state === "canceled")) {
          this.ended(task.queue, task.finishedAt, task.state, task.startedAt);
        }
        if (task.state === "running" && task.startedAt !== null && !this.startedAt.has(task.id)) remember(this.startedAt, task.id, task.startedAt);
        if (task.state === "queued" && !this.queuedAt.has(task.id)) remember(this.queuedAt, task.id, task.runAt);
      }
      seen += page.tasks.length;
      const oldest = page.tasks.at(-1);
      // Newest first: a page that reaches before the window has read every task made within it.
      if (page.nextCursor === null || seen >= maxTasks || (oldest !== undefined && oldest.createdAt < since - KEEP_MS)) break;
      cursor = page.nextCursor;
    }
    // Buckets were made newest first here; pruning expects the oldest first.
    for (const [queue, fines] of this.queues) this.queues.set(queue, new Map([...fines].sort(([a], [b]) => a - b)));
    return seen;
  }

  /** Feeds one event; exposed so the ring can be tested without an engine. */
  record(event: StoredEvent): void {
    const data = event.data;
    if (data.type !== "state") return;
    const at = event.at;
    switch (data.state) {
      case "queued": {
        const ready = data.runAt !== undefined ? Math.max(at, Date.parse(data.runAt) || at) : at;
        remember(this.queuedAt, event.taskId, ready);
        if (data.reason === undefined) this.submitted(event.queue, at);
        return;
      }
      case "running": {
        remember(this.startedAt, event.taskId, at);
        const queued = this.queuedAt.get(event.taskId);
        this.queuedAt.delete(event.taskId);
        if (queued !== undefined) this.started(event.queue, at, queued);
        return;
      }
      case "succeeded":
      case "failed":
      case "canceled": {
        this.queuedAt.delete(event.taskId);
        const started = this.startedAt.get(event.taskId) ?? null;
        this.startedAt.delete(event.taskId);
        this.ended(event.queue, at, data.state, started);
        return;
      }
    }
  }

  // What a submit, a start and an end add to their buckets: the same whether heard live or read back.
  private submitted(queue: string, at: number): void {
    this.fine(queue, at).submitted++;
  }

  private started(queue: string, at: number, readySince: number): void {
    const bucket = this.fine(queue, at);
    bucket.waitCount++;
    bucket.waitSum += Math.max(0, at - readySince);
  }

  private ended(queue: string, at: number, state: "succeeded" | "failed" | "canceled", startedAt: number | null): void {
    const bucket = this.fine(queue, at);
    bucket[state]++;
    if (startedAt !== null) addRun(bucket, Math.max(0, at - startedAt));
  }

  /** The last `windowMs` up to `now`, cut into about 60 buckets per queue. */
  series(windowMs: number, now: number): StatsSeries {
    const bucketMs = Math.max(FINE_BUCKET_MS, Math.ceil(windowMs / TARGET_BUCKETS / FINE_BUCKET_MS) * FINE_BUCKET_MS);
    const end = Math.floor(now / bucketMs) * bucketMs + bucketMs;
    const start = end - Math.ceil(windowMs / bucketMs) * bucketMs;
    const empty = () => Array.from({ length: (end - start) / bucketMs }, emptyFine);
    const all = empty();
    const queues: StatsSeries["queues"] = [];
    for (const [name, fines] of this.queues) {
      const merged = empty();
      for (const [t, fine] of fines) {
        if (t < start || t >= end) continue;
        const i = Math.floor((t - start) / bucketMs);
        merge(merged[i]!, fine);
        merge(all[i]!, fine);
      }
      queues.push({ name, buckets: merged.map((f, i) => present(f, start + i * bucketMs)) });
    }
    queues.sort((a, b) => a.name.localeCompare(b.name));
    const at = (f: Fine, i: number) => present(f, start + i * bucketMs);
    return { windowMs, bucketMs, from: new Date(start).toISOString(), to: new Date(end).toISOString(), queues, all: all.map(at) };
  }

  private fine(queue: string, at: number): Fine {
    let fines = this.queues.get(queue);
    if (!fines) this.queues.set(queue, (fines = new Map()));
    const key = Math.floor(at / FINE_BUCKET_MS) * FINE_BUCKET_MS;
    let fine = fines.get(key);
    if (!fine) {
      fines.set(key, (fine = emptyFine()));
      // Buckets are made in time order, so the oldest are first in the map.
      for (const t of fines.keys()) {
        if (t >= key - KEEP_MS) break;
        fines.delete(t);
      }
    }
    return fine;
  }
}

function remember(map: Map<string, number>, id: string, at: number): void {
  map.delete(id);
  map.set(id, at);
  // A task whose end this process never hears must not be kept forever.
  if (map.size > MAX_TRACKED) {
    const oldest = map.keys().next().value;
    if (oldest !== undefined) map.delete(oldest);
  }
}

function emptyFine(): Fine {
  return { submitted: 0, succeeded: 0, failed: 0, canceled: 0, runCount: 0, runSum: 0, runSample: [], waitCount: 0, waitSum: 0 };
}

function addRun(fine: Fine, ms: number): void {
  fine.runCount++;
  fine.runSum += ms;
  if (fine.runSample.length < SAMPLE_SIZE) fine.runSample.push(ms);
  else {
    const slot = Math.floor(Math.random() * fine.runCount);
    if (slot < SAMPLE_SIZE) fine.runSample[slot] = ms;
  }
}

function merge(into: Fine, from: Fine): void {
  into.submitted += from.submitted;
  into.succeeded += from.succeeded;
  into.failed += from.failed;
  into.canceled += from.canceled;
  into.runCount += from.runCount;
  into.runSum += from.runSum;
  into.waitCount += from.waitCount;
  into.waitSum += from.waitSum;
  // Weighting each fine bucket's sample equally is close enough for a chart.
  into.runSample.push(...from.runSample);
}

function present(fine: Fine, at: number): StatsBucket {
  return {
    at: new Date(at).toISOString(),
    submitted: fine.submitted,
    succeeded: fine.succeeded,
    failed: fine.failed,
    canceled: fine.canceled,
    runMeanMs: fine.runCount > 0 ? Math.round(fine.runSum / fine.runCount) : null,
    runP95Ms: percentile(fine.runSample, 0.95),
    waitMeanMs: fine.waitCount > 0 ? Math.round(fine.waitSum / fine.waitCount) : null,
  };
}

export function percentile(values: readonly number[], p: number): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)]!;
}

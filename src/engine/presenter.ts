import { queuedEtaMs, runningLeftMs, type RunningShare } from "../core/eta.js";
import type { RateLimit } from "../core/queue-limits.js";
import { toPublicTask, type Task, type TaskRecord } from "../core/task.js";
import type { Store } from "../store/store.js";
import type { Clock } from "./clock.js";

/** How long a queue's figures (mean run time, running tasks) are reused: reads of many tasks in a burst share one. */
const FIGURES_REUSE_MS = 1_000;
/** Running tasks read for an estimate; a queue running more is estimated from these. */
const RUNNING_READ_LIMIT = 1_000;

interface Reused<T> {
  at: number;
  value: Promise<T>;
}

/**
 * The public task: a stored record with, while it waits, its place in the
 * queue and an estimate of when it ends, and while it runs, its time left
 * (core/eta.ts, from the queue's recent run times, its running tasks and its
 * stored concurrency and rate limit).
 */
export class Presenter {
  private readonly durations = new Map<string, Reused<number | null>>();
  private readonly running = new Map<string, Reused<TaskRecord[]>>();

  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    /** How many of the queue's tasks run at once, as best this process knows. */
    private readonly runningAtOnce: (queue: string) => Promise<number>,
    /** The queue's stored rate limit, as best this process knows. */
    private readonly rateLimitOf: (queue: string) => Promise<RateLimit | null> = async () => null,
  ) {}

  async present(record: TaskRecord): Promise<Task> {
    const now = this.clock();
    if (record.state === "running") {
      const meanMs = await this.reuse(this.durations, record.queue, now, () => this.store.recentDurationMs(record.queue));
      const workerLost = record.leaseExpiresAt !== null && record.leaseExpiresAt < now;
      return toPublicTask(record, { remainingMs: runningLeftMs(shareOf(record, now), meanMs), workerLost });
    }
    if (record.state !== "queued") return toPublicTask(record);
    const position = await this.store.queuePosition(record.id, now);
    if (position === null) return toPublicTask(record);
    const meanMs = await this.reuse(this.durations, record.queue, now, () => this.store.recentDurationMs(record.queue));
    if (meanMs === null) return toPublicTask(record, { position });
    const [running, concurrency, rateLimit] = await Promise.all([
      this.reuse(this.running, record.queue, now, async () => (await this.store.listTasks({ state: "running", queue: record.queue, limit: RUNNING_READ_LIMIT })).tasks),
      this.runningAtOnce(record.queue),
      this.rateLimitOf(record.queue),
    ]);
    const etaMs = queuedEtaMs({ position, concurrency, meanMs, rateLimit, running: running.map((task) => shareOf(task, now)) });
    return toPublicTask(record, { position, etaMs });
  }

  private reuse<T>(cache: Map<string, Reused<T>>, queue: string, now: number, read: () => Promise<T>): Promise<T> {
    const kept = cache.get(queue);
    if (kept && now - kept.at < FIGURES_REUSE_MS && now >= kept.at) return kept.value;
    const value = read();
    cache.set(queue, { at: now, value });
    // A failed read is not kept: the next caller tries again.
    value.catch(() => cache.get(queue)?.value === value && cache.delete(queue));
    return value;
  }
}

function shareOf(task: TaskRecord, now: number): RunningShare {
  return { elapsedMs: task.startedAt === null ? 0 : now - task.startedAt, percent: task.progress?.percent };
}

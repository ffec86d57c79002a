import { toPublicTask, type Task, type TaskRecord } from "../core/task.js";
import type { Store } from "../store/store.js";
import type { Clock } from "./clock.js";

/**
 * The public task: a stored record with, while it waits, its place in the
 * queue and an estimate of when it ends (from the queue's recent run times
 * and its stored concurrency).
 */
export class Presenter {
  private readonly durations = new Map<string, { at: number; ms: number | null }>();

  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    /** How many of the queue's tasks run at once, as best this process knows. */
    private readonly runningAtOnce: (queue: string) => Promise<number>,
  ) {}

  async present(record: TaskRecord): Promise<Task> {
    if (record.state !== "queued") return toPublicTask(record);
    const now = this.clock();
    const position = await this.store.queuePosition(record.id, now);
    let etaMs: number | null = null;
    if (position !== null) {
      const mean = await this.meanDuration(record.queue, now);
      if (mean !== null) etaMs = Math.round(Math.ceil(position / (await this.runningAtOnce(record.queue))) * mean);
    }
    return toPublicTask(record, position, etaMs);
  }

  private async meanDuration(queue: string, now: number): Promise<number | null> {
    const cached = this.durations.get(queue);
    if (cached && now - cached.at < 1000) return cached.ms;
    const ms = await this.store.recentDurationMs(queue);
    this.durations.set(queue, { at: now, ms });
    return ms;
  }
}

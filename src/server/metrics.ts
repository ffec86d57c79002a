import { Counter, Gauge, Histogram, Registry } from "prom-client";
import type { TaskEvent } from "../core/events.js";
import type { Outlast } from "../engine/outlast.js";

/**
 * Prometheus metrics of one handler, in a registry of its own so two
 * handlers (or tests) never share or clash over global state.
 */
export class ServerMetrics {
  readonly registry = new Registry();
  readonly requests: Counter<"method" | "status">;
  private readonly durations: Histogram<"state">;
  private readonly startedAt = new Map<string, number>();
  private readonly unsubscribe: (() => void)[] = [];

  constructor(outlast: Outlast, openStreams: () => number) {
    const registers = [this.registry];
    this.requests = new Counter({ name: "outlast_http_requests_total", help: "HTTP requests answered", labelNames: ["method", "status"], registers });
    this.durations = new Histogram({
      name: "outlast_task_duration_seconds",
      help: "Run time of attempts that ended, from start to end",
      labelNames: ["state"],
      buckets: [0.1, 0.5, 1, 5, 15, 60, 300, 1800, 7200],
      registers,
    });
    new Gauge({
      name: "outlast_open_streams",
      help: "Event streams open on this server",
      registers,
      collect() {
        this.set(openStreams());
      },
    });
    new Gauge({
      name: "outlast_watchers",
      help: "Event listeners in this process",
      registers,
      collect() {
        this.set(outlast.watcherCount);
      },
    });
    const tasks = new Gauge({ name: "outlast_tasks", help: "Tasks by queue and state", labelNames: ["queue", "state"], registers });
    const depth = new Gauge({ name: "outlast_queue_depth", help: "Queued tasks by queue", labelNames: ["queue"], registers });
    const paused = new Gauge({ name: "outlast_queue_paused", help: "1 when the queue is paused", labelNames: ["queue"], registers });
    // One store read serves all three gauges per scrape.
    const collectQueues = async () => {
      const queues = await outlast.listQueues();
      tasks.reset();
      depth.reset();
      paused.reset();
      for (const q of queues) {
        for (const [state, n] of Object.entries(q.counts)) tasks.set({ queue: q.name, state }, n);
        depth.set({ queue: q.name }, q.counts.queued);
        paused.set({ queue: q.name }, q.paused ? 1 : 0);
      }
    };
    this.collectQueues = collectQueues;

    this.unsubscribe.push(outlast.on("started", (e) => this.start(e)));
    for (const end of ["succeeded", "failed", "canceled", "retrying"] as const) {
      this.unsubscribe.push(outlast.on(end, (e) => this.end(e, end)));
    }
  }

  private readonly collectQueues: () => Promise<void>;

  async render(): Promise<{ contentType: string; body: string }> {
    await this.collectQueues();
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }

  close(): void {
    for (const stop of this.unsubscribe) stop();
    this.unsubscribe.length = 0;
    this.startedAt.clear();
  }

  private start(event: TaskEvent): void {
    // Bounded: a task whose end this process never hears is forgotten eventually.
    if (this.startedAt.size >= 10_000) {
      const oldest = this.startedAt.keys().next().value;
      if (oldest !== undefined) this.startedAt.delete(oldest);
    }
    this.startedAt.set(event.taskId, Date.parse(event.at));
  }

  private end(event: TaskEvent, state: string): void {
    const started = this.startedAt.get(event.taskId);
    if (started === undefined) return;
    this.startedAt.delete(event.taskId);
    this.durations.observe({ state }, Math.max(0, (Date.parse(event.at) - started) / 1000));
  }
}

import type { WaitServices } from "./context-waits.js";
import { hostname } from "node:os";
import { OutlastError } from "../core/errors.js";
import type { QueueSettings } from "../core/queue-limits.js";
import { EXPIRY_BATCH, type Store } from "../store/store.js";
import type { ArtifactStore } from "./artifacts.js";
import type { CancelTimer, Clock, Logger, Timers } from "./clock.js";
import type { ProgressCoalescer } from "./context.js";
import type { QueueOptions, RegisteredDefinition } from "./definitions.js";
import type { Hub } from "./hub.js";
import { QueueWorker } from "./queue-worker.js";
import { SETTINGS_REFRESH_MS, type QueueSettingsCopy } from "./queue-settings.js";
import type { Scheduler } from "./scheduler.js";

export interface RunnerOptions {
  store: Store;
  workerId: string;
  leaseMs: number;
  pollIntervalMs: number;
  abortGraceMs: number;
  waits: WaitServices;
  /** `false` keeps finished tasks forever. */
  retention: false | Partial<Record<"succeededMs" | "failedMs" | "canceledMs" | "checkEveryMs", number>> | undefined;
  clock: Clock;
  timers: Timers;
  logger: Logger;
  coalescer: ProgressCoalescer;
  hub: Hub;
  artifacts: ArtifactStore | null;
  scheduler: Scheduler;
  /** The queues' stored settings, as this process last read them. */
  limits: QueueSettingsCopy;
  /** This process's task definitions and queue declarations, as the facade keeps them. */
  definitions: ReadonlyMap<string, RegisteredDefinition>;
  queues: ReadonlyMap<string, QueueOptions>;
}

const DAY = 24 * 60 * 60 * 1000;

/**
 * What runs in the background of a process: one worker per queue it serves,
 * lease heartbeats (with this process's row in the workers table), recovery
 * of expired leases from every process, retention, the schedules, and the
 * reading of the stored queue limits each second. The facade (outlast.ts)
 * starts and stops it.
 */
export class Runner {
  private readonly workers = new Map<string, QueueWorker>();
  private readonly streamCounters = new Set<() => number>();
  private stopTimers: CancelTimer[] = [];
  private stopWake: (() => void) | null = null;
  /** `start({ perProcess })`: this process's cap on every queue it runs. */
  private processShare = Infinity;
  private startedAt = 0;
  running = false;

  constructor(private readonly o: RunnerOptions) {}

  /** How often leases are renewed: well before expiry, and often enough that a cancel asked from another process lands quickly. */
  get heartbeatMs(): number {
    return Math.max(50, Math.min(this.o.leaseMs / 3, 2_000));
  }

  /** Tasks running in this process right now. */
  get runningHere(): string[] {
    return [...this.workers.values()].flatMap((w) => [...w.running.keys()]);
  }

  /** A server in this process counts its event streams; the heartbeat stores the total. Returns the way to stop counting. */
  reportStreams(count: () => number): () => void {
    this.streamCounters.add(count);
    return () => this.streamCounters.delete(count);
  }

  async start(options: { queues?: readonly string[]; perProcess?: number }): Promise<void> {
    // Queues of tasks this process can run; a task it only declared runs elsewhere.
    const defined = new Set([...this.o.definitions.values()].filter((d) => d.definition.run).map((d) => d.queue));
    const unknown = (options.queues ?? []).filter((q) => !defined.has(q));
    if (unknown.length > 0) {
      throw new OutlastError("bad_request", `No defined task runs on queue ${unknown.join(", ")}; defined tasks use ${[...defined].join(", ") || "no queue"}`);
    }
    if (options.perProcess !== undefined && (!Number.isSafeInteger(options.perProcess) || options.perProcess < 1)) {
      throw new OutlastError("bad_request", "perProcess must be a whole number of at least 1");
    }
    this.running = true;
    this.startedAt = this.o.clock();
    for (const name of new Set([...defined, ...this.o.queues.keys()])) await this.declare(name);
    this.processShare = options.perProcess ?? Infinity;
    for (const name of options.queues ? new Set(options.queues) : defined) {
      const worker = new QueueWorker(
        {
          queue: name,
          workerId: this.o.workerId,
          limit: this.localLimit(name),
          prefetch: this.o.queues.get(name)?.prefetch ?? 0,
          leaseMs: this.o.leaseMs,
          pollIntervalMs: this.o.pollIntervalMs,
        },
        this.o.definitions,
        {
          store: this.o.store,
          clock: this.o.clock,
          timers: this.o.timers,
          logger: this.o.logger,
          coalescer: this.o.coalescer,
          abortGraceMs: this.o.abortGraceMs,
          artifacts: this.o.artifacts,
          waits: this.o.waits,
        },
      );
      this.workers.set(name, worker);
    }
    this.stopWake = this.o.hub.onWake((queues) => {
      for (const worker of this.workers.values()) if (!queues || queues.has(worker.queue)) worker.pump();
    });
    for (const worker of this.workers.values()) worker.start();
    // The stored limits are the store's (an operator may change them): every process reads them again each second.
    this.every(SETTINGS_REFRESH_MS, async () => void (await this.refreshSettings()), true);
    this.every(this.heartbeatMs, () => this.heartbeat());
    // Often enough that a dead worker's task is taken again within its lease and a second more (a cheap query over running tasks).
    this.every(Math.max(250, Math.min(this.o.leaseMs / 4, 1_000)), () => this.recover());
    const retention = this.o.retention;
    if (retention !== false) this.every(retention?.checkEveryMs ?? 60_000, () => this.purge(), true);
    this.o.scheduler.start();
    await this.heartbeat();
  }

  /**
   * Stop claiming, let running tasks finish within `graceMs`, then abort the
   * rest and release their leases so another worker resumes them at once.
   */
  async stop(graceMs: number, force?: AbortSignal): Promise<void> {
    this.running = false;
    this.o.scheduler.stop();
    this.stopWake?.();
    this.stopWake = null;
    for (const worker of this.workers.values()) worker.pause();
    // A claim already sent may still bring tasks: they are handed back before the store can close.
    await Promise.all([...this.workers.values()].map((worker) => worker.settled()));
    const running = () => [...this.workers.values()].flatMap((w) => [...w.running.values(), ...w.finishing]);
    const grace = delay(graceMs, this.o.timers);
    // Forcing ends the grace, and does not wait for handlers that ignore their signal: their leases are released now.
    let onForce = () => {};
    const forced = new Promise<void>((resolve) => {
      onForce = resolve;
      if (force?.aborted) resolve();
      force?.addEventListener("abort", onForce, { once: true });
    });
    await Promise.race([Promise.allSettled(running().map((e) => e.done)), grace.promise, forced]);
    grace.cancel();
    for (const execution of running()) execution.abort("shutdown");
    void forced.then(() => {
      for (const execution of running()) execution.settleNow();
    });
    await Promise.allSettled(running().map((e) => e.done));
    // A long-lived signal must not keep a listener per stop.
    force?.removeEventListener("abort", onForce);
    for (const cancel of this.stopTimers) cancel();
    this.stopTimers = [];
    this.workers.clear();
    this.o.coalescer.flush();
    await this.o.store.removeWorker(this.o.workerId).catch(() => {});
  }

  /** Abort a task's attempt if it runs in this process (a cancel asked here lands at once). */
  abortHere(taskId: string, cause: "cancel"): void {
    for (const worker of this.workers.values()) worker.running.get(taskId)?.abort(cause);
  }

  /** This process's most running tasks of `queue`: its share of the stored limit. */
  localLimit(queue: string): number {
    return this.o.limits.localLimit(queue, this.o.queues.get(queue), this.processShare);
  }

  /** A queue's limit may have changed (declared or set here): its worker follows the stored one. */
  followLimit(queue: string): void {
    this.workers.get(queue)?.setLimit(this.localLimit(queue));
  }

  /** Writes what this process's code declares of a queue (only that); its worker follows the stored limit. */
  async declare(name: string): Promise<void> {
    await this.o.limits.declare(name, this.o.queues.get(name));
    this.followLimit(name);
  }

  /** Reads every queue's stored settings, and lets this process's workers follow a changed limit. */
  async refreshSettings(): Promise<QueueSettings[]> {
    const all = await this.o.limits.refresh();
    for (const worker of this.workers.values()) worker.setLimit(this.localLimit(worker.queue));
    return all;
  }

  private async heartbeat(): Promise<void> {
    const executions = [...this.workers.values()].flatMap((w) => [...w.running.values()]);
    const now = this.o.clock();
    const statuses = await this.o.store.heartbeat(
      executions.map((e) => e.lease),
      now,
      this.o.leaseMs,
    );
    statuses.forEach((status, i) => {
      const execution = executions[i]!;
      if (!status.held) execution.abort("lease_lost");
      else if (status.cancelRequested) execution.abort("cancel");
    });
    await this.o.store.recordWorker(
      {
        id: this.o.workerId,
        host: hostname(),
        pid: process.pid,
        queues: [...this.workers.keys()],
        startedAt: this.startedAt,
        heartbeatAt: now,
        running: executions.map((e) => e.taskId),
        streams: this.streamCounters.size === 0 ? null : [...this.streamCounters].reduce((n, count) => n + count(), 0),
      },
      now,
    );
  }

  private async recover(): Promise<void> {
    const n = await this.o.store.recoverExpired(this.o.clock(), "The worker running this task stopped responding and no attempts are left");
    if (n > 0) this.o.logger.warn({ recovered: n }, "recovered tasks whose worker stopped responding");
    // Sleeps that ended and signal waits that timed out: the same sweep, so a wait ends within about a second of its time.
    // A full batch means more are due: take them now rather than a batch a second.
    for (let batch = 0; batch < 20 && (await this.o.store.wakeDue(this.o.clock())) === EXPIRY_BATCH; batch++);
  }

  private async purge(): Promise<void> {
    const keep = this.o.retention;
    if (keep === false) return;
    const now = this.o.clock();
    await this.o.store.purgeFinished(
      {
        succeeded: now - (keep?.succeededMs ?? 7 * DAY),
        failed: now - (keep?.failedMs ?? 7 * DAY),
        canceled: now - (keep?.canceledMs ?? 7 * DAY),
      },
      5_000,
    );
    await this.removeOrphanArtifacts();
  }

  /** Files of tasks that retention (or anything else) removed. */
  private async removeOrphanArtifacts(): Promise<void> {
    const artifacts = this.o.artifacts;
    if (!artifacts?.taskIds) return;
    for await (const taskId of artifacts.taskIds()) {
      if (!(await this.o.store.getTask(taskId))) await artifacts.remove(taskId);
    }
  }

  private every(ms: number, fn: () => Promise<void>, unref = false): void {
    let busy = false;
    const cancel = this.o.timers.every(
      ms,
      () => {
        if (busy) return;
        busy = true;
        fn()
          .catch((error: unknown) => this.o.logger.error({ err: error }, "background job failed"))
          .finally(() => (busy = false));
      },
      { unref },
    );
    this.stopTimers.push(cancel);
  }
}

function delay(ms: number, timers: Timers): { promise: Promise<void>; cancel: () => void } {
  let cancel: CancelTimer = () => {};
  const promise = new Promise<void>((resolve) => {
    cancel = timers.after(ms, resolve);
  });
  return { promise, cancel: () => cancel() };
}

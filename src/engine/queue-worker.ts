import type { Store } from "../store/store.js";
import type { CancelTimer, Clock, Logger } from "./clock.js";
import type { RegisteredDefinition } from "./definitions.js";
import { Execution, type ExecutionDeps } from "./execution.js";

export interface QueueWorkerOptions {
  queue: string;
  workerId: string;
  /** Most tasks of this queue this process runs at once. */
  limit: number;
  /** Tasks claimed ahead of free slots, waiting here for one (0: claim only for free slots). */
  prefetch: number;
  leaseMs: number;
  /** Safety-net poll when no wake-up arrives. */
  pollIntervalMs: number;
}

/**
 * Claims and runs one queue's tasks in this process. It claims as many as
 * it has free slots, in one store call, whenever a slot frees up or the
 * store says work arrived; otherwise it sleeps until the next delayed task
 * or the safety-net poll.
 *
 * With `prefetch`, it claims up to that many more and keeps them waiting
 * here, leases renewed like the others, and starts one the moment a slot
 * frees: a flood of short tasks then costs a few large claims instead of
 * one small claim per handful of finishes. It claims again once half of
 * them have started.
 */
export class QueueWorker {
  /** Every attempt holding a lease here: running, or claimed ahead and waiting for a slot. */
  readonly running = new Map<string, Execution>();
  /** Claimed ahead, in claim order, waiting for a slot. */
  private readonly waitingForSlot: Execution[] = [];
  /** Attempts whose handler was started and is not done. */
  private readonly started = new Set<Execution>();
  /** Executions whose handler is done and whose outcome is being written. */
  readonly finishing = new Set<Execution>();
  private claiming = false;
  private again = false;
  private stopped = false;
  private timer: CancelTimer | null = null;
  private inFlight: Promise<void> | null = null;
  /** Ends a claim that is waiting in the store for work (on pause or stop). */
  private waiting: AbortController | null = null;
  private timerAt = Infinity;
  private readonly names: string[];

  constructor(
    private readonly options: QueueWorkerOptions,
    private readonly definitions: ReadonlyMap<string, RegisteredDefinition>,
    private readonly deps: ExecutionDeps & { store: Store; clock: Clock; logger: Logger },
  ) {
    this.names = [...definitions.values()].filter((d) => d.queue === options.queue && d.definition.run).map((d) => d.name);
  }

  get queue(): string {
    return this.options.queue;
  }

  start(): void {
    this.stopped = false;
    this.pump();
  }

  /** Stop claiming (the engine is stopping); running tasks carry on, tasks claimed ahead are handed back. */
  pause(): void {
    this.stopped = true;
    this.clearTimer();
    this.waiting?.abort();
    for (const execution of this.waitingForSlot) execution.abort("shutdown");
  }

  /** Try to claim now (coalesced: several wakes in one turn make one claim). */
  pump(): void {
    if (this.stopped) return;
    if (this.claiming) {
      this.again = true;
      return;
    }
    if (this.wanted <= 0) return;
    // Enough claimed ahead still waits: no claim until half of it has started.
    if (this.options.prefetch > 0 && this.waitingForSlot.length > this.options.prefetch / 2) return;
    this.claiming = true;
    this.again = false;
    this.inFlight = this.claim().finally(() => (this.inFlight = null));
  }

  /** Settles once no claim is on its way (tasks claimed after a pause are handed back first). */
  async settled(): Promise<void> {
    while (this.inFlight) await this.inFlight;
  }

  /** Run at most `limit` at once from now on (the stored concurrency changed); running tasks are never stopped for it. */
  setLimit(limit: number): void {
    if (limit === this.options.limit) return;
    const raised = limit > this.options.limit;
    this.options.limit = limit;
    if (raised) {
      this.fill();
      this.pump();
    }
  }

  /** How many more tasks a claim may bring: free slots, plus room to claim ahead. */
  private get wanted(): number {
    return Math.max(0, this.options.limit + this.options.prefetch - this.running.size);
  }

  /** Start waiting attempts while slots are free. */
  private fill(): void {
    while (this.started.size < this.options.limit && this.waitingForSlot.length > 0) {
      const execution = this.waitingForSlot.shift()!;
      this.started.add(execution);
      execution.start();
    }
  }

  private async claim(): Promise<void> {
    let full = false;
    let asked = 0;
    try {
      const waits = this.deps.store.capabilities.waitingClaims === true;
      // A store whose claims ride in the group commit (SQLite): the handlers that ended in this turn
      // free their slots a few microtasks apart, and the first one's pump would claim for one slot
      // alone (then the rest in the next commit: claims of 1 and 199 alternating, a commit each, at
      // 200 slots). Sized two microtasks later, the claim asks for every slot freed in this turn and
      // still lands in the same commit as their finishes.
      if (waits) {
        await undefined;
        await undefined;
        if (this.stopped) return;
      }
      asked = this.wanted;
      if (asked <= 0) return; // the limit was lowered meanwhile
      const now = this.deps.clock();
      this.waiting = waits ? new AbortController() : null;
      const request = {
        queue: this.options.queue,
        workerId: this.options.workerId,
        limit: asked,
        leaseMs: this.options.leaseMs,
        names: this.names,
        // With nothing to do, wait in the store: a submit then starts its task in the same commit.
        ...(this.waiting ? { wait: { ms: this.options.pollIntervalMs, signal: this.waiting.signal } } : {}),
      };
      const result = await this.deps.store.claim(request, now);
      this.waiting = null;
      if (this.stopped) {
        // Stopped while the claim was on its way: hand the tasks straight back.
        await Promise.all(result.tasks.map((claimed) => this.deps.store.release(claimed.lease, this.deps.clock())));
        return;
      }
      for (const claimed of result.tasks) {
        const registered = this.definitions.get(claimed.task.name);
        if (!registered) continue; // claim filters by name; unreachable unless definitions changed
        const execution = new Execution(this.deps, claimed, registered);
        this.running.set(execution.taskId, execution);
        this.waitingForSlot.push(execution);
        void execution.finishing.then(() => {
          this.running.delete(execution.taskId);
          // Settled without running (canceled, lost or handed back while waiting) frees no slot.
          if (!this.started.delete(execution)) {
            const at = this.waitingForSlot.indexOf(execution);
            if (at >= 0) this.waitingForSlot.splice(at, 1);
          }
          this.finishing.add(execution);
          this.fill();
          this.pump();
        });
        void execution.done
          .catch((error: unknown) => this.deps.logger.error({ err: error, taskId: execution.taskId }, "recording a task outcome failed"))
          .finally(() => this.finishing.delete(execution));
      }
      this.fill();
      full = asked > 0 && result.tasks.length >= asked;
      // A waiting claim came back empty at its deadline (or the next delayed task's): claim again now.
      if (waits && result.tasks.length === 0) this.again = true;
      else this.sleepUntil(result.nextRunAt ?? now + this.options.pollIntervalMs);
    } catch (error) {
      this.deps.logger.error({ err: error, queue: this.options.queue }, "claiming tasks failed; retrying");
      this.sleepUntil(this.deps.clock() + Math.min(1000, this.options.pollIntervalMs));
    } finally {
      this.claiming = false;
    }
    // More may be waiting: we filled every slot we asked for, or a wake came while claiming.
    if (full || this.again) this.pump();
  }

  private sleepUntil(at: number): void {
    if (this.stopped) return;
    if (this.timer && at >= this.timerAt) return;
    this.clearTimer();
    this.timerAt = at;
    this.timer = this.deps.timers.after(Math.max(0, at - this.deps.clock()), () => {
      this.timer = null;
      this.timerAt = Infinity;
      this.pump();
      if (!this.timer) this.sleepUntil(this.deps.clock() + this.options.pollIntervalMs);
    });
  }

  private clearTimer(): void {
    this.timer?.();
    this.timer = null;
    this.timerAt = Infinity;
  }
}

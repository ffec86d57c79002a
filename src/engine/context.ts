import { OutlastError, TaskAbortedError } from "../core/errors.js";
import type { Jsonified, StepResult } from "../core/json.js";
import { WAIT_STEP_PREFIX, type ChildOutcome, type WaitSpec } from "../core/waits.js";
import {
  ContextWaits,
  type ChildHandle,
  type ChildOptions,
  type ChildSpec,
  type RunChildrenOptions,
  type SignalWaitOptions,
  type WaitServices,
} from "./context-waits.js";
import { normalizeProgress, type Progress } from "../core/progress.js";
import type { TaskRecord } from "../core/task.js";
import { checkTitle } from "../core/title.js";
import type { Lease, Store } from "../store/store.js";
import type { ArtifactData, ArtifactInfo, ArtifactStore } from "./artifacts.js";
import { checkArtifactName } from "./artifacts.js";
import { systemTimers, type CancelTimer, type Clock, type Logger, type Timers } from "./clock.js";

/** What a handler gets as its second argument. */
export interface TaskContext {
  /** The task being run. */
  readonly task: TaskInfo;
  /** 1 on the first attempt, 2 on the first retry… */
  readonly attempt: number;
  /** Aborted on cancel, timeout, a stall (`stallMs`), shutdown, or when this worker lost the task's lease. */
  readonly signal: AbortSignal;
  /** What the last `checkpoint()` saved, on any earlier attempt; undefined if none. */
  readonly lastCheckpoint: unknown;
  /**
   * Report progress. Synchronous and cheap: call it as often as you like;
   * the latest report is saved a few times a second and before every state change.
   */
  progress(progress: Progress): void;
  /**
   * Run `fn` once per task and record its (JSON) result; on a retry or resume
   * the recorded result is returned without running `fn`. Both paths give the
   * value as stored (a Date comes back as its ISO string), typed as such.
   */
  step<T>(name: string, fn: () => T | Promise<T>): Promise<StepResult<T>>;
  /** Save free-form resume state, read back as `lastCheckpoint` on a later attempt. */
  checkpoint(data: unknown): Promise<void>;
  /** Append a line to the task's event log (bounded per task). */
  log(message: string): Promise<void>;
  /**
   * Say what the task is about (1 to 200 characters, else
   * OutlastError("invalid_title")): kept with the task, shown by the
   * dashboard and found by its search. Watchers see it on their next read of
   * the task; it sends no event.
   * @example await ctx.setTitle(book.title);
   */
  setTitle(title: string): Promise<void>;
  /**
   * Save a file under `name` (letters, digits, ".", "_", "-"), served at
   * `GET /api/v1/tasks/:id/artifacts/:name`. Saving the same name again replaces it.
   */
  saveArtifact(name: string, data: ArtifactData, options?: { contentType?: string }): Promise<ArtifactInfo>;
  /**
   * Wait `ms` without holding a worker slot: the task is `waiting`, and runs
   * again from its steps once the time is up (on any worker, after any
   * restart), when this call returns. Code before it runs again: put work in steps.
   */
  sleep(ms: number): Promise<void>;
  /** Like {@link sleep}, until a time. */
  sleepUntil(until: Date | number): Promise<void>;
  /**
   * Wait, without a worker slot, for `outlast.signal(taskId, name, payload)`
   * (or `POST /api/v1/tasks/:id/signals/:name`) and return its payload; a
   * signal sent earlier is kept until the task asks. Throws SignalTimeoutError
   * after `timeoutMs`.
   * @example const { approved } = await ctx.waitForSignal("review", { timeoutMs: 86_400_000, schema: z.object({ approved: z.boolean() }) });
   */
  waitForSignal<Payload = unknown>(name: string, options?: SignalWaitOptions<Payload>): Promise<Payload>;
  /**
   * Submit a child task (same owner; its own queue, limits and retries),
   * once per `key`: a parent run again gets the same child back.
   */
  child<Result = unknown>(key: string, name: string, input?: unknown, options?: ChildOptions): Promise<ChildHandle<Result>>;
  /**
   * Submit children (once per key) and wait for them without a worker slot;
   * returns their outcomes in order. Under "fail-fast" (the default) a failed
   * child cancels the rest and throws ChildTaskFailedError; "continue" returns
   * every outcome; `{ maxFailures: n }` tolerates n failures.
   * @example const outcomes = await ctx.runChildren(chapters.map((c, i) => ({ key: `chapter-${i}`, name: "tts.chapter", input: c, weight: c.words })));
   */
  runChildren<Result = unknown>(children: readonly ChildSpec[], options?: RunChildrenOptions): Promise<ChildOutcome<Jsonified<Result>>[]>;
}

export interface TaskInfo {
  readonly id: string;
  readonly name: string;
  readonly queue: string;
  readonly owner: string;
  readonly priority: number;
  readonly attempt: number;
  readonly maxAttempts: number;
  readonly createdAt: Date;
}

/** Collects dirty contexts and saves their latest progress on one timer. */
export class ProgressCoalescer {
  private readonly dirty = new Set<Context>();
  private cancel: CancelTimer | null = null;

  constructor(
    private readonly intervalMs: number,
    private readonly timers: Timers = systemTimers,
  ) {}

  mark(context: Context): void {
    this.dirty.add(context);
    this.cancel ??= this.timers.after(this.intervalMs, () => this.flush());
  }

  flush(): void {
    this.cancel?.();
    this.cancel = null;
    const contexts = [...this.dirty];
    this.dirty.clear();
    for (const context of contexts) context.flushProgress();
  }

  forget(context: Context): void {
    this.dirty.delete(context);
    if (this.dirty.size === 0 && this.cancel) {
      this.cancel();
      this.cancel = null;
    }
  }
}

export interface ContextDeps {
  store: Store;
  waits: WaitServices;
  clock: Clock;
  logger: Logger;
  coalescer: ProgressCoalescer;
  artifacts: ArtifactStore | null;
}

export class Context implements TaskContext {
  readonly task: TaskInfo;
  readonly attempt: number;
  readonly lastCheckpoint: unknown;
  private pending: Progress | null = null;
  private closed = false;
  private readonly inflight = new Map<string, Promise<unknown>>();
  private readonly waits: ContextWaits;
  /**
   * Set by every report of the handler (progress, a recorded step, a log
   * line, a checkpoint); the stall check (execution.ts) reads and clears it
   * on its own timer, so a report costs one field write.
   */
  active = false;
  /** Writes in flight, so the engine can wait for them before the final state. */
  private writes: Promise<unknown> = Promise.resolve();

  /** Made on first use: most short handlers never look at it. */
  get signal(): AbortSignal {
    return this.signalOf();
  }

  constructor(
    private readonly deps: ContextDeps,
    record: TaskRecord,
    private readonly lease: Lease,
    private readonly steps: Map<string, unknown>,
    private readonly signalOf: () => AbortSignal,
    private readonly onLeaseLost: () => void,
    suspend: (wait: WaitSpec) => Promise<never>,
  ) {
    this.waits = new ContextWaits(deps.waits, record, steps, suspend);
    this.task = Object.freeze({
      id: record.id,
      name: record.name,
      queue: record.queue,
      owner: record.owner,
      priority: record.priority,
      attempt: record.attempt,
      maxAttempts: record.maxAttempts,
      createdAt: new Date(record.createdAt),
    });
    this.attempt = record.attempt;
    this.lastCheckpoint = record.checkpoint ?? undefined;
  }

  progress(progress: Progress): void {
    if (this.closed) return;
    this.active = true;
    if (this.pending === null) this.deps.coalescer.mark(this);
    this.pending = progress;
  }

  /** Save the latest unsaved progress now; later writes of this task queue behind it. */
  flushProgress(): void {
    const progress = this.pending;
    if (progress === null) return;
    this.pending = null;
    this.track(this.deps.store.recordProgress(this.lease, normalizeProgress(progress), this.deps.clock()));
  }

  async step<T>(name: string, fn: () => T | Promise<T>): Promise<StepResult<T>> {
    if (typeof name !== "string" || name.length === 0 || name.length > 200) {
      throw new OutlastError("bad_request", "A step name must be a string of 1 to 200 characters");
    }
    if (name.startsWith(WAIT_STEP_PREFIX)) throw new OutlastError("bad_request", `Step names starting with "${WAIT_STEP_PREFIX}" are kept for waits`);
    if (this.steps.has(name)) return this.steps.get(name) as StepResult<T>;
    const running = this.inflight.get(name);
    if (running) return running as Promise<StepResult<T>>;
    const promise = this.runStep(name, fn);
    this.inflight.set(name, promise);
    try {
      return await promise;
    } finally {
      this.inflight.delete(name);
    }
  }

  private async runStep<T>(name: string, fn: () => T | Promise<T>): Promise<StepResult<T>> {
    this.signal.throwIfAborted();
    const value = await fn();
    // The result is what a replay would return, so both paths give the same value.
    const stored = value === undefined ? null : (JSON.parse(JSON.stringify(value)) as unknown);
    this.flushProgress();
    const ok = await this.track(this.deps.store.recordStep(this.lease, name, stored, this.deps.clock()));
    if (!ok) this.fenced();
    this.active = true;
    this.steps.set(name, stored);
    return stored as StepResult<T>;
  }

  async checkpoint(data: unknown): Promise<void> {
    if (this.closed) return;
    this.active = true;
    const ok = await this.track(this.deps.store.recordCheckpoint(this.lease, data, this.deps.clock()));
    if (!ok) this.fenced();
  }

  async setTitle(title: string): Promise<void> {
    const checked = checkTitle(title);
    if (this.closed) return;
    const ok = await this.track(this.deps.store.recordTitle(this.lease, checked, this.deps.clock()));
    if (!ok) this.fenced();
  }

  async log(message: string): Promise<void> {
    if (this.closed) return;
    this.active = true;
    this.flushProgress();
    const ok = await this.track(this.deps.store.appendLog(this.lease, String(message).slice(0, 10_000), this.deps.clock()));
    if (!ok) this.fenced();
  }

  async saveArtifact(name: string, data: ArtifactData, options: { contentType?: string } = {}): Promise<ArtifactInfo> {
    checkArtifactName(name);
    const artifacts = this.deps.artifacts;
    if (!artifacts) {
      throw new OutlastError("bad_request", "No artifact storage: pass `artifacts: fileArtifacts({ dir })` to new Outlast(…)");
    }
    this.signal.throwIfAborted();
    const saved = await artifacts.put(this.task.id, name, data, options.contentType ?? "application/octet-stream");
    // A worker that lost the task while writing must not leave its file as the task's.
    if (this.signal.aborted && (this.signal.reason as { code?: string } | undefined)?.code === "lease_lost") this.fenced();
    await this.log(`Saved ${name} (${saved.size} bytes)`);
    return saved;
  }

  sleep(ms: number): Promise<void> {
    this.stillLive();
    return this.waits.sleep(ms);
  }

  sleepUntil(until: Date | number): Promise<void> {
    this.stillLive();
    return this.waits.sleepUntil(until instanceof Date ? until.getTime() : until);
  }

  waitForSignal<Payload = unknown>(name: string, options?: SignalWaitOptions<Payload>): Promise<Payload> {
    this.stillLive();
    return this.waits.waitForSignal(name, options);
  }

  child<Result = unknown>(key: string, name: string, input?: unknown, options?: ChildOptions): Promise<ChildHandle<Result>> {
    this.stillLive();
    return this.waits.child<Result>(key, name, input, options);
  }

  runChildren<Result = unknown>(children: readonly ChildSpec[], options?: RunChildrenOptions): Promise<ChildOutcome<Jsonified<Result>>[]> {
    this.stillLive();
    return this.waits.runChildren<Result>(children, options);
  }

  /** A canceled, timed-out or stopping run submits and waits for nothing more. */
  private stillLive(): void {
    this.signal.throwIfAborted();
  }

  /** Steps recorded so far (for handlers that run in a worker thread). */
  recordedSteps(): Map<string, unknown> {
    return new Map(this.steps);
  }

  /** No more writes from the handler after this; returns once earlier writes settled. */
  async close(): Promise<void> {
    this.flushProgress();
    this.closed = true;
    this.deps.coalescer.forget(this);
    await this.writes;
  }

  private track<T>(write: Promise<T>): Promise<T> {
    this.writes = this.writes.then(
      () => write,
      () => write,
    ).catch((error: unknown) => {
      this.deps.logger.error({ err: error, taskId: this.task.id }, "a task write failed");
    });
    return write;
  }

  private fenced(): never {
    this.onLeaseLost();
    throw new TaskAbortedError("lease_lost", `Task ${this.task.id} is no longer held by this worker; its writes are ignored`);
  }
}

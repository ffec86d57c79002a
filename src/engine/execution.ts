import { TaskAbortedError } from "../core/errors.js";
import { attemptOutcome, CAUSE_ERRORS, type AbortCause, type HandlerEnd } from "./attempt-outcome.js";
import type { WaitSpec } from "../core/waits.js";
import type { WaitServices } from "./context-waits.js";
import type { ClaimedTask, FinishOutcome, Store } from "../store/store.js";
import type { ArtifactStore } from "./artifacts.js";
import type { CancelTimer, Clock, Logger, Timers } from "./clock.js";
import { Context, type ProgressCoalescer } from "./context.js";
import type { RegisteredDefinition } from "./definitions.js";

export interface ExecutionDeps {
  store: Store;
  clock: Clock;
  timers: Timers;
  logger: Logger;
  coalescer: ProgressCoalescer;
  /** How long an aborted handler may take to return before its task is settled without it. */
  abortGraceMs: number;
  artifacts: ArtifactStore | null;
  waits: WaitServices;
}

/** One attempt of one task in this process: runs the handler and records how it ended. */
export class Execution {
  readonly taskId: string;
  /** Made when the handler first reads `ctx.signal` (or on abort): an AbortController costs more than a no-op handler. */
  private controller: AbortController | null = null;
  private cause: AbortCause | null = null;
  private reason: TaskAbortedError | null = null;
  private readonly context: Context;
  private cancelGrace: CancelTimer | null = null;
  private cancelTimeout: CancelTimer | null = null;
  private cancelStallCheck: CancelTimer | null = null;
  private abandon: (() => void) | null = null;
  /** Settles when the attempt's outcome is recorded (or fenced). */
  readonly done: Promise<void>;
  /**
   * Settles once the outcome's write is queued: the slot is free from here.
   * A claim asked for now lands in the same group commit, after the finish,
   * so a busy worker pays one commit per cycle instead of two.
   */
  readonly finishing: Promise<void>;
  private markFinishing!: () => void;
  /** Resolves when the handler may run, or when the attempt was aborted before it did. */
  private readonly go: Promise<void>;
  private markGo!: () => void;

  constructor(
    private readonly deps: ExecutionDeps,
    private readonly claimed: ClaimedTask,
    private readonly registered: RegisteredDefinition,
  ) {
    this.taskId = claimed.task.id;
    this.context = new Context(
      deps,
      claimed.task,
      claimed.lease,
      claimed.steps,
      () => this.signal,
      () => this.abort("lease_lost"),
      (wait) => this.suspend(wait),
    );
    this.suspended = new Promise((resolve) => (this.markSuspended = resolve));
    this.finishing = new Promise((resolve) => (this.markFinishing = resolve));
    this.go = new Promise((resolve) => (this.markGo = resolve));
    this.done = this.go.then(() => this.run()).finally(() => this.markFinishing());
  }

  /** Run the handler (a prefetched task waits for this until a slot frees). */
  start(): void {
    this.markGo();
  }

  get lease() {
    return this.claimed.lease;
  }

  private get signal(): AbortSignal {
    if (!this.controller) {
      this.controller = new AbortController();
      if (this.reason) this.controller.abort(this.reason);
    }
    return this.controller.signal;
  }

  /** Settles with what the handler waits for, once it waits (core/waits.ts). */
  private readonly suspended: Promise<{ ok: "suspended"; wait: WaitSpec }>;
  private markSuspended!: (value: { ok: "suspended"; wait: WaitSpec }) => void;
  private waiting = false;

  /**
   * The handler waits: the attempt ends here as `waiting`, and the handler
   * is let go (the promise it awaits never settles; its signal says why).
   * It runs again from its steps when the wait is over.
   */
  private suspend(wait: WaitSpec): Promise<never> {
    if (!this.waiting && this.cause === null) {
      this.waiting = true;
      this.markSuspended({ ok: "suspended", wait });
      this.controller?.abort(new TaskAbortedError("suspended", "The task waits; its handler runs again when the wait is over"));
    }
    return new Promise<never>(() => {});
  }

  /** The handler returned, threw or was left behind: no grace timer is needed any more. */
  private handlerSettled = false;

  /** Abort the handler's signal; the first cause wins. */
  abort(cause: AbortCause): void {
    if (this.cause !== null) return;
    this.cause = cause;
    this.reason = new TaskAbortedError(cause === "cancel" ? "canceled" : cause, CAUSE_ERRORS[cause].message);
    this.controller?.abort(this.reason);
    // Aborted while waiting for a slot: settle now, without running the handler.
    this.markGo();
    // A handler that ignores its signal is given a grace period, then left behind:
    // its later writes are fenced because the task's state moves on without it.
    // One that has returned already (its outcome is being written) needs none: a timer then would outlive it.
    if (!this.handlerSettled) this.cancelGrace = this.deps.timers.after(cause === "lease_lost" ? 0 : this.deps.abortGraceMs, () => this.abandon?.());
  }

  /** After an abort, settle without waiting the rest of the handler's grace (a forced shutdown). */
  settleNow(): void {
    if (this.cause !== null) this.abandon?.();
  }

  private async run(): Promise<void> {
    const task = this.claimed.task;
    const timeoutMs = task.timeoutMs ?? this.registered.definition.timeoutMs ?? null;
    if (timeoutMs !== null) this.cancelTimeout = this.deps.timers.after(timeoutMs, () => this.abort("timeout"));
    const stallMs = this.registered.definition.stallMs;
    if (stallMs !== undefined) this.watchForStall(stallMs);

    let outcome: { ok: true; value: unknown } | { ok: false; error: unknown } | { ok: "suspended"; wait: WaitSpec };
    const abandoned = new Promise<{ ok: false; error: unknown }>((resolve) => {
      this.abandon = () => resolve({ ok: false, error: this.reason });
    });
    try {
      if (this.cause !== null) outcome = { ok: false, error: this.reason };
      else {
        const run = this.registered.definition.run!; // claims name only implemented tasks
        const handler = (async () => run(task.input, this.context))().then(
          (value) => ({ ok: true as const, value }),
          (error: unknown) => ({ ok: false as const, error }),
        );
        outcome = await Promise.race([handler, abandoned, this.suspended]);
      }
    } finally {
      this.handlerSettled = true;
      this.cancelTimeout?.();
      this.cancelStallCheck?.();
      this.cancelGrace?.();
    }
    await this.context.close();
    if (this.cause === "lease_lost") return;
    const now = this.deps.clock();
    if (this.cause === "shutdown" && outcome.ok !== true) {
      await this.deps.store.release(this.claimed.lease, now);
      return;
    }
    const finish: FinishOutcome =
      outcome.ok === "suspended" && this.cause === null ? { state: "waiting", wait: outcome.wait } : this.outcomeFor(outcome.ok === "suspended" ? { ok: false, error: this.reason } : outcome, now);
    const write = this.deps.store.finish(this.claimed.lease, finish, now);
    this.markFinishing();
    const recorded = await write;
    if (!recorded) this.deps.logger.warn({ taskId: task.id }, "task outcome was fenced: the lease was lost");
  }

  /**
   * Aborts the attempt (`stalled`) once its handler reported nothing for
   * `stallMs`. The handler's reports only set `context.active`; a timer a
   * quarter of `stallMs` apart reads and clears it, taking the check's time
   * as the time of the last report. So a report costs a field write, and a
   * stall is called after `stallMs` to `stallMs` + a quarter of silence,
   * never before. The timer stops when the attempt ends, so a task that
   * waits (its attempt ends as `waiting`) cannot stall.
   */
  private watchForStall(stallMs: number): void {
    let lastActive = this.deps.clock();
    this.context.active = false;
    this.cancelStallCheck = this.deps.timers.every(Math.max(1, Math.floor(stallMs / 4)), () => {
      const now = this.deps.clock();
      if (this.context.active) {
        this.context.active = false;
        lastActive = now;
      } else if (now - lastActive >= stallMs) {
        this.cancelStallCheck?.();
        this.abort("stalled");
      }
    });
  }

  private outcomeFor(outcome: HandlerEnd, now: number): Exclude<FinishOutcome, { state: "waiting" }> {
    return attemptOutcome(this.claimed.task, this.cause, outcome, this.registered.definition.backoff, now);
  }
}

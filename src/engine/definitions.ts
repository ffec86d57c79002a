import type { BackoffOptions } from "../core/backoff.js";
import type { StandardSchemaV1 } from "../core/schema.js";
import type { Jsonified } from "../core/json.js";
import type { Task } from "../core/task.js";
import type { TaskContext } from "./context.js";
import type { DedupeMode } from "../core/dedupe.js";

/** Everything about a task type but its handler: what a process that only submits needs. */
export interface TaskSpec<Input = unknown> {
  /** Queue the task runs on. @defaultValue "default" */
  queue?: string;
  /** Any Standard Schema validator (zod, valibot, arktype…); checked at submit, nothing is stored when it fails. */
  input?: StandardSchemaV1<unknown, Input>;
  /** Attempts before the task fails for good. @defaultValue 3 */
  maxAttempts?: number;
  /** Delay between attempts. @defaultValue \{ baseMs: 1000, maxMs: 60000 \} */
  backoff?: BackoffOptions;
  /** Per-attempt time limit; the attempt fails and `ctx.signal` is aborted. @defaultValue none */
  timeoutMs?: number;
  /** Default priority of submits; higher runs first. @defaultValue 0 */
  priority?: number;
  /**
   * A running attempt that reports no activity (`ctx.progress`, a step
   * recorded, a log line, a checkpoint) for this long is stalled: its
   * `ctx.signal` is aborted with reason code `stalled` and the attempt is
   * retried like a failure (`error.code: "stalled"`). Catches a frozen
   * handler whose process still heartbeats. A waiting task is not running
   * and cannot stall. @defaultValue none
   */
  stallMs?: number;
  /**
   * Lease expiries in a row (its worker died or lost the database each
   * time) before the task is quarantined as a dead letter with error code
   * `poison_pill`, attempts left or not, rather than crash-looping the
   * fleet. Stored with each task at submit. @defaultValue 3
   */
  maxLeaseExpiries?: number;
  /**
   * Schemas of the signals its handler waits for (`ctx.waitForSignal`), by
   * name: every process that declares the task refuses a bad payload (422)
   * before it is stored, even one that runs no workers.
   */
  signals?: Readonly<Record<string, StandardSchemaV1>>;
}

/** What `outlast.define()` takes: the spec and the handler. */
export interface TaskDefinition<Input = unknown, Result = unknown> extends TaskSpec<Input> {
  run(input: Input, ctx: TaskContext): Promise<Result> | Result;
}

/**
 * A task type declared apart from its handler (see `declareTask`): a web tier
 * imports it to submit, a worker imports it to implement.
 */
export interface TaskDeclaration<Input = unknown, Result = unknown> {
  readonly name: string;
  readonly spec: Readonly<TaskSpec<Input>>;
  /** Phantom field carrying the result type for inference; always undefined. */
  readonly resultType?: Result;
  /**
   * The same declaration, typed with its handler's result (types only).
   * @example export const convert = declareTask("convert", { input }).returns<{ chapters: number }>();
   */
  returns<R>(): TaskDeclaration<Input, R>;
}

/** Options of one submit. */
export interface SubmitOptions {
  /** Who the task belongs to; other owners cannot see it. @defaultValue "anonymous" */
  owner?: string;
  /** Higher runs first; equal priorities run in submit order. @defaultValue the definition's, else 0 */
  priority?: number;
  /** Same owner + name + key: attach to that task instead of starting another (see README, "Idempotency"). */
  idempotencyKey?: string;
  /**
   * Collapse submits of the same owner + name + `key` (not with
   * `idempotencyKey`): `"debounce"` (a burst yields one run with the last
   * input, `delayMs` after the latest submit and at most `maxDelayMs` after
   * the first), `"replace-queued"` (a newer submit gives its input to the
   * queued one that has not started) or `"cancel-running"` (the same, and
   * the started one is canceled through its signal). Answers the task that
   * will run.
   * @example await outlast.submit("search.index", doc, { dedupe: { key: doc.id, mode: "debounce", delayMs: 2_000, maxDelayMs: 30_000 } });
   */
  dedupe?: SubmitDedupe;
  /** Start no earlier than this many milliseconds from now. */
  delayMs?: number;
  /** Start no earlier than this time. */
  runAt?: Date | number | string;
  /** Overrides the definition's queue. */
  queue?: string;
  /**
   * What the task is about, for people: shown by the dashboard and found by
   * its search. 1 to 200 characters, else OutlastError("invalid_title"). A
   * handler can set or change it later with `ctx.setTitle`.
   * @example await outlast.submit("audiobook.convert", input, { title: "Moby-Dick" });
   */
  title?: string;
  maxAttempts?: number;
  timeoutMs?: number;
  /**
   * What its start takes from its queue's rate budget (`rateLimit`): a whole
   * number from 1 to the limit, else `bad_request`. @defaultValue 1
   * @example await outlast.submit("llm.complete", input, { cost: 4 });
   */
  cost?: number;
  /**
   * Submit inside your own database transaction (PostgreSQL: a `pg` client
   * after `BEGIN`): if it rolls back, the task never existed.
   * @example await outlast.submit("mail.send", input, { transaction: client });
   */
  transaction?: unknown;
}

/** A submit's `dedupe` option (core/dedupe.ts). */
export interface SubmitDedupe {
  /** 1 to 512 characters; its scope is owner + task name. */
  key: string;
  mode: DedupeMode;
  /** debounce only, and required there: run this long after the latest submit of the burst (0 to a year). */
  delayMs?: number;
  /** debounce only: run no later than this long after the burst's first submit (at least delayMs, at most a year). @defaultValue no cap */
  maxDelayMs?: number;
}

/** Options of `outlast.queue()`. */
export interface QueueOptions {
  /**
   * Running tasks at once, across every process on the database. `Infinity`:
   * no shared limit, so claims need no coordination between processes and
   * each process runs `perProcess` at most. An object limits each key (an
   * owner, a tenant, an API key) instead, beside the queue-wide `total`;
   * claims then take turns across keys. @defaultValue 10
   * @example outlast.queue("render", { concurrency: { key: "owner", limit: 2, total: 20 } });
   * @example outlast.queue("llm", { concurrency: { key: "owner", tier: (input) => (input as { plan: string }).plan, tiers: { premium: 10, free: 1 } } });
   */
  concurrency?: number | KeyedConcurrencyOption;
  /** Queued tasks at most; a submit beyond it throws QueueFullError. `Infinity`: no limit. @defaultValue no limit */
  maxQueued?: number;
  /** Running tasks at once in this process (a share of `concurrency`). @defaultValue concurrency, or 10 when that is Infinity */
  perProcess?: number;
  /**
   * Tasks this process claims ahead of its free slots, to start each the
   * moment a slot frees. For floods of very short tasks, where claiming is
   * the bottleneck: fewer, larger claims. A task claimed ahead is already
   * "running" to the store and to watchers (its lease is kept alive, and it
   * counts against `concurrency`); `stop()` hands it back to the queue
   * unrun, while pausing the queue, as for running tasks, only stops new
   * claims. Leave it at 0 for slow tasks. @defaultValue 0
   */
  prefetch?: number;
  /**
   * A task to submit when a task of this queue becomes a dead letter, with
   * input `{ taskId, name, queue, owner, error }` (owner: the dead task's):
   * once per dead letter however many processes hear it. Runs from every
   * started process that declares the queue so.
   * @example outlast.queue("llm", { deadLetter: "alerts.notify" })
   */
  deadLetter?: string;
  /**
   * Starts at most in any window of `periodMs`, across every process (a
   * limited worker sleeps until the next start is allowed). With `key`, each
   * key has a budget of its own: `"owner"`, or a function of the input and
   * owner run at submit (by the submitting process, which must declare the
   * queue with the same key rule). A task takes its submit's `cost` (1 by
   * default) from the budget. Stored like `concurrency`: an operator may
   * change `limit` and `periodMs`; null: no rate limit.
   * @example outlast.queue("llm", { rateLimit: { limit: 60, periodMs: 60_000 } });
   * @example outlast.queue("api", { rateLimit: { limit: 10, periodMs: 1_000, key: (input, owner) => (input as { apiKeyId: string }).apiKeyId } });
   */
  rateLimit?: RateLimitOption | null;
  perOwner?: {
    /** Running tasks of one owner at once. */
    concurrency?: number;
    /** Queued tasks of one owner at most. */
    maxQueued?: number;
  };
}

/**
 * Concurrency per key (`QueueOptions.concurrency` as an object): each task
 * gets a key at submit, and a key runs at most its limit at once across
 * every process. A key's limit is an operator's for that key
 * (`PATCH /api/v1/queues/:name` `keyLimits`), else its tier's, else `limit`.
 */
export interface KeyedConcurrencyOption {
  /** Whose tasks share a limit: the owner's, or a key the function derives from the input at submit (a string of 1 to 256 characters). */
  key: "owner" | ((input: unknown, owner: string) => string | number);
  /** Running tasks of one key at once, or a function of the key run at submit (the task keeps its answer). */
  limit?: number | ((key: string) => number);
  /** Limits by tier name; `tier` picks a task's tier at submit. An operator may change them at run time. */
  tiers?: Record<string, number>;
  /** A task's tier, one of `tiers`; a tier not there falls back to `limit`. */
  tier?: (input: unknown, owner: string) => string;
  /** Running tasks of the whole queue at once (as `concurrency: n`). `Infinity`: no shared limit. @defaultValue 10 */
  total?: number;
}

/** A queue's rate limit as code declares it (`QueueOptions.rateLimit`). */
export interface RateLimitOption {
  /** Cost units of starts at most per window: a whole number ≥ 1. */
  limit: number;
  /** The window's length in milliseconds (at most a day). */
  periodMs: number;
  /** A budget per key: the owner's, or one the function derives from the input at submit (a string of 1 to 256 characters). */
  key?: "owner" | ((input: unknown, owner: string) => string | number);
}

/** A defined task, typed by its input, with a shortcut to submit it. */
export interface DefinedTask<Input, Result> {
  readonly name: string;
  readonly queue: string;
  /** Phantom field carrying the result type for inference; always undefined. */
  readonly resultType?: Result;
  /** The task; its `result` is typed as stored (JSON: a Date comes back as a string). */
  submit(input: Input, options?: SubmitOptions): Promise<Task<Jsonified<Result>>>;
}

/** A task name as this process knows it: declared (it may submit) and, with `run`, implemented (it may run). */
export interface RegisteredDefinition {
  name: string;
  queue: string;
  definition: TaskSpec<unknown> & { run?: TaskDefinition<unknown, unknown>["run"] };
  /** The declaration it came from, if any: declaring the same one twice is harmless. */
  declaration: TaskDeclaration<unknown, unknown> | null;
}

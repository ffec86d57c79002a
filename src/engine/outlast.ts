import { join } from "node:path";
import { fileArtifacts, type ArtifactStore } from "./artifacts.js";
import { InvalidInputError, OutlastError } from "../core/errors.js";
import type { StoredEvent, TaskEvent } from "../core/events.js";
import { toPublicEvent } from "../core/events.js";
import { newId } from "../core/ids.js";
import { validateInput } from "../core/schema.js";
import type { TaskState } from "../core/states.js";
import { toPublicTask, type Task, type TaskRecord } from "../core/task.js";
import type { QueueInfo, Store, StoreInfo, SubmitOutcome, SubmitRequest, TaskFilter, WorkerHeartbeat, WorkerKeyRecord } from "../store/store.js";
import { TaskFamilies, type GroupRequest } from "./families.js";
import type { QueueSettings } from "../core/queue-limits.js";
import { Presenter } from "./presenter.js";
import { QueueSettingsCopy, type QueueLimitsChange } from "./queue-settings.js";
export type { QueueLimitsChange } from "./queue-settings.js";
import { consoleLogger, systemClock, systemTimers, type Clock, type Logger, type Timers } from "./clock.js";
import { ProgressCoalescer } from "./context.js";
import type { DefinedTask, QueueOptions, RegisteredDefinition, SubmitOptions, TaskDeclaration, TaskDefinition, TaskSpec } from "./definitions.js";
import { declareTask, isDeclaration } from "./declaration.js";
import { RemoteWork } from "./remote-work.js";
import { createWorkerKey } from "./worker-keys.js";
import type { Jsonified } from "../core/json.js";
import { Hub } from "./hub.js";
import { DEFAULT_MAX_LEASE_EXPIRIES } from "../core/dead-letters.js";
import { DeadLetterHandlers, deadLetterFilter, deadLetterSelection, type DeadLetterQuery, type DeadLetterTarget } from "./dead-letters.js";
import { Runner } from "./runner.js";
import { checkBulkAction, checkBulkFilter, runBulk, type BulkAction, type BulkFilter } from "./bulk.js";
import { Scheduler } from "./scheduler.js";
import { CursorCodec, watchTask, type WatchEvent, type WatchOptions } from "./watch.js";
import { checkKeyedConcurrency, keyedConcurrency, keyOfSubmit, queueWideConcurrency } from "./key-concurrency.js";
import { checkRateLimitOption, checkSubmitOptions, checkTaskSpec, rateKeyOf } from "./submit-options.js";

/** How `stop()` and `close()` treat the tasks still running. */
export interface StopOptions {
  /**
   * How long running tasks may take to finish before they are aborted and
   * handed back (released without spending an attempt).
   * @defaultValue 10000
   */
  graceMs?: number;
  /**
   * When it aborts, the grace ends at once: running tasks are aborted and
   * their leases released without waiting for handlers that ignore their
   * signal (a second Ctrl-C).
   * @example
   * const force = new AbortController();
   * process.once("SIGINT", () => force.abort());
   * await outlast.close({ graceMs: 30_000, force: force.signal });
   */
  force?: AbortSignal;
}

export interface OutlastOptions {
  store: Store;
  /** How long a worker holds a task without renewing its lease. @defaultValue 15000 */
  leaseMs?: number;
  /** Most often a task's progress is saved. @defaultValue 250 */
  progressIntervalMs?: number;
  /** Safety-net poll for work when no wake-up arrives. @defaultValue 1000 */
  pollIntervalMs?: number;
  /** How long a cancelled or timed-out handler may take to return before it is left behind. @defaultValue 10000 */
  abortGraceMs?: number;
  /**
   * How long finished tasks (and their events) are kept; `false` keeps them forever.
   * `checkEveryMs` is how often old tasks are looked for.
   * @defaultValue 7 days for each state, checked every minute
   */
  retention?: false | Partial<Record<"succeededMs" | "failedMs" | "canceledMs" | "checkEveryMs", number>>;
  /** An id for this process's workers. @defaultValue a random id */
  workerId?: string;
  /**
   * Where `ctx.saveArtifact` puts files.
   * @defaultValue files in `outlast-data/artifacts` beside a SQLite database; none otherwise
   */
  artifacts?: ArtifactStore | null;
  clock?: Clock;
  /** Where waits come from (polls, heartbeats, coalescing, timeouts, cron); with `clock`, what tests put on fake time. */
  timers?: Timers;
  logger?: Logger;
}

/** Lifecycle notifications, from every process on the database. */
export interface LifecycleEvents {
  queued: TaskEvent;
  started: TaskEvent;
  progress: TaskEvent;
  retrying: TaskEvent;
  succeeded: TaskEvent;
  failed: TaskEvent;
  canceled: TaskEvent;
  /** The task waits (children, a sleep, a signal) without a worker slot. */
  waiting: TaskEvent;
}

const DEFAULT_QUEUE = "default";
const DEFAULT_OWNER = "anonymous";
/** Most tasks one submitMany stores: one transaction, and one NOTIFY burst, stay bounded. */
const MAX_SUBMIT_MANY = 10_000;

/**
 * The engine: define tasks, submit them, run workers, watch progress.
 * @example
 * const outlast = new Outlast({ store: sqliteStore({ path: "./outlast.db" }) });
 * outlast.define("hello", { run: async (input, ctx) => { ctx.progress({ percent: 100 }); return "hi"; } });
 * const task = await outlast.submit("hello", {});
 * await outlast.start();
 */
export class Outlast {
  readonly store: Store;
  readonly workerId: string;
  /** This engine's time (`OutlastOptions.clock`). */
  readonly clock: Clock;
  private readonly logger: Logger;
  private readonly definitions = new Map<string, RegisteredDefinition>();
  private readonly closers = new Set<() => Promise<void>>();
  /** The queues' stored settings, as this process last read them. */
  private readonly limits: QueueSettingsCopy;
  private readonly presenter: Presenter;
  private readonly queues = new Map<string, QueueOptions>();
  private readonly coalescer: ProgressCoalescer;
  readonly hub: Hub;
  /** Task files, or null when none are configured. */
  readonly artifacts: ArtifactStore | null;
  private readonly scheduler: Scheduler;
  private readonly lifecycle = new Map<keyof LifecycleEvents, Set<(event: TaskEvent) => void>>();
  private stopLifecycle: (() => void) | null = null;
  private info: Promise<StoreInfo> | null = null;
  private codec: CursorCodec | null = null;
  /** Where this engine's waits come from (`OutlastOptions.timers`); the server's streams use them too. */
  readonly timers: Timers;
  /** Workers, heartbeats, recovery, retention and schedules (runner.ts). */
  private readonly runner: Runner;
  private readonly families: TaskFamilies;
  private readonly deadLetterHandlers: DeadLetterHandlers;
  /** Claims and lease-bound writes of workers over HTTP (server/worker-routes.ts); internal to the server. */
  readonly remoteWork: RemoteWork;
  /** How long a claim's lease lasts before it must be renewed. */
  readonly leaseMs: number;

  constructor(options: OutlastOptions) {
    const store = (options as Partial<OutlastOptions> | undefined)?.store as Partial<Store> | undefined;
    if (typeof store?.init !== "function" || typeof store.submit !== "function") {
      throw new OutlastError("bad_request", 'new Outlast({ store }) needs a store: sqliteStore({ path: "./outlast.db" }) from "outlast/sqlite", or postgresStore({ connectionString }) from "outlast/postgres"');
    }
    this.store = options.store;
    const leaseMs = positive(options.leaseMs ?? 15_000, "leaseMs");
    this.leaseMs = leaseMs;
    const pollIntervalMs = positive(options.pollIntervalMs ?? 1000, "pollIntervalMs");
    const abortGraceMs = positive(options.abortGraceMs ?? 10_000, "abortGraceMs", true);
    this.clock = options.clock ?? systemClock;
    this.timers = options.timers ?? systemTimers;
    this.logger = options.logger ?? consoleLogger;
    this.workerId = options.workerId ?? newId("wrk");
    this.coalescer = new ProgressCoalescer(positive(options.progressIntervalMs ?? 250, "progressIntervalMs"), this.timers);
    this.hub = new Hub(this.store);
    this.artifacts =
      options.artifacts !== undefined
        ? options.artifacts
        : this.store.localDataDir
          ? fileArtifacts({ dir: join(this.store.localDataDir, "artifacts") })
          : null;
    this.scheduler = new Scheduler(this.store, this.clock, this.logger, this.timers);
    this.limits = new QueueSettingsCopy(this.store, this.clock, this.logger);
    this.families = new TaskFamilies(
      this.store,
      this.clock,
      (name, input, submitOptions) => this.buildRequest(name, input, submitOptions),
      (taskName) => this.definitions.get(taskName)?.definition.signals,
      async (id) => {
        const outcome = await this.store.cancel(id, this.clock());
        if (outcome.kind === "requested") this.runner.abortHere(id, "cancel");
      },
    );
    this.runner = new Runner({
      waits: this.families,
      store: this.store,
      workerId: this.workerId,
      leaseMs,
      pollIntervalMs,
      abortGraceMs,
      retention: options.retention,
      clock: this.clock,
      timers: this.timers,
      logger: this.logger,
      coalescer: this.coalescer,
      hub: this.hub,
      artifacts: this.artifacts,
      scheduler: this.scheduler,
      limits: this.limits,
      definitions: this.definitions,
      queues: this.queues,
    });
    this.deadLetterHandlers = new DeadLetterHandlers({
      store: this.store,
      hub: this.hub,
      queues: this.queues,
      logger: this.logger,
      buildRequest: (name, input, submitOptions) => this.buildRequest(name, input, submitOptions),
      now: () => this.clock(),
    });
    this.remoteWork = new RemoteWork({
      store: this.store,
      clock: this.clock,
      timers: this.timers,
      logger: this.logger,
      hub: this.hub,
      definition: (name) => this.definitions.get(name),
      abortGraceMs,
      artifacts: this.artifacts,
      recovering: () => this.runner.running,
    });
    this.presenter = new Presenter(this.store, this.clock, async (queue) => {
      // A process without workers reads the stored limits when it needs them; with no shared limit, its own share is the guess.
      const stored = (await this.limits.get(queue, !this.runner.running))?.limits.concurrency;
      return stored === null || stored === undefined ? this.runner.localLimit(queue) : stored;
    }, async (queue) => {
      const stored = await this.limits.get(queue, !this.runner.running);
      if (stored) return stored.limits.rateLimit;
      // Not stored yet: what this process declares.
      const declared = this.queues.get(queue)?.rateLimit;
      return declared ? { limit: declared.limit, periodMs: declared.periodMs, keyed: declared.key !== undefined } : null;
    });
  }

  /**
   * Declare a queue's limits. They are stored, so every process on the database
   * enforces them; this process writes only the fields given here, and an
   * operator's change (`setQueueLimits`) holds over them until reset.
   * @example outlast.queue("tts", { concurrency: 2, maxQueued: 100, perOwner: { concurrency: 1, maxQueued: 5 } });
   */
  queue(name: string, options: QueueOptions = {}): this {
    checkName(name, "queue name");
    for (const [key, value] of [
      [typeof options.concurrency === "object" ? "concurrency.total" : "concurrency", queueWideConcurrency(options)],
      ["maxQueued", options.maxQueued],
      ["perProcess", options.perProcess],
      ["prefetch", options.prefetch === 0 ? undefined : options.prefetch],
      ["perOwner.concurrency", options.perOwner?.concurrency],
      ["perOwner.maxQueued", options.perOwner?.maxQueued],
    ] as const) {
      // A limit may be Infinity: no limit (which also undoes a limit an earlier version of the code declared).
      const limit = key !== "perProcess" && key !== "prefetch";
      if (value !== undefined && !(limit && value === Infinity) && (!Number.isSafeInteger(value) || value < 1)) {
        throw new OutlastError("bad_request", `Queue "${name}": ${key} must be a whole number of at least 1${limit ? " (or Infinity for no limit)" : ""}`, {
          details: { field: key },
        });
      }
    }
    if (options.deadLetter !== undefined) checkName(options.deadLetter, `dead-letter task of queue "${name}"`);
    checkRateLimitOption(name, options.rateLimit);
    checkKeyedConcurrency(name, options);
    this.queues.set(name, options);
    if (this.runner.running) void this.runner.declare(name).catch((error: unknown) => this.logger.error({ err: error }, "saving queue failed"));
    return this;
  }

  /**
   * Define a task type: its spec and handler. Its name is what `submit` and
   * the HTTP API use. Also takes a declaration (`declareTask`) and its handler.
   */
  define<Input = unknown, Result = unknown>(name: string, definition: TaskDefinition<Input, Result>): DefinedTask<Input, Result>;
  define<Input, Result>(declaration: TaskDeclaration<Input, Result>, definition: Pick<TaskDefinition<Input, Result>, "run">): DefinedTask<Input, Result>;
  define<Input, Result>(
    nameOrDeclaration: string | TaskDeclaration<Input, Result>,
    definition: TaskDefinition<Input, Result> | Pick<TaskDefinition<Input, Result>, "run">,
  ): DefinedTask<Input, Result> {
    if (typeof definition?.run !== "function") {
      const name = typeof nameOrDeclaration === "string" ? nameOrDeclaration : nameOrDeclaration?.name;
      throw new OutlastError("bad_request", `Task "${String(name)}" needs a run(input, ctx) function`);
    }
    if (typeof nameOrDeclaration !== "string") return this.implement(nameOrDeclaration, definition.run);
    this.register(nameOrDeclaration, definition as TaskDefinition<unknown, unknown>, null);
    return this.handle(nameOrDeclaration);
  }

  /**
   * Make task types known without their handlers, so this process can accept
   * and validate submits for them (an API server whose workers run elsewhere).
   * Declaring a task again does nothing; a declaration of the same name and
   * queue made again (a module evaluated twice, as under a dev server's
   * reload) takes the newer spec. A task defined here with `define()` keeps its own.
   */
  declare(...declarations: TaskDeclaration<unknown, unknown>[]): this {
    for (const declaration of declarations) {
      if (!isDeclaration(declaration)) throw new OutlastError("bad_request", "declare() takes what declareTask() returns");
      const known = this.definitions.get(declaration.name);
      if (!known) {
        this.register(declaration.name, declaration.spec as TaskSpec<unknown>, declaration as TaskDeclaration<unknown, unknown>);
        continue;
      }
      if (known.declaration === declaration) continue;
      this.sameQueue(known, declaration);
      if (known.declaration === null) continue;
      checkTaskSpec(declaration.name, declaration.spec as Record<string, unknown>);
      const run = known.definition.run;
      known.definition = { ...(declaration.spec as TaskSpec<unknown>), ...(run ? { run } : {}) };
      known.declaration = declaration as TaskDeclaration<unknown, unknown>;
    }
    return this;
  }

  /** A second declaration of a known name must agree on the queue: a task runs on one. */
  private sameQueue(known: RegisteredDefinition, declaration: TaskDeclaration<unknown, unknown>): void {
    const queue = declaration.spec.queue ?? DEFAULT_QUEUE;
    if (known.queue !== queue) {
      throw new OutlastError("conflict", `Task "${declaration.name}" is already defined on queue "${known.queue}"; this declaration names queue "${queue}"`);
    }
  }

  /**
   * Declare a task whose handler runs outside this process, in a worker
   * over HTTP (`/api/v1/worker/…`, docs/api-extensions.md "Workers over
   * HTTP"): this process accepts and checks its submits, and applies its
   * queue, retries, backoff, time limits and stall limit to the workers that
   * claim it. The same as `declare(declareTask(name, spec))`.
   * @example outlast.remote("tts.chapter", { queue: "tts", maxAttempts: 5, timeoutMs: 600_000 });
   */
  remote<Input = unknown, Result = unknown>(name: string, spec: TaskSpec<Input> = {}): DefinedTask<Input, Result> {
    this.declare(declareTask(name, spec) as TaskDeclaration<unknown, unknown>);
    return this.handle(name);
  }

  /**
   * Make a worker key: what lets a worker over HTTP claim tasks of `queues`.
   * The secret is in the answer only; the store keeps its hash.
   * @example const { secret } = await outlast.createWorkerKey({ name: "gpu boxes", queues: ["tts"] });
   */
  async createWorkerKey(request: { name: string; queues: readonly string[] }): Promise<{ key: WorkerKeyRecord; secret: string }> {
    await this.ready();
    return createWorkerKey(this.store, request, this.clock());
  }

  /** Every worker key (never a secret), newest first, revoked ones included. */
  async listWorkerKeys(): Promise<WorkerKeyRecord[]> {
    await this.ready();
    return this.store.listWorkerKeys();
  }

  /** Revoke a worker key: its next request is refused. Null for an unknown id. */
  async revokeWorkerKey(id: string): Promise<WorkerKeyRecord | null> {
    await this.ready();
    return this.store.revokeWorkerKey(id, this.clock());
  }

  /** Give a declared task its handler, so this process runs it (see `declareTask`). */
  implement<Input, Result>(declaration: TaskDeclaration<Input, Result>, run: TaskDefinition<Input, Result>["run"]): DefinedTask<Input, Result> {
    if (!isDeclaration(declaration)) throw new OutlastError("bad_request", "implement() takes what declareTask() returns");
    if (typeof run !== "function") throw new OutlastError("bad_request", `Task "${declaration.name}" needs a run(input, ctx) function`);
    const known = this.definitions.get(declaration.name);
    const definition = { ...declaration.spec, run } as TaskDefinition<unknown, unknown>;
    // Declared here before (by this declaration, or one like it): now it also runs here.
    if (known && known.declaration !== null && !known.definition.run) {
      this.sameQueue(known, declaration as TaskDeclaration<unknown, unknown>);
      if (this.runner.running) throw new OutlastError("conflict", `Implement "${declaration.name}" before outlast.start()`);
      checkTaskSpec(declaration.name, definition as unknown as Record<string, unknown>);
      known.definition = definition;
      known.declaration = declaration as TaskDeclaration<unknown, unknown>;
    } else {
      this.register(declaration.name, definition, declaration as TaskDeclaration<unknown, unknown>);
    }
    return this.handle(declaration.name);
  }

  private register(name: string, definition: RegisteredDefinition["definition"], declaration: RegisteredDefinition["declaration"]): void {
    checkName(name, "task name");
    checkTaskSpec(name, definition as Record<string, unknown>);
    if (this.definitions.has(name)) throw new OutlastError("conflict", `Task "${name}" is already defined`);
    if (this.runner.running && definition.run) throw new OutlastError("conflict", `Define "${name}" before outlast.start()`);
    const queue = definition.queue ?? DEFAULT_QUEUE;
    checkName(queue, "queue name");
    this.definitions.set(name, { name, queue, definition, declaration });
  }

  private handle<Input, Result>(name: string): DefinedTask<Input, Result> {
    return {
      name,
      queue: this.definitions.get(name)!.queue,
      submit: (input: Input, options?: SubmitOptions) => this.submit(name, input, options) as Promise<Task<Jsonified<Result>>>,
    };
  }

  /** The queue a task name runs on, or null when it is not defined here. */
  queueOf(name: string): string | null {
    return this.definitions.get(name)?.queue ?? null;
  }

  /**
   * Whether a task definition or declaration of this process, or an
   * `outlast.queue(…)`, routes to `queue` — or the store keeps settings for
   * it (another process declared it when it started, or an operator set its limits).
   */
  private async knowsQueue(queue: string): Promise<boolean> {
    if (this.queues.has(queue)) return true;
    for (const registered of this.definitions.values()) if (registered.queue === queue) return true;
    await this.ready();
    return (await this.limits.get(queue, true)) !== undefined;
  }

  /** Names of the tasks defined in this process. */
  get taskNames(): string[] {
    return [...this.definitions.keys()];
  }

  /**
   * Submit a task; returns at once with the stored task. With an
   * `idempotencyKey` it may return the existing task instead (see README).
   * Throws InvalidInputError, QueueFullError, or OutlastError("unknown_task_name").
   * The returned task's `position` and `etaMs` are null: counting a long
   * queue costs time per submit, so ask `get(id)` when you show them.
   */
  async submit<Input, Result>(task: TaskDeclaration<Input, Result> | DefinedTask<Input, Result>, input: Input, options?: SubmitOptions): Promise<Task<Jsonified<Result>>>;
  async submit(name: string, input?: unknown, options?: SubmitOptions): Promise<Task>;
  async submit(task: string | TaskDeclaration<unknown, unknown> | DefinedTask<unknown, unknown>, input?: unknown, options: SubmitOptions = {}): Promise<Task> {
    return (await this.submitWithOutcome(this.nameOf(task), input, options)).task;
  }

  /** A task name, from a name, a handle or a declaration (declared here on first use). */
  private nameOf(task: string | { readonly name: string }): string {
    if (typeof task === "string") return task;
    if (isDeclaration(task)) {
      // A name defined here already is known as it is; a declaration is only added when it is new.
      if (!this.definitions.has(task.name)) this.declare(task);
    }
    else if (typeof task?.name !== "string") throw new OutlastError("bad_request", "submit() takes a task name, a defined task or a declaration");
    return task.name;
  }

  /** Like {@link submit}, and says whether the task was created, found, or resumed. */
  async submitWithOutcome(
    name: string,
    input?: unknown,
    options: SubmitOptions & { withPosition?: boolean } = {},
  ): Promise<{ outcome: SubmitOutcome["kind"]; task: Task }> {
    const request = await this.buildRequest(name, input, options);
    await this.ready();
    const outcome = options.transaction === undefined ? await this.store.submit(request, this.clock()) : await this.submitInTransaction(options.transaction, request);
    // A cancel-running submit asked the key's started tasks to cancel: one running here stops at once, as by cancel().
    // Not inside the caller's transaction: it may still roll back (then the heartbeat never sees a cancel).
    if ("canceled" in outcome && outcome.canceled && options.transaction === undefined) {
      for (const id of outcome.canceled) {
        this.runner.abortHere(id, "cancel");
        await this.abortChildrenHere(id);
      }
    }
    return { outcome: outcome.kind, task: options.withPosition ? await this.present(outcome.task) : toPublicTask(outcome.task) };
  }

  /**
   * Submit one task per input, all with the same options, in one
   * transaction and in the given order: every task is stored, or none is.
   * An invalid input is an InvalidInputError whose issue paths start with
   * its index; a queue too full for all of them is a QueueFullError. For
   * batches (a dataset to embed, pages to render); a task that needs an
   * idempotency key is submitted on its own.
   * @example const tasks = await outlast.submitMany("embed", chunks.map((text) => ({ text })), { owner: user.id });
   */
  async submitMany<Input, Result>(task: TaskDeclaration<Input, Result> | DefinedTask<Input, Result>, inputs: readonly Input[], options?: Omit<SubmitOptions, "idempotencyKey" | "dedupe" | "transaction">): Promise<Task<Jsonified<Result>>[]>;
  async submitMany(name: string, inputs: readonly unknown[], options?: Omit<SubmitOptions, "idempotencyKey" | "dedupe" | "transaction">): Promise<Task[]>;
  async submitMany(
    task: string | TaskDeclaration<unknown, unknown> | DefinedTask<unknown, unknown>,
    inputs: readonly unknown[],
    options: Omit<SubmitOptions, "idempotencyKey" | "dedupe" | "transaction"> = {},
  ): Promise<Task[]> {
    const name = this.nameOf(task);
    if (!Array.isArray(inputs)) throw new OutlastError("bad_request", "submitMany takes an array of inputs");
    if (inputs.length > MAX_SUBMIT_MANY) throw new OutlastError("bad_request", `submitMany takes at most ${MAX_SUBMIT_MANY} inputs at once`);
    const keyed = options as SubmitOptions;
    if (keyed.idempotencyKey !== undefined || keyed.transaction !== undefined || keyed.dedupe !== undefined) {
      throw new OutlastError("bad_request", "submitMany takes no idempotencyKey, dedupe or transaction; submit such a task on its own");
    }
    if (inputs.length === 0) return [];
    const requests: SubmitRequest[] = [];
    for (const [index, input] of inputs.entries()) {
      try {
        requests.push(await this.buildRequest(name, input, options));
      } catch (error) {
        if (!(error instanceof InvalidInputError)) throw error;
        throw new InvalidInputError(name, error.issues.map((issue) => ({ ...issue, path: [index, ...issue.path] })));
      }
    }
    await this.ready();
    const records = await this.store.submitMany(requests, this.clock());
    return records.map((record) => toPublicTask(record));
  }

  private submitInTransaction(transaction: unknown, request: SubmitRequest): Promise<SubmitOutcome> {
    if (!this.store.capabilities.transactionalSubmit || !this.store.submitInTransaction) {
      throw new OutlastError("bad_request", "This store cannot submit inside your transaction; use the PostgreSQL store (outlast/postgres)");
    }
    return this.store.submitInTransaction(transaction, request, this.clock());
  }

  private async buildRequest(name: string, input: unknown, options: SubmitOptions): Promise<SubmitRequest> {
    const registered = this.definitions.get(name);
    if (!registered) {
      throw new OutlastError("unknown_task_name", `No task named "${name}" is defined; call outlast.define("${name}", …) first`);
    }
    const checked = checkSubmitOptions(options, this.clock());
    if (checked.queue !== undefined && checked.queue !== registered.queue && !(await this.knowsQueue(checked.queue))) {
      // A queue nobody routes to would keep its tasks forever (and anyone could make one appear).
      throw new OutlastError("unknown_queue", `No process declared queue "${checked.queue}": declare it with outlast.queue("${checked.queue}") or drop the option`, {
        details: { queue: checked.queue },
      });
    }
    const definition = registered.definition;
    const value = definition.input ? await validateInput(name, definition.input, input) : input;
    const queue = checked.queue ?? registered.queue;
    const owner = checked.owner ?? DEFAULT_OWNER;
    const rateLimit = this.queues.get(queue)?.rateLimit;
    const cost = checked.cost ?? 1;
    if (cost > 1) {
      // The limit that applies: stored (an operator's change), else what this process declares.
      const stored = (await this.limits.get(queue, !this.runner.running))?.limits.rateLimit;
      const max = stored !== undefined ? stored?.limit : rateLimit?.limit;
      if (max != null && cost > max) {
        throw new OutlastError("bad_request", `cost must be at most the rate limit of queue "${queue}" (${max})`, { details: { field: "cost" } });
      }
    }
    return {
      id: newId("tsk", this.clock()),
      name,
      queue,
      owner,
      title: checked.title ?? null,
      input: value === undefined ? null : value,
      priority: checked.priority ?? definition.priority ?? 0,
      runAt: checked.runAt ?? this.clock(),
      maxAttempts: checked.maxAttempts ?? definition.maxAttempts ?? 3,
      maxLeaseExpiries: definition.maxLeaseExpiries ?? DEFAULT_MAX_LEASE_EXPIRIES,
      timeoutMs: checked.timeoutMs ?? definition.timeoutMs ?? null,
      idempotencyKey: checked.idempotencyKey ?? null,
      ...(checked.dedupe ? { dedupe: checked.dedupe } : {}),
      rateKey: rateKeyOf(queue, rateLimit, value === undefined ? null : value, owner),
      cost,
      ...keyOfSubmit(queue, keyedConcurrency(this.queues.get(queue)), value === undefined ? null : value, owner),
    };
  }

  /**
   * A task, or null when there is none with this id. With `owner`, another
   * owner's task is null too, as over HTTP: call it so from your own routes.
   * @example const task = await outlast.get(req.params.id, { owner: req.user.id });
   */
  async get(id: string, scope: OwnerScope = {}): Promise<Task | null> {
    const record = await this.getRecord(id, scope);
    return record ? this.present(record) : null;
  }

  /** The stored record, with input and checkpoint (for operators and the dashboard); scoped like {@link get}. */
  async getRecord(id: string, scope: OwnerScope = {}): Promise<TaskRecord | null> {
    if (typeof id !== "string") return null;
    await this.ready();
    const record = await this.store.getTask(id);
    return record && owns(scope, record) ? record : null;
  }

  /** Tasks, newest first, one page at a time; `search` is a prefix of the id, owner or name (TaskFilter.search). */
  async list(filter: { owner?: string; state?: TaskState; queue?: string; name?: string; search?: string; limit?: number; cursor?: string } = {}): Promise<{
    tasks: Task[];
    nextCursor: string | null;
  }> {
    await this.ready();
    const page = await this.store.listTasks({ ...filter, limit: filter.limit ?? 50 });
    return { tasks: await Promise.all(page.tasks.map((t) => this.present(t))), nextCursor: page.nextCursor };
  }

  /** Like {@link list}, the stored records as they are (no position or ETA is counted): for reading many at once. */
  async listRecords(filter: { owner?: string; state?: TaskState; queue?: string; name?: string; search?: string; limit?: number; cursor?: string } = {}): Promise<{
    tasks: TaskRecord[];
    nextCursor: string | null;
  }> {
    await this.ready();
    return this.store.listTasks({ ...filter, limit: filter.limit ?? 50 });
  }

  /**
   * Cancel a task: a queued one at once, a running one by aborting its
   * `ctx.signal` (it ends `canceled` when the handler returns). Cancelling a
   * finished task throws OutlastError("conflict").
   */
  async cancel(id: string, scope: OwnerScope = {}): Promise<Task> {
    await this.ready();
    await this.mustOwn(id, scope);
    const outcome = await this.store.cancel(id, this.clock());
    if (outcome.kind === "missing") throw new OutlastError("not_found", `No task ${id}`);
    if (outcome.kind === "final") throw new OutlastError("conflict", `Task ${id} already ${outcome.task.state}; nothing to cancel`);
    if (outcome.kind === "requested") {
      this.runner.abortHere(id, "cancel");
    }
    await this.abortChildrenHere(id);
    return this.present(outcome.task);
  }

  /** Run a failed or cancelled task again, from its recorded steps. */
  async retry(id: string, scope: OwnerScope = {}): Promise<Task> {
    await this.ready();
    await this.mustOwn(id, scope);
    const outcome = await this.store.retry(id, this.clock());
    if (outcome.kind === "missing") throw new OutlastError("not_found", `No task ${id}`);
    if (outcome.kind === "conflict") {
      throw new OutlastError("conflict", `Task ${id} is ${outcome.task.state}; only failed or canceled tasks can be retried`);
    }
    return this.present(outcome.task);
  }

  /**
   * Dead letters (tasks that failed, but a parent failed by its child),
   * newest first by when they failed, one page at a time.
   * @example const { tasks } = await outlast.deadLetters({ queue: "llm", code: "poison_pill" });
   */
  async deadLetters(query: DeadLetterQuery & { limit?: number; cursor?: string } = {}): Promise<{ tasks: Task[]; nextCursor: string | null }> {
    await this.ready();
    const filter = deadLetterFilter(query);
    const page = await this.store.listDeadLetters({ ...filter, limit: query.limit ?? 50, ...(query.cursor === undefined ? {} : { cursor: query.cursor }) });
    return { tasks: page.tasks.map((record) => toPublicTask(record)), nextCursor: page.nextCursor };
  }

  /**
   * Run dead letters again from their recorded steps (like `retry`), by ids
   * or every one matching a filter; answers how many were redriven (ids
   * that are not dead letters are skipped).
   * @example await outlast.redrive({ filter: { queue: "llm", code: "poison_pill" } });
   */
  async redrive(target: DeadLetterTarget): Promise<number> {
    await this.ready();
    return this.store.redriveDead(deadLetterSelection(target), this.clock());
  }

  /**
   * Cancel, retry or redrive every task matching a filter (at least one
   * field; `since`/`until` bound `createdAt`), at most 10,000 per call;
   * answers how many it touched. cancel takes unfinished tasks, retry failed
   * and canceled ones, redrive dead letters; a task that changed state
   * meanwhile is skipped.
   * @example const count = await outlast.bulk("retry", { queue: "llm", code: "rate_limited" });
   */
  async bulk(action: BulkAction, filter: BulkFilter): Promise<number> {
    const checkedAction = checkBulkAction(action);
    const checked = checkBulkFilter(filter);
    await this.ready();
    return runBulk(checkedAction, checked, {
      listTasks: (page) => this.store.listTasks(page),
      apply: async (record) => {
        if (checkedAction === "retry") return (await this.store.retry(record.id, this.clock())).kind === "retried";
        const outcome = await this.store.cancel(record.id, this.clock());
        if (outcome.kind !== "canceled" && outcome.kind !== "requested") return false;
        if (outcome.kind === "requested") this.runner.abortHere(record.id, "cancel");
        await this.abortChildrenHere(record.id);
        return true;
      },
      redriveIds: (ids) => this.store.redriveDead({ ids }, this.clock()),
      redriveFilter: (query) => this.store.redriveDead({ filter: deadLetterFilter(query) }, this.clock()),
    });
  }

  /** Delete dead letters with their events, steps and signals, by ids or filter; answers how many. */
  async purgeDead(target: DeadLetterTarget): Promise<number> {
    await this.ready();
    return this.store.purgeDead(deadLetterSelection(target));
  }

  /**
   * Submit a group: its children run (each on its own queue), then the
   * optional `then` task with their outcomes; the group is a task (an id, a
   * state, events) that ends with them, its progress rolled up from theirs.
   * An idempotency key that matches attaches to that group, or runs a failed
   * or canceled one again.
   * @example const group = await outlast.submitGroup({ name: "render", owner, children: segments.map((s) => ({ name: "render.segment", input: s })), then: { name: "render.join", input: {} } });
   */
  async submitGroup(group: GroupRequest): Promise<Task> {
    return (await this.submitGroupWithOutcome(group)).task;
  }

  /** Like {@link submitGroup}, and says whether the group was created, found, or resumed. */
  async submitGroupWithOutcome(group: GroupRequest): Promise<{ outcome: SubmitOutcome["kind"]; task: Task }> {
    await this.ready();
    const outcome = await this.families.submitGroup(group);
    return { outcome: outcome.kind, task: toPublicTask(outcome.task) };
  }

  /**
   * Send a signal to a task: one waiting for it (`ctx.waitForSignal`) runs
   * again with the payload; an unfinished one that is not waiting for it yet
   * keeps it until it does. Throws OutlastError("conflict") for a finished
   * task, InvalidInputError when the payload fails the signal's schema.
   * @example await outlast.signal(task.id, "approved", { by: "ana" }, { owner });
   */
  async signal(id: string, name: string, payload?: unknown, scope: OwnerScope = {}): Promise<{ delivered: boolean; task: Task }> {
    await this.ready();
    const record = await this.getRecord(id, scope);
    if (!record) throw new OutlastError("not_found", `No task ${String(id).slice(0, 80)}`);
    const outcome = await this.families.signal(record, name, payload);
    return { delivered: outcome.kind === "delivered", task: await this.present(outcome.kind === "delivered" || outcome.kind === "kept" ? outcome.task : record) };
  }

  /** A task's children in submit order, a page at a time; scoped like {@link get} (another owner's parent is not found). */
  async children(id: string, options: { limit?: number; cursor?: string } = {}, scope: OwnerScope = {}): Promise<{ tasks: Task[]; nextCursor: string | null }> {
    await this.ready();
    // One read: another owner's parent and no parent at all are both not found.
    if (!(await this.getRecord(id, scope))) throw new OutlastError("not_found", `No task ${String(id).slice(0, 80)}`);
    const filter: TaskFilter = { parentId: id, limit: options.limit ?? 50 };
    if (options.cursor !== undefined) filter.cursor = options.cursor;
    const page = await this.store.listTasks(filter);
    return { tasks: await Promise.all(page.tasks.map((t) => this.present(t))), nextCursor: page.nextCursor };
  }

  /**
   * The store asked the running descendants of a canceled task to stop;
   * those running in this process stop now rather than at their next
   * heartbeat (other processes hear it there).
   */
  private async abortChildrenHere(id: string): Promise<void> {
    if (this.runner.runningHere.length === 0) return;
    const pending = [id];
    for (let parent = pending.pop(); parent !== undefined; parent = pending.pop()) {
      for (const child of await this.store.children(parent)) {
        if (child.state === "running") this.runner.abortHere(child.id, "cancel");
        if (child.state === "running" || child.state === "waiting" || child.state === "canceled") pending.push(child.id);
      }
    }
  }

  /** Another owner's task is "not found" for a scoped call (an owner never changes, so one read settles it). */
  private async mustOwn(id: string, scope: OwnerScope): Promise<void> {
    if (scope.owner === undefined) return;
    if (!(await this.getRecord(id, scope))) throw new OutlastError("not_found", `No task ${String(id).slice(0, 80)}`);
  }

  /**
   * The task's events after `after`, then live ones, ending after its final
   * state. Each event carries the `cursor` to resume after it. With `owner`,
   * another owner's task throws OutlastError("not_found").
   */
  watch(id: string, options: WatchOptions = {}): AsyncGenerator<WatchEvent> {
    return watchTask(
      { store: this.store, hub: this.hub, cursors: () => this.cursors(), snapshot: (taskId) => this.get(taskId) },
      id,
      options,
    );
  }

  /**
   * Every event of the tasks in `filter` (one task, one owner's, or all) as
   * this process hears it committed, superseded progress included: what the
   * server's streams and statistics are built on. Returns the unsubscribe function.
   */
  onTaskEvents(filter: { taskId?: string; owner?: string }, listener: (event: StoredEvent) => void): () => void {
    if (filter.taskId !== undefined) return this.hub.onTask(filter.taskId, listener);
    if (filter.owner !== undefined) return this.hub.onOwner(filter.owner, listener);
    return this.hub.onAll(listener);
  }

  /** Listeners of task events in this process right now (watches, streams, statistics). */
  get watcherCount(): number {
    return this.hub.watcherCount;
  }

  /** A page of a task's stored events after `afterSeq`, oldest first; scoped like {@link get} (another owner's: none). */
  async readEvents(id: string, afterSeq: number, limit: number, scope: OwnerScope = {}): Promise<TaskEvent[]> {
    if (!(await this.getRecord(id, scope))) return [];
    return (await this.store.readEvents(id, afterSeq, limit)).map(toPublicEvent);
  }

  /** Ids of unfinished tasks (running, then queued), newest first, at most `limit` of each: where an owner-wide stream starts. */
  async unfinishedTaskIds(filter: { owner?: string }, limit: number): Promise<string[]> {
    await this.ready();
    const ids: string[] = [];
    for (const state of ["running", "queued"] as const) {
      const page = await this.store.listTasks({ ...filter, state, limit });
      for (const record of page.tasks) ids.push(record.id);
    }
    return ids;
  }

  /** A secret kept in the database and shared by every process on it, made by `make` the first time (token signing keys). */
  async sharedSecret(name: string, make: () => string): Promise<string> {
    await this.ready();
    return this.store.getOrCreateSecret(name, make);
  }

  /** The cursor codec of this database (cursors name the database they came from). */
  async cursors(): Promise<CursorCodec> {
    if (!this.codec) this.codec = new CursorCodec((await this.ready()).databaseId);
    return this.codec;
  }

  /** Listen to lifecycle events of every task on the database; returns an unsubscribe function. */
  on<K extends keyof LifecycleEvents>(event: K, listener: (event: LifecycleEvents[K]) => void): () => void {
    let set = this.lifecycle.get(event);
    if (!set) this.lifecycle.set(event, (set = new Set()));
    set.add(listener);
    this.stopLifecycle ??= this.hub.onAll((stored) => this.emitLifecycle(stored));
    return () => {
      set.delete(listener);
      if ([...this.lifecycle.values()].every((s) => s.size === 0)) {
        this.stopLifecycle?.();
        this.stopLifecycle = null;
      }
    };
  }

  /**
   * Submit `input` to task `name` on every tick of `cron` (croner syntax),
   * exactly once per tick however many processes run the schedule.
   */
  schedule(scheduleName: string, cron: string, taskName: string, input?: unknown, options: SubmitOptions = {}): this {
    checkName(scheduleName, "schedule name");
    this.scheduler.add(scheduleName, cron, () => this.buildRequest(taskName, input, options));
    if (this.runner.running) this.scheduler.start();
    return this;
  }

  /** Stop claiming from a queue on every process (running tasks carry on). False when nothing changed. */
  async pauseQueue(name: string): Promise<boolean> {
    await this.ready();
    return this.store.setQueuePaused(name, true, this.clock());
  }

  /** Claim from a paused queue again. False when nothing changed. */
  async resumeQueue(name: string): Promise<boolean> {
    await this.ready();
    return this.store.setQueuePaused(name, false, this.clock());
  }

  async listQueues(): Promise<QueueInfo[]> {
    await this.ready();
    return this.store.listQueues();
  }

  /** Worker processes that sent a heartbeat recently. */
  /**
   * A server in this process tells how many event streams it serves; the
   * heartbeat stores the total, so other nodes can show it. Returns the way
   * to stop counting it.
   */
  reportStreams(count: () => number): () => void {
    return this.runner.reportStreams(count);
  }

  async listWorkers(): Promise<WorkerHeartbeat[]> {
    await this.ready();
    return this.store.listWorkers(this.clock() - Math.max(3 * this.runner.heartbeatMs, 10_000));
  }

  /** Tasks running in this process right now. */
  get runningHere(): string[] {
    return this.runner.runningHere;
  }

  /**
   * Start workers for every queue that has a defined task (or only `queues`),
   * and the maintenance timers. `perProcess` caps this process's share of
   * every queue it runs, over the queues' own `perProcess`.
   */
  async start(options: { queues?: readonly string[]; perProcess?: number } = {}): Promise<void> {
    if (this.runner.running) return;
    await this.ready();
    await this.runner.start(options);
    this.deadLetterHandlers.start();
  }

  /**
   * Stop claiming, let running tasks finish within `graceMs`, then abort the
   * rest and release their leases so another worker resumes them at once.
   */
  async stop(options: StopOptions = {}): Promise<void> {
    if (!this.runner.running) return;
    this.deadLetterHandlers.stop();
    await this.runner.stop(options.graceMs ?? 10_000, options.force);
  }

  /** Stop workers, end every watcher, and close the store. */
  async close(options: StopOptions = {}): Promise<void> {
    // Servers and handlers first: no new requests, streams told to come back, while the workers drain.
    const closers = [...this.closers].reverse();
    this.closers.clear();
    for (const close of closers) await close().catch((error: unknown) => this.logger.error({ err: error }, "closing a server failed"));
    this.remoteWork.close();
    await this.stop(options);
    this.stopLifecycle?.();
    this.stopLifecycle = null;
    this.hub.close();
    await this.store.close();
  }

  /** `await using outlast = new Outlast(…)`: the same as `close()`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /**
   * Run `close` when this engine closes, before its workers drain: how a
   * server or handler made for it (`serve`, `createHandler`) is shut down
   * with it. Returns the function that takes it back.
   */
  onClose(close: () => Promise<void>): () => void {
    this.closers.add(close);
    return () => void this.closers.delete(close);
  }

  // ── internals ─────────────────────────────────────────────────────────

  private ready(): Promise<StoreInfo> {
    this.info ??= this.store.init();
    return this.info;
  }

  /**
   * Change a queue's limits on every process (within a second), over what
   * any code declares, until `reset` (back to the declared limits). null: no limit.
   * @example await outlast.setQueueLimits("tts", { concurrency: 4 });
   * @example await outlast.setQueueLimits("tts", {}, { reset: true });
   */
  async setQueueLimits(name: string, change: QueueLimitsChange = {}, options: { reset?: boolean } = {}): Promise<QueueSettings> {
    await this.ready();
    const settings = await this.limits.change(name, change, options.reset === true);
    this.runner.followLimit(name);
    return settings;
  }

  /** Every queue's stored settings: what applies, what code declared, what an operator changed. */
  async queueSettings(): Promise<QueueSettings[]> {
    await this.ready();
    return this.runner.refreshSettings();
  }

  /** The public task, with queue position and ETA while it waits. */
  private present(record: TaskRecord): Promise<Task> {
    return this.presenter.present(record);
  }

  private emitLifecycle(stored: StoredEvent): void {
    const data = stored.data;
    let name: keyof LifecycleEvents;
    if (data.type === "progress") name = "progress";
    else if (data.type !== "state") return;
    else if (data.state === "queued") name = data.reason === "retry" ? "retrying" : "queued";
    else if (data.state === "running") name = "started";
    else name = data.state;
    const listeners = this.lifecycle.get(name);
    if (!listeners || listeners.size === 0) return;
    const event = toPublicEvent(stored);
    for (const listener of listeners) {
      try {
        listener(event);
      } catch (error) {
        this.logger.error({ err: error }, `a "${name}" listener threw`);
      }
    }
  }
}

/** Calls made for one owner: another owner's task does not exist for them. */
export interface OwnerScope {
  owner?: string;
}

function owns(scope: OwnerScope, record: { owner: string }): boolean {
  return scope.owner === undefined || record.owner === scope.owner;
}

function checkName(name: unknown, what: string): asserts name is string {
  if (typeof name !== "string" || !/^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/.test(name)) {
    throw new OutlastError("bad_request", `A ${what} must be 1-128 letters, digits, ".", "_", ":" or "-": got ${JSON.stringify(name)}`);
  }
}

function positive(value: number, name: string, allowZero = false): number {
  if (!Number.isFinite(value) || value < 0 || (!allowZero && value === 0)) {
    throw new OutlastError("bad_request", `${name} must be a positive number of milliseconds`);
  }
  return value;
}

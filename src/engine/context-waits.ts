import { ChildTaskFailedError, OutlastError, SignalTimeoutError } from "../core/errors.js";
import type { Jsonified } from "../core/json.js";
import type { StandardSchemaV1 } from "../core/schema.js";
import type { TaskRecord } from "../core/task.js";
import { breakingFailure, readFailurePolicy, WAIT_STEP_PREFIX, type ChildOutcome, type FailurePolicy, type WaitSpec } from "../core/waits.js";
import { isFinal } from "../core/states.js";

/** One child for `ctx.runChildren`. */
export interface ChildSpec<Input = unknown> {
  /** Unique among the parent's children: a parent run again finds the child by it instead of submitting another. */
  key: string;
  name: string;
  input?: Input;
  /** Its share of the parent's rolled-up progress. @defaultValue 1 */
  weight?: number;
  priority?: number;
  maxAttempts?: number;
  timeoutMs?: number;
  title?: string;
}

/** Options of `ctx.child` (the spec without key, name and input). */
export type ChildOptions = Omit<ChildSpec, "key" | "name" | "input">;

export interface RunChildrenOptions {
  /** @defaultValue "fail-fast" */
  failure?: FailurePolicy;
}

/** A submitted child, from `ctx.child`. */
export interface ChildHandle<Result = unknown> {
  readonly id: string;
  readonly key: string;
  /** Its result once it succeeded; the parent waits (without its slot) until then. Throws ChildTaskFailedError if it failed or was canceled. */
  wait(): Promise<Jsonified<Result> | null>;
}

export interface SignalWaitOptions<Payload> {
  /** Give up after this long: the wait throws SignalTimeoutError. @defaultValue no limit */
  timeoutMs?: number;
  /** Checks the payload when it is sent (a bad one is refused with 422 and the task keeps waiting). */
  schema?: StandardSchemaV1<unknown, Payload>;
}

/** What the engine gives a context for children and signals. */
export interface WaitServices {
  submitChildren(parent: TaskRecord, specs: readonly ChildSpec[]): Promise<TaskRecord[]>;
  children(parentId: string): Promise<TaskRecord[]>;
  cancel(id: string): Promise<void>;
  /** Remember a signal's schema for this task name, so a send from this process is checked. */
  rememberSignalSchema(taskName: string, signal: string, schema: StandardSchemaV1): void;
  now(): number;
}

const MAX_CHILDREN = 10_000;
/** The longest wait (a sleep, a signal's timeout), as for a delayed submit: the store keeps times as dates. */
const MAX_WAIT_MS = 366 * 24 * 60 * 60 * 1000;

/**
 * The waiting half of a task's context. A wait that is not over yet
 * suspends the handler: `suspend` hands the wait to the execution, which
 * records it and lets the handler go; the handler runs again from its
 * steps when the wait is over, and the same call then returns at once.
 */
export class ContextWaits {
  private sleeps = 0;
  private readonly signalCounts = new Map<string, number>();

  constructor(
    private readonly services: WaitServices,
    private readonly record: TaskRecord,
    private readonly steps: Map<string, unknown>,
    private readonly suspend: (wait: WaitSpec) => Promise<never>,
  ) {}

  async sleepUntil(until: number): Promise<void> {
    if (!Number.isFinite(until)) throw new OutlastError("bad_request", "sleepUntil takes a valid date or epoch milliseconds");
    if (until > this.services.now() + MAX_WAIT_MS) throw new OutlastError("bad_request", "A task may sleep at most a year");
    const step = `${WAIT_STEP_PREFIX}sleep:${++this.sleeps}`;
    if (this.steps.has(step)) return;
    return this.suspend({ kind: "sleep", step, until: Math.round(until) });
  }

  async sleep(ms: number): Promise<void> {
    if (typeof ms !== "number" || !Number.isFinite(ms) || ms < 0) throw new OutlastError("bad_request", "sleep takes a number of milliseconds (0 or more)");
    return this.sleepUntil(this.services.now() + ms);
  }

  async waitForSignal<Payload>(name: string, options: SignalWaitOptions<Payload> = {}): Promise<Payload> {
    checkSignalName(name);
    const timeoutMs = options.timeoutMs ?? null;
    if (timeoutMs !== null && (!Number.isSafeInteger(timeoutMs) || timeoutMs <= 0 || timeoutMs > MAX_WAIT_MS)) {
      throw new OutlastError("bad_request", "waitForSignal: timeoutMs must be a whole number of milliseconds from 1 to a year");
    }
    if (options.schema) this.services.rememberSignalSchema(this.record.name, name, options.schema);
    const n = (this.signalCounts.get(name) ?? 0) + 1;
    this.signalCounts.set(name, n);
    const step = `${WAIT_STEP_PREFIX}signal:${name}:${n}`;
    if (this.steps.has(step)) {
      const got = this.steps.get(step) as { payload?: unknown; timedOut?: true } | null;
      if (got?.timedOut) throw new SignalTimeoutError(name, timeoutMs);
      return (got?.payload ?? null) as Payload;
    }
    return this.suspend({ kind: "signal", step, name, until: timeoutMs === null ? null : this.services.now() + timeoutMs });
  }

  async child<Result = unknown>(key: string, name: string, input?: unknown, options: ChildOptions = {}): Promise<ChildHandle<Result>> {
    const [record] = await this.submit([{ ...options, key, name, input }]);
    const id = record!.id;
    return {
      id,
      key,
      wait: async () => {
        const child = (await this.services.children(this.record.id)).find((c) => c.childKey === key);
        const outcome = (await this.outcomes(child ? [child] : [], "fail-fast"))[0]!;
        return outcome.result as Jsonified<Result> | null;
      },
    };
  }

  async runChildren<Result = unknown>(specs: readonly ChildSpec[], options: RunChildrenOptions = {}): Promise<ChildOutcome<Jsonified<Result>>[]> {
    const failure = readFailurePolicy(options.failure);
    if (failure === null) throw new OutlastError("bad_request", 'runChildren: failure must be "fail-fast", "continue" or { maxFailures: n }');
    if (!Array.isArray(specs)) throw new OutlastError("bad_request", "runChildren takes an array of children");
    // The records submit answers are as fresh as a second read would be.
    return (await this.outcomes(await this.submit(specs), failure)) as ChildOutcome<Jsonified<Result>>[];
  }

  /** Submit the children not submitted yet (a run again finds the others by key). */
  private async submit(specs: readonly ChildSpec[]): Promise<TaskRecord[]> {
    if (specs.length > MAX_CHILDREN) throw new OutlastError("bad_request", `A task may have at most ${MAX_CHILDREN} children`);
    const keys = new Set<string>();
    for (const spec of specs) {
      if (typeof spec?.key !== "string" || spec.key.length === 0 || spec.key.length > 200) {
        throw new OutlastError("bad_request", "Each child needs a key: a string of 1 to 200 characters, unique among its parent's children");
      }
      if (keys.has(spec.key)) throw new OutlastError("bad_request", `Two children have the key "${spec.key}"`);
      keys.add(spec.key);
      if (spec.weight !== undefined && (typeof spec.weight !== "number" || !Number.isFinite(spec.weight) || spec.weight < 0)) {
        throw new OutlastError("bad_request", `Child "${spec.key}": weight must be a number of 0 or more`);
      }
    }
    const known = new Map((await this.services.children(this.record.id)).map((c) => [c.childKey, c]));
    const missing = specs.filter((s) => !known.has(s.key));
    if (missing.length > 0) for (const record of await this.services.submitChildren(this.record, missing)) known.set(record.childKey, record);
    return specs.map((s) => known.get(s.key)!);
  }

  /** The children's outcomes once the policy says so; until then the task waits for them. */
  private async outcomes(rows: readonly TaskRecord[], failure: FailurePolicy): Promise<ChildOutcome[]> {
    const broken = breakingFailure(failure, rows.map((c) => ({ id: c.id, key: c.childKey, name: c.name, state: c.state })));
    if (broken) {
      for (const child of rows) if (!isFinal(child.state)) await this.services.cancel(child.id);
      const failed = rows.find((c) => c.id === broken.id)!;
      throw new ChildTaskFailedError({ id: failed.id, key: failed.childKey, name: failed.name, error: failed.error });
    }
    if (rows.some((c) => !isFinal(c.state))) return this.suspend({ kind: "children", keys: rows.map((c) => c.childKey!), failure });
    return rows.map((c) => ({ id: c.id, key: c.childKey, name: c.name, state: c.state, result: c.state === "succeeded" ? (c.result ?? null) : null, error: c.error }));
  }
}

export function checkSignalName(name: unknown): asserts name is string {
  if (typeof name !== "string" || !/^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/.test(name)) {
    throw new OutlastError("bad_request", "A signal name is 1 to 128 letters, digits, '.', '_', ':' or '-', starting with a letter or digit");
  }
}

import { InvalidInputError, OutlastError } from "../core/errors.js";
import { newId } from "../core/ids.js";
import { validateInput, type StandardSchemaV1 } from "../core/schema.js";
import type { TaskRecord } from "../core/task.js";
import { isFinal } from "../core/states.js";
import { readFailurePolicy, type FailurePolicy, type GroupThen } from "../core/waits.js";
import type { SignalOutcome, Store, SubmitOutcome, SubmitRequest } from "../store/store.js";
import { checkSignalName, type ChildSpec, type WaitServices } from "./context-waits.js";
import type { SubmitOptions } from "./definitions.js";
import { checkSubmitOptions } from "./submit-options.js";

/** One child of a group. */
export interface GroupChild<Input = unknown> {
  name: string;
  input?: Input;
  /** Unique in the group; its index when left out. */
  key?: string;
  /** Its share of the group's rolled-up progress. @defaultValue 1 */
  weight?: number;
}

/** What `outlast.submitGroup` (and `POST /api/v1/groups`) takes. */
export interface GroupRequest {
  /** The group's own name (a task name for lists and filters; it needs no handler). */
  name: string;
  owner?: string;
  idempotencyKey?: string;
  title?: string;
  children: readonly GroupChild[];
  /** Run when the children end, with its input plus `children: [{ id, key, name, state, result, error }]`; the group ends with it. */
  then?: { name: string; input?: unknown };
  /** @defaultValue "fail-fast" */
  failure?: FailurePolicy;
}

const MAX_GROUP = 10_000;

/**
 * Children, groups and signals, for the engine: builds the store's
 * requests (definitions, schemas, queues) and keeps the signal schemas this
 * process knows, so a bad payload is refused before it is stored.
 */
export class TaskFamilies implements WaitServices {
  private readonly signalSchemas = new Map<string, StandardSchemaV1>();

  constructor(
    private readonly store: Store,
    readonly now: () => number,
    private readonly buildRequest: (name: string, input: unknown, options: SubmitOptions) => Promise<SubmitRequest>,
    private readonly declaredSignals: (taskName: string) => Readonly<Record<string, StandardSchemaV1>> | undefined,
    private readonly cancelOne: (id: string) => Promise<void>,
  ) {}

  async submitChildren(parent: TaskRecord, specs: readonly ChildSpec[]): Promise<TaskRecord[]> {
    const requests: SubmitRequest[] = [];
    for (const spec of specs) {
      const options: SubmitOptions = { owner: parent.owner };
      if (spec.priority !== undefined) options.priority = spec.priority;
      if (spec.maxAttempts !== undefined) options.maxAttempts = spec.maxAttempts;
      if (spec.timeoutMs !== undefined) options.timeoutMs = spec.timeoutMs;
      if (spec.title !== undefined) options.title = spec.title;
      const request = await this.buildRequest(spec.name, spec.input, options);
      requests.push({ ...request, parent: { id: parent.id, key: spec.key, weight: spec.weight ?? 1 } });
    }
    return this.store.submitChildren(parent.id, requests, this.now());
  }

  children(parentId: string): Promise<TaskRecord[]> {
    return this.store.children(parentId);
  }

  cancel(id: string): Promise<void> {
    return this.cancelOne(id);
  }

  rememberSignalSchema(taskName: string, signal: string, schema: StandardSchemaV1): void {
    this.signalSchemas.set(`${taskName}\0${signal}`, schema);
  }

  async submitGroup(group: GroupRequest): Promise<SubmitOutcome> {
    if (group === null || typeof group !== "object") throw new OutlastError("bad_request", "submitGroup takes { name, children: [...] }");
    checkGroupName(group.name);
    const failure = readFailurePolicy(group.failure);
    if (failure === null) throw new OutlastError("bad_request", 'failure must be "fail-fast", "continue" or { maxFailures: n }');
    if (!Array.isArray(group.children) || group.children.length === 0 || group.children.length > MAX_GROUP) {
      throw new OutlastError("bad_request", `children must be an array of 1 to ${MAX_GROUP} tasks`);
    }
    const owner: SubmitOptions = {};
    if (group.owner !== undefined) owner.owner = group.owner;
    const id = newId("grp", this.now());
    const children: SubmitRequest[] = [];
    const keys = new Set<string>();
    for (const [index, child] of group.children.entries()) {
      if (child === null || typeof child !== "object") throw new OutlastError("bad_request", `children[${index}] must be { name, input? }`);
      const key = child.key ?? String(index);
      if (typeof key !== "string" || key.length === 0 || key.length > 200 || key === "then") {
        throw new OutlastError("bad_request", `children[${index}].key must be a string of 1 to 200 characters other than "then"`);
      }
      if (keys.has(key)) throw new OutlastError("bad_request", `Two children have the key "${key}"`);
      keys.add(key);
      const weight = child.weight ?? 1;
      if (typeof weight !== "number" || !Number.isFinite(weight) || weight < 0) throw new OutlastError("bad_request", `children[${index}].weight must be a number of 0 or more`);
      try {
        const request = await this.buildRequest(child.name, child.input, owner);
        children.push({ ...request, parent: { id, key, weight } });
      } catch (error) {
        if (error instanceof InvalidInputError) throw new InvalidInputError(child.name, error.issues.map((issue) => ({ ...issue, path: ["children", index, "input", ...issue.path] })));
        throw error;
      }
    }
    let then: GroupThen | null = null;
    if (group.then !== undefined) {
      if (group.then === null || typeof group.then !== "object") throw new OutlastError("bad_request", "then must be { name, input? }");
      // Checked now, so a group is refused at once rather than failing when its children end.
      const request = await this.buildRequest(group.then.name, group.then.input, owner);
      then = { id: request.id, name: request.name, queue: request.queue, input: request.input, priority: request.priority, maxAttempts: request.maxAttempts, timeoutMs: request.timeoutMs };
    }
    const options: SubmitOptions = { ...owner };
    if (group.idempotencyKey !== undefined) options.idempotencyKey = group.idempotencyKey;
    if (group.title !== undefined) options.title = group.title;
    const request: SubmitRequest = {
      ...this.groupRequest(group.name, options),
      id,
      wait: { kind: "group", failure, then },
    };
    return this.store.submitGroup(request, children, this.now());
  }

  /** The group's own row: on the queue of its first child's kind would mislead, so groups keep to "default"; it never runs. */
  private groupRequest(name: string, options: SubmitOptions): SubmitRequest {
    const checked = checkSubmitOptions(options, this.now());
    return {
      id: "",
      name,
      queue: "default",
      owner: checked.owner ?? "anonymous",
      title: checked.title ?? null,
      input: null,
      priority: 0,
      runAt: this.now(),
      maxAttempts: 1,
      timeoutMs: null,
      idempotencyKey: checked.idempotencyKey ?? null,
    };
  }

  /** Send a signal (checked against the schema this process knows for it). Throws not_found, invalid_input or conflict. */
  async signal(task: TaskRecord, name: string, payload: unknown): Promise<SignalOutcome> {
    checkSignalName(name);
    if (isFinal(task.state)) throw new OutlastError("conflict", `Task ${task.id} already ${task.state}; it waits for no signal`);
    const schema = this.declaredSignals(task.name)?.[name] ?? this.signalSchemas.get(`${task.name}\0${name}`);
    const value = schema ? await validateInput(`${task.name} signal ${name}`, schema, payload) : payload;
    const outcome = await this.store.signal(task.id, name, value === undefined ? null : value, this.now());
    if (outcome.kind === "missing") throw new OutlastError("not_found", `No task ${task.id}`);
    if (outcome.kind === "final") throw new OutlastError("conflict", `Task ${task.id} already ${outcome.task.state}; it waits for no signal`);
    return outcome;
  }
}

function checkGroupName(name: unknown): asserts name is string {
  if (typeof name !== "string" || !/^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/.test(name)) {
    throw new OutlastError("bad_request", `A group name must be 1-128 letters, digits, ".", "_", ":" or "-": got ${JSON.stringify(name)}`);
  }
}

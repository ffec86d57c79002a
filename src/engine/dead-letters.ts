import { OutlastError } from "../core/errors.js";
import type { StoredEvent } from "../core/events.js";
import { isDeadLetter, type DeadLetterFilter, type DeadLetterSelection } from "../core/dead-letters.js";
import type { TaskError } from "../core/task.js";
import type { Store, SubmitRequest } from "../store/store.js";
import type { Logger } from "./clock.js";
import type { QueueOptions, SubmitOptions } from "./definitions.js";
import type { Hub } from "./hub.js";

/** What a dead-letter handler task gets as its input. */
export interface DeadLetterInput {
  taskId: string;
  name: string;
  queue: string;
  owner: string;
  error: TaskError | null;
}

/** The idempotency key of the handler task of one dead letter: the same in every process that hears it. */
export function deadLetterKey(taskId: string, seq: number): string {
  return `dead-letter:${taskId}:${seq}`;
}

/**
 * Runs a queue's dead-letter handler (`outlast.queue(name, { deadLetter })`):
 * every started process that declares the queue hears each task of it
 * becoming a dead letter (the `failed` state event, from whichever process
 * wrote it), and submits the handler task with an idempotency key made from
 * the dead task's id and the seq of that event. However many processes
 * hear it, the store keeps one handler task per dead letter; a dead letter
 * redriven and dead again is a new one (a later seq).
 */
export class DeadLetterHandlers {
  private stopListening: (() => void) | null = null;

  constructor(
    private readonly o: {
      store: Store;
      hub: Hub;
      queues: ReadonlyMap<string, QueueOptions>;
      logger: Logger;
      buildRequest(name: string, input: unknown, options: SubmitOptions): Promise<SubmitRequest>;
      now(): number;
    },
  ) {}

  start(): void {
    this.stopListening ??= this.o.hub.onAll((event) => {
      const handler = this.o.queues.get(event.queue)?.deadLetter;
      if (handler === undefined || event.data.type !== "state" || !isDeadLetter(event.data.state, event.data.error)) return;
      void this.submit(handler, event).catch((error: unknown) =>
        this.o.logger.error({ err: error, taskId: event.taskId }, `submitting dead-letter handler "${handler}" failed`),
      );
    });
  }

  stop(): void {
    this.stopListening?.();
    this.stopListening = null;
  }

  private async submit(handler: string, event: StoredEvent): Promise<void> {
    const task = await this.o.store.getTask(event.taskId);
    // Purged already, or a handler of this queue that died itself: no handler for the handler (no loop).
    if (!task || task.name === handler) return;
    const error = event.data.type === "state" ? (event.data.error ?? null) : null;
    const input: DeadLetterInput = { taskId: task.id, name: task.name, queue: task.queue, owner: task.owner, error };
    const request = await this.o.buildRequest(handler, input, { owner: task.owner, idempotencyKey: deadLetterKey(task.id, event.seq) });
    await this.o.store.submit(request, this.o.now());
  }
}

/** Dead-letter filters as the library and the API take them: times as Date, ISO text or epoch ms. */
export interface DeadLetterQuery {
  queue?: string;
  name?: string;
  code?: string;
  /** Finished at or after. */
  since?: Date | string | number;
  /** Finished before. */
  until?: Date | string | number;
}

/** `{ ids }` or `{ filter }` (or a filter given as is): which dead letters a redrive or purge touches. */
export type DeadLetterTarget = { ids: readonly string[] } | { filter: DeadLetterQuery } | readonly string[];

export function deadLetterFilter(query: DeadLetterQuery): DeadLetterFilter {
  const filter: DeadLetterFilter = {};
  for (const key of ["queue", "name", "code"] as const) {
    const value = query[key];
    if (value === undefined) continue;
    if (typeof value !== "string" || value.length === 0 || value.length > 512) throw bad(key, "must be a string of 1 to 512 characters");
    filter[key] = value;
  }
  if (query.since !== undefined) filter.since = time(query.since, "since");
  if (query.until !== undefined) filter.until = time(query.until, "until");
  return filter;
}

export function deadLetterSelection(target: DeadLetterTarget): DeadLetterSelection {
  if (Array.isArray(target)) return ids(target);
  const given = target as { ids?: unknown; filter?: unknown };
  if (given === null || typeof given !== "object" || (given.ids === undefined) === (given.filter === undefined)) {
    throw new OutlastError("bad_request", "Give exactly one of ids (a list of task ids) or filter ({ queue?, name?, code?, since?, until? })");
  }
  if (given.ids !== undefined) return ids(given.ids);
  if (given.filter === null || typeof given.filter !== "object") throw bad("filter", "must be an object");
  return { filter: deadLetterFilter(given.filter as DeadLetterQuery) };
}

const MAX_IDS = 10_000;

function ids(value: unknown): DeadLetterSelection {
  if (!Array.isArray(value) || value.length === 0 || value.length > MAX_IDS || !value.every((id) => typeof id === "string" && id.length > 0 && id.length <= 128)) {
    throw bad("ids", `must be a list of 1 to ${MAX_IDS} task ids`);
  }
  return { ids: value as string[] };
}

function time(value: Date | string | number, field: string): number {
  const ms = value instanceof Date ? value.getTime() : typeof value === "string" ? Date.parse(value) : value;
  if (typeof ms !== "number" || !Number.isFinite(ms)) throw bad(field, "must be a date, an ISO-8601 string or epoch milliseconds");
  return Math.round(ms);
}

function bad(field: string, problem: string): OutlastError {
  return new OutlastError("bad_request", `${field} ${problem}`, { details: { field } });
}

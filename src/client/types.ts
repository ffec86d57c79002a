import { addBrand, isBranded } from "../core/brand.js";
import type { TaskEvent } from "../core/events.js";
import type { Progress } from "../core/progress.js";
import type { TaskState } from "../core/states.js";
import type { Task, TaskError } from "../core/task.js";
import type { ConnectionState } from "./machine.js";

export type { Task, TaskError, TaskState, Progress, TaskEvent, ConnectionState };

/** What a stream delivers: the task's whole state (`snapshot`, `reset`) or one entry of its log. */
export type StreamEvent = { type: "snapshot" | "reset"; taskId: string; seq: number; task: Task } | TaskEvent;

/** Callbacks of `watch()` and `watchMine()`; each is optional. */
export interface WatchHandlers {
  /** The task as it is now, after a snapshot and after every event. */
  onTask?(task: Task): void;
  /** Every event, as it arrives. */
  onEvent?(event: StreamEvent): void;
  onProgress?(progress: Progress, task: Task): void;
  onLog?(message: string, task: Task): void;
  /** The task reached succeeded, failed or canceled. */
  onFinish?(task: Task): void;
  /** The watch cannot go on: the task does not exist for this caller, or access was refused. */
  onError?(error: OutlastClientError): void;
  /** The connection moved to another state (for a "reconnecting…" badge); `view.lost` is the "connection lost" of {@link ConnectionView}. */
  onConnectionChange?(state: ConnectionState, view: ConnectionView): void;
}

/** The shared connection as a page shows it. */
export interface ConnectionView {
  state: ConnectionState;
  /**
   * True from the moment a stream dropped (network, server gone) until one is
   * open again, across every retry in between: show "connection lost". False
   * while idle, open, closed, or `failed` (refused: see `onError`).
   */
  lost: boolean;
}

/** Options of `submit()` (API.md, POST /api/v1/tasks). */
export interface ClientSubmitOptions {
  /** Only with the admin key: submit on behalf of this owner. */
  owner?: string;
  queue?: string;
  priority?: number;
  idempotencyKey?: string;
  /** Collapse submits of one key (docs/api-extensions.md): `delayMs` and `maxDelayMs` for "debounce" only. */
  dedupe?: { key: string; mode: "debounce" | "replace-queued" | "cancel-running"; delayMs?: number; maxDelayMs?: number };
  runAt?: string | number;
  delayMs?: number;
  maxAttempts?: number;
  timeoutMs?: number;
  /** What the task is about, for people (1 to 200 characters): shown in lists and found by `q`. */
  title?: string;
}

/** What `POST /api/v1/groups` takes. */
export interface GroupSubmit {
  name: string;
  children: readonly { name: string; input?: unknown; key?: string; weight?: number }[];
  then?: { name: string; input?: unknown };
  failure?: "fail-fast" | "continue" | { maxFailures: number };
  idempotencyKey?: string;
  title?: string;
  /** Only with the admin key. */
  owner?: string;
}

export interface ListFilter {
  /** Only with the admin key: tasks of this owner. */
  owner?: string;
  state?: TaskState;
  queue?: string;
  name?: string;
  /** A prefix of the task's id, owner, name or title (case-sensitive; `%` and `_` are plain characters). */
  q?: string;
  limit?: number;
  cursor?: string;
}

/** A worker key as `GET /api/v1/worker-keys` shows it (admin key): never its secret. */
export interface WorkerKeyView {
  id: string;
  name: string;
  /** The queues its workers may claim from. */
  queues: string[];
  createdAt: string;
  revokedAt: string | null;
}

/** A queue as `GET /api/v1/queues` shows it (admin key). null: no limit. */
export interface QueueView {
  name: string;
  paused: boolean;
  concurrency: number | null;
  maxQueued: number | null;
  perOwner: { concurrency: number | null; maxQueued: number | null };
  /** At most `limit` cost units of starts in any `periodMs` window, across every node; `keyed`: each key has its own budget. null: none. */
  rateLimit: { limit: number; periodMs: number; keyed: boolean } | null;
  /** For a queue code declares keyed: the running tasks one key may have (`limit`; null: none by default) and each tier's. null: not keyed. */
  keyConcurrency: { limit: number | null; tiers: Record<string, number> } | null;
  /** Keys an operator gave a limit of their own, over their tier and the default. */
  keyLimits: Record<string, number>;
  /** The limits an operator changed, which hold over what code declares: "concurrency", "maxQueued", "perOwner.concurrency", "perOwner.maxQueued", "rateLimit", "keyConcurrency", "keyLimits". */
  overridden: string[];
  counts: Record<TaskState, number>;
}

/** `PATCH /api/v1/queues/:name` (admin key): limits to change (null: no limit), a pause, or `reset` back to what code declares. */
export interface QueueChange {
  /** The queue-wide limit; for a queue code declares keyed, its per-key numbers (`total`: the queue-wide one; a null tier goes back to the declared one). */
  concurrency?: number | null | { limit?: number | null; tiers?: Record<string, number | null>; total?: number | null };
  /** Limits of single keys (null drops one's; a null map drops them all). */
  keyLimits?: Record<string, number | null> | null;
  /** Starts per window; null removes it. Whether it is keyed stays what code declares. */
  rateLimit?: { limit: number; periodMs: number } | null;
  maxQueued?: number | null;
  perOwner?: { concurrency?: number | null; maxQueued?: number | null };
  paused?: boolean;
  reset?: boolean;
}

export type { BulkAction, BulkFilter } from "../core/bulk.js";

/** An error answer of the API, or a network failure (`code: "network"`). */
export class OutlastClientError extends Error {
  /** Recognised across copies of the client (outlast/client and @outlast/client; see core/brand.ts). */
  static readonly brand: string = "outlast.OutlastClientError";
  static override [Symbol.hasInstance](value: unknown): boolean {
    return isBranded(this, value);
  }
  readonly status: number;
  readonly code: string;
  readonly details: unknown;
  /** Seconds from `Retry-After`, on 429 and 503. */
  readonly retryAfter: number | null;
  constructor(status: number, code: string, message: string, details?: unknown, retryAfter: number | null = null) {
    super(message);
    addBrand(this, OutlastClientError.brand);
    this.name = "OutlastClientError";
    this.status = status;
    this.code = code;
    this.details = details;
    this.retryAfter = retryAfter;
  }
}

/** The part of `localStorage` the client uses, so tests and other runtimes can pass their own. */
export interface KeyValueStorage {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

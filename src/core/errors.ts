import { addBrand, isBranded } from "./brand.js";
/**
 * Every error Outlast raises on purpose carries a stable `code`. The HTTP
 * layer maps codes to statuses in one table; anything without a code is
 * normalised to `internal` at the edge.
 */
export type ErrorCode =
  | "bad_request"
  | "bad_cursor"
  | "unauthorized"
  | "forbidden"
  | "not_found"
  | "unknown_task_name"
  | "unknown_queue"
  | "conflict"
  | "payload_too_large"
  | "range_not_satisfiable"
  | "invalid_input"
  | "invalid_title"
  | "queue_full"
  | "rate_limited"
  | "unavailable"
  | "store_version"
  | "signal_timeout"
  | "child_failed"
  /** A worker over HTTP named a lease that is no longer current: it must stop that attempt. */
  | "lease_lost"
  | "internal";

/** Why a handler's `ctx.signal` was aborted (its `reason.code`). */
export type AbortCode = "canceled" | "timeout" | "shutdown" | "lease_lost" | "suspended" | "stalled";

/**
 * The reason of an aborted `ctx.signal`, and what a handler's writes throw
 * once its lease is lost: the task was canceled, timed out, its worker is
 * shutting down, another worker holds it now, or it reported nothing for
 * its definition's `stallMs` (`stalled`).
 */
export class TaskAbortedError extends Error {
  static readonly brand: string = "outlast.TaskAbortedError";
  static override [Symbol.hasInstance](value: unknown): boolean {
    return isBranded(this, value);
  }
  readonly code: AbortCode;
  constructor(code: AbortCode, message: string) {
    super(message);
    addBrand(this, TaskAbortedError.brand);
    this.name = "TaskAbortedError";
    this.code = code;
  }
}

export class OutlastError extends Error {
  /** Recognised across copies of the package (see brand.ts). */
  static readonly brand: string = "outlast.OutlastError";
  static override [Symbol.hasInstance](value: unknown): boolean {
    return isBranded(this, value);
  }
  readonly code: ErrorCode;
  readonly details: unknown;
  constructor(code: ErrorCode, message: string, options?: { details?: unknown; cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    addBrand(this, OutlastError.brand);
    this.name = "OutlastError";
    this.code = code;
    this.details = options?.details;
  }
}

/** Where an input failed its schema, as a Standard Schema issue list flattened for people. */
export interface InputIssue {
  message: string;
  path: readonly (string | number)[];
}

export class InvalidInputError extends OutlastError {
  static override readonly brand: string = "outlast.InvalidInputError";
  readonly issues: readonly InputIssue[];
  constructor(taskName: string, issues: readonly InputIssue[]) {
    const first = issues[0];
    const where = first && first.path.length > 0 ? ` at ${first.path.join(".")}` : "";
    super("invalid_input", `Input for "${taskName}" is invalid${where}: ${first?.message ?? "rejected by schema"}`, {
      details: issues,
    });
    addBrand(this, InvalidInputError.brand);
    this.name = "InvalidInputError";
    this.issues = issues;
  }
}

/** Thrown by submit when a queue, or an owner's share of it, is at its maximum length. Nothing was stored. */
export class QueueFullError extends OutlastError {
  static override readonly brand: string = "outlast.QueueFullError";
  readonly queue: string;
  readonly retryAfterMs: number;
  readonly scope: "queue" | "owner";
  constructor(queue: string, scope: "queue" | "owner", retryAfterMs: number) {
    super(
      "queue_full",
      scope === "queue"
        ? `Queue "${queue}" is full; try again in ${Math.ceil(retryAfterMs / 1000)} s or raise its maxQueued`
        : `This owner has too many tasks waiting in queue "${queue}"; try again in ${Math.ceil(retryAfterMs / 1000)} s`,
      { details: { queue, scope, retryAfterMs } },
    );
    addBrand(this, QueueFullError.brand);
    this.name = "QueueFullError";
    this.queue = queue;
    this.scope = scope;
    this.retryAfterMs = retryAfterMs;
  }
}

/**
 * Throw from a handler to fail the task at once, with no further attempts.
 * @example throw new UnrecoverableError("The file is not an EPUB");
 */
export class UnrecoverableError extends Error {
  static readonly brand: string = "outlast.UnrecoverableError";
  static override [Symbol.hasInstance](value: unknown): boolean {
    return isBranded(this, value);
  }
  readonly code: string | undefined;
  constructor(message: string, options?: { code?: string; cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    addBrand(this, UnrecoverableError.brand);
    this.name = "UnrecoverableError";
    this.code = options?.code;
  }
}

/**
 * Throw from a handler to end this attempt and try again after `delayMs`,
 * whatever the backoff says. Counts as an attempt.
 * @example throw new RetryLaterError("Rate limited upstream", { delayMs: 30_000 });
 */
export class RetryLaterError extends Error {
  static readonly brand: string = "outlast.RetryLaterError";
  static override [Symbol.hasInstance](value: unknown): boolean {
    return isBranded(this, value);
  }
  readonly delayMs: number;
  constructor(message: string, options: { delayMs: number; cause?: unknown }) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    addBrand(this, RetryLaterError.brand);
    this.name = "RetryLaterError";
    this.delayMs = options.delayMs;
  }
}

/**
 * `ctx.waitForSignal` waited longer than its `timeoutMs`: catch it to go on
 * without the signal.
 */
export class SignalTimeoutError extends OutlastError {
  static override readonly brand: string = "outlast.SignalTimeoutError";
  readonly signalName: string;
  constructor(name: string, timeoutMs: number | null) {
    super("signal_timeout", `No signal "${name}" arrived${timeoutMs === null ? "" : ` within ${timeoutMs} ms`}`, { details: { signal: name } });
    addBrand(this, SignalTimeoutError.brand);
    this.name = "SignalTimeoutError";
    this.signalName = name;
  }
}

/**
 * A child task failed (or was canceled) beyond what the failure policy of
 * `ctx.runChildren` tolerates. Fails the parent without a retry: running it
 * again would meet the same child; retry the parent to run the failed
 * children again.
 */
export class ChildTaskFailedError extends OutlastError {
  static override readonly brand: string = "outlast.ChildTaskFailedError";
  readonly childId: string;
  readonly childKey: string | null;
  constructor(child: { id: string; key: string | null; name: string; error: { message: string } | null }) {
    const label = child.key === null ? child.id : `"${child.key}" (${child.id})`;
    super("child_failed", `Child task ${label} of ${child.name} did not succeed${child.error ? `: ${child.error.message}` : ""}`, {
      details: { childId: child.id, key: child.key },
    });
    addBrand(this, ChildTaskFailedError.brand);
    this.name = "ChildTaskFailedError";
    this.childId = child.id;
    this.childKey = child.key;
  }
}

export function isOutlastError(error: unknown, code?: ErrorCode): error is OutlastError {
  return error instanceof OutlastError && (code === undefined || error.code === code);
}

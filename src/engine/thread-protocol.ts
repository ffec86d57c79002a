import { OutlastError, RetryLaterError, TaskAbortedError, UnrecoverableError, type AbortCode } from "../core/errors.js";
import type { Progress } from "../core/progress.js";

/** Messages between a task handler running in a worker thread and the task's real context. */
export type FromThread =
  | { t: "started" }
  | { t: "progress"; progress: Progress }
  | { t: "call"; id: number; op: "step"; name: string; value: unknown }
  | { t: "call"; id: number; op: "checkpoint"; data: unknown }
  | { t: "call"; id: number; op: "log"; message: string }
  | { t: "call"; id: number; op: "title"; title: string }
  | { t: "call"; id: number; op: "artifact"; name: string; bytes: Uint8Array; contentType: string | undefined }
  | { t: "done"; value: unknown }
  | { t: "fail"; error: ThreadError };

export type ToThread = { t: "reply"; id: number; ok: true; value: unknown } | { t: "reply"; id: number; ok: false; error: ThreadError } | { t: "abort"; reason: ThreadError };

/** An error as it crosses the thread boundary; `kind` restores its class on the other side. */
export interface ThreadError {
  kind: "unrecoverable" | "retry_later" | "outlast" | "aborted" | "error";
  message: string;
  code?: string;
  delayMs?: number;
}

export interface ThreadStart {
  module: string;
  exportName: string;
  input: unknown;
  task: { id: string; name: string; queue: string; owner: string; priority: number; attempt: number; maxAttempts: number; createdAt: string };
  lastCheckpoint: unknown;
  steps: [string, unknown][];
}

export function flatten(error: unknown): ThreadError {
  if (error instanceof UnrecoverableError) return { kind: "unrecoverable", message: error.message, ...(error.code ? { code: error.code } : {}) };
  if (error instanceof RetryLaterError) return { kind: "retry_later", message: error.message, delayMs: error.delayMs };
  if (error instanceof OutlastError) return { kind: "outlast", message: error.message, code: error.code };
  if (error instanceof TaskAbortedError) return { kind: "aborted", message: error.message, code: error.code };
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return { kind: "error", message: error.message, ...(typeof code === "string" ? { code } : {}) };
  }
  return { kind: "error", message: String(error) };
}

export function reviveThreadError(error: ThreadError): Error {
  switch (error.kind) {
    case "unrecoverable":
      return new UnrecoverableError(error.message, error.code ? { code: error.code } : undefined);
    case "retry_later":
      return new RetryLaterError(error.message, { delayMs: error.delayMs ?? 0 });
    case "outlast":
      return new OutlastError((error.code ?? "internal") as ConstructorParameters<typeof OutlastError>[0], error.message);
    case "aborted":
      return new TaskAbortedError((error.code ?? "canceled") as AbortCode, error.message);
    default:
      return Object.assign(new Error(error.message), error.code ? { code: error.code } : {});
  }
}

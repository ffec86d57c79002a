import { isOutlastError, type ErrorCode } from "../core/errors.js";

/** The one table from error code to HTTP status. Completeness is checked by the compiler. */
export const STATUS_OF: Readonly<Record<ErrorCode, number>> = {
  bad_request: 400,
  bad_cursor: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  unknown_task_name: 404,
  unknown_queue: 400,
  conflict: 409,
  lease_lost: 409,
  payload_too_large: 413,
  range_not_satisfiable: 416,
  invalid_input: 422,
  invalid_title: 400,
  queue_full: 429,
  rate_limited: 429,
  unavailable: 503,
  store_version: 503,
  // Raised inside handlers, not by routes; a task's error carries them.
  signal_timeout: 409,
  child_failed: 409,
  internal: 500,
};

/** The JSON body of every non-2xx answer (API.md, "Errors"). */
export interface ErrorBody {
  error: { code: string; message: string; details?: unknown };
}

export interface NormalizedError {
  status: number;
  body: ErrorBody;
  /** Seconds for a `Retry-After` header, on 429 and 503. */
  retryAfter: number | null;
  /** True when the error was not one of ours: it is logged, and its message hidden. */
  unexpected: boolean;
}

/** Turns anything thrown into the answer the client sees; unknown errors become `internal`. */
export function normalizeError(error: unknown): NormalizedError {
  if (!isOutlastError(error)) {
    return {
      status: 500,
      body: { error: { code: "internal", message: "Something went wrong on the server; it has been logged" } },
      retryAfter: null,
      unexpected: true,
    };
  }
  const status = STATUS_OF[error.code] ?? 500;
  const body: ErrorBody = { error: { code: error.code, message: error.message } };
  if (error.details !== undefined) body.error.details = error.details;
  let retryAfter: number | null = null;
  if (error.code === "queue_full" || error.code === "rate_limited" || status === 503) {
    const ms = retryAfterMs(error.details);
    retryAfter = Math.max(1, Math.ceil((ms ?? 1000) / 1000));
  }
  return { status, body, retryAfter, unexpected: error.code === "internal" };
}

function retryAfterMs(details: unknown): number | null {
  if (details && typeof details === "object" && "retryAfterMs" in details) {
    const ms = (details as { retryAfterMs: unknown }).retryAfterMs;
    if (typeof ms === "number" && Number.isFinite(ms)) return ms;
  }
  return null;
}

/** A JSON error response. */
export function errorResponse(error: unknown): { response: Response; normalized: NormalizedError } {
  const normalized = normalizeError(error);
  const headers: Record<string, string> = { "content-type": "application/json; charset=utf-8", "cache-control": "no-store" };
  if (normalized.retryAfter !== null) headers["retry-after"] = String(normalized.retryAfter);
  // The rest of a refused body may still be on its way: a keep-alive client
  // that sent its next request behind it would have it read as garbage or
  // reset, so this connection ends with the answer and the client opens another.
  if (normalized.status === 413) headers.connection = "close";
  return { response: new Response(JSON.stringify(normalized.body), { status: normalized.status, headers }), normalized };
}

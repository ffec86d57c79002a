import type { ChildCounts } from "./waits.js";

/** What a handler reports with `ctx.progress()`; every field is optional. */
export interface Progress {
  percent?: number;
  current?: number;
  total?: number;
  message?: string;
  data?: unknown;
  /** A parent's children by state: set by the store, never by a handler (core/waits.ts). */
  children?: ChildCounts;
}

/**
 * Cleans a progress report for storage: drops non-finite numbers, clamps the
 * percent to 0..100 and derives it from current/total when it is missing.
 */
export function normalizeProgress(input: Progress): Progress {
  const out: Progress = {};
  if (isFiniteNumber(input.current)) out.current = input.current;
  if (isFiniteNumber(input.total)) out.total = input.total;
  let percent = isFiniteNumber(input.percent) ? input.percent : undefined;
  if (percent === undefined && out.current !== undefined && out.total !== undefined && out.total > 0) {
    percent = (out.current / out.total) * 100;
  }
  if (percent !== undefined) out.percent = Math.min(100, Math.max(0, Math.round(percent * 100) / 100));
  if (typeof input.message === "string") out.message = input.message.slice(0, 1000);
  if (input.data !== undefined) out.data = input.data;
  return out;
}

function isFiniteNumber(value: unknown): value is number {
  return typeof value === "number" && Number.isFinite(value);
}

/**
 * How long until a task ends, from the work ahead of it: what the running
 * tasks have left and what each waiting task is expected to take, spread over
 * the queue's slots. Pure; engine/presenter.ts feeds it stored figures.
 *
 * Every waiting task is expected to take the queue's recent mean run time, so
 * the slots take them in turn: the k-th task ahead starts when the k-th slot
 * frees up, counting each slot's run of back-to-back tasks.
 *
 * A rate-limited queue (core/rate-limit.ts) starts at most `limit` tasks a
 * window, so a waiting task also starts no earlier than the tasks ahead of
 * it allow: at position p, floor((p − 1) / limit) windows from now (each
 * task taken as one unit, the current window's budget as whole). The
 * estimate is the later of the two starts, plus the task's own run. A keyed
 * limit gives no such bound (the tasks ahead may be other keys').
 */
import type { RateLimit } from "./queue-limits.js";
import { rateStartMs } from "./rate-limit.js";

/** A running task as the estimate sees it. */
export interface RunningShare {
  /** Milliseconds this attempt has run. */
  elapsedMs: number;
  /** Its last reported percent (0..100), if it reported one. */
  percent?: number | undefined;
}

export interface QueuedShare {
  /** 1-based place among the queue's runnable tasks. */
  position: number;
  /** Tasks of the queue that run at once; null (or Infinity) when nothing limits them. */
  concurrency: number | null;
  /** The queue's running tasks. */
  running: readonly RunningShare[];
  /** Mean run time of the queue's recent successes, or null without history. */
  meanMs: number | null;
  /** The queue's rate limit, when it has one. */
  rateLimit?: RateLimit | null;
}

/**
 * Milliseconds a running task has left: from its rate once it reported a
 * percent (elapsed / percent × what remains), else the mean run time less
 * what it has run; null with neither.
 */
export function runningLeftMs(task: RunningShare, meanMs: number | null): number | null {
  const elapsed = Math.max(0, finiteOr(task.elapsedMs, 0));
  const percent = task.percent;
  if (percent !== undefined && Number.isFinite(percent) && percent > 0) {
    if (percent >= 100) return 0;
    const byRate = (elapsed / percent) * (100 - percent);
    // A speck of a percent makes the rate meaningless (and unbounded): the mean says more then.
    if (byRate <= MAX_LEFT_MS) return Math.round(byRate);
  }
  const mean = usableMean(meanMs);
  return mean === null ? null : Math.max(0, mean - elapsed);
}

/**
 * Milliseconds until a waiting task finishes: until a slot is free for it
 * (after the running tasks' time left and the tasks ahead of it), plus its
 * own expected run. Null without history, or for a position that is not one.
 */
export function queuedEtaMs(share: QueuedShare): number | null {
  const mean = usableMean(share.meanMs);
  if (mean === null || !Number.isSafeInteger(share.position) || share.position < 1) return null;
  const left = share.running.map((task) => Math.round(runningLeftMs(task, mean) ?? mean));
  const limit = share.concurrency === null || !(share.concurrency >= 1) ? Infinity : Math.floor(share.concurrency);
  // More slots than tasks to place changes nothing; this bounds the work for an unlimited queue.
  const slots = Math.min(limit, left.length + share.position);
  // When more tasks run than the limit allows (it was lowered), the longest ones hold the slots.
  const held = left.sort((a, b) => b - a).slice(0, slots);
  const bySlots = startOfNth(held, slots - held.length, mean, share.position);
  return Math.max(bySlots, rateStartMs(share.rateLimit ?? null, share.position)) + mean;
}

/**
 * When the n-th (1-based) waiting task starts: the n-th smallest of every
 * slot's free times (free, free + mean, free + 2·mean, …), where `idle` slots
 * are free now. Found by bisection on whole milliseconds, so it is exact.
 */
function startOfNth(busy: readonly number[], idle: number, mean: number, n: number): number {
  if (idle >= n) return 0;
  const step = Math.max(1, mean);
  const startsBy = (t: number) => {
    let count = idle * (Math.floor(t / step) + 1);
    for (const free of busy) if (free <= t) count += Math.floor((t - free) / step) + 1;
    return count;
  };
  let lo = 0;
  let hi = Math.max(0, ...busy) + Math.ceil(n / (busy.length + idle)) * step;
  while (lo < hi) {
    const mid = lo + Math.floor((hi - lo) / 2);
    if (startsBy(mid) >= n) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/**
 * The longest time left a rate may give (ten years). Past it the rate says
 * nothing, and it keeps the bisection's bounds far below 2^53, where whole
 * milliseconds stop being exact and `lo < hi` could hold for ever.
 */
const MAX_LEFT_MS = 10 * 365 * 24 * 60 * 60 * 1000;

function usableMean(meanMs: number | null): number | null {
  return meanMs === null || !Number.isFinite(meanMs) || meanMs < 0 ? null : Math.round(meanMs);
}

function finiteOr(value: number, fallback: number): number {
  return Number.isFinite(value) ? value : fallback;
}

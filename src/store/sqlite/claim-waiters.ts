import type { ClaimRequest, ClaimResult } from "../store.js";

type Wait = NonNullable<ClaimRequest["wait"]>;

interface Waiter {
  request: ClaimRequest;
  wait: Wait;
  /** The time the claim was made at; it is tried again at the time of the write that wakes it, never earlier. */
  now: number;
  resolve: (result: ClaimResult) => void;
  timer: NodeJS.Timeout;
  onAbort: () => void;
}

/**
 * Claims that found nothing and wait for work, by queue. At the end of each
 * transaction the store offers them the queues that transaction touched;
 * a claim that gets tasks there is answered once the transaction commits
 * (and kept waiting if it rolls back). A claim is tried at the time of the
 * write that woke it, so the store reads no clock of its own.
 */
export class ClaimWaiters {
  private readonly byQueue = new Map<string, Set<Waiter>>();
  /** Answered inside the transaction now being written; handed out on commit. */
  private answered: [Waiter, ClaimResult][] = [];
  /** Added by the transaction now being written: they wait only if it commits. */
  private added: Waiter[] = [];

  constructor(private readonly claim: (request: ClaimRequest, now: number) => ClaimResult) {}

  get size(): number {
    let n = 0;
    for (const set of this.byQueue.values()) n += set.size;
    return n;
  }

  /** Wait for work, until `wait.ms`, the next delayed task, or an abort. */
  add(request: ClaimRequest, wait: Wait, nextRunAt: number | null, now: number, resolve: (result: ClaimResult) => void): void {
    if (wait.signal?.aborted) return resolve({ tasks: [], nextRunAt });
    const until = Math.min(wait.ms, nextRunAt === null ? Infinity : Math.max(0, nextRunAt - now));
    const waiter: Waiter = {
      request,
      wait,
      now,
      resolve,
      timer: setTimeout(() => this.release(waiter, nextRunAt), until),
      onAbort: () => this.release(waiter, null),
    };
    wait.signal?.addEventListener("abort", waiter.onAbort, { once: true });
    let set = this.byQueue.get(request.queue);
    if (!set) this.byQueue.set(request.queue, (set = new Set()));
    // A batch retried with savepoints registers the same claim again: keep one.
    for (const other of set) if (other.request === request) this.drop(other);
    set.add(waiter);
    this.added.push(waiter);
  }

  /** Inside a transaction whose latest touching write was made at `at`: let waiters on the touched queues claim. */
  tryIn(queues: ReadonlySet<string>, at: number): void {
    for (const queue of queues) {
      const set = this.byQueue.get(queue);
      if (!set) continue;
      for (const waiter of set) {
        if (this.answered.some(([w]) => w === waiter)) continue;
        const result = this.claim(waiter.request, Math.max(at, waiter.now));
        if (result.tasks.length > 0) this.answered.push([waiter, result]);
      }
    }
  }

  committed(): void {
    this.added = [];
    const answered = this.answered;
    this.answered = [];
    for (const [waiter, result] of answered) this.finish(waiter, result);
  }

  /**
   * The transaction did not commit: its answers are void, and the claims it
   * added wait for nothing (their write is tried again, or rejected) — left
   * waiting, one could later take tasks for a caller that is gone.
   */
  rolledBack(): void {
    this.answered = [];
    const added = this.added;
    this.added = [];
    for (const waiter of added) this.drop(waiter);
  }

  /** Answer every waiting claim empty: its worker claims again (on close, or after another process committed). */
  releaseAll(): void {
    for (const set of [...this.byQueue.values()]) for (const waiter of [...set]) this.release(waiter, null);
  }

  private release(waiter: Waiter, nextRunAt: number | null): void {
    this.finish(waiter, { tasks: [], nextRunAt });
  }

  private finish(waiter: Waiter, result: ClaimResult): void {
    if (this.drop(waiter)) waiter.resolve(result);
  }

  private drop(waiter: Waiter): boolean {
    const set = this.byQueue.get(waiter.request.queue);
    if (!set?.delete(waiter)) return false;
    if (set.size === 0) this.byQueue.delete(waiter.request.queue);
    clearTimeout(waiter.timer);
    waiter.wait.signal?.removeEventListener("abort", waiter.onAbort);
    return true;
  }
}

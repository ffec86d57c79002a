import type { ClaimRequest, ClaimResult } from "../store.js";

interface Waiter {
  request: ClaimRequest;
  resolve: (result: ClaimResult) => void;
  timer: NodeJS.Timeout;
  onAbort: () => void;
}

/**
 * Claims that found nothing and wait for work, by queue. At the end of each
 * transaction the store offers them the queues that transaction touched;
 * a claim that gets tasks there is answered once the transaction commits
 * (and kept waiting if it rolls back).
 */
export class ClaimWaiters {
  private readonly byQueue = new Map<string, Set<Waiter>>();
  /** Answered inside the transaction now being written; handed out on commit. */
  private answered: [Waiter, ClaimResult][] = [];

  constructor(private readonly claim: (request: ClaimRequest, now: number) => ClaimResult) {}

  get size(): number {
    let n = 0;
    for (const set of this.byQueue.values()) n += set.size;
    return n;
  }

  /** Wait for work, until `wait.ms`, the next delayed task, or an abort. */
  add(request: ClaimRequest, nextRunAt: number | null, now: number, resolve: (result: ClaimResult) => void): void {
    const wait = request.wait!;
    if (wait.signal?.aborted) return resolve({ tasks: [], nextRunAt });
    const until = Math.min(wait.ms, nextRunAt === null ? Infinity : Math.max(0, nextRunAt - now));
    const waiter: Waiter = {
      request,
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
  }

  /** Inside a transaction: let waiters on the touched queues claim. */
  tryIn(queues: ReadonlySet<string>): void {
    for (const queue of queues) {
      const set = this.byQueue.get(queue);
      if (!set) continue;
      for (const waiter of set) {
        if (this.answered.some(([w]) => w === waiter)) continue;
        const result = this.claim(waiter.request, waiter.request.wait!.clock());
        if (result.tasks.length > 0) this.answered.push([waiter, result]);
      }
    }
  }

  /** Touch every queue that has waiters (a transaction of their own, after another process wrote). */
  touchAll(touch: (queue: string) => void): void {
    for (const queue of this.byQueue.keys()) touch(queue);
  }

  committed(): void {
    const answered = this.answered;
    this.answered = [];
    for (const [waiter, result] of answered) this.finish(waiter, result);
  }

  rolledBack(): void {
    this.answered = [];
  }

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
    waiter.request.wait!.signal?.removeEventListener("abort", waiter.onAbort);
    return true;
  }
}

import type { Database } from "better-sqlite3";

interface PendingWrite {
  run: () => unknown;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

/**
 * Group commit. Writes asked for during one turn of the event loop run in a
 * single IMMEDIATE transaction, each inside its own savepoint so one failing
 * write (a full queue) rolls back alone. With synchronous=FULL a commit costs
 * one fsync, so batching is what keeps durability cheap: on the reference
 * machine ~5,800 single-row commits/s against ~850,000 rows/s in batches.
 */
export class WriteBatch {
  private pending: PendingWrite[] = [];
  private scheduled = false;
  private readonly savepoint: (run: () => unknown) => unknown;
  private readonly commitAll: (writes: PendingWrite[]) => Outcome[];
  /** Per-transaction scratch space (cached counts), cleared before every flush. */
  readonly memo = new Map<string, number>();
  private touchedQueues = new Set<string>();

  constructor(
    private readonly db: Database,
    private readonly afterCommit: (touchedQueues: ReadonlySet<string>) => void,
  ) {
    this.savepoint = db.transaction((run: () => unknown) => run());
    const commit = db.transaction((writes: PendingWrite[]): Outcome[] =>
      writes.map((write) => {
        try {
          return { ok: true, value: this.savepoint(write.run) };
        } catch (error) {
          return { ok: false, error };
        }
      }),
    );
    this.commitAll = (writes) => commit.immediate(writes);
  }

  /** Queue a write; it resolves once its transaction is durable. */
  write<T>(run: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.pending.push({ run, resolve: resolve as (value: unknown) => void, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  /** Mark that the current write made work runnable in `queue`. */
  touch(queue: string): void {
    this.touchedQueues.add(queue);
  }

  flush(): void {
    this.scheduled = false;
    const writes = this.pending;
    if (writes.length === 0) return;
    this.pending = [];
    this.memo.clear();
    this.touchedQueues = new Set();
    let outcomes: Outcome[];
    try {
      outcomes = this.commitAll(writes);
    } catch (error) {
      for (const write of writes) write.reject(error);
      return;
    }
    const touched = this.touchedQueues;
    this.touchedQueues = new Set();
    try {
      this.afterCommit(touched);
    } finally {
      writes.forEach((write, i) => {
        const outcome = outcomes[i]!;
        if (outcome.ok) write.resolve(outcome.value);
        else write.reject(outcome.error);
      });
    }
  }

  get size(): number {
    return this.pending.length;
  }
}

type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown };

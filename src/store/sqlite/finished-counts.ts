import type { TaskState } from "../../core/states.js";
import { isFinal } from "../../core/states.js";
import type { Prepared } from "./statements.js";

/**
 * The changes of one group commit to `state_counts` (finished tasks per queue
 * and state, read by the dashboard's queue counts): every write that moves a
 * task into or out of a finished state, or deletes a finished one, adds its
 * ±1 here, and the batch writes one upsert per queue and state before it
 * commits. Written under the write lock inside the same transaction as the
 * rows, so the counts stay exact with any number of processes on the file.
 */
export class FinishedCounts {
  private readonly deltas = new Map<string, { queue: string; state: string; n: number }>();

  constructor(private readonly upsert: Prepared<[string, string, number], unknown>) {}

  /** A task of `queue` entered (+1) or left (−1) `state`; unfinished states are not kept here. */
  add(queue: string, state: TaskState | string, n: 1 | -1): void {
    if (!isFinal(state as TaskState)) return;
    const key = `${queue}\0${state}`;
    const entry = this.deltas.get(key);
    if (entry) entry.n += n;
    else this.deltas.set(key, { queue, state, n });
  }

  /** Write what the batch's writes changed (inside its transaction), and start over. */
  write(): void {
    for (const { queue, state, n } of this.deltas.values()) if (n !== 0) this.upsert.run(queue, state, n);
    this.deltas.clear();
  }

  /** Drop what a rolled-back try counted. */
  clear(): void {
    this.deltas.clear();
  }
}

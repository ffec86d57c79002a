import type { ScenarioSpec } from "./protocol.js";

/** Called from inside the system's no-op handler. */
export interface Hooks {
  /** At handler entry (for enqueue-to-start latency). */
  started(): void;
  /** When `count` tasks are reported done by the system in this process. */
  finished(count: number): void;
}

/**
 * One system under test, driven the same way for every system: workers
 * started first, tasks submitted in its best batched way, completion counted
 * from its own "done" notification.
 */
export interface Adapter {
  /**
   * True when this process's completion notifications already include tasks
   * run by other processes (so the extra workers' counts must not be added).
   */
  readonly seesAllCompletions: boolean;
  /** Creates fresh storage; only the scenario's first process calls it. */
  prepare(): Promise<void>;
  /**
   * Connects and starts a worker with `concurrency` slots. `countCompletions`
   * is false in an extra worker process of a system whose first process
   * already sees every completion, so that process does no counting work.
   */
  startWorker(concurrency: number, hooks: Hooks, countCompletions?: boolean): Promise<void>;
  /** Connects without working (submit-only scenarios). */
  connect(): Promise<void>;
  /** Submits `count` no-op tasks the fastest documented way. */
  submitMany(count: number): Promise<void>;
  /** Submits one no-op task and returns once the system acknowledged it. */
  submitOne(): Promise<void>;
  /** When set, end-to-end timing also waits until the store shows `count` tasks complete. */
  confirmDone?(count: number): Promise<boolean>;
  /** Stops workers and closes connections. */
  close(): Promise<void>;
  /** Drops the storage made by prepare(); safe to call from a fresh process after a crash. */
  destroy(): Promise<void>;
}

/** Tasks per batch when a system accepts many at once. */
export const BATCH = 1000;

export type AdapterFactory = (spec: ScenarioSpec) => Adapter | Promise<Adapter>;

/** What the orchestrator asks one child process to measure. */
/** "outlast-python": Outlast on SQLite with its tasks run by a Python worker process over HTTP. */
export type SystemName = "outlast-sqlite" | "outlast-pg" | "outlast-python" | "bullmq" | "graphile-worker" | "pg-boss";

/**
 * "http-worker": no-op tasks end to end with the HTTP API serving (bench/systems/http-worker.ts).
 * "steps": long tasks recording a step at a time; "progress-fleet": many tasks reporting progress
 * at a fixed rate; "history": end to end, submit and dashboard reads on a store holding finished tasks.
 */
export type ScenarioKind = "e2e" | "submit" | "latency" | "progress" | "http-worker" | "steps" | "progress-fleet" | "history";

export interface ScenarioSpec {
  /** Shown in the table, e.g. "no-op end to end, 5,000 tasks". */
  title: string;
  /** The table section: sqlite, bullmq or postgres. */
  section: string;
  system: SystemName;
  kind: ScenarioKind;
  /** Tasks to submit (e2e, submit) or samples to take (latency). */
  count: number;
  /**
   * End-to-end runs: tasks pushed through before the clock starts, untimed,
   * so the figure describes a worker that has been running, not its first
   * seconds (the same share for every system).
   */
  warmup?: number;
  /** Handler concurrency per worker process. */
  concurrency: number;
  /** Worker processes (1 or 2); the extra ones are forked by the scenario's child. */
  workers: number;
  /** Latency scenarios stop sampling after this long, whatever `count` says. */
  budgetMs: number;
  /** Names the storage (SQLite file, Redis queue, PostgreSQL schema) so cleanup can find it. */
  storage: string;
  /** Directory for SQLite files. */
  dir: string;
  durability: "full" | "normal";
  /** Steps per task ("steps"), or progress reports per second of each task ("progress-fleet"). */
  perTask?: number;
  /** How long each task reports progress ("progress-fleet"). */
  seconds?: number;
  /** Finished tasks the store holds before the run ("history"; 0: an empty store). */
  history?: number;
  redisUrl: string;
  pgUrl: string;
}

export interface Metric {
  name: string;
  value: number;
  unit: string;
  /** Whether a larger value is better (throughput) or a smaller one (latency). */
  better: "higher" | "lower";
  /** Printed without a ratio: the peers' figure measures something else (e.g. Outlast coalesces progress by design). */
  unranked?: true;
}

export interface ScenarioResult {
  metrics: Metric[];
  /** Largest resident set of any process of the system in this scenario, MB. */
  peakRssMb: number;
  detail: Record<string, number | string>;
  /** A scenario that measures several things in one process: each is a row of its own. */
  parts?: ResultPart[];
}

export interface ResultPart {
  /** Replaces the scenario's title in the row. */
  title: string;
  metrics: Metric[];
  detail?: Record<string, number | string>;
}

/** Messages on the IPC channel between a scenario's child and its extra worker processes. */
export type HelperMessage = { type: "ready" } | { type: "finished"; count: number } | { type: "closed"; peakRssMb: number; ran: number };
export type OwnerMessage = { type: "stop" };

import { existsSync, rmSync } from "node:fs";
import { join } from "node:path";
import { Outlast, type Store } from "../../src/index.js";
import { sqliteStore } from "../../src/store/sqlite/index.js";
import { BATCH, type Adapter, type Hooks } from "../lib/adapter.js";
import type { ScenarioResult, ScenarioSpec } from "../lib/protocol.js";
import { chunks, nowMs, peakRssMb } from "../lib/stats.js";
import { createSchema, dropSchema } from "./pg-schema.js";

/** Tasks a PostgreSQL worker process holds at once, running and claimed ahead (Graphile Worker's local queue is 500). */
const PG_PREFETCH = 500;

type PostgresStoreFactory = (options: { connectionString: string; schema: string }) => Store;

const POSTGRES_STORE = new URL("../../src/store/postgres/index.ts", import.meta.url);

/** Whether the PostgreSQL store exists in this checkout yet. */
export function postgresStoreAvailable(): boolean {
  return existsSync(POSTGRES_STORE);
}

async function loadPostgresStore(): Promise<PostgresStoreFactory> {
  const module = (await import(POSTGRES_STORE.href)) as { postgresStore?: PostgresStoreFactory };
  if (typeof module.postgresStore !== "function") throw new Error("src/store/postgres/index.ts does not export postgresStore()");
  return module.postgresStore;
}

/** The SQLite file of a scenario (SQLite systems only). */
export function sqlitePath(spec: ScenarioSpec): string {
  return join(spec.dir, `${spec.storage}.db`);
}

/** Opens a fresh store of the scenario's storage: the SQLite file, or the PostgreSQL schema. */
export async function storeOpener(spec: ScenarioSpec): Promise<() => Store> {
  const path = sqlitePath(spec);
  if (spec.system !== "outlast-pg") return () => sqliteStore({ path, durability: spec.durability });
  const makeStore = await loadPostgresStore();
  return () => makeStore({ connectionString: spec.pgUrl, schema: spec.storage });
}

/** Removes the scenario's storage (PostgreSQL schema, or SQLite file with its WAL). */
export async function dropStorage(spec: ScenarioSpec): Promise<void> {
  if (spec.system === "outlast-pg") await dropSchema(spec.pgUrl, spec.storage);
  else for (const suffix of ["", "-wal", "-shm", "-journal"]) rmSync(sqlitePath(spec) + suffix, { force: true });
}

export interface OutlastAdapterOptions {
  /** Run with the engine's default retention (the history scenarios) instead of none. */
  retention?: boolean;
}

/** Outlast on SQLite (one file in the run's temp dir) or PostgreSQL (one fresh schema). */
export async function outlastAdapter(spec: ScenarioSpec, options: OutlastAdapterOptions = {}): Promise<Adapter> {
  const onPostgres = spec.system === "outlast-pg";
  const openStore = await storeOpener(spec);
  let outlast: Outlast | null = null;

  const open = (concurrency: number, hooks: Hooks | null, countCompletions = true): Outlast => {
    const engine = options.retention ? new Outlast({ store: openStore() }) : new Outlast({ store: openStore(), retention: false });
    // Like the peers' workers: `concurrency` handler slots per process and no
    // limit shared between processes (which would make claims take turns).
    // On PostgreSQL, claims of up to 500 at a time like Graphile Worker's local queue.
    engine.queue("default", { concurrency: Infinity, perProcess: concurrency, prefetch: onPostgres ? Math.max(0, PG_PREFETCH - concurrency) : 0 });
    engine.define("noop", {
      run: async () => {
        hooks?.started();
        return null;
      },
    });
    if (hooks && countCompletions) engine.on("succeeded", () => hooks.finished(1));
    return engine;
  };

  return {
    seesAllCompletions: true,
    async prepare() {
      if (!onPostgres) return;
      await dropSchema(spec.pgUrl, spec.storage);
      await createSchema(spec.pgUrl, spec.storage);
    },
    async startWorker(concurrency, hooks, countCompletions = true) {
      outlast = open(concurrency, hooks, countCompletions);
      await outlast.start();
    },
    async connect() {
      outlast = open(10, null);
      // Not started, so nothing runs; the read makes the store migrate before the clock starts.
      await outlast.list({ limit: 1 });
    },
    async submitMany(count) {
      const engine = outlast!;
      // Like the peers' bulk calls (addBulk, addJobs, insert): one submitMany per batch.
      for (const size of chunks(count, BATCH)) await engine.submitMany("noop", Array.from({ length: size }, () => ({})));
    },
    async submitOne() {
      await outlast!.submit("noop", {});
    },
    async close() {
      await outlast?.close({ graceMs: 5_000 });
      outlast = null;
    },
    async destroy() {
      await dropStorage(spec);
    },
  };
}

/** `ctx.progress()` calls per second inside one running handler (Outlast only). */
export async function progressRate(spec: ScenarioSpec): Promise<ScenarioResult> {
  const path = join(spec.dir, `${spec.storage}.db`);
  const outlast = new Outlast({ store: sqliteStore({ path, durability: spec.durability }), retention: false });
  let measured: { calls: number; ms: number } | null = null;
  outlast.define("report", {
    run: async (_input, ctx) => {
      const total = spec.count;
      // Warm up so the figure is the optimised code's, not the interpreter's.
      for (let i = 0; i < 100_000; i++) ctx.progress({ current: i, total });
      const start = nowMs();
      let calls = 0;
      while (nowMs() - start < 1000) {
        for (let i = 0; i < 1_000_000; i++) ctx.progress({ current: i, total });
        calls += 1_000_000;
      }
      measured = { calls, ms: nowMs() - start };
      return null;
    },
  });
  try {
    let finished!: () => void;
    const done = new Promise<void>((resolve) => (finished = resolve));
    outlast.on("succeeded", () => finished());
    await outlast.start();
    await outlast.submit("report", {});
    await done;
  } finally {
    await outlast.close({ graceMs: 5_000 });
    for (const suffix of ["", "-wal", "-shm"]) rmSync(path + suffix, { force: true });
  }
  const { calls, ms } = measured ?? { calls: 0, ms: 1 };
  return {
    metrics: [{ name: "progress calls/s", value: (calls / ms) * 1000, unit: "calls/s", better: "higher" }],
    peakRssMb: peakRssMb(),
    detail: { calls, ms: Math.round(ms) },
  };
}

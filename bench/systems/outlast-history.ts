import { Outlast, type TaskState } from "../../src/index.js";
import { copyPlans, insertCopies } from "../lib/history-copy.js";
import type { Metric, ResultPart, ScenarioResult, ScenarioSpec } from "../lib/protocol.js";
import { endToEnd, submitOnly } from "../lib/scenarios.js";
import { nowMs, peakRssMb, percentile, waitUntil } from "../lib/stats.js";
import { storeBytes, type StoreSql } from "../lib/store-sql.js";
import { withSql } from "./outlast-long.js";
import { createSchema, dropSchema } from "./pg-schema.js";
import { dropStorage, outlastAdapter, sqlitePath, storeOpener } from "./outlast.js";

/** Tasks of the template batch the engine runs once; the history is copies of it. */
const TEMPLATE = 1_000;
/** One in ten template tasks fails (one attempt), the rest succeed after two steps and a progress report. */
const FAILING_EVERY = 10;
const OWNERS = 10;
/** Copies inserted per statement. */
const COPIES_PER_BATCH = 100;
/** The history spreads over the past five days: inside the default retention of successes (7 days), so none is purged meanwhile. */
const SPAN_MS = 5 * 24 * 3_600_000;
/** Calls per dashboard read timed, after a few untimed ones. */
const READS = 50;

/**
 * The no-op end-to-end and submit-only scenarios with the engine's default
 * retention, on a store that already holds `spec.history` finished tasks
 * (0: an empty store, the same steps otherwise), preceded by the dashboard's
 * reads (a page of the task list, with and without a state filter; the
 * queues with their counts) timed on that history. One child does all of
 * it, in the same order for the empty and the filled store.
 */
export async function outlastHistory(spec: ScenarioSpec): Promise<ScenarioResult> {
  const history = spec.history ?? 0;
  const parts: ResultPart[] = [];
  const detail: Record<string, number | string> = { history };
  try {
    if (spec.system === "outlast-pg") {
      await dropSchema(spec.pgUrl, spec.storage);
      await createSchema(spec.pgUrl, spec.storage);
    }
    if (history > 0) {
      const fill = await fillHistory(spec, history);
      Object.assign(detail, fill);
      parts.push({
        title: `database size per 1,000,000 finished tasks (from ${fill.finishedTasks.toLocaleString("en-US")})`,
        metrics: [{ name: "size", value: (fill.bytes / fill.finishedTasks) * 1e6 / 2 ** 20, unit: "MB", better: "lower" }],
        detail: { bytes: fill.bytes, finishedTasks: fill.finishedTasks, fillMs: fill.fillMs },
      });
    }
    parts.push(...(await dashboardReads(spec)));
    const worker = await outlastAdapter(spec, { retention: true });
    let e2e: ScenarioResult;
    try {
      e2e = await endToEnd(worker, spec);
    } finally {
      await worker.close();
    }
    parts.push({ title: `no-op end to end, ${spec.count.toLocaleString("en-US")} tasks`, metrics: e2e.metrics, detail: e2e.detail });
    const submitter = await outlastAdapter(spec, { retention: true });
    try {
      const submit = await submitOnly(submitter, spec);
      parts.push({ title: `submit only, ${spec.count.toLocaleString("en-US")} tasks`, metrics: submit.metrics, detail: submit.detail });
    } finally {
      await submitter.close();
    }
    return { metrics: [], peakRssMb: peakRssMb(), detail, parts };
  } finally {
    await dropStorage(spec);
  }
}

/** Runs the template through the engine, then copies it in SQL until the store holds `history` finished tasks. */
export async function fillHistory(spec: ScenarioSpec, history: number): Promise<{ finishedTasks: number; bytes: number; fillMs: number; templateMs: number }> {
  const start = nowMs();
  const template = Math.min(TEMPLATE, history);
  const ids = await runTemplate(spec, template);
  const templateMs = nowMs() - start;
  const copies = Math.ceil(history / template) - 1;
  const stepMs = Math.floor(SPAN_MS / Math.max(1, copies));
  return withSql(spec, async (sql) => {
    await sql.all(`CREATE TEMPORARY TABLE history_template (id text PRIMARY KEY)`);
    for (let i = 0; i < ids.length; i += 500) {
      const batch = ids.slice(i, i + 500);
      await sql.all(`INSERT INTO history_template (id) VALUES ${batch.map((_, j) => `($${j + 1})`).join(", ")}`, batch);
    }
    const plans = await copyPlans(sql, spec.storage);
    for (let from = 1; from <= copies; from += COPIES_PER_BATCH) {
      const to = Math.min(copies, from + COPIES_PER_BATCH - 1);
      await inTransaction(sql, () => insertCopies(sql, plans, { from, to, last: copies }, "-h", stepMs));
    }
    // Outlast's SQLite store counts the finished tasks it writes itself (src/store/sqlite/finished-counts.ts):
    // the copies, made behind its back, are counted here. (PostgreSQL's triggers count them as they go in.)
    if (sql.dialect === "sqlite") {
      await sql.all(
        `INSERT OR REPLACE INTO state_counts (queue, state, n)
         SELECT queue, state, count(*) FROM tasks WHERE state IN ('succeeded', 'failed', 'canceled') GROUP BY queue, state`,
      );
    }
    // A table filled in one burst is analyzed by autovacuum soon after; done here so the reads do not depend on its timing.
    if (sql.dialect === "postgres") for (const plan of plans) await sql.all(`ANALYZE ${sql.table(plan.table)}`);
    const finishedTasks = await sql.number(`SELECT count(*) FROM ${sql.table("tasks")} WHERE finished_at IS NOT NULL`);
    const bytes = await storeBytes(sql, { path: sqlitePath(spec), schema: spec.storage });
    return { finishedTasks, bytes, fillMs: Math.round(nowMs() - start), templateMs: Math.round(templateMs) };
  });
}

async function inTransaction(sql: StoreSql, work: () => Promise<void>): Promise<void> {
  await sql.all("BEGIN");
  try {
    await work();
    await sql.all("COMMIT");
  } catch (error) {
    await sql.all("ROLLBACK");
    throw error;
  }
}

/** The template: real tasks run by the engine (with its default retention), so every row is one the engine wrote. */
async function runTemplate(spec: ScenarioSpec, count: number): Promise<string[]> {
  const outlast = new Outlast({ store: (await storeOpener(spec))() });
  outlast.queue("default", { concurrency: Infinity, perProcess: 50 });
  outlast.define("work", {
    run: async (input: { n: number }, ctx) => {
      const a = await ctx.step("fetch", () => ({ n: input.n, fetched: true }));
      ctx.progress({ current: 1, total: 2, message: "halfway" });
      await ctx.step("store", () => ({ stored: a.n }));
      return { ok: true, n: input.n };
    },
  });
  outlast.define("flaky", {
    maxAttempts: 1,
    run: async () => {
      throw new Error("upstream answered 503");
    },
  });
  let finished = 0;
  outlast.on("succeeded", () => void finished++);
  outlast.on("failed", () => void finished++);
  try {
    await outlast.start();
    const ids: string[] = [];
    for (let owner = 0; owner < OWNERS; owner++) {
      const mine = Array.from({ length: count }, (_, n) => n).filter((n) => n % OWNERS === owner);
      const work = mine.filter((n) => n % FAILING_EVERY !== 0).map((n) => ({ n }));
      const flaky = mine.filter((n) => n % FAILING_EVERY === 0).map(() => ({}));
      if (work.length > 0) ids.push(...(await outlast.submitMany("work", work, { owner: `user-${owner}` })).map((t) => t.id));
      if (flaky.length > 0) ids.push(...(await outlast.submitMany("flaky", flaky, { owner: `user-${owner}` })).map((t) => t.id));
    }
    await waitUntil(() => finished >= count, 120_000, `${count} template tasks to finish`, 5);
    return ids;
  } finally {
    await outlast.close({ graceMs: 5_000 });
  }
}

/** The reads behind the dashboard's task list and queue view, timed as the HTTP routes make them (engine list and listQueues). */
async function dashboardReads(spec: ScenarioSpec): Promise<ResultPart[]> {
  const outlast = new Outlast({ store: (await storeOpener(spec))() });
  try {
    const time = async (title: string, read: () => Promise<unknown>): Promise<ResultPart> => {
      for (let i = 0; i < 5; i++) await read();
      const samples: number[] = [];
      for (let i = 0; i < READS; i++) {
        const t0 = nowMs();
        await read();
        samples.push(nowMs() - t0);
      }
      samples.sort((a, b) => a - b);
      const metric = (p: number): Metric => ({ name: `p${p}`, value: percentile(samples, p), unit: "ms", better: "lower" });
      return { title, metrics: [metric(50), metric(99)], detail: { samples: samples.length, maxMs: Number(samples.at(-1)!.toFixed(3)) } };
    };
    const list = (state?: TaskState) => () => outlast.list(state === undefined ? { limit: 50 } : { state, limit: 50 });
    return [
      await time("dashboard task list, 50 newest", list()),
      await time("dashboard task list, state=failed", list("failed")),
      await time("dashboard task list, state=running", list("running")),
      await time("dashboard queues with counts", () => outlast.listQueues()),
    ];
  } finally {
    await outlast.close({ graceMs: 1_000 });
  }
}

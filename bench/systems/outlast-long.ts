import { derivedEventsSql } from "../../src/store/postgres/derived-events.js";
import { Outlast } from "../../src/index.js";
import { FleetWindow, fleetResult, reportFor } from "../lib/fleet.js";
import type { ScenarioResult, ScenarioSpec } from "../lib/protocol.js";
import { nowMs, peakRssMb, waitUntil } from "../lib/stats.js";
import { postgresSql, sqliteSql, type StoreSql } from "../lib/store-sql.js";
import { createSchema, dropSchema } from "./pg-schema.js";
import { dropStorage, sqlitePath, storeOpener } from "./outlast.js";

/** Tasks (`count`) of `perTask` recorded steps each, all running at once: steps/s from submit until every task succeeded. */
export async function outlastSteps(spec: ScenarioSpec): Promise<ScenarioResult> {
  const steps = spec.perTask ?? 1_000;
  const outlast = await openEngine(spec);
  outlast.queue("default", { concurrency: Infinity, perProcess: spec.count });
  outlast.define("long", {
    run: async (_input, ctx) => {
      for (let i = 0; i < steps; i++) await ctx.step(`step-${i}`, () => i);
      return null;
    },
  });
  let done = 0;
  outlast.on("succeeded", () => void done++);
  try {
    await outlast.start();
    const start = nowMs();
    await outlast.submitMany("long", Array.from({ length: spec.count }, () => ({})));
    await waitUntil(() => done >= spec.count, 240_000, `${spec.count} tasks of ${steps} steps to finish`, 5);
    const seconds = (nowMs() - start) / 1000;
    await outlast.close({ graceMs: 5_000 });
    const stored = await withSql(spec, (sql) => sql.number(`SELECT count(*) FROM ${sql.table("task_steps")}`));
    if (stored !== spec.count * steps) throw new Error(`the store holds ${stored} steps, expected ${spec.count * steps}`);
    return {
      metrics: [{ name: "steps/s", value: stored / seconds, unit: "steps/s", better: "higher" }],
      peakRssMb: peakRssMb(),
      detail: { tasks: spec.count, stepsPerTask: steps, stepsStored: stored, totalMs: Math.round(seconds * 1000) },
    };
  } finally {
    await outlast.close({ graceMs: 5_000 }).catch(() => {});
    await dropStorage(spec);
  }
}

/**
 * `count` tasks running at once, each calling `ctx.progress()` `perTask`
 * times a second for `seconds`. The engine coalesces a task's reports (at
 * most one save per `progressIntervalMs`, 250 ms by default) and the store
 * keeps only a task's latest progress event, so what was saved is counted
 * from the tasks' event sequence numbers: every saved event took one.
 */
export async function outlastProgressFleet(spec: ScenarioSpec): Promise<ScenarioResult> {
  const perSecond = spec.perTask ?? 100;
  const seconds = spec.seconds ?? 2;
  const outlast = await openEngine(spec);
  outlast.queue("default", { concurrency: Infinity, perProcess: spec.count });
  const window = new FleetWindow();
  outlast.define("report", {
    run: async (_input, ctx) => {
      window.begin();
      const made = await reportFor(seconds, perSecond, (current, total) => ctx.progress({ current, total }));
      window.end(made);
      return null;
    },
  });
  let done = 0;
  let heard = 0;
  outlast.on("succeeded", () => void done++);
  outlast.on("progress", () => void heard++);
  try {
    await outlast.start();
    await outlast.submitMany("report", Array.from({ length: spec.count }, () => ({})));
    await waitUntil(() => done >= spec.count, 120_000, `${spec.count} reporting tasks to finish`, 5);
    await outlast.close({ graceMs: 5_000 });
    const { seqs, others } = await withSql(spec, async (sql) => ({
      seqs: await sql.number(`SELECT coalesce(sum(last_seq), 0) FROM ${sql.table("tasks")}`),
      // Every event but progress: the rows, and on PostgreSQL the state events the task rows say.
      others:
        (await sql.number(`SELECT count(*) FROM ${sql.table("task_events")} WHERE kind <> 'progress'`)) +
        (sql.dialect === "postgres"
          ? await sql.number(`SELECT count(*) FROM ${sql.table("tasks")} t CROSS JOIN ${derivedEventsSql("t")} WHERE d.bit <> 0`)
          : 0),
    }));
    const saved = seqs - others;
    return fleetResult(window, { tasks: spec.count, perSecond, seconds, saved, unrankedSaved: true, detail: { progressEventsHeard: heard } });
  } finally {
    await outlast.close({ graceMs: 5_000 }).catch(() => {});
    await dropStorage(spec);
  }
}

async function openEngine(spec: ScenarioSpec): Promise<Outlast> {
  if (spec.system === "outlast-pg") {
    await dropSchema(spec.pgUrl, spec.storage);
    await createSchema(spec.pgUrl, spec.storage);
  }
  return new Outlast({ store: (await storeOpener(spec))(), retention: false });
}

/** Direct SQL on the scenario's store, once the engine is closed. */
export async function withSql<T>(spec: ScenarioSpec, use: (sql: StoreSql) => Promise<T>): Promise<T> {
  const sql = spec.system === "outlast-pg" ? postgresSql(spec.pgUrl, spec.storage) : sqliteSql(sqlitePath(spec));
  try {
    return await use(sql);
  } finally {
    await sql.close();
  }
}

/**
 * The history the "history" section fills: copies of a template batch the
 * engine ran, with fresh ids and owners, every event and step following its
 * task. Run: node --import tsx --test bench/test/history-fill.test.ts
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import pg from "pg";
import type { ScenarioSpec } from "../lib/protocol.js";
import { fillHistory } from "../systems/outlast-history.js";
import { withSql } from "../systems/outlast-long.js";
import { createSchema } from "../systems/pg-schema.js";
import { dropStorage, postgresStoreAvailable } from "../systems/outlast.js";

const pgUrl = process.env["OUTLAST_TEST_PG_URL"] ?? "postgres://postgres@127.0.0.1:5432/test";

async function pgReachable(): Promise<boolean> {
  const client = new pg.Client({ connectionString: pgUrl, connectionTimeoutMillis: 2_000 });
  try {
    await client.connect();
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => {});
  }
}

for (const system of ["outlast-sqlite", "outlast-pg"] as const) {
  test(`history fill on ${system}: copies with their own ids, owners, events and steps`, async (t) => {
    if (system === "outlast-pg" && (!postgresStoreAvailable() || !(await pgReachable()))) return t.skip("PostgreSQL not reachable");
    const dir = mkdtempSync(join(tmpdir(), "outlast-history-test-"));
    const spec = {
      system,
      storage: `bench_history_test_${process.pid}`,
      dir,
      durability: "normal",
      pgUrl,
    } as ScenarioSpec;
    try {
      if (system === "outlast-pg") await createSchema(pgUrl, spec.storage);
      const before = Date.now();
      const fill = await fillHistory(spec, 3_000);
      assert.equal(fill.finishedTasks, 3_000);
      assert.ok(fill.bytes > 0);
      await withSql(spec, async (sql) => {
        const tasks = sql.table("tasks");
        const events = sql.table("task_events");
        const steps = sql.table("task_steps");
        const row = (await sql.all<Record<string, unknown>>(
          `SELECT count(*) AS n, count(DISTINCT id) AS ids, count(DISTINCT owner) AS owners, min(created_at) AS oldest, max(finished_at) AS newest,
             sum(CASE WHEN state = 'failed' THEN 1 ELSE 0 END) AS failed FROM ${tasks}`,
        ))[0]!;
        assert.equal(Number(row["n"]), 3_000);
        assert.equal(Number(row["ids"]), 3_000);
        // Ten owners in the template, each copy with its own.
        assert.equal(Number(row["owners"]), 30);
        assert.equal(Number(row["failed"]), 300);
        assert.ok(Number(row["newest"]) <= Date.now());
        assert.ok(Number(row["oldest"]) > before - 6 * 24 * 3_600_000, "the history stays inside the default retention");
        // Every copy's events and steps match its template's, and name the copy's task and owner.
        assert.equal(await sql.number(`SELECT count(*) FROM ${events} e WHERE NOT EXISTS (SELECT 1 FROM ${tasks} t WHERE t.id = e.task_id AND t.owner = e.owner)`), 0);
        const template = await sql.number(`SELECT count(*) FROM ${events} WHERE task_id NOT LIKE '%-h%'`);
        assert.ok(template > 0);
        assert.equal(await sql.number(`SELECT count(*) FROM ${events}`), template * 3);
        assert.equal(await sql.number(`SELECT count(*) FROM ${steps}`), 2 * 2_700);
        assert.equal(await sql.number(`SELECT count(*) FROM ${steps} s WHERE NOT EXISTS (SELECT 1 FROM ${tasks} t WHERE t.id = s.task_id)`), 0);
        // The dashboard's queue counts (kept as tasks change, not counted from rows) include the copies.
        const counted = await sql.number(`SELECT coalesce(sum(n), 0) FROM ${sql.table("state_counts")}`);
        assert.equal(counted, 3_000);
      });
    } finally {
      await dropStorage(spec);
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

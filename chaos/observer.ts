// Reads the store's tables directly (not through Outlast), so the verdict
// does not depend on the code under test: which tasks exist and how they
// ended, which steps were recorded in which attempt, and each task's log.
import { derivedEventsSql } from "../src/store/postgres/derived-events.js";
import Database from "better-sqlite3";
import pg from "pg";
import type { Received } from "./watchers.js";

export interface StepRecord {
  taskId: string;
  name: string;
  attempt: number;
}

export interface StoreObserver {
  /** How many tasks have succeeded; undefined while the database cannot be read. */
  succeeded(): Promise<number | undefined>;
  states(): Promise<Map<string, string>>;
  steps(): Promise<StepRecord[]>;
  events(): Promise<Map<string, Received[]>>;
  close(): Promise<void>;
}

function groupEvents(rows: readonly { task_id: string; seq: number; kind: string }[]): Map<string, Received[]> {
  const byTask = new Map<string, Received[]>();
  for (const row of rows) {
    const list = byTask.get(row.task_id) ?? [];
    list.push({ seq: Number(row.seq), type: row.kind });
    byTask.set(row.task_id, list);
  }
  return byTask;
}

export function sqliteObserver(path: string): StoreObserver {
  let db: Database.Database | null = null;
  const open = () => (db ??= new Database(path, { readonly: true, fileMustExist: true, timeout: 2_000 }));
  return {
    async succeeded() {
      try {
        return (open().prepare("SELECT count(*) AS n FROM tasks WHERE state = 'succeeded'").get() as { n: number }).n;
      } catch {
        return undefined;
      }
    },
    async states() {
      const rows = open().prepare("SELECT id, state FROM tasks").all() as { id: string; state: string }[];
      return new Map(rows.map((r) => [r.id, r.state]));
    },
    async steps() {
      const rows = open().prepare("SELECT task_id, name, attempt FROM task_steps").all() as { task_id: string; name: string; attempt: number }[];
      return rows.map((r) => ({ taskId: r.task_id, name: r.name, attempt: r.attempt }));
    },
    async events() {
      return groupEvents(open().prepare("SELECT task_id, seq, kind FROM task_events ORDER BY task_id, seq").all() as { task_id: string; seq: number; kind: string }[]);
    },
    async close() {
      db?.close();
      db = null;
    },
  };
}

export function postgresObserver(connectionString: string, schema: string): StoreObserver {
  const pool = new pg.Pool({ connectionString, max: 2, connectionTimeoutMillis: 3_000 });
  pool.on("error", () => {}); // a restart of the server ends idle clients
  const s = `"${schema}"`;
  return {
    async succeeded() {
      try {
        return (await pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${s}.tasks WHERE state = 'succeeded'`)).rows[0]!.n;
      } catch {
        return undefined;
      }
    },
    async states() {
      const rows = (await pool.query<{ id: string; state: string }>(`SELECT id, state FROM ${s}.tasks`)).rows;
      return new Map(rows.map((r) => [r.id, r.state]));
    },
    async steps() {
      const rows = (await pool.query<{ task_id: string; name: string; attempt: number }>(`SELECT task_id, name, attempt FROM ${s}.task_steps`)).rows;
      return rows.map((r) => ({ taskId: r.task_id, name: r.name, attempt: r.attempt }));
    },
    async events() {
      // With the state events the task rows say (src/store/postgres/derived-events.ts).
      const sql = `SELECT task_id, seq, kind FROM ${s}.task_events
        UNION ALL SELECT t.id, d.seq, 'state' FROM ${s}.tasks t CROSS JOIN ${derivedEventsSql("t")} WHERE t.derived <> 0 AND d.bit <> 0
        ORDER BY task_id, seq`;
      return groupEvents((await pool.query<{ task_id: string; seq: number; kind: string }>(sql)).rows);
    },
    async close() {
      await pool.end();
    },
  };
}

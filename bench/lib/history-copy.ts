import type { StoreSql } from "./store-sql.js";

/**
 * Multiplies the finished tasks already in a store (a template the engine
 * itself wrote: task rows, events, steps) into `copies` more, in SQL. Which
 * tables and columns to copy is read from the catalog, so a column added
 * later is copied too; what a copy changes is decided by a column's name:
 *   - the table's own generated key (SQLite's rowid alias, PostgreSQL's
 *     identity or generated columns) is left out, so each copy gets a new one;
 *   - task ids (`id` of tasks, `task_id`, `parent_id`) get the copy's suffix;
 *   - `owner`, and any other text column of a row holding its owner's value
 *     (e.g. a concurrency key that defaults to the owner), get the suffix too;
 *   - times (`at`, `…_at`) move back by the copy's offset, so the history
 *     spreads over the past `spanMs` (inside the engine's default retention,
 *     which keeps successes 7 days and must not purge the history at start).
 * Tables copied: `tasks` and every table with a `task_id` column.
 */
export interface CopyPlan {
  table: string;
  columns: string[];
  expressions: string[];
  /** The column that ties a row to its template task. */
  key: string;
}

interface Column {
  name: string;
  type: string;
  generated: boolean;
}

const TASK_ID_COLUMNS = new Set(["task_id", "parent_id"]);
const TIME = /(^|_)at$/;

export async function copyPlans(sql: StoreSql, schema: string): Promise<CopyPlan[]> {
  const plans: CopyPlan[] = [];
  for (const table of await tables(sql, schema)) {
    const columns = await columnsOf(sql, schema, table);
    const isTasks = table === "tasks";
    if (!isTasks && !columns.some((c) => c.name === "task_id")) continue;
    const hasOwner = columns.some((c) => c.name === "owner");
    const kept = columns.filter((c) => !c.generated);
    const q = (name: string) => `"${name}"`;
    const expressions = kept.map((c) => {
      const col = `src.${q(c.name)}`;
      const text = /char|text|clob/i.test(c.type);
      const integer = /int/i.test(c.type);
      if ((isTasks && c.name === "id") || TASK_ID_COLUMNS.has(c.name)) return `${col} || $3 || k.n`;
      if (c.name === "owner") return `${col} || $3 || k.n`;
      if (text && hasOwner) return `CASE WHEN ${col} = src."owner" THEN ${col} || $3 || k.n ELSE ${col} END`;
      if (integer && TIME.test(c.name)) return sql.dialect === "postgres" ? `${col} - $4::bigint * ($2::int + 1 - k.n)` : `${col} - $4 * ($2 + 1 - k.n)`;
      return col;
    });
    plans.push({ table, columns: kept.map((c) => q(c.name)), expressions, key: isTasks ? "id" : "task_id" });
  }
  // Tasks first, so a reader never sees an event of a task that is not there yet.
  return plans.sort((a, b) => (a.table === "tasks" ? -1 : b.table === "tasks" ? 1 : a.table.localeCompare(b.table)));
}

async function tables(sql: StoreSql, schema: string): Promise<string[]> {
  const rows =
    sql.dialect === "sqlite"
      ? await sql.all<{ name: string }>(`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'`)
      : await sql.all<{ name: string }>(`SELECT table_name AS name FROM information_schema.tables WHERE table_schema = $1 AND table_type = 'BASE TABLE'`, [schema]);
  return rows.map((r) => r.name);
}

async function columnsOf(sql: StoreSql, schema: string, table: string): Promise<Column[]> {
  if (sql.dialect === "sqlite") {
    const rows = await sql.all<{ name: string; type: string; pk: number; hidden: number }>(`SELECT * FROM pragma_table_xinfo('${table.replace(/'/g, "''")}')`);
    const pks = rows.filter((r) => r.pk > 0);
    // A lone INTEGER PRIMARY KEY is the rowid: left out, SQLite assigns the next one. Hidden > 0: generated columns.
    const rowid = pks.length === 1 && pks[0]!.type.toUpperCase() === "INTEGER" ? pks[0]!.name : null;
    return rows.map((r) => ({ name: r.name, type: r.type, generated: r.name === rowid || r.hidden > 0 }));
  }
  const rows = await sql.all<{ name: string; type: string; is_identity: string; is_generated: string }>(
    `SELECT column_name AS name, data_type AS type, is_identity, is_generated FROM information_schema.columns
     WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position`,
    [schema, table],
  );
  return rows.map((r) => ({ name: r.name, type: r.type, generated: r.is_identity === "YES" || r.is_generated === "ALWAYS" }));
}

/**
 * Inserts copies `from`…`to` of the template tasks (ids in the temporary
 * table `history_template`) with every row that belongs to them.
 * Parameters: $1 from, $2 to (also the last copy: the oldest offset), $3 the
 * id suffix, $4 the offset step in ms.
 */
export async function insertCopies(sql: StoreSql, plans: CopyPlan[], range: { from: number; to: number; last: number }, suffix: string, stepMs: number): Promise<void> {
  for (const plan of plans) {
    const target = sql.table(plan.table);
    const select = `SELECT ${plan.expressions.join(", ")} FROM ${target} AS src CROSS JOIN k WHERE src."${plan.key}" IN (SELECT id FROM history_template)` +
      // Every parameter typed even where a table has no column that uses it.
      (sql.dialect === "postgres" ? ` AND $2::int IS NOT NULL AND $3::text IS NOT NULL AND $4::bigint IS NOT NULL` : "");
    const statement =
      sql.dialect === "sqlite"
        ? `WITH RECURSIVE k(n) AS (SELECT CAST($1 AS INTEGER) UNION ALL SELECT n + 1 FROM k WHERE n < $5) INSERT INTO ${target} (${plan.columns.join(", ")}) ${select}`
        : `WITH k(n) AS (SELECT generate_series($1::int, $5::int)) INSERT INTO ${target} (${plan.columns.join(", ")}) ${select}`;
    // $2 is the last copy overall (offsets count back from it); $5 the last of this batch.
    await sql.all(statement, [range.from, range.last, suffix, stepMs, range.to]);
  }
}

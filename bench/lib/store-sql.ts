import Database from "better-sqlite3";
import { statSync } from "node:fs";
import pg from "pg";

/**
 * Direct SQL on an Outlast store's tables, for what the bench must read or
 * write behind the engine's back: counts of what was stored, the history
 * copies, the database's size. One shape for both stores; `table()` names a
 * table (schema-qualified on PostgreSQL) and `$1…` placeholders work on both.
 */
export interface StoreSql {
  readonly dialect: "sqlite" | "postgres";
  table(name: string): string;
  all<T extends Record<string, unknown>>(sql: string, values?: unknown[]): Promise<T[]>;
  /** A number from the first column of the first row (counts, sums). */
  number(sql: string, values?: unknown[]): Promise<number>;
  close(): Promise<void>;
}

export function sqliteSql(path: string): StoreSql & { db: Database.Database } {
  const db = new Database(path);
  db.pragma("busy_timeout = 10000");
  const all = <T>(sql: string, values: unknown[] = []) => {
    // `$n` as PostgreSQL numbers them, each use bound in order (a parameter may appear twice).
    const bound: unknown[] = [];
    const statement = db.prepare(sql.replace(/\$(\d+)/g, (_, n: string) => (bound.push(values[Number(n) - 1]), "?")));
    return (statement.reader ? statement.all(...bound) : (statement.run(...bound), [])) as T[];
  };
  return {
    dialect: "sqlite",
    db,
    table: (name) => `"${name}"`,
    async all<T extends Record<string, unknown>>(sql: string, values?: unknown[]) {
      return all<T>(sql, values);
    },
    async number(sql, values) {
      const row = all<Record<string, unknown>>(sql, values)[0];
      return Number(row ? Object.values(row)[0] ?? 0 : 0);
    },
    async close() {
      db.close();
    },
  };
}

export function postgresSql(url: string, schema: string): StoreSql & { pool: pg.Pool } {
  const pool = new pg.Pool({ connectionString: url, max: 1 });
  const all = async <T extends Record<string, unknown>>(sql: string, values: unknown[] = []) => (await pool.query<T>(sql, values)).rows;
  return {
    dialect: "postgres",
    pool,
    table: (name) => `${pg.escapeIdentifier(schema)}.${pg.escapeIdentifier(name)}`,
    all,
    async number(sql, values) {
      const row = (await all<Record<string, unknown>>(sql, values))[0];
      return Number(row ? Object.values(row)[0] ?? 0 : 0);
    },
    async close() {
      await pool.end();
    },
  };
}

/**
 * Bytes the store's data takes: on SQLite the file and its WAL after a
 * checkpoint (so the WAL is as small as it gets while open), on PostgreSQL
 * every table of the schema with its indexes and TOAST.
 */
export async function storeBytes(sql: StoreSql, where: { path?: string; schema?: string }): Promise<number> {
  if (sql.dialect === "sqlite") {
    await sql.all("PRAGMA wal_checkpoint(TRUNCATE)");
    const size = (suffix: string) => {
      try {
        return statSync(where.path! + suffix).size;
      } catch {
        return 0;
      }
    };
    return size("") + size("-wal");
  }
  return sql.number(
    `SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = $1 AND c.relkind IN ('r', 'p', 'm')`,
    [where.schema],
  );
}

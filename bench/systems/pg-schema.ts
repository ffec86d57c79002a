import pg from "pg";

/** Drops a benchmark's PostgreSQL schema and everything in it. */
export async function dropSchema(url: string, schema: string): Promise<void> {
  await once(url, `DROP SCHEMA IF EXISTS ${pg.escapeIdentifier(schema)} CASCADE`);
}

/** Creates an empty schema, for stores that expect it to exist. */
export async function createSchema(url: string, schema: string): Promise<void> {
  await once(url, `CREATE SCHEMA IF NOT EXISTS ${pg.escapeIdentifier(schema)}`);
}

/** Runs one statement on a connection of its own and returns its rows. */
export async function once<T extends pg.QueryResultRow>(url: string, sql: string, values: unknown[] = []): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(sql, values)).rows;
  } finally {
    await client.end();
  }
}

/** Runs one query on a short-lived pool shared by a scenario's checks. */
export class Checker {
  private readonly pool: pg.Pool;
  constructor(url: string) {
    this.pool = new pg.Pool({ connectionString: url, max: 1 });
  }
  async count(sql: string, values: unknown[] = []): Promise<number> {
    const result = await this.pool.query<{ n: number }>(sql, values);
    return Number(result.rows[0]?.n ?? 0);
  }
  async end(): Promise<void> {
    await this.pool.end();
  }
}

/**
 * Rows inserted, updated and deleted in a schema's tables, from PostgreSQL's
 * statistics (flushed when connections close, so read after closing them).
 */
export async function rowsWritten(url: string, schema: string): Promise<{ inserted: number; updated: number; deleted: number }> {
  const [row] = await once<{ ins: string | null; upd: string | null; del: string | null }>(
    url,
    `SELECT sum(n_tup_ins) AS ins, sum(n_tup_upd) AS upd, sum(n_tup_del) AS del FROM pg_stat_user_tables WHERE schemaname = $1`,
    [schema],
  );
  return { inserted: Number(row?.ins ?? 0), updated: Number(row?.upd ?? 0), deleted: Number(row?.del ?? 0) };
}

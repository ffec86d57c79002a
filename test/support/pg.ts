import { createHash } from "node:crypto";
import type { TestContext } from "node:test";
import pg from "pg";

/** The PostgreSQL the tests use. */
export const PG_URL = process.env.OUTLAST_TEST_PG_URL ?? "postgres://postgres@127.0.0.1:5432/test";

const START_HINT = "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start";

/**
 * A pool on the test database, ended when the test ends. Fails (never
 * skips) with the command that starts PostgreSQL when it is unreachable.
 */
export async function testPool(t: TestContext, max = 4): Promise<pg.Pool> {
  const pool = new pg.Pool({ connectionString: PG_URL, max, connectionTimeoutMillis: 5_000 });
  pool.on("error", () => {}); // terminated idle clients in fault tests
  t.after(() => pool.end());
  try {
    await pool.query("SELECT 1");
  } catch (error) {
    throw new Error(
      `PostgreSQL is not reachable at ${PG_URL} (${(error as Error).message}). Start it with:\n  ${START_HINT}\n` +
        "or point OUTLAST_TEST_PG_URL at another server.",
    );
  }
  return pool;
}

/**
 * A schema name unique to this test, derived from its name: readable when
 * kept for inspection (OUTLAST_KEEP_SCHEMA=1), dropped when the test ends otherwise.
 */
export async function testSchema(t: TestContext): Promise<string> {
  const slug = t.name.toLowerCase().replace(/[^a-z0-9]+/g, "_").replace(/^_+|_+$/g, "").slice(0, 22);
  const hash = createHash("sha256").update(`${t.fullName}\0${process.pid}\0${Math.random()}`).digest("hex").slice(0, 8);
  const schema = `t_${slug}_${hash}`;
  const admin = await testPool(t, 1);
  // Registered after the pool's own cleanup, so it runs before the pool ends (last registered, first run).
  t.after(async () => {
    if (!process.env.OUTLAST_KEEP_SCHEMA) await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  });
  return schema;
}

import { randomUUID } from "node:crypto";
import type pg from "pg";
import { OutlastError } from "../../core/errors.js";
import type { StoreInfo } from "../store.js";
import { LATEST_VERSION, MIGRATIONS } from "./migrations.js";
import { rows } from "./sql.js";

/**
 * Create or upgrade the schema. Runs in one transaction under an advisory
 * lock keyed by the schema, so nodes starting together migrate once: the
 * others wait, then see the finished schema. DDL is transactional here, so a
 * failed migration leaves the previous version intact.
 */
export async function migrate(pool: pg.Pool, schema: string): Promise<StoreInfo> {
  const s = `"${schema}"`;
  const client = await pool.connect();
  // A dropped connection between statements must fail this call, not the process.
  const ignore = () => {};
  client.on("error", ignore);
  try {
    await client.query("BEGIN");
    try {
      await client.query("SELECT pg_advisory_xact_lock(hashtext($1))", [`outlast.migrate:${schema}`]);
      await client.query(`CREATE SCHEMA IF NOT EXISTS ${s}`);
      await client.query(`CREATE TABLE IF NOT EXISTS ${s}.outlast_meta (key text PRIMARY KEY, value text NOT NULL)`);
      const found = await rows<{ value: string }>(client, `SELECT value FROM ${s}.outlast_meta WHERE key = 'schema_version'`);
      const current = found[0] ? Number(found[0].value) : 0;
      if (current > LATEST_VERSION) {
        throw new OutlastError(
          "store_version",
          `PostgreSQL schema "${schema}" has version ${current}, but this build of Outlast knows only up to ${LATEST_VERSION}. ` +
            "It was written by a newer Outlast: upgrade the outlast package in this app (npm install outlast@latest).",
        );
      }
      for (const migration of MIGRATIONS) {
        if (migration.version > current) await client.query(migration.sql(s));
      }
      await client.query(
        `INSERT INTO ${s}.outlast_meta(key, value) VALUES ('schema_version', $1)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value`,
        [String(Math.max(current, LATEST_VERSION))],
      );
      await client.query(`INSERT INTO ${s}.outlast_meta(key, value) VALUES ('database_id', $1) ON CONFLICT DO NOTHING`, [randomUUID()]);
      const id = await rows<{ value: string }>(client, `SELECT value FROM ${s}.outlast_meta WHERE key = 'database_id'`);
      await client.query("COMMIT");
      return { databaseId: id[0]!.value, schemaVersion: LATEST_VERSION };
    } catch (error) {
      await client.query("ROLLBACK").catch(() => {});
      throw error;
    }
  } finally {
    client.off("error", ignore);
    client.release();
  }
}

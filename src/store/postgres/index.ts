import { PostgresStore, type PostgresConnectionOptions, type PostgresPoolOptions, type PostgresStoreOptions } from "./postgres-store.js";

export type { PostgresConnectionOptions, PostgresPoolOptions, PostgresStoreOptions };
export { PostgresStore };

/**
 * The store for many machines: one PostgreSQL database (in its own schema,
 * `outlast` by default), tasks claimed with `FOR UPDATE SKIP LOCKED`, events
 * pushed to every process with LISTEN/NOTIFY. Bring your own `pg` pool
 * (`close()` leaves it open) or give a connection string.
 * @example
 * const outlast = new Outlast({ store: postgresStore({ connectionString: process.env.DATABASE_URL! }) });
 * @example
 * const outlast = new Outlast({ store: postgresStore({ pool, schema: "jobs" }) });
 */
export function postgresStore(options: PostgresStoreOptions): PostgresStore {
  return new PostgresStore(options);
}

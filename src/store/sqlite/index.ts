import { SqliteStore, type SqliteStoreOptions } from "./sqlite-store.js";

export type { SqliteStoreOptions };
export type { Durability } from "./durability.js";
export { SqliteStore };

/**
 * The embedded store: one SQLite file, zero setup, shared safely by several
 * processes (one serving HTTP, others running workers).
 * @example
 * const outlast = new Outlast({ store: sqliteStore({ path: "./outlast.db" }) });
 */
export function sqliteStore(options: SqliteStoreOptions): SqliteStore {
  return new SqliteStore(options);
}

import type { Store } from "../store/store.js";
import { sqliteStore } from "../store/sqlite/index.js";
import { UsageError } from "./args.js";

/** Help lines for the flags every database-using command shares. */
export const DB_FLAGS_HELP = `  --db PATH|URL     SQLite file (default ./outlast.db) or a postgres:// URL;
                    the URL may name the schema: postgres://…/db?schema=jobs
  --schema NAME     PostgreSQL schema holding Outlast's tables (default outlast)`;

/** Where a command's data lives, read from `--db` and `--schema`. */
export type StoreTarget = { kind: "sqlite"; path: string } | { kind: "postgres"; connectionString: string; schema: string | undefined };

/**
 * Reads `--db` (a SQLite path or a postgres:// URL) and `--schema`. A
 * `schema` query parameter in the URL is taken out of it (the driver would
 * not know it); `--schema` wins over it.
 */
export function storeTarget(db: string, schemaFlag: string | undefined): StoreTarget {
  if (!/^postgres(ql)?:\/\//i.test(db)) {
    if (schemaFlag !== undefined) throw new UsageError("--schema applies to PostgreSQL only; pass --db postgres://…");
    if (db.length === 0) throw new UsageError("--db needs a SQLite file path or a postgres:// URL");
    return { kind: "sqlite", path: db };
  }
  let url: URL;
  try {
    url = new URL(db);
  } catch {
    throw new UsageError(`--db is not a valid URL: ${redact(db)}`);
  }
  const fromUrl = url.searchParams.get("schema") ?? undefined;
  url.searchParams.delete("schema");
  const schema = schemaFlag ?? fromUrl;
  // The store's own rule, checked here so a typo is a usage error (exit 2).
  if (schema !== undefined && !/^[a-z_][a-z0-9_]{0,39}$/.test(schema)) {
    throw new UsageError(`Schema "${schema}" is not valid: use 1–40 lowercase letters, digits or underscores, not starting with a digit`);
  }
  return { kind: "postgres", connectionString: url.toString(), schema };
}

/** Opens the store; PostgreSQL's module is loaded only when asked for, so SQLite users never need it. */
export async function openStore(target: StoreTarget): Promise<Store> {
  if (target.kind === "sqlite") return sqliteStore({ path: target.path });
  const { postgresStore } = await import("../store/postgres/index.js");
  return postgresStore({
    connectionString: target.connectionString,
    ...(target.schema !== undefined ? { schema: target.schema } : {}),
  });
}

/** How to show the target without its password. */
export function describeTarget(target: StoreTarget): string {
  if (target.kind === "sqlite") return target.path;
  return `${redact(target.connectionString)}${target.schema !== undefined ? ` (schema ${target.schema})` : ""}`;
}

function redact(url: string): string {
  return url.replace(/\/\/[^@/]*@/, "//***@");
}

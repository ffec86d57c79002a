import type pg from "pg";
import { pgDriver } from "./driver.js";
import { OutlastError } from "../../core/errors.js";

/** Anything that runs a query: a pooled client inside our transaction, or the application's own client. */
export interface Queryable {
  query: pg.ClientBase["query"];
}

// Times and counters are int8 columns; they fit in a double for any real
// clock or count, so read them as numbers. Set per query, not globally, so a
// pool the application lends us keeps its own parsers.
const INT8 = 20;
const TYPES: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: "text" | "binary") =>
    oid === INT8 ? (value: string) => Number(value) : pgDriver().types.getTypeParser(oid, format ?? "text")) as pg.CustomTypesConfig["getTypeParser"],
};

/**
 * Run one statement and return its rows, with int8 read as number. A `name`
 * makes it a prepared statement, parsed and planned once per connection:
 * used for the statements every task runs.
 */
export async function rows<R>(db: Queryable, text: string, values: readonly unknown[] = [], name?: string): Promise<R[]> {
  const config: pg.QueryConfig = { text, values: values as unknown[], types: TYPES };
  if (name !== undefined) config.name = name;
  const result = await db.query<pg.QueryResultRow>(config);
  return result.rows as R[];
}

/** A schema name that is safe to splice into SQL and into channel names. */
export function checkSchemaName(schema: string): string {
  if (!/^[a-z_][a-z0-9_]{0,39}$/.test(schema)) {
    throw new OutlastError(
      "bad_request",
      `Invalid PostgreSQL schema name "${schema}": use 1–40 lowercase letters, digits or underscores, not starting with a digit`,
    );
  }
  return schema;
}

const RETRYABLE = new Set(["40001", "40P01"]); // serialization failure, deadlock detected

/** A transaction that PostgreSQL rolled back on its own and that is safe to run again. */
export function isRetryable(error: unknown): boolean {
  return typeof error === "object" && error !== null && RETRYABLE.has((error as { code?: string }).code ?? "");
}

/**
 * The server or the connection is gone (restart, terminated backend, network):
 * nothing the statement did can be trusted to have happened or not.
 */
export function isConnectionError(error: unknown): boolean {
  if (typeof error !== "object" || error === null) return false;
  const code = (error as { code?: string }).code ?? "";
  if (code.startsWith("08") || code === "57P01" || code === "57P02" || code === "57P03") return true;
  if (["ECONNREFUSED", "ECONNRESET", "EPIPE", "ETIMEDOUT", "ENOTFOUND", "EHOSTUNREACH"].includes(code)) return true;
  const message = (error as { message?: string }).message ?? "";
  return /Connection terminated|connection timeout|Client has encountered a connection error|not queryable|Client was closed/i.test(message);
}

/** The error a caller sees when the database cannot be reached. */
export function unavailable(cause: unknown): OutlastError {
  const detail = cause instanceof Error ? cause.message : String(cause);
  return new OutlastError("unavailable", `PostgreSQL is unavailable (${detail}); the write was not confirmed, try again`, { cause });
}

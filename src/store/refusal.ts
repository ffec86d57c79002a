import { OutlastError } from "../core/errors.js";

/**
 * The one rule of both stores' group commits. A write refuses (a full queue,
 * a conflict) by throwing an OutlastError before it runs any statement: the
 * others of its batch commit, and it rejects with that error. Any other throw
 * may come after part of the write, so the write is rolled back whole before
 * it rejects (SQLite: its savepoint; PostgreSQL: the batch's transaction,
 * then each write again in a transaction of its own).
 */
export function isRefusal(error: unknown): error is OutlastError {
  return error instanceof OutlastError;
}

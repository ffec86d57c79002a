import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { PG_URL } from "../support/pg.js";
import { ROOT } from "../cli/cli.js";

/** The tasks module every process of these tests loads. */
export const MN_TASKS = join(ROOT, "test/fixtures/multinode-tasks.ts");

/**
 * The test database's URL naming `schema`, and an `application_name` when
 * given, so a fault test can find (and terminate) exactly its own processes'
 * connections among everyone else's on the shared server.
 */
export function dbUrl(schema: string, applicationName?: string): string {
  const url = new URL(PG_URL);
  url.searchParams.set("schema", schema);
  if (applicationName !== undefined) url.searchParams.set("application_name", applicationName);
  return url.toString();
}

/** The same URL without the `schema` parameter, for a `pg` pool or `postgresStore` (which take the schema apart). */
export function connectionString(applicationName?: string): string {
  const url = new URL(PG_URL);
  if (applicationName !== undefined) url.searchParams.set("application_name", applicationName);
  return url.toString();
}

/** Polls `check` until it returns a value other than undefined/false, or fails after `ms` with `what`. */
export async function until<T>(check: () => Promise<T | undefined | false> | T | undefined | false, what: string, ms = 30_000, everyMs = 50): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}

/** Rejects after `ms` unless `promise` settles first (the timer never outlives it). */
export async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** One step execution the fixture appended to its log. */
export interface Execution {
  taskId: string;
  step: string;
  pid: number;
  attempt: number;
}

export function readExecutions(file: string): Execution[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, "utf8")
    .split("\n")
    .filter((line) => line.length > 0)
    .map((line) => {
      const [taskId, step, pid, attempt] = line.split(" ");
      return { taskId: taskId!, step: step!, pid: Number(pid), attempt: Number(attempt) };
    });
}

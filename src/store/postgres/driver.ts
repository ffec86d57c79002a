import { createRequire } from "node:module";
import type pg from "pg";

let driver: typeof pg | undefined;

/**
 * The `pg` driver, loaded on first use. It is an optional peer dependency
 * (SQLite users never install it), so its absence is told in words, not as
 * a bare "Cannot find module".
 */
export function pgDriver(): typeof pg {
  if (driver) return driver;
  try {
    // pg is CommonJS: require keeps this synchronous, so postgresStore() stays a plain function.
    driver = createRequire(import.meta.url)("pg") as typeof pg;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "MODULE_NOT_FOUND") throw error;
    throw Object.assign(
      new Error('outlast/postgres needs the "pg" package, which is not installed. Install it beside outlast: npm install pg', { cause: error }),
      { code: "ERR_OUTLAST_PG_MISSING" },
    );
  }
  return driver;
}

import type { TestContext } from "node:test";
import { Outlast, type OutlastOptions } from "../../src/index.js";
import { sqliteStore } from "../../src/store/sqlite/index.js";
import { tempDbPath } from "./temp.js";

/** An engine on a fresh SQLite file, closed when the test ends. */
export function makeEngine(t: TestContext, options: Partial<OutlastOptions> & { path?: string } = {}): Outlast {
  const path = options.path ?? tempDbPath(t);
  const outlast = new Outlast({
    leaseMs: 2_000,
    progressIntervalMs: 20,
    pollIntervalMs: 200,
    abortGraceMs: 500,
    logger: quietLogger,
    ...options,
    store: options.store ?? sqliteStore({ path }),
  });
  t.after(() => outlast.close({ graceMs: 0 }));
  return outlast;
}

export const quietLogger = { info() {}, warn() {}, error() {} };

/** Resolves when `predicate` holds, polling; rejects after `ms` with `what` in the message. */
export async function until(predicate: () => boolean | Promise<boolean>, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await predicate()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Collects every event `watch` yields until it ends. */
export async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of iterable) out.push(item);
  return out;
}

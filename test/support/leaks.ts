import { afterEach, beforeEach } from "node:test";

type Cleanup = () => unknown;
const cleanups = new WeakMap<object, Cleanup[]>();

/**
 * Fails the test that leaves something open: timers, sockets, child
 * processes, servers. Call once at the top of a test file.
 *
 * node:test runs `afterEach` before a test's `t.after` callbacks, so this
 * takes over `t.after`: those cleanups run here, last registered first,
 * and only then are the active resources compared with the count from
 * before the test (giving asynchronous closes a moment to land).
 */
export function guardLeaks(): void {
  checkGuardSees();
  let before: Map<string, number>;
  beforeEach((t) => {
    const list: Cleanup[] = [];
    cleanups.set(t, list);
    (t as { after: (fn: Cleanup) => void }).after = (fn: Cleanup) => void list.push(fn);
    before = count();
  });
  afterEach(async (t) => {
    const list = cleanups.get(t) ?? [];
    const errors: unknown[] = [];
    while (list.length > 0) {
      try {
        await list.pop()!();
      } catch (error) {
        errors.push(error);
      }
    }
    if (errors.length > 0) throw errors[0];
    let extra: string[] = [];
    for (let i = 0; i < 100; i++) {
      extra = leaked(before, count());
      if (extra.length === 0) return;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    throw new Error(`This test leaked open resources: ${extra.join(", ")}`);
  });
}

function count(): Map<string, number> {
  const counts = new Map<string, number>();
  for (const kind of process.getActiveResourcesInfo()) counts.set(kind, (counts.get(kind) ?? 0) + 1);
  return counts;
}

function leaked(before: Map<string, number>, after: Map<string, number>): string[] {
  const out: string[] = [];
  for (const [kind, n] of after) {
    const extra = n - (before.get(kind) ?? 0);
    if (extra > 0) out.push(`${extra} × ${kind}`);
  }
  return out;
}

/**
 * The guard rests on process.getActiveResourcesInfo, an experimental API: if
 * a Node upgrade removed it or stopped it listing timers and sockets, every
 * test would pass the guard. A canary timer must show up, or the file fails.
 */
function checkGuardSees(): void {
  if (typeof process.getActiveResourcesInfo !== "function") throw new Error("The leak guard needs process.getActiveResourcesInfo, which this Node.js lacks");
  const before = count().get("Timeout") ?? 0;
  const canary = setTimeout(() => {}, 60_000);
  const seen = count().get("Timeout") ?? 0;
  clearTimeout(canary);
  if (seen !== before + 1) throw new Error("The leak guard cannot see an open timer on this Node.js: process.getActiveResourcesInfo changed, so leaks would pass unseen");
}

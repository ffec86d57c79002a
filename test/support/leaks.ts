import { afterEach, beforeEach } from "node:test";

/**
 * Fails the test that leaves something open: timers, sockets, child
 * processes, file watchers. Compares the kinds of active resources before
 * and after each test, giving asynchronous closes a moment to land.
 */
export function guardLeaks(): void {
  let before: Map<string, number>;
  beforeEach(() => {
    before = count();
  });
  afterEach(async () => {
    let extra: string[] = [];
    for (let i = 0; i < 50; i++) {
      extra = leaked(before, count());
      if (extra.length === 0) return;
      await new Promise((resolve) => setImmediate(resolve));
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
    // The polling loop above holds one Timeout and one Immediate of its own.
    const allowance = kind === "Timeout" || kind === "Immediate" ? 1 : 0;
    const extra = n - (before.get(kind) ?? 0) - allowance;
    if (extra > 0) out.push(`${extra} × ${kind}`);
  }
  return out;
}

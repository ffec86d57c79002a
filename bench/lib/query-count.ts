import { createRequire } from "node:module";

/**
 * Counts SQL statements sent by this process, whichever copy of `pg` sends
 * them (Outlast's from the repo root, the peers' from bench/node_modules):
 * statements per task explain throughput independently of machine noise.
 */
let sent = 0;

export function countPgQueries(): void {
  for (const from of [new URL("../../package.json", import.meta.url), new URL("../package.json", import.meta.url)]) {
    let pg: { Client: { prototype: { query: (...args: unknown[]) => unknown; __benchCounted?: boolean } } };
    try {
      pg = createRequire(from)("pg") as typeof pg;
    } catch {
      continue;
    }
    const proto = pg.Client.prototype;
    if (proto.__benchCounted) continue;
    const original = proto.query;
    proto.query = function (this: unknown, ...args: unknown[]) {
      sent++;
      return original.apply(this, args);
    };
    proto.__benchCounted = true;
  }
}

export function pgQueriesSent(): number {
  return sent;
}

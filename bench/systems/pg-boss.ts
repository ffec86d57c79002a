import PgBoss from "pg-boss";
import pg from "pg";
import { BATCH, type Adapter } from "../lib/adapter.js";
import type { ScenarioSpec } from "../lib/protocol.js";
import { chunks } from "../lib/stats.js";
import { Checker, dropSchema } from "./pg-schema.js";

/** Jobs fetched per poll: pg-boss's documented way to raise throughput. */
const FETCH_BATCH = 500;
/** pg-boss's lowest allowed polling interval. */
const POLLING_SECONDS = 0.5;
const QUEUE = "noop";

/**
 * pg-boss 10 (the newest line that runs on Node 20) in a fresh schema: batch
 * insert, batch fetch, lowest polling interval, no maintenance or cron work.
 */
export function pgBossAdapter(spec: ScenarioSpec): Adapter {
  let boss: PgBoss | null = null;
  let checker: Checker | null = null;

  const open = async (): Promise<PgBoss> => {
    boss = new PgBoss({ connectionString: spec.pgUrl, schema: spec.storage, supervise: false, schedule: false, max: 10 });
    boss.on("error", (error) => console.error("pg-boss error:", error.message));
    await boss.start();
    return boss;
  };

  return {
    seesAllCompletions: false,
    async prepare() {
      await dropSchema(spec.pgUrl, spec.storage);
      const b = new PgBoss({ connectionString: spec.pgUrl, schema: spec.storage, supervise: false, schedule: false });
      await b.start();
      await b.createQueue(QUEUE);
      await b.stop({ graceful: false, wait: true });
    },
    async startWorker(_concurrency, hooks) {
      const b = await open();
      await b.work(QUEUE, { batchSize: FETCH_BATCH, pollingIntervalSeconds: POLLING_SECONDS }, async (jobs) => {
        for (let i = 0; i < jobs.length; i++) hooks.started();
        // pg-boss completes the batch after this returns, without waiting; confirmDone sees the commit.
        queueMicrotask(() => hooks.finished(jobs.length));
        return null;
      });
    },
    async connect() {
      await open();
    },
    async submitMany(count) {
      const b = boss!;
      for (const size of chunks(count, BATCH)) {
        await b.insert(Array.from({ length: size }, () => ({ name: QUEUE, data: {} })));
      }
    },
    async submitOne() {
      await boss!.send(QUEUE, {});
    },
    async confirmDone(count) {
      checker ??= new Checker(spec.pgUrl);
      const n = await checker.count(
        `SELECT count(*)::int AS n FROM ${pg.escapeIdentifier(spec.storage)}.job WHERE name = $1 AND state = 'completed'`,
        [QUEUE],
      );
      return n >= count;
    },
    async close() {
      await boss?.stop({ graceful: true, wait: true, timeout: 10_000 });
      await checker?.end();
      boss = null;
      checker = null;
    },
    async destroy() {
      await dropSchema(spec.pgUrl, spec.storage);
    },
  };
}

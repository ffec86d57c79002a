import { Logger, makeWorkerUtils, run, type Runner, type WorkerUtils } from "graphile-worker";
import pg from "pg";
import { BATCH, type Adapter } from "../lib/adapter.js";
import type { ScenarioSpec } from "../lib/protocol.js";
import { chunks } from "../lib/stats.js";
import { Checker, dropSchema } from "./pg-schema.js";

/** Jobs locked and pulled down per fetch (Graphile Worker's local queue). */
const LOCAL_QUEUE = 500;

const quiet = new Logger(() => (level, message) => {
  if (level === "error") console.error("graphile-worker:", message);
});

/**
 * Graphile Worker in a fresh schema, tuned as its performance docs advise:
 * a local queue of 500, batched completions, addJobs for submitting.
 */
export function graphileAdapter(spec: ScenarioSpec): Adapter {
  let runner: Runner | null = null;
  let utils: WorkerUtils | null = null;
  let checker: Checker | null = null;
  const shared = { connectionString: spec.pgUrl, schema: spec.storage, logger: quiet };

  const openUtils = async (): Promise<WorkerUtils> => {
    utils = await makeWorkerUtils(shared);
    return utils;
  };

  return {
    seesAllCompletions: false,
    async prepare() {
      await dropSchema(spec.pgUrl, spec.storage);
      const u = await makeWorkerUtils(shared);
      try {
        await u.migrate();
      } finally {
        await u.release();
      }
    },
    async startWorker(concurrency, hooks) {
      await openUtils();
      runner = await run({
        ...shared,
        concurrency,
        maxPoolSize: Math.max(10, Math.min(concurrency + 2, 20)),
        noHandleSignals: true,
        taskList: {
          noop: async () => {
            hooks.started();
          },
        },
        preset: { worker: { localQueue: { size: LOCAL_QUEUE }, completeJobBatchDelay: 0 } },
      });
      runner.events.on("job:success", () => hooks.finished(1));
    },
    async connect() {
      await openUtils();
    },
    async submitMany(count) {
      const u = utils!;
      for (const size of chunks(count, BATCH)) {
        await u.addJobs(Array.from({ length: size }, () => ({ identifier: "noop", payload: {} })));
      }
    },
    async submitOne() {
      await utils!.addJob("noop", {});
    },
    async confirmDone(count) {
      void count;
      // Graphile Worker deletes a job when it completes it.
      checker ??= new Checker(spec.pgUrl);
      return (await checker.count(`SELECT count(*)::int AS n FROM ${pg.escapeIdentifier(spec.storage)}._private_jobs`)) === 0;
    },
    async close() {
      await runner?.stop();
      await utils?.release();
      await checker?.end();
      runner = null;
      utils = null;
      checker = null;
    },
    async destroy() {
      await dropSchema(spec.pgUrl, spec.storage);
    },
  };
}

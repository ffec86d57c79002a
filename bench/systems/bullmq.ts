import { Queue, Worker } from "bullmq";
import { Redis } from "ioredis";
import { BATCH, type Adapter } from "../lib/adapter.js";
import type { ScenarioSpec } from "../lib/protocol.js";
import { chunks } from "../lib/stats.js";

/**
 * BullMQ on the local Redis, in its documented fast path: addBulk for
 * submitting, one Worker with `concurrency` slots. Jobs are kept after
 * completion, as Outlast keeps finished tasks.
 */
export function bullmqAdapter(spec: ScenarioSpec): Adapter {
  const url = new URL(spec.redisUrl);
  const connection = { host: url.hostname, port: Number(url.port || 6379), maxRetriesPerRequest: null };
  const name = spec.storage;
  let queue: Queue | null = null;
  let worker: Worker | null = null;

  const openQueue = async (): Promise<Queue> => {
    queue = new Queue(name, { connection });
    await queue.waitUntilReady();
    return queue;
  };

  return {
    seesAllCompletions: false,
    async prepare() {
      await wipe(spec.redisUrl, name);
    },
    async startWorker(concurrency, hooks) {
      await openQueue();
      worker = new Worker(
        name,
        async () => {
          hooks.started();
          return null;
        },
        { connection, concurrency },
      );
      worker.on("completed", () => hooks.finished(1));
      worker.on("error", (error) => console.error("bullmq worker error:", error.message));
      await worker.waitUntilReady();
    },
    async connect() {
      await openQueue();
    },
    async submitMany(count) {
      const q = queue!;
      for (const size of chunks(count, BATCH)) {
        await q.addBulk(Array.from({ length: size }, () => ({ name: "noop", data: {} })));
      }
    },
    async submitOne() {
      await queue!.add("noop", {});
    },
    async close() {
      await worker?.close();
      await queue?.close();
      worker = null;
      queue = null;
    },
    async destroy() {
      await wipe(spec.redisUrl, name);
    },
  };
}

/** Deletes every key of the queue (BullMQ's default "bull:<name>:" prefix). */
export async function wipe(redisUrl: string, name: string): Promise<void> {
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: 2 });
  try {
    let cursor = "0";
    do {
      const [next, keys] = await redis.scan(cursor, "MATCH", `bull:${name}:*`, "COUNT", 1000);
      cursor = next;
      if (keys.length > 0) await redis.unlink(...keys);
    } while (cursor !== "0");
  } finally {
    redis.disconnect();
  }
}

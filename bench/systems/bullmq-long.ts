import { Queue, Worker, type Job } from "bullmq";
import { Redis } from "ioredis";
import { FleetWindow, fleetResult, reportFor } from "../lib/fleet.js";
import type { ScenarioResult, ScenarioSpec } from "../lib/protocol.js";
import { nowMs, peakRssMb, waitUntil } from "../lib/stats.js";
import { wipe } from "./bullmq.js";

/** Entries of a queue's events stream kept: enough that none of the run's progress events is trimmed before it is counted. */
const EVENTS_KEPT = 20_000_000;

/**
 * BullMQ's documented way to make a job resumable step by step: the handler
 * records where it is with `job.updateData()` after each step, and a retried
 * job reads it back. Each update is a Redis write the handler waits for, as
 * each Outlast step is; unlike Outlast, only the latest step's state is kept.
 */
export async function bullmqSteps(spec: ScenarioSpec): Promise<ScenarioResult> {
  const steps = spec.perTask ?? 1_000;
  const { queue, connection } = await openQueue(spec);
  let done = 0;
  let worker: Worker | null = null;
  try {
    worker = new Worker(
      spec.storage,
      async (job: Job) => {
        for (let i = 0; i < steps; i++) await job.updateData({ step: i, result: i });
        return null;
      },
      { connection, concurrency: spec.count },
    );
    worker.on("completed", () => void done++);
    await worker.waitUntilReady();
    const start = nowMs();
    await queue.addBulk(Array.from({ length: spec.count }, () => ({ name: "long", data: {} })));
    await waitUntil(() => done >= spec.count, 240_000, `${spec.count} jobs of ${steps} steps to finish`, 5);
    const seconds = (nowMs() - start) / 1000;
    return {
      metrics: [{ name: "steps/s", value: (spec.count * steps) / seconds, unit: "steps/s", better: "higher" }],
      peakRssMb: peakRssMb(),
      detail: { tasks: spec.count, stepsPerTask: steps, totalMs: Math.round(seconds * 1000) },
    };
  } finally {
    await worker?.close();
    await queue.close();
    await wipe(spec.redisUrl, spec.storage);
  }
}

/**
 * `count` jobs running at once, each calling `job.updateProgress()` at the
 * same rate as the Outlast tasks (each call awaited, so a job that Redis
 * cannot keep up with reports less often). BullMQ saves every call: the
 * job's progress field and one entry on the queue's events stream, which is
 * what is counted here (the stream kept long enough that nothing is trimmed).
 */
export async function bullmqProgressFleet(spec: ScenarioSpec): Promise<ScenarioResult> {
  const perSecond = spec.perTask ?? 100;
  const seconds = spec.seconds ?? 2;
  const { queue, connection } = await openQueue(spec);
  const window = new FleetWindow();
  let done = 0;
  let worker: Worker | null = null;
  try {
    worker = new Worker(
      spec.storage,
      async (job: Job) => {
        window.begin();
        const made = await reportFor(seconds, perSecond, (current, total) => job.updateProgress({ current, total }));
        window.end(made);
        return null;
      },
      { connection, concurrency: spec.count },
    );
    worker.on("completed", () => void done++);
    await worker.waitUntilReady();
    await queue.addBulk(Array.from({ length: spec.count }, () => ({ name: "report", data: {} })));
    await waitUntil(() => done >= spec.count, 120_000, `${spec.count} reporting jobs to finish`, 5);
    const saved = await countProgressEvents(spec.redisUrl, `bull:${spec.storage}:events`);
    return fleetResult(window, { tasks: spec.count, perSecond, seconds, saved });
  } finally {
    await worker?.close();
    await queue.close();
    await wipe(spec.redisUrl, spec.storage);
  }
}

async function openQueue(spec: ScenarioSpec) {
  const url = new URL(spec.redisUrl);
  const connection = { host: url.hostname, port: Number(url.port || 6379), maxRetriesPerRequest: null };
  await wipe(spec.redisUrl, spec.storage);
  const queue = new Queue(spec.storage, { connection, streams: { events: { maxLen: EVENTS_KEPT } } });
  await queue.waitUntilReady();
  return { queue, connection };
}

/** Progress entries on an events stream, read in pages. */
async function countProgressEvents(redisUrl: string, key: string): Promise<number> {
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: 2 });
  try {
    let count = 0;
    let from = "-";
    for (;;) {
      const page = (await redis.xrange(key, from, "+", "COUNT", 10_000)) as [string, string[]][];
      for (const [, fields] of page) if (fields[0] === "event" && fields[1] === "progress") count++;
      if (page.length < 10_000) return count;
      from = `(${page.at(-1)![0]}`;
    }
  } finally {
    redis.disconnect();
  }
}

import { z } from "zod";

// What the API answers, for the OpenAPI document (API.md, docs/api-extensions.md).
// The server does not parse its own answers with these; test/server/openapi.test.ts
// checks the real answers of every documented example against them, so they
// cannot drift from what the routes send. Objects are loose: a field added
// later is an extension, not a break.

const time = z.string().meta({ format: "date-time" });

export const errorSchema = z
  .object({
    error: z.looseObject({ code: z.string(), message: z.string(), details: z.unknown().optional() }),
  })
  .meta({ id: "Error", description: "The body of every non-2xx answer" });

const childCounts = z.looseObject({
  total: z.number(),
  queued: z.number(),
  running: z.number(),
  waiting: z.number(),
  succeeded: z.number(),
  failed: z.number(),
  canceled: z.number(),
});

const progress = z.looseObject({
  percent: z.number().optional(),
  current: z.number().optional(),
  total: z.number().optional(),
  message: z.string().optional(),
  data: z.unknown().optional(),
  children: childCounts.optional(),
});

const taskError = z.looseObject({ message: z.string(), code: z.string().optional(), unrecoverable: z.literal(true).optional() });

const waitingFor = z.union([
  z.looseObject({ kind: z.literal("children") }),
  z.looseObject({ kind: z.literal("sleep"), until: time }),
  z.looseObject({ kind: z.literal("signal"), name: z.string(), until: time.nullable() }),
]);

export const taskSchema = z
  .looseObject({
    id: z.string(),
    name: z.string(),
    queue: z.string(),
    owner: z.string(),
    title: z.string().nullable(),
    state: z.enum(["queued", "running", "waiting", "succeeded", "failed", "canceled"]),
    priority: z.number(),
    attempt: z.number().int(),
    maxAttempts: z.number().int(),
    progress,
    position: z.number().int().nullable(),
    etaMs: z.number().nullable(),
    remainingMs: z.number().nullable(),
    workerLost: z.boolean(),
    result: z.unknown(),
    error: taskError.nullable(),
    createdAt: time,
    runAt: time,
    startedAt: time.nullable(),
    finishedAt: time.nullable(),
    lastSeq: z.number().int(),
    parentId: z.string().nullable(),
    childKey: z.string().nullable(),
    waitingFor: waitingFor.nullable(),
    deadLetter: z.boolean(),
  })
  .meta({ id: "Task", description: "A task (API.md, \"Tasks\"; the extensions' fields)" });

export const taskAnswer = z.looseObject({ task: taskSchema });
export const taskWithTokenAnswer = z.looseObject({ task: taskSchema, token: z.string().meta({ description: "A task token: reads and watches this task" }) });
export const taskPageAnswer = z.looseObject({ tasks: z.array(taskSchema), nextCursor: z.string().nullable() });
export const tasksAnswer = z.looseObject({ tasks: z.array(taskSchema) });
export const countAnswer = z.looseObject({ count: z.number().int() });
export const okAnswer = z.looseObject({ ok: z.literal(true) });
export const tokenAnswer = z.looseObject({ token: z.string(), expiresAt: time });
export const sessionAnswer = z.looseObject({ owner: z.string(), token: z.string(), expiresAt: time });

const limit = z.number().int().nullable();

export const queueSchema = z
  .looseObject({
    name: z.string(),
    paused: z.boolean(),
    concurrency: limit,
    maxQueued: limit,
    perOwner: z.looseObject({ concurrency: limit, maxQueued: limit }),
    rateLimit: z.looseObject({ limit: z.number().int(), periodMs: z.number().int(), keyed: z.boolean() }).nullable(),
    keyConcurrency: z
      .looseObject({ limit: limit, tiers: z.record(z.string(), z.number().int()) })
      .nullable()
      .meta({ description: "Running tasks per key (null: the queue is not keyed): the default per key, and limits by tier" }),
    keyLimits: z.record(z.string(), z.number().int()).meta({ description: "An operator's limits for single keys" }),
    overridden: z.array(z.string()),
    counts: z.record(z.string(), z.number().int()),
  })
  .meta({ id: "Queue", description: "A queue with its limits and counts" });

export const queueAnswer = z.looseObject({ queue: queueSchema });
export const queuesAnswer = z.looseObject({ queues: z.array(queueSchema) });

export const artifactsAnswer = z.looseObject({
  artifacts: z.array(z.looseObject({ taskId: z.string(), name: z.string(), size: z.number().int(), contentType: z.string(), createdAt: time })),
});

export const signalAnswer = z.looseObject({ task: taskSchema, delivered: z.boolean() });

export const workersAnswer = z.looseObject({
  workers: z.array(
    z.looseObject({
      id: z.string(),
      host: z.string().nullable(),
      pid: z.number().int().nullable(),
      queues: z.array(z.string()).nullable(),
      startedAt: time,
      heartbeatAt: time,
      running: z.array(z.string()),
      remote: z
        .looseObject({ keyId: z.string(), keyName: z.string() })
        .nullable()
        .meta({ description: "An HTTP worker's key; null for a process running the library" }),
    }),
  ),
  watchers: z.number().int(),
  streams: z.number().int(),
});

export const nodesAnswer = z.looseObject({
  nodes: z.array(
    z.looseObject({
      id: z.string(),
      self: z.boolean(),
      host: z.string(),
      pid: z.number().int(),
      startedAt: time,
      heartbeatAt: time.nullable(),
      streams: z.number().int().nullable(),
      listeners: z.number().int().nullable(),
      running: z.number().int(),
    }),
  ),
});

const event = z.looseObject({ taskId: z.string(), seq: z.number().int(), attempt: z.number().int(), at: time, type: z.string() });

export const detailAnswer = z.looseObject({
  task: taskSchema,
  input: z.unknown(),
  checkpoint: z.unknown(),
  idempotencyKey: z.string().nullable(),
  timeoutMs: z.number().nullable(),
  workerId: z.string().nullable(),
  cancelRequested: z.boolean(),
  events: z.array(event),
  nextAfter: z.number().int().nullable(),
});

export const statsAnswer = z.looseObject({}).meta({ description: "Per-queue and all-queue time buckets (src/server/task-stats.ts)" });

/** The OpenAPI document itself. */
export const documentAnswer = z.looseObject({ openapi: z.string(), info: z.looseObject({}), paths: z.record(z.string(), z.unknown()) });

import { z } from "zod";
import { MAX_LEASE_MS, MIN_LEASE_MS } from "./worker-lease.js";

/** Bodies of the worker routes (docs/api-extensions.md, "Workers over HTTP"); all strict, so a misspelt field is an error. */

const workerId = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/, 'must be 1-128 letters, digits, ".", "_", ":" or "-"');
const host = z.string().min(1).max(255).optional();
const pid = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).optional();
const lease = z.string().min(1).max(64);
const taskId = z.string().min(1).max(128);
const taskError = z.object({ message: z.string().min(1).max(4000), code: z.string().min(1).max(100).optional() }).strict();

export const workerKeyBody = z.object({ name: z.string().min(1).max(100), queues: z.array(z.string().min(1).max(128)).min(1).max(100) }).strict();

export const claimBody = z
  .object({
    workerId,
    names: z
      .array(z.string().min(1).max(128))
      .min(1)
      .max(100)
      .refine((names) => new Set(names).size === names.length, "must not name a task twice"),
    limit: z.number().int().min(1).max(100).optional(),
    leaseMs: z.number().int().min(MIN_LEASE_MS).max(MAX_LEASE_MS).optional(),
    waitMs: z.number().int().min(0).max(30_000).optional(),
    host,
    pid,
  })
  .strict();

export const heartbeatAllBody = z
  .object({ workerId, tasks: z.array(z.object({ taskId, lease }).strict()).max(1000), host, pid })
  .strict();

export const heartbeatBody = z.object({ workerId, lease }).strict();

export const progressBody = z
  .object({
    lease,
    progress: z
      .object({
        percent: z.number().min(0).max(100).optional(),
        current: z.number().optional(),
        total: z.number().optional(),
        message: z.string().optional(),
        data: z.unknown().optional(),
      })
      .strict(),
  })
  .strict();

export const stepBody = z.object({ lease, result: z.unknown().optional() }).strict();
export const checkpointBody = z.object({ lease, data: z.unknown().optional() }).strict();
export const titleBody = z.object({ lease, title: z.unknown() }).strict();
export const logBody = z.object({ lease, message: z.string().min(1).max(10_000) }).strict();

export const finishBody = z.discriminatedUnion("outcome", [
  z.object({ lease, outcome: z.literal("succeeded"), result: z.unknown().optional() }).strict(),
  z.object({ lease, outcome: z.literal("failed"), error: taskError, retryable: z.boolean().optional() }).strict(),
  z.object({ lease, outcome: z.literal("retry"), afterMs: z.number().int().min(0).max(365 * 24 * 3600 * 1000), error: taskError.optional() }).strict(),
  z.object({ lease, outcome: z.literal("released") }).strict(),
]);
export type FinishBody = z.infer<typeof finishBody>;

import { z } from "zod";
import { OutlastError } from "../core/errors.js";

/**
 * Reads a JSON body of at most `limit` bytes. Counts while reading, so a
 * missing or lying Content-Length cannot make the server hold more.
 */
export async function readJson(request: Request, limit: number): Promise<unknown> {
  const declared = request.headers.get("content-length");
  if (declared !== null && Number(declared) > limit) throw tooLarge(limit);
  if (!request.body) throw new OutlastError("bad_request", "The request needs a JSON body");
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel().catch(() => {});
      throw tooLarge(limit);
    }
    chunks.push(value);
  }
  const bytes = new Uint8Array(size);
  let at = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, at);
    at += chunk.byteLength;
  }
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw new OutlastError("bad_request", "The body is not valid UTF-8");
  }
  if (text.trim().length === 0) throw new OutlastError("bad_request", "The request needs a JSON body");
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new OutlastError("bad_request", "The body is not valid JSON");
  }
}

function tooLarge(limit: number): OutlastError {
  return new OutlastError("payload_too_large", `The body is larger than ${limit} bytes`, { details: { limit } });
}

/** Parses with a zod schema; a mismatch is `bad_request` naming the fields. */
export function parseBody<T>(schema: z.ZodType<T>, value: unknown): T {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issues = result.error.issues.map((issue) => ({ path: issue.path.map((p) => (typeof p === "number" ? p : String(p))), message: issue.message }));
  const first = issues[0];
  const where = first && first.path.length > 0 ? `${first.path.join(".")}: ` : "";
  throw new OutlastError("bad_request", `${where}${first?.message ?? "The body has the wrong shape"}`, { details: issues });
}

const name = z.string().min(1).max(128);

export const submitBody = z.object({
  name,
  input: z.unknown().optional(),
  queue: z.string().optional(),
  priority: z.number().optional(),
  idempotencyKey: z.string().optional(),
  runAt: z.union([z.string(), z.number()]).optional(),
  delayMs: z.number().optional(),
  maxAttempts: z.number().optional(),
  timeoutMs: z.number().optional(),
  /** Admin only: whose task it is. */
  owner: z.string().optional(),
});
export type SubmitBody = z.infer<typeof submitBody>;

/** `POST /api/v1/tasks/batch`: one task per input, the same options for all; no idempotency key. */
export const batchBody = submitBody
  .omit({ input: true, idempotencyKey: true })
  .extend({ inputs: z.array(z.unknown()).min(1).max(10_000) })
  // Strict: an idempotencyKey or input sent here by mistake is an error, not silently dropped.
  .strict();

const limit = z.number().int().min(1).max(1_000_000_000).nullable().optional();

/** `PATCH /api/v1/queues/:name`: an operator's change of a queue's limits, in the queue options' own names. */
export const queuePatchBody = z
  .object({
    concurrency: limit,
    maxQueued: limit,
    perOwner: z.object({ concurrency: limit, maxQueued: limit }).strict().optional(),
    paused: z.boolean().optional(),
    /** Drop every earlier change first: back to what code declares. */
    reset: z.boolean().optional(),
  })
  .strict();

export const tokenBody = z.object({
  owner: z.string().min(1).max(256),
  ttlSeconds: z.number().int().min(1).optional(),
  queues: z.array(z.string().min(1).max(128)).max(100).optional(),
});

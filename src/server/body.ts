import { MAX_RATE_PERIOD_MS } from "../core/queue-limits.js";
import { z } from "zod";
import { OutlastError } from "../core/errors.js";
import { MAX_BODY_DEPTH, nestsDeeperThan } from "./json-depth.js";
import { MAX_TTL_SECONDS } from "./tokens.js";

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
  if (nestsDeeperThan(text, MAX_BODY_DEPTH)) {
    throw new OutlastError("bad_request", `The body nests arrays and objects more than ${MAX_BODY_DEPTH} levels deep; flatten it`, {
      details: { maxDepth: MAX_BODY_DEPTH },
    });
  }
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new OutlastError("bad_request", "The body is not valid JSON");
  }
}

function tooLarge(limit: number): OutlastError {
  return new OutlastError("payload_too_large", `The body is larger than ${limit} bytes`, { details: { limit } });
}

/** One problem with a body, as `details` lists them; `field` names an unknown field. */
interface BodyIssue {
  path: (string | number)[];
  message: string;
  field?: string;
}

/**
 * Parses with a zod schema; a mismatch is `bad_request` naming the fields.
 * An unknown field of a strict schema is named with the known one it
 * probably meant, so a misspelt option is an error that says how to fix it.
 */
export function parseBody<T>(schema: z.ZodType<T>, value: unknown): T {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issues = result.error.issues.flatMap((issue): BodyIssue[] => {
    const path = issue.path.map((p) => (typeof p === "number" ? p : String(p)));
    if (issue.code !== "unrecognized_keys") return [{ path, message: issue.message }];
    const known = knownFields(schema, path);
    return issue.keys.map((field) => ({ path, field, message: unknownFieldMessage(field, known) }));
  });
  const first = issues[0];
  const where = first && first.path.length > 0 ? `${first.path.join(".")}: ` : "";
  throw new OutlastError("bad_request", `${where}${first?.message ?? "The body has the wrong shape"}`, { details: issues });
}

function unknownFieldMessage(field: string, known: readonly string[]): string {
  const meant = closestField(field, known);
  if (meant !== null) return `Unknown field "${field}": did you mean "${meant}"?`;
  return known.length > 0 ? `Unknown field "${field}"; the fields are ${known.join(", ")}` : `Unknown field "${field}"`;
}

/** The fields of the object schema at `path` (through optional and nullable wrappers). */
function knownFields(schema: z.ZodType, path: readonly (string | number)[]): string[] {
  let at: z.ZodType | undefined = schema;
  for (let i = 0; at !== undefined; i++) {
    while (at instanceof z.ZodOptional || at instanceof z.ZodNullable) at = at.unwrap() as z.ZodType;
    if (!(at instanceof z.ZodObject)) return [];
    const shape = at.shape as Record<string, z.ZodType>;
    if (i === path.length) return Object.keys(shape);
    at = shape[String(path[i])];
  }
  return [];
}

/** The known field a misspelling most likely meant: same letters but case, `_` and `-`, or two edits away. */
function closestField(field: string, known: readonly string[]): string | null {
  const plain = (text: string) => text.toLowerCase().replace(/[_-]/g, "");
  let best: { name: string; distance: number } | null = null;
  for (const name of known) {
    const distance = editDistance(plain(field), plain(name));
    if (distance <= 2 && (best === null || distance < best.distance)) best = { name, distance };
  }
  return best?.name ?? null;
}

/** Optimal string alignment distance: insertions, deletions, substitutions and swaps of neighbours. */
function editDistance(a: string, b: string): number {
  if (Math.abs(a.length - b.length) > 2) return 3;
  const rows: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  const cell = (i: number, j: number) => rows[i]![j]!;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min(cell(i - 1, j) + 1, cell(i, j - 1) + 1, cell(i - 1, j - 1) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d = Math.min(d, cell(i - 2, j - 2) + 1);
      rows[i]![j] = d;
    }
  }
  return cell(a.length, b.length);
}

const name = z.string().min(1).max(128);

export const submitBody = z.object({
  name,
  input: z.unknown().optional(),
  queue: z.string().optional(),
  priority: z.number().optional(),
  idempotencyKey: z.string().optional(),
  /** Checked by engine/submit-options.ts (mode, delays, and with what it may come), which names the field. */
  dedupe: z
    .object({ key: z.string(), mode: z.string(), delayMs: z.number().optional(), maxDelayMs: z.number().optional() })
    .strict()
    .optional(),
  runAt: z.union([z.string(), z.number()]).optional(),
  delayMs: z.number().optional(),
  maxAttempts: z.number().optional(),
  timeoutMs: z.number().optional(),
  /** What its start takes from its queue's rate budget; checked by the engine (a whole number from 1 to the limit). */
  cost: z.number().optional(),
  /** Checked by core/title.ts, so a bad one answers invalid_title whatever its type. */
  title: z.unknown().optional(),
  /** Admin only: whose task it is. */
  owner: z.string().optional(),
})
  // Strict: a misspelt option (`prioirty`) is an error, not silently ignored.
  .strict();
export type SubmitBody = z.infer<typeof submitBody>;

/** `POST /api/v1/tasks/batch`: one task per input, the same options for all; no idempotency key. */
export const batchBody = submitBody
  .omit({ input: true, idempotencyKey: true, dedupe: true })
  .extend({ inputs: z.array(z.unknown()).min(1).max(10_000) })
  // Strict as well: an idempotencyKey or input sent here by mistake is an error, not silently dropped.
  .strict();

/** How many failed children a parent tolerates (core/waits.ts, FailurePolicy). */
const failurePolicy = z.union([z.literal("fail-fast"), z.literal("continue"), z.object({ maxFailures: z.number().int().min(0) }).strict()]);

/** `POST /api/v1/groups`: children that run, then an optional `then` task with their outcomes. */
export const groupBody = z
  .object({
    name,
    owner: z.string().optional(),
    idempotencyKey: z.string().optional(),
    title: z.unknown().optional(),
    children: z
      .array(z.object({ name, input: z.unknown().optional(), key: z.string().optional(), weight: z.number().min(0).optional() }).strict())
      .min(1)
      .max(10_000),
    then: z.object({ name, input: z.unknown().optional() }).strict().optional(),
    failure: failurePolicy.optional(),
  })
  .strict();
export type GroupBody = z.infer<typeof groupBody>;

/** `POST /api/v1/tasks/:id/signals/:name`. */
export const signalBody = z.object({ payload: z.unknown().optional() }).strict();

const limit = z.number().int().min(1).max(1_000_000_000).nullable().optional();

/** `PATCH /api/v1/queues/:name`: an operator's change of a queue's limits, in the queue options' own names. */
const wholeLimit = z.number().int().min(1).max(1_000_000_000);
const keyName = z.string().min(1).max(256);

export const queuePatchBody = z
  .object({
    /** The queue-wide limit; for a queue code keys, an object of its per-key numbers (null drops an operator's number). */
    concurrency: z
      .union([
        wholeLimit.nullable(),
        z
          .object({ limit: wholeLimit.nullable().optional(), tiers: z.record(keyName, wholeLimit.nullable()).optional(), total: wholeLimit.nullable().optional() })
          .strict(),
      ])
      .optional(),
    /** One key's limit over its tier and the default; null drops that key's (a null map: every key's). */
    keyLimits: z.record(keyName, wholeLimit.nullable()).nullable().optional(),
    maxQueued: limit,
    perOwner: z.object({ concurrency: limit, maxQueued: limit }).strict().optional(),
    /** Starts at most per window (core/rate-limit.ts); null removes it. Whether it is keyed stays what code declares. */
    rateLimit: z
      .object({ limit: z.number().int().min(1).max(1_000_000_000), periodMs: z.number().int().min(1).max(MAX_RATE_PERIOD_MS) })
      .strict()
      .nullable()
      .optional(),
    paused: z.boolean().optional(),
    /** Drop every earlier change first: back to what code declares. */
    reset: z.boolean().optional(),
  })
  .strict();

const deadField = z.string().min(1).max(512);
const isoTime = z.string().min(1).max(64).refine((text) => Number.isFinite(Date.parse(text)), "must be an ISO-8601 time");

/** `POST /api/v1/dead/redrive` and `/purge`: exactly one of `ids` and `filter`. */
export const deadActionBody = z
  .object({
    ids: z.array(z.string().min(1).max(128)).min(1).max(10_000).optional(),
    filter: z
      .object({ queue: deadField.optional(), name: deadField.optional(), code: deadField.optional(), since: isoTime.optional(), until: isoTime.optional() })
      .strict()
      .optional(),
  })
  .strict()
  .refine((body) => (body.ids === undefined) !== (body.filter === undefined), { message: "give exactly one of ids and filter", path: ["ids"] });

/** `POST /api/v1/tasks/bulk`: an action and a filter of at least one field (checked by engine/bulk.ts, which names the field). */
export const bulkBody = z
  .object({
    action: z.enum(["cancel", "retry", "redrive"]),
    filter: z
      .object({
        queue: deadField.optional(),
        name: deadField.optional(),
        state: z.enum(["queued", "running", "waiting", "succeeded", "failed", "canceled"]).optional(),
        code: deadField.optional(),
        owner: deadField.optional(),
        since: isoTime.optional(),
        until: isoTime.optional(),
      })
      .strict()
      .refine((filter) => Object.values(filter).some((value) => value !== undefined), "must name at least one field: narrow it"),
  })
  .strict();

/** `POST /api/v1/tokens`. */
export const tokenBody = z.object({
  /** Its text is checked by checkOwner (tokens.ts), the rule mintOwnerToken shares. */
  owner: z.string().min(1).max(256),
  ttlSeconds: z.number().int().min(1).max(MAX_TTL_SECONDS, `may be at most ${MAX_TTL_SECONDS}`).optional(),
  queues: z.array(z.string().min(1).max(128)).max(100).optional(),
});

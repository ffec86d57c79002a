import { z } from "zod";
import { isTaskState } from "../core/states.js";
import { isStorableText } from "../core/text.js";

// Query values are strings; each check's message ends the sentence
// "Query parameter FIELD …" that parseQuery (route.ts) answers with.

/** Free text of 1 to 512 characters (a filter value, a cursor). */
export const shortTextParam = z.string().min(1, "must be 1 to 512 characters").max(512, "must be 1 to 512 characters");

/** A page's `limit`: 1 to 200. */
export const pageLimitParam = z
  .string()
  .regex(/^\d{1,3}$/, "must be a whole number from 1 to 200")
  .transform(Number)
  .refine((n) => n >= 1 && n <= 200, "must be a whole number from 1 to 200");

/** A `nextCursor` a page answered, as it is. */
export const cursorParam = shortTextParam.meta({ description: "The `nextCursor` of the previous page, as it is" });

export const taskStateParam = z
  .string()
  .refine(isTaskState, "must be queued, running, waiting, succeeded, failed or canceled")
  .meta({ enum: ["queued", "running", "waiting", "succeeded", "failed", "canceled"] });

export const isoTimeParam = z.string().refine((text) => Number.isFinite(Date.parse(text)), "must be an ISO-8601 time");

/** A prefix searched in id, owner, name and title. */
export const searchParam = shortTextParam.refine(isStorableText, "must not hold NUL or half of a surrogate pair");

/** A whole number from `min` to `max`, written in decimal digits. */
export function wholeNumberParam(min: number, max: number) {
  const problem = `must be a whole number from ${min} to ${max}`;
  return z
    .string()
    .regex(/^\d{1,16}$/, problem)
    .transform(Number)
    .refine((n) => Number.isSafeInteger(n) && n >= min && n <= max, problem);
}

/** A token in the query, for what a browser opens without headers (EventSource, a link). */
export const tokenParam = z.string().meta({ description: "A token, for clients that cannot send Authorization (EventSource, <a download>)" });

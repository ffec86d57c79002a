import { OutlastError } from "./errors.js";
import { isStorableText } from "./text.js";

/** Longest task title, in UTF-16 code units (what `string.length` counts). */
export const MAX_TITLE_LENGTH = 200;

/**
 * A task's title as given to `ctx.setTitle` or the `title` submit option:
 * text of 1 to {@link MAX_TITLE_LENGTH} characters that every store can hold,
 * kept as given (no trimming, so a search by its first letters finds it).
 * Anything else throws `invalid_title`.
 */
export function checkTitle(value: unknown): string {
  if (typeof value !== "string" || value.length === 0 || value.length > MAX_TITLE_LENGTH) {
    const got = typeof value === "string" ? `${value.length} characters` : typeof value;
    throw new OutlastError("invalid_title", `A task title must be a string of 1 to ${MAX_TITLE_LENGTH} characters (got ${got}): shorten it, e.g. title.slice(0, ${MAX_TITLE_LENGTH})`, {
      details: { field: "title", maxLength: MAX_TITLE_LENGTH },
    });
  }
  if (!isStorableText(value)) {
    throw new OutlastError("invalid_title", "A task title must be text without NUL characters or unpaired surrogates", { details: { field: "title", maxLength: MAX_TITLE_LENGTH } });
  }
  return value;
}

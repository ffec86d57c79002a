/** NUL, or half of a surrogate pair: text PostgreSQL cannot store as given (SQLite would). */
const UNSTORABLE = /\0|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/**
 * Whether a string can be kept as a text column on every store. Owners and
 * keys are refused up front when not, so a value never works on SQLite and
 * fails on PostgreSQL (task inputs are JSON and hold anything).
 */
export function isStorableText(value: string): boolean {
  return !UNSTORABLE.test(value);
}

import { isStorableText } from "./text.js";

/**
 * The texts that start with `prefix`, as a range `from <= text < below` in
 * code point order — the order of UTF-8 bytes, which is how SQLite's BINARY
 * collation and PostgreSQL's "C" collation compare. A range is what a B-tree
 * index answers; LIKE would need its `%` and `_` escaped and, on PostgreSQL,
 * an operator class of its own.
 *
 * `below` is the prefix with its last code point moved up by one (the
 * smallest text after every extension of the prefix), not `prefix || '\uffff'`:
 * that bound would miss texts that continue with a character past U+FFFF
 * (an emoji). It is null when nothing bounds the range (an empty prefix, or
 * one made only of U+10FFFF).
 *
 * Null when no stored text can start with the prefix: NUL or half of a
 * surrogate pair (see isStorableText), so both stores answer the same.
 */
export function prefixRange(prefix: string): { from: string; below: string | null } | null {
  if (!isStorableText(prefix)) return null;
  // Well-formed from here on: a code point past U+FFFF is two code units.
  let end = prefix.length;
  while (end >= 2 && prefix.codePointAt(end - 2) === 0x10ffff) end -= 2;
  if (end === 0) return { from: prefix, below: null };
  const start = end >= 2 && prefix.codePointAt(end - 2)! > 0xffff ? end - 2 : end - 1;
  const last = prefix.codePointAt(start)!;
  // Surrogate code points never occur in stored text: the next one after U+D7FF is U+E000.
  const next = last === 0xd7ff ? 0xe000 : last + 1;
  return { from: prefix, below: prefix.slice(0, start) + String.fromCodePoint(next) };
}

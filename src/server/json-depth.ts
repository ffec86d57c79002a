/**
 * How deeply the arrays and objects of a JSON body may nest; the body itself
 * is the first level. Validation, hashing and storing walk a value
 * recursively, so a body nested thousands deep would overflow the stack
 * (a 500) in whichever of them reached it first: it is refused before any
 * of them sees it.
 */
export const MAX_BODY_DEPTH = 64;

/**
 * Whether JSON text nests arrays and objects deeper than `max`. Reads the
 * text once, without parsing it, so the answer costs no recursion.
 */
export function nestsDeeperThan(text: string, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // a backslash: the next character is escaped
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) {
      inString = true;
    } else if (c === 0x5b || c === 0x7b) {
      if (++depth > max) return true;
    } else if (c === 0x5d || c === 0x7d) {
      depth--;
    }
  }
  return false;
}

import { randomBytes } from "node:crypto";

const ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz";

/**
 * Ids sort by creation time (48 bits of milliseconds) and carry 80 random
 * bits, so they are unguessable and never collide across processes.
 */
export function newId(prefix: string, now: number = Date.now()): string {
  let time = "";
  let t = now;
  for (let i = 0; i < 10; i++) {
    time = ALPHABET[t % 32]! + time;
    t = Math.floor(t / 32);
  }
  const { bytes, offset } = randomSlice();
  let rand = "";
  for (let i = 0; i < 16; i++) {
    // 16 groups of 5 bits from 80 random bits.
    const bit = i * 5;
    const byte = bit >> 3;
    const shift = bit & 7;
    const word = ((bytes[offset + byte] ?? 0) << 8) | (bytes[offset + byte + 1] ?? 0);
    rand += ALPHABET[(word >> (11 - shift)) & 31]!;
  }
  return `${prefix}_${time}${rand}`;
}

// One call to the CSPRNG per 409 ids instead of one per id (a measurable
// share of submit time when thousands are submitted at once).
const POOL = 4096;
let pool = randomBytes(POOL);
let used = 0;

function randomSlice(): { bytes: Buffer; offset: number } {
  if (used + 11 > POOL) {
    pool = randomBytes(POOL);
    used = 0;
  }
  const offset = used;
  used += 10;
  return { bytes: pool, offset };
}

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
  const bytes = randomBytes(10);
  let rand = "";
  for (let i = 0; i < 16; i++) {
    // 16 groups of 5 bits from 80 random bits.
    const bit = i * 5;
    const byte = bit >> 3;
    const shift = bit & 7;
    const word = ((bytes[byte] ?? 0) << 8) | (bytes[byte + 1] ?? 0);
    rand += ALPHABET[(word >> (11 - shift)) & 31]!;
  }
  return `${prefix}_${time}${rand}`;
}

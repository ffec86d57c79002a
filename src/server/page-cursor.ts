import { createHmac, timingSafeEqual } from "node:crypto";
import { OutlastError } from "../core/errors.js";

/*
 * The stores page by a position they can read from almost any text (a
 * base-36 number), so a made-up cursor used to answer page one as if it
 * were valid. The API hands out the store's cursor with a MAC from the token
 * signing key, which every node shares: a cursor it did not give out is
 * refused whatever it looks like, and the stores stay as they are.
 */

const CONTEXT = "outlast.page-cursor\0";
const MAC_BYTES = 12;
/** The store's part: what listTasks gives out (a base-36 position), or a pair of them (dead letters), with room to change. */
const STORE_CURSOR = /^[0-9a-z]{1,24}(?:_[0-9a-z]{1,24})?$/;

function mac(key: Uint8Array, storeCursor: string): Buffer {
  return createHmac("sha256", key).update(CONTEXT).update(storeCursor).digest().subarray(0, MAC_BYTES);
}

/** The cursor the API gives out for a store's `nextCursor`. */
export function sealCursor(key: Uint8Array, storeCursor: string): string {
  return `${storeCursor}.${mac(key, storeCursor).toString("base64url")}`;
}

/** The store's cursor inside one the API gave out; anything else is `bad_cursor`. */
export function openCursor(key: Uint8Array, cursor: string): string {
  const dot = cursor.lastIndexOf(".");
  const storeCursor = cursor.slice(0, dot);
  // Compared as text: decoding base64url would accept other spellings of the same bytes.
  const given = Buffer.from(cursor.slice(dot + 1));
  const expected = Buffer.from(mac(key, storeCursor).toString("base64url"));
  if (dot < 0 || !STORE_CURSOR.test(storeCursor) || given.length !== expected.length || !timingSafeEqual(given, expected)) {
    throw new OutlastError("bad_cursor", "Query parameter cursor is not one this server gave out: pass a page's nextCursor as it is, or leave it out for the first page", {
      details: { field: "cursor" },
    });
  }
  return storeCursor;
}

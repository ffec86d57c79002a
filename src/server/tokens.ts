import { randomBytes } from "node:crypto";
import { SignJWT, jwtVerify, errors as joseErrors } from "jose";
import { isStorableText } from "../core/text.js";
import { OutlastError } from "../core/errors.js";
import type { Outlast } from "../engine/outlast.js";

/** Who a verified token speaks for. */
export type TokenClaims =
  | {
      kind: "owner";
      owner: string;
      queues: readonly string[] | null;
      expiresAt: number;
      /** Made by `POST /api/v1/session` for an anonymous visitor: the only kind that route renews. */
      session?: true;
    }
  | { kind: "task"; owner: string; taskId: string; expiresAt: number };

const ISSUER = "outlast";
const SECRET_NAME = "token-signing";
/** Owner tokens live an hour unless asked otherwise. */
export const DEFAULT_OWNER_TTL_SECONDS = 3600;
export const MAX_TTL_SECONDS = 366 * 24 * 3600;
/** Task tokens live as long as finished tasks are kept by default. */
export const TASK_TOKEN_TTL_SECONDS = 7 * 24 * 3600;

const keys = new WeakMap<Outlast, Promise<Uint8Array>>();

/**
 * The HS256 key: `secret` when given, else OUTLAST_SECRET, else one kept in
 * the store so tokens survive restarts and verify on every node.
 */
export function signingKey(outlast: Outlast, secret?: string): Promise<Uint8Array> {
  if (secret !== undefined) return Promise.resolve(keyOf(secret));
  const fromEnv = process.env.OUTLAST_SECRET;
  if (fromEnv) return Promise.resolve(keyOf(fromEnv));
  let key = keys.get(outlast);
  if (!key) {
    key = outlast.sharedSecret(SECRET_NAME, () => randomBytes(32).toString("base64url")).then(keyOf);
    // A failed read (store down) must not poison later attempts.
    key.catch(() => keys.delete(outlast));
    keys.set(outlast, key);
  }
  return key;
}

function keyOf(secret: string): Uint8Array {
  if (secret.length < 16) throw new OutlastError("bad_request", "The token signing secret must be at least 16 characters (set OUTLAST_SECRET)");
  return new TextEncoder().encode(secret);
}

export async function signOwnerToken(
  key: Uint8Array,
  owner: string,
  ttlSeconds: number,
  queues: readonly string[] | null,
  now = Date.now(),
  options: { session?: boolean } = {},
): Promise<{ token: string; expiresAt: string }> {
  const exp = Math.floor(now / 1000) + ttlSeconds;
  const claims: Record<string, unknown> = { typ: "owner" };
  if (queues) claims.q = [...queues];
  if (options.session) claims.ses = true;
  const token = await new SignJWT(claims)
    .setProtectedHeader({ alg: "HS256" })
    .setIssuer(ISSUER)
    .setSubject(owner)
    .setIssuedAt(Math.floor(now / 1000))
    .setExpirationTime(exp)
    .sign(key);
  return { token, expiresAt: new Date(exp * 1000).toISOString() };
}

export async function signTaskToken(key: Uint8Array, owner: string, taskId: string, now = Date.now()): Promise<string> {
  return new SignJWT({ typ: "task", tid: taskId })
    .setProtectedHeader({ alg: "HS256" })
    .setIssuer(ISSUER)
    .setSubject(owner)
    .setIssuedAt(Math.floor(now / 1000))
    .setExpirationTime(Math.floor(now / 1000) + TASK_TOKEN_TTL_SECONDS)
    .sign(key);
}

/** Verifies a token; anything wrong with it (shape, signature, expiry, claims) is `unauthorized`. */
export async function verifyToken(key: Uint8Array, token: string): Promise<TokenClaims> {
  let payload: Record<string, unknown>;
  try {
    ({ payload } = await jwtVerify(token, key, { algorithms: ["HS256"], issuer: ISSUER, requiredClaims: ["sub", "exp"] }));
  } catch (error) {
    const expired = error instanceof joseErrors.JWTExpired;
    throw new OutlastError("unauthorized", expired ? "The token has expired; get a new one" : "The token is not valid");
  }
  const owner = payload.sub;
  const expiresAt = (payload.exp as number) * 1000;
  if (typeof owner !== "string" || owner.length === 0) throw new OutlastError("unauthorized", "The token is not valid");
  if (payload.typ === "owner") {
    const q = payload.q;
    if (q !== undefined && !(Array.isArray(q) && q.every((x) => typeof x === "string"))) {
      throw new OutlastError("unauthorized", "The token is not valid");
    }
    return { kind: "owner", owner, queues: q === undefined ? null : (q as string[]), expiresAt, ...(payload.ses === true ? { session: true as const } : {}) };
  }
  if (payload.typ === "task" && typeof payload.tid === "string") {
    return { kind: "task", owner, taskId: payload.tid, expiresAt };
  }
  throw new OutlastError("unauthorized", "The token is not valid");
}

/** Options of {@link mintOwnerToken}. */
export interface MintOwnerTokenOptions {
  /** Whose tasks the token sees and submits. */
  owner: string;
  /** Lifetime. @defaultValue 3600 */
  ttlSeconds?: number;
  /** Queues it may submit to; all when absent. */
  queues?: readonly string[];
  /** Signing secret, when the server was given one explicitly. @defaultValue OUTLAST_SECRET, else the store's */
  secret?: string;
}

/**
 * Mint an owner token from an app's backend, for its browser to call the API
 * and watch its own tasks.
 * @example
 * const { token } = await mintOwnerToken(outlast, { owner: user.id, ttlSeconds: 3600 });
 */
export async function mintOwnerToken(outlast: Outlast, options: MintOwnerTokenOptions): Promise<{ token: string; expiresAt: string }> {
  checkOwner(options.owner);
  const ttl = options.ttlSeconds ?? DEFAULT_OWNER_TTL_SECONDS;
  if (!Number.isSafeInteger(ttl) || ttl < 1 || ttl > MAX_TTL_SECONDS) {
    throw new OutlastError("bad_request", `ttlSeconds must be a whole number from 1 to ${MAX_TTL_SECONDS}`);
  }
  return signOwnerToken(await signingKey(outlast, options.secret), options.owner, ttl, options.queues ?? null);
}

export function checkOwner(owner: unknown): asserts owner is string {
  if (typeof owner !== "string" || owner.length === 0 || owner.length > 256) {
    throw new OutlastError("bad_request", "owner must be a string of 1 to 256 characters", { details: { field: "owner" } });
  }
  if (!isStorableText(owner)) {
    throw new OutlastError("bad_request", "owner must be text without NUL characters or unpaired surrogates", { details: { field: "owner" } });
  }
}

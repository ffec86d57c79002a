import { timingSafeEqual, createHash } from "node:crypto";
import { OutlastError } from "../core/errors.js";
import { WORKER_KEY_PREFIX } from "../engine/worker-keys.js";
import { verifyToken, type TokenClaims } from "./tokens.js";

/** Who is calling. */
export type Principal =
  | { kind: "admin" }
  | { kind: "owner"; owner: string; queues: readonly string[] | null; viaCookie: boolean }
  | { kind: "task"; owner: string; taskId: string };

export const SESSION_COOKIE = "outlast_session";

export interface AuthConfig {
  adminKey: string;
  key: () => Promise<Uint8Array>;
  /** Origins besides the request's own that may write with the session cookie. */
  allowedOrigins: readonly string[];
}

/**
 * Reads the caller's credentials: a bearer token, `?token=` (only where
 * `allowQueryToken`), or the session cookie. Anything unusable is 401.
 */
export async function authenticate(request: Request, config: AuthConfig, allowQueryToken: boolean): Promise<Principal> {
  const header = request.headers.get("authorization");
  let token: string | null = null;
  let viaCookie = false;
  if (header !== null) {
    const match = /^Bearer +(\S+) *$/i.exec(header);
    if (!match) throw new OutlastError("unauthorized", 'The Authorization header must be "Bearer TOKEN"');
    token = match[1]!;
  } else if (allowQueryToken) {
    token = new URL(request.url).searchParams.get("token");
  }
  if (token === null) {
    token = readCookie(request.headers.get("cookie"), SESSION_COOKIE);
    viaCookie = token !== null;
  }
  if (token === null || token.length === 0) {
    throw new OutlastError("unauthorized", "This route needs a token: send Authorization: Bearer TOKEN");
  }
  if (token.length > 4096) throw new OutlastError("unauthorized", "The token is not valid");
  if (sameSecret(token, config.adminKey)) {
    if (viaCookie) throw new OutlastError("unauthorized", "The token is not valid");
    return { kind: "admin" };
  }
  if (token.startsWith(WORKER_KEY_PREFIX)) {
    throw new OutlastError("forbidden", "A worker key may only call the worker routes (/api/v1/worker/…); use the admin key or a token here");
  }
  const claims: TokenClaims = await verifyToken(await config.key(), token);
  if (claims.kind === "task") return { kind: "task", owner: claims.owner, taskId: claims.taskId };
  if (viaCookie && !isSafeMethod(request.method)) checkOrigin(request, config.allowedOrigins);
  return { kind: "owner", owner: claims.owner, queues: claims.queues, viaCookie };
}

/**
 * A cookie rides along on cross-site requests, so a write that relies on it
 * must come from a page of an allowed origin (CSRF).
 */
export function checkOrigin(request: Request, allowed: readonly string[]): void {
  const origin = request.headers.get("origin");
  if (origin === null) {
    const site = request.headers.get("sec-fetch-site");
    if (site === "same-origin" || site === "none") return;
    throw new OutlastError("forbidden", "A write authenticated by cookie must carry an Origin header");
  }
  if (origin === new URL(request.url).origin || allowed.includes(origin)) return;
  throw new OutlastError("forbidden", `Origin ${origin} may not write with this session; use a bearer token`);
}

export function isSafeMethod(method: string): boolean {
  return method === "GET" || method === "HEAD" || method === "OPTIONS";
}

export function sameSecret(a: string, b: string): boolean {
  // Hash first so lengths match and timing says nothing about the key.
  const x = createHash("sha256").update(a).digest();
  const y = createHash("sha256").update(b).digest();
  return timingSafeEqual(x, y);
}

export function readCookie(header: string | null, name: string): string | null {
  if (!header) return null;
  for (const part of header.split(";")) {
    const eq = part.indexOf("=");
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim() || null;
  }
  return null;
}

/** The key streams and limits count a caller under. */
export function principalKey(principal: Principal): string {
  return principal.kind === "admin" ? "admin" : `owner:${principal.owner}`;
}

export function requireAdmin(principal: Principal): void {
  if (principal.kind !== "admin") throw new OutlastError("forbidden", "This route needs the admin key");
}

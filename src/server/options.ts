import type { Logger as PinoLogger } from "pino";
import { OutlastError } from "../core/errors.js";
import { DEFAULT_BACKLOG } from "../engine/mailbox.js";
import type { ClientAddress } from "./client-address.js";
import type { RateLimit } from "./rate-limit.js";

/** Options of {@link createHandler}. */
export interface HandlerOptions {
  /** The key that may do everything. @defaultValue OUTLAST_ADMIN_KEY, else a random one (read it from `handler.adminKey`) */
  adminKey?: string;
  /** Token signing secret (16+ characters). @defaultValue OUTLAST_SECRET, else one kept in the store */
  secret?: string;
  /** Let `POST /api/v1/session` give browsers an owner of their own. @defaultValue false */
  anonymousSessions?: boolean;
  /** Lifetime of an anonymous session. @defaultValue 30 days */
  sessionTtlSeconds?: number;
  /**
   * New anonymous sessions (new owners) one client address may start: a
   * steady rate of `limit` per `windowMs`, with bursts up to `limit`. Over
   * it, `POST /api/v1/session` answers `429 rate_limited` with Retry-After.
   * A reload that brings a valid session cookie is not counted. `null`: no limit.
   * @defaultValue { limit: 20, windowMs: 60000 }
   */
  sessionRateLimit?: RateLimit | null;
  /**
   * Behind a reverse proxy (or `n` of them), the client's address is read
   * from X-Forwarded-For: the entry the outermost trusted proxy appended.
   * Leave it off when clients reach the server directly, or they can name
   * any address they like.
   * @defaultValue false (the socket's peer address)
   * @example createHandler(outlast, { anonymousSessions: true, trustProxy: true }) // one nginx in front
   */
  trustProxy?: boolean | number;
  /**
   * Names the client's address when neither the socket nor X-Forwarded-For
   * does (a platform header such as `cf-connecting-ip`, or a runtime without
   * sockets). Returning null falls back to the socket's address; with none,
   * all such callers share one budget.
   * @example clientAddress: (request) => request.headers.get("cf-connecting-ip")
   */
  clientAddress?: ClientAddress;
  /** Origins besides the server's own whose pages may write with the session cookie. @defaultValue [] */
  allowedOrigins?: readonly string[];
  /** Largest JSON body. @defaultValue 1 MiB */
  bodyLimitBytes?: number;
  /** Largest file a worker over HTTP may upload as an artifact (`PUT /api/v1/worker/tasks/:id/artifacts/:name`). @defaultValue 256 MiB */
  artifactLimitBytes?: number;
  /** Open event streams per owner (the admin key is not limited). @defaultValue 20 */
  maxStreamsPerOwner?: number;
  /** Interval of `: ping` comments. @defaultValue 15000 */
  pingMs?: number;
  /** A stream whose reader takes nothing for this long is closed. @defaultValue 60000 */
  stuckMs?: number;
  /** Bytes queued per stream before a slow reader's progress is compacted. @defaultValue 65536 */
  streamBufferBytes?: number;
  /**
   * Live events (superseded progress aside) a stream holds per watched task
   * while its reader's buffer is full. Past it the reader is cut, and its
   * client resumes with Last-Event-ID from the log, missing nothing: a reader
   * that cannot keep up costs the server bounded memory and constant work
   * per event, and never slows the task or other readers.
   * @defaultValue 1000
   */
  streamBacklog?: number;
  /** Reconnect delay told to clients (`retry:`). @defaultValue 2000 */
  retryMs?: number;
  /** A pino logger, or a level for the handler's own. @defaultValue "info" */
  logger?: PinoLogger | "fatal" | "error" | "warn" | "info" | "debug" | "trace" | "silent";
  /** HTML served at `/`. @defaultValue a short page linking the API */
  homePage?: string | null;
  /**
   * Serve everything under this path, e.g. "/jobs" for `/jobs/api/v1/…`, so the
   * API can live beside an app's own `/api`. Clients then use `baseUrl: "/jobs"`.
   * @defaultValue "" (the root)
   */
  basePath?: string;
  /**
   * Let pages on these origins call the API from the browser (CORS, preflight
   * included, with credentials so the session cookie works). Their writes with
   * the cookie are allowed too (as `allowedOrigins`).
   */
  cors?: CorsOptions;
}

/** Options of `cors`. */
export interface CorsOptions {
  /** Exact origins, like "https://app.example" or "http://localhost:5173". */
  origins: readonly string[];
  /** How long a browser may keep a preflight's answer. @defaultValue 600 */
  maxAgeSeconds?: number;
}

export interface ResolvedOptions {
  anonymousSessions: boolean;
  sessionTtlSeconds: number;
  sessionRateLimit: RateLimit | null;
  /** How many X-Forwarded-For entries from the end are trusted proxies'; 0: none. */
  proxyHops: number;
  clientAddress: ClientAddress | null;
  allowedOrigins: readonly string[];
  bodyLimitBytes: number;
  artifactLimitBytes: number;
  maxStreamsPerOwner: number;
  pingMs: number;
  stuckMs: number;
  streamBufferBytes: number;
  streamBacklog: number;
  retryMs: number;
}

export function resolveOptions(options: HandlerOptions): ResolvedOptions {
  return {
    anonymousSessions: options.anonymousSessions ?? false,
    sessionTtlSeconds: options.sessionTtlSeconds ?? 30 * 24 * 3600,
    sessionRateLimit: checkRateLimit(options.sessionRateLimit === undefined ? DEFAULT_SESSION_RATE_LIMIT : options.sessionRateLimit),
    proxyHops: checkProxyHops(options.trustProxy),
    clientAddress: options.clientAddress ?? null,
    allowedOrigins: options.allowedOrigins ?? [],
    bodyLimitBytes: options.bodyLimitBytes ?? 1024 * 1024,
    artifactLimitBytes: checkArtifactLimit(options.artifactLimitBytes ?? 256 * 1024 * 1024),
    maxStreamsPerOwner: options.maxStreamsPerOwner ?? 20,
    pingMs: options.pingMs ?? 15_000,
    stuckMs: options.stuckMs ?? 60_000,
    streamBufferBytes: options.streamBufferBytes ?? 64 * 1024,
    streamBacklog: checkBacklog(options.streamBacklog ?? DEFAULT_BACKLOG),
    retryMs: options.retryMs ?? 2000,
  };
}

function checkArtifactLimit(bytes: number): number {
  if (!Number.isSafeInteger(bytes) || bytes < 1) {
    throw new OutlastError("bad_request", `artifactLimitBytes must be a whole number of bytes, at least 1, not ${JSON.stringify(bytes)}`);
  }
  return bytes;
}

function checkBacklog(backlog: number): number {
  if (!Number.isSafeInteger(backlog) || backlog < 1) {
    throw new OutlastError("bad_request", `streamBacklog must be a whole number of at least 1 (events held for a slow reader), not ${JSON.stringify(backlog)}`);
  }
  return backlog;
}

const DEFAULT_SESSION_RATE_LIMIT: RateLimit = { limit: 20, windowMs: 60_000 };

function checkRateLimit(rate: RateLimit | null): RateLimit | null {
  if (rate === null) return null;
  const { limit, windowMs } = rate ?? {};
  if (!Number.isSafeInteger(limit) || limit < 1 || !Number.isSafeInteger(windowMs) || windowMs < 1) {
    throw new OutlastError("bad_request", "sessionRateLimit must be { limit, windowMs }, both whole numbers of at least 1 (or null for no limit)");
  }
  return { limit, windowMs };
}

function checkProxyHops(trustProxy: boolean | number | undefined): number {
  if (trustProxy === undefined || trustProxy === false) return 0;
  if (trustProxy === true) return 1;
  if (!Number.isSafeInteger(trustProxy) || trustProxy < 0 || trustProxy > 32) {
    throw new OutlastError("bad_request", "trustProxy must be true, false, or how many proxies are in front (a whole number from 0 to 32)");
  }
  return trustProxy;
}

import type { Logger as PinoLogger } from "pino";

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
  /** Origins besides the server's own whose pages may write with the session cookie. @defaultValue [] */
  allowedOrigins?: readonly string[];
  /** Largest JSON body. @defaultValue 1 MiB */
  bodyLimitBytes?: number;
  /** Open event streams per owner (the admin key is not limited). @defaultValue 20 */
  maxStreamsPerOwner?: number;
  /** Interval of `: ping` comments. @defaultValue 15000 */
  pingMs?: number;
  /** A stream whose reader takes nothing for this long is closed. @defaultValue 60000 */
  stuckMs?: number;
  /** Bytes queued per stream before a slow reader's progress is compacted. @defaultValue 65536 */
  streamBufferBytes?: number;
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
  allowedOrigins: readonly string[];
  bodyLimitBytes: number;
  maxStreamsPerOwner: number;
  pingMs: number;
  stuckMs: number;
  streamBufferBytes: number;
  retryMs: number;
}

export function resolveOptions(options: HandlerOptions): ResolvedOptions {
  return {
    anonymousSessions: options.anonymousSessions ?? false,
    sessionTtlSeconds: options.sessionTtlSeconds ?? 30 * 24 * 3600,
    allowedOrigins: options.allowedOrigins ?? [],
    bodyLimitBytes: options.bodyLimitBytes ?? 1024 * 1024,
    maxStreamsPerOwner: options.maxStreamsPerOwner ?? 20,
    pingMs: options.pingMs ?? 15_000,
    stuckMs: options.stuckMs ?? 60_000,
    streamBufferBytes: options.streamBufferBytes ?? 64 * 1024,
    retryMs: options.retryMs ?? 2000,
  };
}

import { randomBytes } from "node:crypto";
import { Hono } from "hono";
import { corsMiddleware } from "./cors.js";
import { pino, type Logger as PinoLogger } from "pino";
import { OutlastError } from "../core/errors.js";
import type { Outlast } from "../engine/outlast.js";
import { authenticate, type AuthConfig } from "./auth.js";
import { TaskFanouts } from "./task-fanout.js";
import { StreamRegistry, type ServerContext } from "./context.js";
import { errorResponse } from "./errors.js";
import { homePage } from "./home.js";
import { ServerMetrics } from "./metrics.js";
import { opsState } from "./ops-routes.js";
import { resolveOptions, type HandlerOptions, type ResolvedOptions } from "./options.js";
import { forwardedAddress, socketAddressOf } from "./client-address.js";
import { RateLimiter } from "./rate-limit.js";
import { mountRoutes } from "./route.js";
import { ROUTES } from "./routes.js";
import { signingKey } from "./tokens.js";
import { withNodeStreams } from "./sse-response.js";

/** A web-standard request handler with the Outlast HTTP API (API.md), and its controls. */
export interface OutlastHandler {
  /** `env`: what a server runtime passes with the request (@hono/node-server's `{ incoming }` gives the client's address). */
  (request: Request, env?: unknown): Promise<Response>;
  /** Same as calling the handler; for runtimes that want an object with `fetch`. */
  fetch(request: Request, env?: unknown): Promise<Response>;
  /** The Hono app, to mount under another Hono app or to call `app.request()` in tests. */
  readonly app: Hono;
  /** The admin key this handler accepts. */
  readonly adminKey: string;
  /** Event streams open right now. */
  readonly openStreams: number;
  /**
   * Refuse new requests (503), end every stream with a `retry:` hint so
   * clients come back to another node or after the restart, and release
   * listeners. Does not stop the engine: call `outlast.stop()` after.
   */
  close(options?: { retryMs?: number }): Promise<void>;
}

/** The engine, or a function that makes it on the first request (so importing a route module starts nothing). */
export type EngineSource = Outlast | (() => Outlast | Promise<Outlast>);

/**
 * The HTTP API as a web-standard `(Request) => Promise<Response>`: mount it
 * in any framework, or run it with `serve()`. Given a function instead of
 * the engine, it calls it on the first request: a build step that evaluates
 * the module (Next.js) then opens no database and starts no worker.
 * @example
 * const handler = createHandler(outlast, { adminKey: process.env.OUTLAST_ADMIN_KEY });
 * export const GET = handler, POST = handler; // Next.js app/api/[...outlast]/route.ts
 * @example
 * const handler = createHandler(() => getOutlast(), { basePath: "/jobs" }); // API at /jobs/api/v1/…
 */
export function createHandler(source: EngineSource, options: HandlerOptions = {}): OutlastHandler {
  if (typeof source !== "function" && (typeof source !== "object" || source === null || typeof (source as Partial<Outlast>).submit !== "function")) {
    throw new OutlastError("bad_request", "createHandler(outlast, options) takes the engine (new Outlast(…)) or a function that returns it");
  }
  if (options.secret !== undefined && (typeof options.secret !== "string" || options.secret.length < 16)) {
    throw new OutlastError("bad_request", "The token signing secret must be at least 16 characters");
  }
  const adminKey = options.adminKey ?? (process.env.OUTLAST_ADMIN_KEY || undefined) ?? `olk_${randomBytes(24).toString("base64url")}`;
  if (adminKey.length < 16) throw new OutlastError("bad_request", "The admin key must be at least 16 characters");
  const basePath = checkBasePath(options.basePath);
  const corsOrigins = checkCors(options.cors);
  const allowedOrigins = [...(options.allowedOrigins ?? []), ...corsOrigins];
  const log: PinoLogger = typeof options.logger === "object" ? options.logger : pino({ name: "outlast", level: options.logger ?? "info" });
  const setupOptions = { ...options, allowedOrigins, basePath };
  // Checked now, so a bad option fails here and not on the first request of a lazy handler.
  const setup: Setup = { options: setupOptions, resolved: resolveOptions(setupOptions), adminKey, log, corsOrigins };
  if (typeof source !== "function") return withPrefix(buildHandler(source, setup), basePath);

  let inner: OutlastHandler | null = null;
  let pending: Promise<OutlastHandler> | null = null;
  let closed = false;
  const ready = () =>
    (pending ??= (async () => {
      if (closed) throw new OutlastError("unavailable", "The server is shutting down; try again shortly");
      const outlast = await source();
      if (closed) throw new OutlastError("unavailable", "The server is shutting down; try again shortly");
      inner = buildHandler(outlast, setup);
      return inner;
    })().catch((error: unknown) => {
      // A failed start (database down) is tried again by the next request.
      pending = null;
      if (!closed) log.error({ err: error }, "making the engine for the first request failed");
      throw error;
    }));
  const lazy = asHandler({
    fetch: async (request, env) => {
      try {
        return await (await ready()).fetch(request, env);
      } catch (error) {
        return errorResponse(error).response;
      }
    },
    app: () => {
      if (!inner) throw new OutlastError("unavailable", "This handler makes its engine on the first request; there is no app before it");
      return inner.app;
    },
    adminKey,
    openStreams: () => inner?.openStreams ?? 0,
    close: async (closeOptions) => {
      closed = true;
      await inner?.close(closeOptions);
    },
  });
  return withPrefix(lazy, basePath);
}

/** What createHandler checked once, for the handler it builds (now, or on the first request). */
interface Setup {
  options: HandlerOptions;
  resolved: ResolvedOptions;
  adminKey: string;
  log: PinoLogger;
  corsOrigins: readonly string[];
}

/** The parts of an {@link OutlastHandler}, made into one: a callable with its controls. */
function asHandler(parts: {
  fetch: (request: Request, env?: unknown) => Promise<Response>;
  app: () => Hono;
  adminKey: string;
  openStreams: () => number;
  close: (options?: { retryMs?: number }) => Promise<void>;
}): OutlastHandler {
  const handler = parts.fetch as OutlastHandler;
  Object.defineProperties(handler, {
    fetch: { value: parts.fetch },
    app: { get: parts.app },
    adminKey: { value: parts.adminKey },
    openStreams: { get: parts.openStreams },
    close: { value: parts.close },
  });
  return handler;
}

function buildHandler(outlast: Outlast, { options, resolved, adminKey, log, corsOrigins }: Setup): OutlastHandler {
  const auth: AuthConfig = {
    adminKey,
    key: () =>
      signingKey(outlast, options.secret).catch((error: unknown) => {
        throw new OutlastError("unavailable", "The token signing key could not be read from the store", { cause: error });
      }),
    allowedOrigins: resolved.allowedOrigins,
  };
  const streams = new StreamRegistry();
  // Closing the engine ends this handler's streams first, telling clients to come back.
  const forget = outlast.onClose(() => handler.close());
  const metrics = new ServerMetrics(outlast, () => streams.size);
  // Carried by this process's heartbeat, so every node's dashboard shows every node's streams.
  const stopReporting = outlast.reportStreams(() => streams.size);
  const ops = opsState(outlast, log);
  const ctx: ServerContext = {
    outlast,
    options: resolved,
    basePath: options.basePath ?? "",
    homePage: options.homePage === undefined ? homePage(options.basePath ?? "") : options.homePage,
    ops,
    auth,
    log,
    metrics,
    streams,
    sseOptions: {
      pingMs: resolved.pingMs,
      stuckMs: resolved.stuckMs,
      highWaterMark: resolved.streamBufferBytes,
      retryMs: resolved.retryMs,
      backlog: resolved.streamBacklog,
      clock: outlast.clock,
      timers: outlast.timers,
    },
    fanouts: new TaskFanouts(outlast),
    authenticate: (request, allowQueryToken = false) => authenticate(request, auth, allowQueryToken),
    sessionLimiter: resolved.sessionRateLimit === null ? null : new RateLimiter(resolved.sessionRateLimit, outlast.clock),
    clientAddress: (request, env) => {
      const socket = socketAddressOf(env);
      const named = resolved.clientAddress?.(request, socket) ?? (resolved.proxyHops > 0 ? forwardedAddress(request, resolved.proxyHops) : null);
      return named ?? socket;
    },
  };
  let closing = false;

  const app = new Hono();
  if (corsOrigins.length > 0) app.use(corsMiddleware(corsOrigins, options.cors?.maxAgeSeconds));
  app.use(async (c, next) => {
    if (closing && c.req.path !== "/healthz") throw new OutlastError("unavailable", "The server is shutting down; try again shortly");
    await next();
    metrics.requests.inc({ method: c.req.method, status: String(c.res.status) });
  });
  app.onError((error, c) => {
    const { response, normalized } = errorResponse(error);
    if (normalized.unexpected) log.error({ err: error, method: c.req.method, path: c.req.path }, "request failed");
    else log.debug({ code: normalized.body.error.code, path: c.req.path }, "request refused");
    return response;
  });
  app.notFound((c) => errorResponse(new OutlastError("not_found", `No route ${c.req.method} ${c.req.path.slice(0, 200)}`)).response);

  // The one place routes are mounted: the table the OpenAPI document describes (routes.ts).
  mountRoutes(app, ctx, ROUTES);

  const handler = asHandler({
    fetch: async (request, env) => {
      try {
        return await withNodeStreams(request, env, async () => app.fetch(request, env));
      } catch (error) {
        // Hono answers route errors itself; this catches only failures around it.
        log.error({ err: error }, "request failed outside a route");
        return errorResponse(error).response;
      }
    },
    app: () => app,
    adminKey,
    openStreams: () => streams.size,
    close: async (closeOptions = {}) => {
      if (closing) return;
      closing = true;
      forget();
      streams.closeAll(closeOptions.retryMs ?? resolved.retryMs);
      stopReporting();
      metrics.close();
      ops.close();
    },
  });
  return handler;
}

/** Answers only under `basePath` ("/jobs" → "/jobs/api/v1/…"), routing as if the prefix were not there. */
function withPrefix(handler: OutlastHandler, basePath: string): OutlastHandler {
  if (basePath === "") return handler;
  const fetch = async (request: Request, env?: unknown): Promise<Response> => {
    const url = new URL(request.url);
    if (url.pathname !== basePath && !url.pathname.startsWith(`${basePath}/`)) {
      return errorResponse(new OutlastError("not_found", `No route ${request.method} ${url.pathname.slice(0, 200)}`)).response;
    }
    url.pathname = url.pathname.slice(basePath.length) || "/";
    const init: RequestInit & { duplex?: "half" } = { method: request.method, headers: request.headers, signal: request.signal };
    if (request.body !== null) {
      init.body = request.body;
      init.duplex = "half";
    }
    return handler.fetch(new Request(url, init), env);
  };
  return asHandler({
    fetch,
    app: () => handler.app,
    adminKey: handler.adminKey,
    openStreams: () => handler.openStreams,
    close: (closeOptions) => handler.close(closeOptions),
  });
}

function checkBasePath(basePath: string | undefined): string {
  if (basePath === undefined || basePath === "" || basePath === "/") return "";
  if (typeof basePath !== "string" || !/^(\/[A-Za-z0-9._~-]+)+$/.test(basePath) || basePath.split("/").some((part) => part === "." || part === "..")) {
    throw new OutlastError("bad_request", `basePath must look like "/jobs" (a leading slash, no trailing one); got ${JSON.stringify(basePath)}`);
  }
  return basePath;
}

function checkCors(cors: HandlerOptions["cors"]): readonly string[] {
  if (cors === undefined) return [];
  const origins = cors?.origins;
  if (!Array.isArray(origins)) throw new OutlastError("bad_request", 'cors.origins must be a list of origins, like ["https://app.example"]');
  for (const origin of origins) {
    let parsed: URL | null = null;
    try {
      parsed = new URL(origin);
    } catch {
      parsed = null;
    }
    if (!parsed || parsed.origin !== origin) {
      throw new OutlastError("bad_request", `cors.origins: ${JSON.stringify(origin)} is not an origin (scheme, host and port only, like "https://app.example")`);
    }
  }
  return origins;
}

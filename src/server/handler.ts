import { randomBytes } from "node:crypto";
import { Hono } from "hono";
import { pino, type Logger as PinoLogger } from "pino";
import { OutlastError } from "../core/errors.js";
import type { Outlast } from "../engine/outlast.js";
import { adminRoutes } from "./admin-routes.js";
import { authenticate, type AuthConfig } from "./auth.js";
import { StreamRegistry, type ServerContext } from "./context.js";
import { dashboardRoutes } from "./dashboard-routes.js";
import { errorResponse } from "./errors.js";
import { homePage } from "./home.js";
import { ServerMetrics } from "./metrics.js";
import { opsRoutes } from "./ops-routes.js";
import { resolveOptions, type HandlerOptions } from "./options.js";
import { streamRoutes } from "./stream-routes.js";
import { taskRoutes } from "./task-routes.js";
import { signingKey } from "./tokens.js";

/** A web-standard request handler with the Outlast HTTP API (API.md), and its controls. */
export interface OutlastHandler {
  (request: Request): Promise<Response>;
  /** Same as calling the handler; for runtimes that want an object with `fetch`. */
  fetch(request: Request): Promise<Response>;
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

/**
 * The HTTP API as a web-standard `(Request) => Promise<Response>`: mount it
 * in any framework, or run it with `serve()`.
 * @example
 * const handler = createHandler(outlast, { adminKey: process.env.OUTLAST_ADMIN_KEY });
 * export const GET = handler, POST = handler; // Next.js app/api/[...outlast]/route.ts
 */
export function createHandler(outlast: Outlast, options: HandlerOptions = {}): OutlastHandler {
  const resolved = resolveOptions(options);
  const log: PinoLogger =
    typeof options.logger === "object" ? options.logger : pino({ name: "outlast", level: options.logger ?? "info" });
  const adminKey = options.adminKey ?? (process.env.OUTLAST_ADMIN_KEY || undefined) ?? `olk_${randomBytes(24).toString("base64url")}`;
  if (adminKey.length < 16) throw new OutlastError("bad_request", "The admin key must be at least 16 characters");
  const auth: AuthConfig = {
    adminKey,
    key: () =>
      signingKey(outlast, options.secret).catch((error: unknown) => {
        throw new OutlastError("unavailable", "The token signing key could not be read from the store", { cause: error });
      }),
    allowedOrigins: resolved.allowedOrigins,
  };
  const streams = new StreamRegistry();
  const metrics = new ServerMetrics(outlast, () => streams.open.size);
  // Carried by this process's heartbeat, so every node's dashboard shows every node's streams.
  const stopReporting = outlast.reportStreams(() => streams.open.size);
  const ctx: ServerContext = {
    outlast,
    options: resolved,
    auth,
    log,
    metrics,
    streams,
    authenticate: (request, allowQueryToken = false) => authenticate(request, auth, allowQueryToken),
  };
  let closing = false;

  const app = new Hono();
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

  taskRoutes(app, ctx);
  streamRoutes(app, ctx);
  adminRoutes(app, ctx);
  const ops = opsRoutes(app, ctx);
  dashboardRoutes(app, ctx);
  const page = options.homePage === undefined ? homePage() : options.homePage;
  if (page !== null) app.get("/", (c) => c.html(page));

  const fetch = async (request: Request): Promise<Response> => {
    try {
      return await app.fetch(request);
    } catch (error) {
      // Hono answers route errors itself; this catches only failures around it.
      log.error({ err: error }, "request failed outside a route");
      return errorResponse(error).response;
    }
  };
  const handler = fetch as OutlastHandler;
  Object.defineProperties(handler, {
    fetch: { value: fetch },
    app: { value: app },
    adminKey: { value: adminKey },
    openStreams: { get: () => streams.open.size },
    close: {
      value: async (closeOptions: { retryMs?: number } = {}) => {
        closing = true;
        streams.closeAll(closeOptions.retryMs ?? resolved.retryMs);
        stopReporting();
        metrics.close();
        ops.close();
      },
    },
  });
  return handler;
}

import type { MiddlewareHandler } from "hono";
import { cors } from "hono/cors";

// What a cross-origin page of the API needs to send and to read.
const ALLOW_HEADERS = ["authorization", "content-type", "last-event-id", "range", "if-none-match"];
const EXPOSE_HEADERS = ["retry-after", "content-range", "accept-ranges", "content-disposition", "content-length", "etag"];

/** CORS for the listed origins only, with credentials (the session cookie). */
export function corsMiddleware(origins: readonly string[], maxAgeSeconds = 600): MiddlewareHandler {
  const allowed = new Set(origins);
  return cors({
    origin: (origin) => (allowed.has(origin) ? origin : null),
    allowMethods: ["GET", "POST", "PUT", "PATCH", "DELETE"],
    allowHeaders: ALLOW_HEADERS,
    exposeHeaders: EXPOSE_HEADERS,
    credentials: true,
    maxAge: maxAgeSeconds,
  });
}

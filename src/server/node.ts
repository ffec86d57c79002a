import type { AddressInfo } from "node:net";
import type { IncomingMessage, Server, ServerResponse } from "node:http";
import { getRequestListener, serve as serveNode } from "@hono/node-server";
import { OutlastError } from "../core/errors.js";
import type { Outlast } from "../engine/outlast.js";
import { createHandler, type OutlastHandler } from "./handler.js";
import type { HandlerOptions } from "./options.js";

/** Options of {@link serve}. */
export interface ServeOptions extends HandlerOptions {
  /** @defaultValue 7391 */
  port?: number;
  /** @defaultValue "127.0.0.1" */
  host?: string;
  /** Shut down gracefully on SIGTERM and SIGINT. @defaultValue false */
  handleSignals?: boolean;
  /** How long running tasks may take to finish at shutdown. @defaultValue 10000 */
  shutdownGraceMs?: number;
  /**
   * An app in front of the API: given the API handler (to call it as the
   * caller), it returns a handler that sees each request first and answers
   * null to leave it to the API.
   */
  app?: (api: OutlastHandler) => (request: Request) => Promise<Response | null>;
}

/** A running server. */
export interface RunningServer {
  readonly url: string;
  readonly port: number;
  readonly handler: OutlastHandler;
  readonly server: Server;
  /**
   * Graceful shutdown: refuse new requests, end streams with a retry hint,
   * stop accepting connections, then drain the engine's workers (`outlast.stop`).
   */
  close(): Promise<void>;
  /** `await using server = await serve(outlast)`: the same as `close()`. */
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * Run the HTTP API on Node.
 * @example
 * const server = await serve(outlast, { port: 7391 });
 * console.log(`API on ${server.url}, admin key ${server.handler.adminKey}`);
 */
export async function serve(outlast: Outlast, options: ServeOptions = {}): Promise<RunningServer> {
  if (options.port !== undefined && (!Number.isSafeInteger(options.port) || options.port < 0 || options.port > 65535)) {
    throw new OutlastError("bad_request", `serve: port must be a whole number from 0 to 65535, not ${JSON.stringify(options.port)}`);
  }
  const handler = createHandler(outlast, options);
  const front = options.app?.(handler);
  const fetch = front ? async (request: Request, env?: unknown) => (await front(request)) ?? handler.fetch(request, env) : handler.fetch;
  const host = options.host ?? "127.0.0.1";
  const server = await new Promise<Server>((resolve, reject) => {
    const s = serveNode({ fetch, port: options.port ?? 7391, hostname: host }, () => resolve(s as Server)) as Server;
    s.once("error", reject);
  });
  const port = (server.address() as AddressInfo).port;
  const shownHost = host === "0.0.0.0" || host === "::" ? "localhost" : host.includes(":") ? `[${host}]` : host;
  let closing: Promise<void> | null = null;
  const onSignal = () => void close();
  let serverClosed: Promise<void> | null = null;
  const closeServer = () =>
    (serverClosed ??= (async () => {
      if (options.handleSignals) {
        process.off("SIGTERM", onSignal);
        process.off("SIGINT", onSignal);
      }
      await handler.close();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      // Idle keep-alive sockets would hold close() open; streams are already ended.
      server.closeIdleConnections();
      const force = setTimeout(() => server.closeAllConnections(), 2000);
      await closed;
      clearTimeout(force);
    })());
  // Closing the engine closes its server too (before the workers drain).
  const forget = outlast.onClose(closeServer);
  const close = () =>
    (closing ??= (async () => {
      forget();
      await closeServer();
      await outlast.stop({ graceMs: options.shutdownGraceMs ?? 10_000 });
    })());
  if (options.handleSignals) {
    process.on("SIGTERM", onSignal);
    process.on("SIGINT", onSignal);
  }
  return { url: `http://${shownHost}:${port}`, port, handler, server, close, [Symbol.asyncDispose]: close };
}

/**
 * The handler as a Node `(req, res)` listener, for `http.createServer`,
 * Express, Fastify (`reply.hijack()` then call it with `req.raw, reply.raw`)
 * or anything else built on Node's http module. A body that a middleware
 * already read (Express's `express.json()`, `express.text()`, `express.raw()`)
 * is taken from `req.body`; one it cannot give back answers a 400 that says so.
 * @example
 * http.createServer(toNodeListener(createHandler(outlast))).listen(7391);
 */
export function toNodeListener(handler: (request: Request, env?: unknown) => Promise<Response>): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  // The env ({ incoming, outgoing }) carries the socket, whose address the session limit counts under.
  const listener = getRequestListener((request, env) => handler(request, env));
  return async (req, res) => {
    const parsed = req as IncomingMessage & { body?: unknown; rawBody?: unknown };
    if (req.readableEnded && !(parsed.rawBody instanceof Buffer) && req.method !== "GET" && req.method !== "HEAD") {
      const restored = restoreBody(parsed.body, req.headers["content-type"], req.headers["content-length"]);
      if (restored === null) {
        const body = JSON.stringify({
          error: {
            code: "bad_request",
            message:
              "The request body was already read by another middleware before Outlast, and cannot be recovered from req.body. " +
              "Mount Outlast before body parsers (express.json(), express.urlencoded()), or only parse JSON there.",
          },
        });
        res.writeHead(400, { "content-type": "application/json; charset=utf-8", "content-length": Buffer.byteLength(body) }).end(body);
        return;
      }
      parsed.rawBody = restored;
    }
    await listener(req, res);
  };
}

/** The bytes of a body a middleware parsed, when they can be rebuilt; null when they cannot. */
function restoreBody(body: unknown, contentType: string | undefined, length: string | undefined): Buffer | null {
  // Read to the end by someone else, with nothing left behind: only an empty body can be rebuilt.
  if (body === undefined) return length === undefined || length === "0" ? Buffer.alloc(0) : null;
  if (Buffer.isBuffer(body)) return body;
  if (typeof body === "string") return Buffer.from(body);
  if (/^application\/([\w.+-]*\+)?json\b/i.test(contentType ?? "")) return Buffer.from(JSON.stringify(body));
  return null;
}

import { ServerResponse } from "node:http";
import type { SseStream } from "./sse.js";

export const SSE_HEADERS = {
  "content-type": "text/event-stream; charset=utf-8",
  "cache-control": "no-cache, no-transform",
  "x-accel-buffering": "no",
};

/**
 * Node responses the handler is serving right now, and the stream a route
 * made for one: the handler offers each GET's ServerResponse here before
 * routing, and takes it back after. Only a response offered this way is
 * written to directly; a route reached some other way (the Hono app mounted
 * in another, a runtime without Node's response) gets a web body.
 */
const offered = new WeakMap<ServerResponse, SseStream | null>();

/** The ServerResponse @hono/node-server passes in the env (`{ outgoing }`), when it is an HTTP/1 one. */
function nodeResponseOf(env: unknown): ServerResponse | null {
  if (typeof env !== "object" || env === null || !("outgoing" in env)) return null;
  const outgoing = (env as { outgoing?: unknown }).outgoing;
  return outgoing instanceof ServerResponse ? outgoing : null;
}

/** The answer of a route that streams `sse`: on Node, a stand-in the handler replaces by writing to the socket itself ({@link handOver}). */
export function sseResponse(env: unknown, sse: SseStream): Response {
  const res = nodeResponseOf(env);
  if (res !== null && offered.get(res) === null) {
    offered.set(res, sse);
    return new Response(null, { status: 200, headers: SSE_HEADERS });
  }
  return new Response(sse.body, { status: 200, headers: SSE_HEADERS });
}

/**
 * Runs `route` (the Hono app) for one request. When a route streamed to the
 * Node response, the stream takes it over with the headers of the final
 * answer (what middleware added included), and @hono/node-server is told
 * the response is already sent.
 */
export async function withNodeStreams(request: Request, env: unknown, route: () => Promise<Response>): Promise<Response> {
  const res = request.method === "GET" ? nodeResponseOf(env) : null;
  if (res === null || offered.has(res)) return route();
  offered.set(res, null);
  let answer: Response;
  try {
    answer = await route();
  } catch (error) {
    offered.get(res)?.close();
    offered.delete(res);
    throw error;
  }
  const sse = offered.get(res) ?? null;
  offered.delete(res);
  if (sse === null) return answer;
  // Something after the route replaced its answer (an error): that answer goes out, and the stream has nowhere to go.
  if (answer.status !== 200) {
    sse.close();
    return answer;
  }
  sse.attach(res, 200, headersOf(answer.headers));
  return alreadySent();
}

function headersOf(headers: Headers): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of headers) if (name !== "set-cookie") out[name] = value;
  const cookies = headers.getSetCookie();
  if (cookies.length > 0) out["set-cookie"] = cookies;
  return out;
}

/**
 * What @hono/node-server leaves alone: no body and its `x-hono-already-sent`
 * header. Its own Response keeps a shortcut that skips that check, which
 * reading the body lets go of.
 */
function alreadySent(): Response {
  const response = new Response(null, { headers: { "x-hono-already-sent": "true" } });
  void response.body;
  return response;
}

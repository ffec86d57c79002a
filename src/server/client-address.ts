/**
 * Names the caller's address for a request: the one that limits count under.
 * `socketAddress` is the peer of the connection when the server knows it
 * (Node, through `serve` or `toNodeListener`); null elsewhere.
 */
export type ClientAddress = (request: Request, socketAddress: string | null) => string | null;

/** The peer address @hono/node-server hands every request as its env (`{ incoming }`). */
export function socketAddressOf(env: unknown): string | null {
  if (typeof env !== "object" || env === null || !("incoming" in env)) return null;
  const incoming = (env as { incoming?: { socket?: { remoteAddress?: unknown } } }).incoming;
  const address = incoming?.socket?.remoteAddress;
  return typeof address === "string" && address.length > 0 ? address : null;
}

/**
 * The address from X-Forwarded-For as `hops` proxies in front of this
 * server wrote it. Each proxy appends the address it received from, so the
 * entry `hops` from the end is the one the outermost trusted proxy saw;
 * entries before it were written by the client and prove nothing.
 */
export function forwardedAddress(request: Request, hops: number): string | null {
  const header = request.headers.get("x-forwarded-for");
  if (header === null) return null;
  const entries = header
    .split(",")
    .map((entry) => entry.trim())
    .filter((entry) => entry.length > 0);
  return entries[Math.max(0, entries.length - hops)] ?? null;
}

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

/**
 * The key an address is limited under. An IPv4 address mapped into IPv6
 * (`::ffff:1.2.3.4`) is the IPv4 address; any other IPv6 address counts by
 * its /64 — one subscriber's whole block, which a client can otherwise
 * rotate through for a fresh budget per address.
 */
export function limitKey(address: string): string {
  const bare = address.replace(/^\[|\]$/g, "").replace(/%.*$/, "");
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(bare);
  if (mapped) return mapped[1]!;
  if (bare.includes(":") && /^[0-9a-f:.]+$/i.test(bare)) return `${expandIPv6(bare).slice(0, 4).join(":")}::/64`;
  return bare;
}

function expandIPv6(address: string): string[] {
  // An embedded IPv4 tail stands for the last two groups.
  const v4 = /(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(address);
  let text = address;
  if (v4) {
    const [a, b, c, d] = v4.slice(1).map(Number) as [number, number, number, number];
    text = `${address.slice(0, v4.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = "", tail] = text.split("::");
  const left = head === "" ? [] : head.split(":");
  const right = tail === undefined || tail === "" ? [] : tail.split(":");
  const fill = tail === undefined ? [] : Array.from({ length: 8 - left.length - right.length }, () => "0");
  return [...left, ...fill, ...right].map((group) => group.toLowerCase().replace(/^0+(?=.)/, ""));
}

import type { Hono } from "hono";
import { OutlastError } from "../core/errors.js";
import { newId } from "../core/ids.js";
import type { QueueInfo } from "../store/store.js";
import { checkOrigin, readCookie, requireAdmin, SESSION_COOKIE } from "./auth.js";
import { parseBody, queuePatchBody, readJson, tokenBody } from "./body.js";
import type { QueueLimitsChange } from "../engine/outlast.js";
import { limitKey } from "./client-address.js";
import type { ServerContext } from "./context.js";
import { MAX_TTL_SECONDS, DEFAULT_OWNER_TTL_SECONDS, checkOwner, signOwnerToken, verifyToken } from "./tokens.js";

export function adminRoutes(app: Hono, ctx: ServerContext): void {
  const { outlast } = ctx;

  app.post("/api/v1/tokens", async (c) => {
    requireAdmin(await ctx.authenticate(c.req.raw));
    const body = parseBody(tokenBody, await readJson(c.req.raw, ctx.options.bodyLimitBytes));
    checkOwner(body.owner);
    const ttl = body.ttlSeconds ?? DEFAULT_OWNER_TTL_SECONDS;
    if (ttl > MAX_TTL_SECONDS) throw new OutlastError("bad_request", `ttlSeconds may be at most ${MAX_TTL_SECONDS}`);
    const minted = await signOwnerToken(await ctx.auth.key(), body.owner, ttl, body.queues ?? null);
    return c.json(minted, 201);
  });

  app.post("/api/v1/session", async (c) => {
    if (!ctx.options.anonymousSessions) throw new OutlastError("not_found", "Anonymous sessions are off on this server");
    const request = c.req.raw;
    // Another site must not be able to swap a visitor's session for a new one.
    if (request.headers.get("origin") !== null) checkOrigin(request, ctx.options.allowedOrigins);
    const key = await ctx.auth.key();
    let owner: string | null = null;
    const existing = readCookie(request.headers.get("cookie"), SESSION_COOKIE);
    if (existing) {
      // A reload keeps its owner, so its tasks stay visible. Only a session's own token is renewed:
      // any other (short-lived, limited to queues) must not be swapped for a long, unlimited one.
      const claims = await verifyToken(key, existing).catch(() => null);
      if (claims?.kind === "owner" && claims.session === true && claims.queues === null) owner = claims.owner;
    }
    if (owner === null) {
      const wait = ctx.sessionLimiter?.take(sessionKey(c.req.raw, c.env)) ?? null;
      if (wait !== null) {
        throw new OutlastError("rate_limited", "Too many new sessions from this address; try again after Retry-After seconds", {
          details: { retryAfterMs: wait },
        });
      }
      owner = newId("anon");
    }
    const ttl = ctx.options.sessionTtlSeconds;
    const { token, expiresAt } = await signOwnerToken(key, owner, ttl, null, Date.now(), { session: true });
    const secure = new URL(request.url).protocol === "https:" ? "; Secure" : "";
    c.header("set-cookie", `${SESSION_COOKIE}=${token}; Path=/; HttpOnly; SameSite=Lax; Max-Age=${ttl}${secure}`);
    c.header("cache-control", "no-store");
    return c.json({ owner, token, expiresAt }, 200);
  });

  let warnedNoAddress = false;
  /** Callers whose address nobody can tell share one budget: safer than none, and said once in the log. */
  const sessionKey = (request: Request, env: unknown): string => {
    const address = ctx.clientAddress(request, env);
    if (address !== null) return limitKey(address);
    if (!warnedNoAddress) {
      warnedNoAddress = true;
      ctx.log.warn("anonymous sessions: no client address for a request (no socket); all such callers share one session limit: set clientAddress or trustProxy");
    }
    return "unknown";
  };

  app.get("/api/v1/queues", async (c) => {
    requireAdmin(await ctx.authenticate(c.req.raw));
    return c.json({ queues: (await outlast.listQueues()).map(publicQueue) });
  });

  for (const action of ["pause", "resume"] as const) {
    app.post(`/api/v1/queues/:name/${action}`, async (c) => {
      requireAdmin(await ctx.authenticate(c.req.raw));
      const name = c.req.param("name");
      const known = (await outlast.listQueues()).find((q) => q.name === name);
      if (!known) throw new OutlastError("not_found", `No queue named "${name.slice(0, 128)}"`);
      if (action === "pause") await outlast.pauseQueue(name);
      else await outlast.resumeQueue(name);
      return c.json({ queue: publicQueue({ ...known, paused: action === "pause" }) });
    });
  }

  app.patch("/api/v1/queues/:name", async (c) => {
    requireAdmin(await ctx.authenticate(c.req.raw));
    const name = c.req.param("name");
    const body = parseBody(queuePatchBody, await readJson(c.req.raw, ctx.options.bodyLimitBytes));
    const change: QueueLimitsChange = {};
    if (body.concurrency !== undefined) change.concurrency = body.concurrency;
    if (body.maxQueued !== undefined) change.maxQueued = body.maxQueued;
    if (body.rateLimit !== undefined) change.rateLimit = body.rateLimit;
    if (body.perOwner !== undefined) {
      change.perOwner = {};
      if (body.perOwner.concurrency !== undefined) change.perOwner.concurrency = body.perOwner.concurrency;
      if (body.perOwner.maxQueued !== undefined) change.perOwner.maxQueued = body.perOwner.maxQueued;
    }
    await outlast.setQueueLimits(name, change, { reset: body.reset === true });
    if (body.paused === true) await outlast.pauseQueue(name);
    if (body.paused === false) await outlast.resumeQueue(name);
    const queue = (await outlast.listQueues()).find((q) => q.name === name);
    if (!queue) throw new OutlastError("not_found", `No queue named "${name.slice(0, 128)}"`);
    return c.json({ queue: publicQueue(queue) });
  });

  app.get("/api/v1/workers", async (c) => {
    requireAdmin(await ctx.authenticate(c.req.raw));
    const workers = (await outlast.listWorkers()).map((w) => ({
      id: w.id,
      host: w.host,
      pid: w.pid,
      queues: w.queues,
      startedAt: new Date(w.startedAt).toISOString(),
      heartbeatAt: new Date(w.heartbeatAt).toISOString(),
      running: w.running,
      remote: w.remote ?? null,
    }));
    return c.json({ workers, watchers: outlast.watcherCount, streams: ctx.streams.open.size });
  });

  app.get("/metrics", async (c) => {
    requireAdmin(await ctx.authenticate(c.req.raw));
    const { contentType, body } = await ctx.metrics.render();
    return c.body(body, 200, { "content-type": contentType });
  });

  app.get("/healthz", (c) => c.json({ ok: true }));

  app.get("/readyz", async (c) => {
    try {
      await withTimeout(outlast.listQueues(), 2000);
    } catch (error) {
      ctx.log.warn({ err: error }, "readiness check failed");
      throw new OutlastError("unavailable", "The store is not reachable");
    }
    return c.json({ ok: true });
  });
}

function publicQueue(q: QueueInfo) {
  const overridden = Object.keys(q.overrides).map((field) => OVERRIDE_NAMES[field as keyof typeof OVERRIDE_NAMES]);
  return {
    name: q.name,
    paused: q.paused,
    concurrency: q.concurrency,
    maxQueued: q.maxQueued,
    perOwner: { concurrency: q.ownerConcurrency, maxQueued: q.ownerMaxQueued },
    /** { limit, periodMs, keyed } or null (core/rate-limit.ts). */
    rateLimit: q.rateLimit,
    overridden,
    counts: q.counts,
  };
}

/** The API's names of the limits an operator changed. */
const OVERRIDE_NAMES = { concurrency: "concurrency", maxQueued: "maxQueued", ownerConcurrency: "perOwner.concurrency", ownerMaxQueued: "perOwner.maxQueued", rateLimit: "rateLimit" } as const;

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer in ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

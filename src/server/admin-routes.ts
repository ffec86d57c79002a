import { OutlastError } from "../core/errors.js";
import { newId } from "../core/ids.js";
import type { QueueInfo } from "../store/store.js";
import { checkOrigin, readCookie, SESSION_COOKIE } from "./auth.js";
import { queuePatchBody, tokenBody } from "./body.js";
import type { QueueLimitsChange } from "../engine/outlast.js";
import { limitKey } from "./client-address.js";
import type { ServerContext } from "./context.js";
import { okAnswer, queueAnswer, queuesAnswer, sessionAnswer, tokenAnswer, workersAnswer } from "./response-schemas.js";
import { defineRoute, param, type Route } from "./route.js";
import { DEFAULT_OWNER_TTL_SECONDS, checkOwner, signOwnerToken, verifyToken } from "./tokens.js";

const queueName = { name: "The queue's name" };

export const adminRoutes: readonly Route[] = [
  defineRoute({
    method: "post",
    path: "/api/v1/tokens",
    id: "mintOwnerToken",
    tag: "auth",
    summary: "Mint an owner token",
    auth: "admin",
    body: tokenBody,
    example: { owner: "user-42", ttlSeconds: 3600, queues: ["default"] },
    responses: { "201": { description: "The token and when it expires", schema: tokenAnswer } },
    async handle(c, ctx, input) {
      const body = await input.body();
      checkOwner(body.owner);
      const minted = await signOwnerToken(await ctx.auth.key(), body.owner, body.ttlSeconds ?? DEFAULT_OWNER_TTL_SECONDS, body.queues ?? null);
      return c.json(minted, 201);
    },
  }),

  defineRoute({
    method: "post",
    path: "/api/v1/session",
    id: "startSession",
    tag: "auth",
    summary: "Give this browser an owner of its own (anonymous sessions)",
    description: "Sets an HttpOnly session cookie that later requests may use instead of a bearer token. 404 when anonymous sessions are off.",
    auth: "none",
    responses: { "200": { description: "The session's owner and token", schema: sessionAnswer, headers: { "set-cookie": `${SESSION_COOKIE}=TOKEN; HttpOnly; SameSite=Lax` } } },
    async handle(c, ctx) {
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
        const wait = ctx.sessionLimiter?.take(sessionKey(ctx, c.req.raw, c.env)) ?? null;
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
    },
  }),

  defineRoute({
    method: "get",
    path: "/api/v1/queues",
    id: "listQueues",
    tag: "operations",
    summary: "Queues with their limits and counts",
    auth: "admin",
    responses: { "200": { description: "Every queue", schema: queuesAnswer } },
    async handle(c, ctx) {
      return c.json({ queues: (await ctx.outlast.listQueues()).map(publicQueue) });
    },
  }),

  ...(["pause", "resume"] as const).map((action) =>
    defineRoute({
      method: "post",
      path: `/api/v1/queues/:name/${action}`,
      id: `${action}Queue`,
      tag: "operations",
      summary: action === "pause" ? "Pause a queue: its tasks stay queued" : "Resume a paused queue",
      auth: "admin",
      params: queueName,
      exampleParams: { name: "default" },
      responses: { "200": { description: "The queue", schema: queueAnswer } },
      async handle(c, ctx) {
        const name = param(c, "name");
        const known = (await ctx.outlast.listQueues()).find((q) => q.name === name);
        if (!known) throw new OutlastError("not_found", `No queue named "${name.slice(0, 128)}"`);
        if (action === "pause") await ctx.outlast.pauseQueue(name);
        else await ctx.outlast.resumeQueue(name);
        return c.json({ queue: publicQueue({ ...known, paused: action === "pause" }) });
      },
    }),
  ),

  defineRoute({
    method: "patch",
    path: "/api/v1/queues/:name",
    id: "changeQueue",
    tag: "operations",
    summary: "Change a queue's limits (every node follows within a second)",
    auth: "admin",
    params: queueName,
    body: queuePatchBody,
    example: { concurrency: 4, perOwner: { maxQueued: 20 }, rateLimit: { limit: 10, periodMs: 1000 }, keyLimits: { "tenant-42": 3 }, paused: false },
    exampleParams: { name: "default" },
    responses: { "200": { description: "The queue", schema: queueAnswer } },
    async handle(c, ctx, input) {
      const { outlast } = ctx;
      const name = param(c, "name");
      const body = await input.body();
      const change: QueueLimitsChange = {};
      if (body.concurrency !== undefined) change.concurrency = dropUndefined(body.concurrency) as NonNullable<QueueLimitsChange["concurrency"]> | null;
      if (body.keyLimits !== undefined) change.keyLimits = body.keyLimits;
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
    },
  }),

  defineRoute({
    method: "get",
    path: "/api/v1/workers",
    id: "listWorkers",
    tag: "operations",
    summary: "Live workers with their heartbeats and running tasks",
    auth: "admin",
    responses: { "200": { description: "The workers, and this node's watchers and streams", schema: workersAnswer } },
    async handle(c, ctx) {
      const workers = (await ctx.outlast.listWorkers()).map((w) => ({
        id: w.id,
        host: w.host,
        pid: w.pid,
        queues: w.queues,
        startedAt: new Date(w.startedAt).toISOString(),
        heartbeatAt: new Date(w.heartbeatAt).toISOString(),
        running: w.running,
        remote: w.remote ?? null,
      }));
      return c.json({ workers, watchers: ctx.outlast.watcherCount, streams: ctx.streams.size });
    },
  }),

  defineRoute({
    method: "get",
    path: "/metrics",
    id: "metrics",
    tag: "operations",
    summary: "Prometheus metrics",
    auth: "admin",
    responses: { "200": { description: "Prometheus text format", contentType: "text/plain" } },
    async handle(c, ctx) {
      const { contentType, body } = await ctx.metrics.render();
      return c.body(body, 200, { "content-type": contentType });
    },
  }),

  defineRoute({
    method: "get",
    path: "/healthz",
    id: "health",
    tag: "operations",
    summary: "The process is up",
    auth: "none",
    responses: { "200": { description: "Up", schema: okAnswer } },
    handle: (c) => c.json({ ok: true }),
  }),

  defineRoute({
    method: "get",
    path: "/readyz",
    id: "ready",
    tag: "operations",
    summary: "The store is reachable",
    auth: "none",
    responses: { "200": { description: "Ready", schema: okAnswer } },
    async handle(c, ctx) {
      try {
        await withTimeout(ctx.outlast.listQueues(), 2000);
      } catch (error) {
        ctx.log.warn({ err: error }, "readiness check failed");
        throw new OutlastError("unavailable", "The store is not reachable");
      }
      return c.json({ ok: true });
    },
  }),
];

/** The handlers that already said, once, that callers without an address share one session budget. */
const warnedNoAddress = new WeakSet<ServerContext>();

/** Callers whose address nobody can tell share one budget: safer than none, and said once in the log. */
function sessionKey(ctx: ServerContext, request: Request, env: unknown): string {
  const address = ctx.clientAddress(request, env);
  if (address !== null) return limitKey(address);
  if (!warnedNoAddress.has(ctx)) {
    warnedNoAddress.add(ctx);
    ctx.log.warn("anonymous sessions: no client address for a request (no socket); all such callers share one session limit: set clientAddress or trustProxy");
  }
  return "unknown";
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
    /** Per-key limits (core/key-limits.ts): { limit, tiers } or null when the queue is not keyed; keyLimits: an operator's per key. */
    keyConcurrency: q.keyConcurrency,
    keyLimits: q.keyLimits ?? {},
    overridden,
    counts: q.counts,
  };
}

/** The API's names of the limits an operator changed. */
const OVERRIDE_NAMES = {
  concurrency: "concurrency",
  maxQueued: "maxQueued",
  ownerConcurrency: "perOwner.concurrency",
  ownerMaxQueued: "perOwner.maxQueued",
  rateLimit: "rateLimit",
  keyConcurrency: "keyConcurrency",
  keyLimits: "keyLimits",
} as const;

/** zod gives optional fields as present-but-undefined; the engine's change takes them absent. */
function dropUndefined<T>(value: T): T {
  if (value === null || typeof value !== "object") return value;
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer in ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

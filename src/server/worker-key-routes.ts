import type { Hono } from "hono";
import { OutlastError } from "../core/errors.js";
import type { WorkerKeyRecord } from "../store/store.js";
import { requireAdmin } from "./auth.js";
import { parseBody, readJson } from "./body.js";
import type { ServerContext } from "./context.js";
import { workerKeyBody } from "./worker-bodies.js";

/** Worker keys, for the admin: made (the secret shown once), listed, revoked. */
export function workerKeyRoutes(app: Hono, ctx: ServerContext): void {
  const { outlast } = ctx;

  app.post("/api/v1/worker-keys", async (c) => {
    requireAdmin(await ctx.authenticate(c.req.raw));
    const body = parseBody(workerKeyBody, await readJson(c.req.raw, ctx.options.bodyLimitBytes));
    const { key, secret } = await outlast.createWorkerKey(body);
    c.header("cache-control", "no-store");
    return c.json({ key: publicKey(key), secret }, 201);
  });

  app.get("/api/v1/worker-keys", async (c) => {
    requireAdmin(await ctx.authenticate(c.req.raw));
    return c.json({ keys: (await outlast.listWorkerKeys()).map(publicKey) });
  });

  app.delete("/api/v1/worker-keys/:id", async (c) => {
    requireAdmin(await ctx.authenticate(c.req.raw));
    const id = c.req.param("id");
    const key = id.length <= 128 ? await outlast.revokeWorkerKey(id) : null;
    if (!key) throw new OutlastError("not_found", `No worker key ${id.slice(0, 128)}`);
    return c.json({ key: publicKey(key) });
  });
}

export function publicKey(key: WorkerKeyRecord): { id: string; name: string; queues: string[]; createdAt: string; revokedAt: string | null } {
  return {
    id: key.id,
    name: key.name,
    queues: key.queues,
    createdAt: new Date(key.createdAt).toISOString(),
    revokedAt: key.revokedAt === null ? null : new Date(key.revokedAt).toISOString(),
  };
}

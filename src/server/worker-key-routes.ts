import { z } from "zod";
import { OutlastError } from "../core/errors.js";
import type { WorkerKeyRecord } from "../store/store.js";
import { defineRoute, param, type Route } from "./route.js";
import { workerKeyBody } from "./worker-bodies.js";

const TAG = "workers";
const keySchema = z
  .looseObject({ id: z.string(), name: z.string(), queues: z.array(z.string()), createdAt: z.string(), revokedAt: z.string().nullable() })
  .meta({ id: "WorkerKey", description: "A worker key (its secret is shown only when it is made)" });

/** Worker keys, for the admin: made (the secret shown once), listed, revoked. */
export const workerKeyRoutes: readonly Route[] = [
  defineRoute({
    method: "post",
    path: "/api/v1/worker-keys",
    id: "createWorkerKey",
    tag: TAG,
    summary: "Make a worker key for some queues; its secret is in this answer only",
    auth: "admin",
    body: workerKeyBody,
    example: { name: "python-gpu-box", queues: ["tts"] },
    responses: { "201": { description: "The key and its secret", schema: z.looseObject({ key: keySchema, secret: z.string() }) } },
    async handle(c, ctx, input) {
      const { key, secret } = await ctx.outlast.createWorkerKey(await input.body());
      c.header("cache-control", "no-store");
      return c.json({ key: publicKey(key), secret }, 201);
    },
  }),

  defineRoute({
    method: "get",
    path: "/api/v1/worker-keys",
    id: "listWorkerKeys",
    tag: TAG,
    summary: "Every worker key, revoked ones too (no secrets)",
    auth: "admin",
    responses: { "200": { description: "The keys", schema: z.looseObject({ keys: z.array(keySchema) }) } },
    async handle(c, ctx) {
      return c.json({ keys: (await ctx.outlast.listWorkerKeys()).map(publicKey) });
    },
  }),

  defineRoute({
    method: "delete",
    path: "/api/v1/worker-keys/:id",
    id: "revokeWorkerKey",
    tag: TAG,
    summary: "Revoke a worker key: its next call is refused",
    auth: "admin",
    params: { id: "The key's id" },
    exampleParams: { id: "wk_missing" },
    responses: { "200": { description: "The revoked key", schema: z.looseObject({ key: keySchema }) } },
    async handle(c, ctx) {
      const id = param(c, "id");
      const key = id.length <= 128 ? await ctx.outlast.revokeWorkerKey(id) : null;
      if (!key) throw new OutlastError("not_found", `No worker key ${id.slice(0, 128)}`);
      return c.json({ key: publicKey(key) });
    },
  }),
];

export function publicKey(key: WorkerKeyRecord): { id: string; name: string; queues: string[]; createdAt: string; revokedAt: string | null } {
  return {
    id: key.id,
    name: key.name,
    queues: key.queues,
    createdAt: new Date(key.createdAt).toISOString(),
    revokedAt: key.revokedAt === null ? null : new Date(key.revokedAt).toISOString(),
  };
}

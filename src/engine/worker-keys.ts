import { createHash, randomBytes } from "node:crypto";
import { OutlastError } from "../core/errors.js";
import { newId } from "../core/ids.js";
import type { Store, WorkerKeyRecord } from "../store/store.js";

/** Every worker key's secret starts so: the server tells it from the admin key and tokens before any lookup. */
export const WORKER_KEY_PREFIX = "owk_";

const QUEUE_NAME = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;

/** What the store keeps instead of the secret. The secret is 32 random bytes, so a fast hash is enough: nobody can guess through it. */
export function hashWorkerSecret(secret: string): string {
  return createHash("sha256").update(secret).digest("hex");
}

/** Checks a key's name and queues; the error names the field. */
export function checkWorkerKeyRequest(request: { name: unknown; queues: unknown }): { name: string; queues: string[] } {
  const { name, queues } = request;
  if (typeof name !== "string" || name.trim().length === 0 || name.length > 100 || name.includes("\0")) {
    throw new OutlastError("bad_request", "A worker key's name must be 1 to 100 characters (say which workers use it)", { details: { field: "name" } });
  }
  if (!Array.isArray(queues) || queues.length === 0 || queues.length > 100) {
    throw new OutlastError("bad_request", "A worker key needs 1 to 100 queues it may claim from", { details: { field: "queues" } });
  }
  for (const queue of queues) {
    if (typeof queue !== "string" || !QUEUE_NAME.test(queue)) {
      throw new OutlastError("bad_request", `A queue name must be 1-128 letters, digits, ".", "_", ":" or "-": got ${JSON.stringify(queue)}`, { details: { field: "queues" } });
    }
  }
  return { name, queues: [...new Set(queues as string[])] };
}

/** Makes a key: the record the store keeps (with the secret's hash) and the secret, which is shown once. */
export async function createWorkerKey(store: Store, request: { name: string; queues: readonly string[] }, now: number): Promise<{ key: WorkerKeyRecord; secret: string }> {
  const checked = checkWorkerKeyRequest(request);
  const secret = `${WORKER_KEY_PREFIX}${randomBytes(32).toString("base64url")}`;
  const key: WorkerKeyRecord = { id: newId("wk"), name: checked.name, queues: checked.queues, createdAt: now, revokedAt: null };
  await store.createWorkerKey(key, hashWorkerSecret(secret));
  return { key, secret };
}

/** The key a secret belongs to, if it is one and not revoked. */
export async function findWorkerKey(store: Store, secret: string): Promise<WorkerKeyRecord | null> {
  if (!secret.startsWith(WORKER_KEY_PREFIX)) return null;
  const key = await store.workerKeyByHash(hashWorkerSecret(secret));
  return key && key.revokedAt === null ? key : null;
}

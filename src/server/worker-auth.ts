import { OutlastError } from "../core/errors.js";
import type { Outlast } from "../engine/outlast.js";
import { findWorkerKey, WORKER_KEY_PREFIX } from "../engine/worker-keys.js";
import type { WorkerKeyRecord } from "../store/store.js";
import { sameSecret, type AuthConfig } from "./auth.js";
import { verifyToken } from "./tokens.js";

/**
 * The worker key of a call to `/api/v1/worker/…`. Only a bearer worker
 * key: the admin key, owner and task tokens (and so session cookies) are
 * refused with 403, since their holders are people and apps, not workers;
 * an unknown or revoked worker key, or none, is 401.
 */
export async function authenticateWorker(request: Request, outlast: Outlast, auth: AuthConfig): Promise<WorkerKeyRecord> {
  const header = request.headers.get("authorization");
  if (header === null) {
    throw new OutlastError("unauthorized", "The worker routes need a worker key: send Authorization: Bearer owk_… (mint one with POST /api/v1/worker-keys)");
  }
  const match = /^Bearer +(\S+) *$/i.exec(header);
  if (!match) throw new OutlastError("unauthorized", 'The Authorization header must be "Bearer WORKER_KEY"');
  const token = match[1]!;
  if (token.length > 4096) throw new OutlastError("unauthorized", "The worker key is not valid");
  if (token.startsWith(WORKER_KEY_PREFIX)) {
    const key = await findWorkerKey(outlast.store, token);
    if (!key) throw new OutlastError("unauthorized", "The worker key is not valid, or was revoked: ask the admin for a new one");
    return key;
  }
  if (sameSecret(token, auth.adminKey) || (await isToken(auth, token))) {
    throw new OutlastError("forbidden", "The worker routes take a worker key (owk_…), not the admin key or a token: mint one with POST /api/v1/worker-keys");
  }
  throw new OutlastError("unauthorized", "The worker key is not valid");
}

async function isToken(auth: AuthConfig, token: string): Promise<boolean> {
  return verifyToken(await auth.key(), token).then(
    () => true,
    () => false,
  );
}

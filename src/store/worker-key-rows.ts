import type { WorkerKeyRecord } from "./store.js";

/** A `worker_keys` row as both stores read it (queues as JSON text). */
export interface WorkerKeyRow {
  id: string;
  name: string;
  queues: string;
  created_at: number;
  revoked_at: number | null;
}

export function rowToWorkerKey(row: WorkerKeyRow): WorkerKeyRecord {
  return {
    id: row.id,
    name: row.name,
    queues: JSON.parse(row.queues) as string[],
    createdAt: Number(row.created_at),
    revokedAt: row.revoked_at === null ? null : Number(row.revoked_at),
  };
}

/** The columns a key is written with, in the order of the stores' INSERT. */
export function workerKeyValues(key: WorkerKeyRecord, secretHash: string): [string, string, string, string, number, number | null] {
  return [key.id, key.name, JSON.stringify(key.queues), secretHash, key.createdAt, key.revokedAt];
}

export const WORKER_KEY_COLUMNS = "id, name, queues, created_at, revoked_at";

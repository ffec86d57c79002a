import type { WorkerKeyRecord } from "../store.js";
import { rowToWorkerKey, WORKER_KEY_COLUMNS, workerKeyValues, type WorkerKeyRow } from "../worker-key-rows.js";
import { rows, type Queryable } from "./sql.js";

/** Worker keys in PostgreSQL, for one schema: a handful of rows, read by the unique index on the secret's hash. */
export class PgWorkerKeys {
  constructor(private readonly s: string) {}

  async create(db: Queryable, key: WorkerKeyRecord, secretHash: string): Promise<void> {
    await rows(db, `INSERT INTO ${this.s}.worker_keys(id, name, queues, secret_hash, created_at, revoked_at) VALUES ($1, $2, $3, $4, $5, $6)`, workerKeyValues(key, secretHash));
  }

  async list(db: Queryable): Promise<WorkerKeyRecord[]> {
    return (await rows<WorkerKeyRow>(db, `SELECT ${WORKER_KEY_COLUMNS} FROM ${this.s}.worker_keys ORDER BY created_at DESC, id DESC`)).map(rowToWorkerKey);
  }

  async findByHash(db: Queryable, secretHash: string): Promise<WorkerKeyRecord | null> {
    const [row] = await rows<WorkerKeyRow>(db, `SELECT ${WORKER_KEY_COLUMNS} FROM ${this.s}.worker_keys WHERE secret_hash = $1`, [secretHash]);
    return row ? rowToWorkerKey(row) : null;
  }

  async revoke(db: Queryable, id: string, now: number): Promise<WorkerKeyRecord | null> {
    // COALESCE keeps the first revoke's time.
    const [row] = await rows<WorkerKeyRow>(
      db,
      `UPDATE ${this.s}.worker_keys SET revoked_at = COALESCE(revoked_at, $1) WHERE id = $2 RETURNING ${WORKER_KEY_COLUMNS}`,
      [now, id],
    );
    return row ? rowToWorkerKey(row) : null;
  }
}

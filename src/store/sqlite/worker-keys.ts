import type { Database, Statement } from "better-sqlite3";
import type { WorkerKeyRecord } from "../store.js";
import { rowToWorkerKey, WORKER_KEY_COLUMNS, workerKeyValues, type WorkerKeyRow } from "../worker-key-rows.js";

/** Worker keys in SQLite: a handful of rows, read by the unique index on the secret's hash. */
export class SqliteWorkerKeys {
  private readonly insert: Statement<[string, string, string, string, number, number | null]>;
  private readonly all: Statement<[], WorkerKeyRow>;
  private readonly byHash: Statement<[string], WorkerKeyRow>;
  private readonly byId: Statement<[string], WorkerKeyRow>;
  private readonly revoke: Statement<[number, string]>;

  constructor(db: Database) {
    this.insert = db.prepare("INSERT INTO worker_keys(id, name, queues, secret_hash, created_at, revoked_at) VALUES (?, ?, ?, ?, ?, ?)");
    this.all = db.prepare(`SELECT ${WORKER_KEY_COLUMNS} FROM worker_keys ORDER BY created_at DESC, id DESC`);
    this.byHash = db.prepare(`SELECT ${WORKER_KEY_COLUMNS} FROM worker_keys WHERE secret_hash = ?`);
    this.byId = db.prepare(`SELECT ${WORKER_KEY_COLUMNS} FROM worker_keys WHERE id = ?`);
    this.revoke = db.prepare("UPDATE worker_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL");
  }

  create(key: WorkerKeyRecord, secretHash: string): void {
    this.insert.run(...workerKeyValues(key, secretHash));
  }

  list(): WorkerKeyRecord[] {
    return this.all.all().map(rowToWorkerKey);
  }

  findByHash(secretHash: string): WorkerKeyRecord | null {
    const row = this.byHash.get(secretHash);
    return row ? rowToWorkerKey(row) : null;
  }

  revokeKey(id: string, now: number): WorkerKeyRecord | null {
    this.revoke.run(now, id);
    const row = this.byId.get(id);
    return row ? rowToWorkerKey(row) : null;
  }
}

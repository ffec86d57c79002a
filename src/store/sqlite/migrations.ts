/**
 * Numbered schema migrations. `PRAGMA user_version` holds the number of the
 * last one applied; never edit a released entry, append a new one.
 */
export const MIGRATIONS: readonly { version: number; sql: string }[] = [
  {
    version: 1,
    sql: `
CREATE TABLE outlast_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;

CREATE TABLE tasks (
  seq INTEGER PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  name TEXT NOT NULL,
  queue TEXT NOT NULL,
  owner TEXT NOT NULL,
  state TEXT NOT NULL,
  priority INTEGER NOT NULL,
  attempt INTEGER NOT NULL DEFAULT 0,
  max_attempts INTEGER NOT NULL,
  attempt_budget INTEGER NOT NULL,
  timeout_ms INTEGER,
  input TEXT NOT NULL,
  progress TEXT,
  progress_seq INTEGER,
  result TEXT,
  error TEXT,
  checkpoint TEXT,
  idempotency_key TEXT,
  created_at INTEGER NOT NULL,
  run_at INTEGER NOT NULL,
  started_at INTEGER,
  finished_at INTEGER,
  last_seq INTEGER NOT NULL DEFAULT 0,
  log_count INTEGER NOT NULL DEFAULT 0,
  cancel_requested INTEGER NOT NULL DEFAULT 0,
  worker_id TEXT,
  lease_token INTEGER NOT NULL DEFAULT 0,
  lease_expires_at INTEGER
);
CREATE UNIQUE INDEX tasks_idempotency ON tasks(owner, name, idempotency_key) WHERE idempotency_key IS NOT NULL;
-- name is last so the claim's name filter is answered from the index alone.
CREATE INDEX tasks_runnable ON tasks(queue, priority DESC, run_at, seq, name) WHERE state = 'queued';
CREATE INDEX tasks_owner_queued ON tasks(queue, owner) WHERE state = 'queued';
CREATE INDEX tasks_running ON tasks(queue, owner) WHERE state = 'running';
CREATE INDEX tasks_owner ON tasks(owner, seq);
CREATE INDEX tasks_finished ON tasks(finished_at) WHERE finished_at IS NOT NULL;
-- Counts by queue and state (the dashboard) are read from the partial
-- indexes alone: ~10x less work than scanning and grouping the table.
CREATE INDEX tasks_finished_counts ON tasks(queue, state) WHERE finished_at IS NOT NULL;

CREATE TABLE task_steps (
  task_id TEXT NOT NULL,
  name TEXT NOT NULL,
  result TEXT NOT NULL,
  attempt INTEGER NOT NULL,
  at INTEGER NOT NULL,
  PRIMARY KEY (task_id, name)
) WITHOUT ROWID;

-- AUTOINCREMENT: ids are never reused, even after the newest row is
-- deleted by progress compaction, so a reader that saw id N never misses
-- a later event.
CREATE TABLE task_events (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  task_id TEXT NOT NULL,
  owner TEXT NOT NULL,
  queue TEXT NOT NULL,
  seq INTEGER NOT NULL,
  kind TEXT NOT NULL,
  attempt INTEGER NOT NULL,
  at INTEGER NOT NULL,
  data TEXT NOT NULL
);
CREATE UNIQUE INDEX task_events_task ON task_events(task_id, seq);

CREATE TABLE queues (
  name TEXT PRIMARY KEY,
  concurrency INTEGER,
  max_queued INTEGER,
  owner_concurrency INTEGER,
  owner_max_queued INTEGER,
  paused INTEGER NOT NULL DEFAULT 0,
  updated_at INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE workers (
  id TEXT PRIMARY KEY,
  host TEXT NOT NULL,
  pid INTEGER NOT NULL,
  queues TEXT NOT NULL,
  started_at INTEGER NOT NULL,
  heartbeat_at INTEGER NOT NULL,
  running TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE schedules (name TEXT PRIMARY KEY, last_tick INTEGER NOT NULL) WITHOUT ROWID;
`,
  },
  {
    // How many event streams each process serves, for the dashboard's view of every node.
    version: 2,
    sql: `ALTER TABLE workers ADD COLUMN streams INTEGER;`,
  },
  {
    // A queue's limits as code declared them and as an operator changed them (core/queue-limits.ts);
    // the limit columns hold what applies. Limits stored before count as declared.
    version: 3,
    sql: `ALTER TABLE queues ADD COLUMN declared TEXT NOT NULL DEFAULT '{}';
ALTER TABLE queues ADD COLUMN overrides TEXT NOT NULL DEFAULT '{}';
UPDATE queues SET declared = json_object('concurrency', concurrency, 'maxQueued', max_queued, 'ownerConcurrency', owner_concurrency, 'ownerMaxQueued', owner_max_queued);`,
  },
  {
    // The dashboard's prefix search (TaskFilter.search) reads each column
    // through an index: id has its unique one, owner tasks_owner; name had none.
    version: 4,
    sql: `CREATE INDEX tasks_name ON tasks(name, seq);`,
  },
  {
    // A task's title (core/title.ts), searched by prefix like id, owner and name.
    version: 5,
    sql: `ALTER TABLE tasks ADD COLUMN title TEXT;
CREATE INDEX tasks_title ON tasks(title) WHERE title IS NOT NULL;`,
  },
  {
    // Claims take turns across owners (core/turns.ts): the runnable index orders by turn, and holds
    // only tasks with one; delayed tasks wait in an index of their own until a claim gives them a turn.
    // Tasks queued before start without one and are given theirs by the first claim.
    version: 6,
    sql: `ALTER TABLE tasks ADD COLUMN turn INTEGER;
DROP INDEX tasks_runnable;
DROP INDEX tasks_owner_queued;
CREATE INDEX tasks_runnable ON tasks(queue, priority DESC, turn, seq, name) WHERE state = 'queued' AND turn IS NOT NULL;
CREATE INDEX tasks_due ON tasks(queue, run_at) WHERE state = 'queued' AND turn IS NULL;
CREATE INDEX tasks_owner_queued ON tasks(queue, owner, turn) WHERE state = 'queued';`,
  },
  {
    // Children, groups and durable waits (core/waits.ts): a child names its parent and its key
    // there; a waiting task keeps what it waits for, and when the clock ends it; signals sent
    // before a task waits for them are kept until it does.
    version: 7,
    sql: `ALTER TABLE tasks ADD COLUMN parent_id TEXT;
ALTER TABLE tasks ADD COLUMN child_key TEXT;
ALTER TABLE tasks ADD COLUMN weight REAL NOT NULL DEFAULT 1;
ALTER TABLE tasks ADD COLUMN wait TEXT;
ALTER TABLE tasks ADD COLUMN wake_at INTEGER;
ALTER TABLE tasks ADD COLUMN children INTEGER NOT NULL DEFAULT 0;
CREATE UNIQUE INDEX tasks_child_key ON tasks(parent_id, child_key) WHERE parent_id IS NOT NULL;
CREATE INDEX tasks_children ON tasks(parent_id, seq) WHERE parent_id IS NOT NULL;
CREATE INDEX tasks_wake ON tasks(wake_at) WHERE state = 'waiting' AND wake_at IS NOT NULL;
CREATE INDEX tasks_waiting ON tasks(queue) WHERE state = 'waiting';
CREATE TABLE task_signals (
  id INTEGER PRIMARY KEY,
  task_id TEXT NOT NULL,
  name TEXT NOT NULL,
  payload TEXT NOT NULL,
  at INTEGER NOT NULL
);
CREATE INDEX task_signals_task ON task_signals(task_id, name, id);`,
  },
  {
    // Dead letters and poison pills (core/dead-letters.ts): a failed task is kept for an operator (a
    // parent failed by its child is not: the child is); a task's lease expiries in a row, and how many
    // quarantine it, known at submit so every process recovering leases applies the same limit.
    // Tasks that failed before count as dead letters.
    version: 8,
    sql: `ALTER TABLE tasks ADD COLUMN dead_letter INTEGER NOT NULL DEFAULT 0;
ALTER TABLE tasks ADD COLUMN lease_expiries INTEGER NOT NULL DEFAULT 0;
ALTER TABLE tasks ADD COLUMN max_lease_expiries INTEGER NOT NULL DEFAULT 3;
UPDATE tasks SET dead_letter = 1 WHERE state = 'failed' AND (error IS NULL OR json_extract(error, '$.code') IS NOT 'child_failed');
CREATE INDEX tasks_dead ON tasks(finished_at DESC, seq DESC) WHERE dead_letter = 1;`,
  },
  {
    // Submits that collapse by a key (core/dedupe.ts): the key, and the latest runAt of a debounce's
    // burst. The index holds only unfinished tasks with a key, where a dedupe submit looks.
    version: 9,
    sql: `ALTER TABLE tasks ADD COLUMN dedupe_key TEXT;
ALTER TABLE tasks ADD COLUMN dedupe_deadline INTEGER;
CREATE INDEX tasks_dedupe ON tasks(owner, name, dedupe_key) WHERE dedupe_key IS NOT NULL AND finished_at IS NULL;`,
  },
  {
    // Rate limits (core/rate-limit.ts): the queue's limit as applied (its patches live in declared/overrides);
    // each task's rate key (set at submit; null when unkeyed) and cost; and the ledger of starts the
    // claims of a rate-limited queue count over the window and prune as they go.
    version: 10,
    sql: `ALTER TABLE queues ADD COLUMN rate_limit INTEGER;
ALTER TABLE queues ADD COLUMN rate_period_ms INTEGER;
ALTER TABLE queues ADD COLUMN rate_keyed INTEGER NOT NULL DEFAULT 0;
ALTER TABLE tasks ADD COLUMN rate_key TEXT;
ALTER TABLE tasks ADD COLUMN cost INTEGER NOT NULL DEFAULT 1;
CREATE TABLE rate_starts (
  id INTEGER PRIMARY KEY,
  queue TEXT NOT NULL,
  key TEXT NOT NULL,
  at INTEGER NOT NULL,
  cost INTEGER NOT NULL
);
CREATE INDEX rate_starts_window ON rate_starts(queue, at);`,
  },
  {
    // Concurrency per key (core/key-limits.ts): each task's key (its owner unless the queue says
    // otherwise), tier and own limit, set at submit; running tasks are counted per key, and claims
    // take turns across keys (core/turns.ts), so the running and queued indexes go by key. The
    // queue's per-key rules as applied live in key_rules (perOwner.concurrency is the limit per owner key).
    version: 11,
    sql: `ALTER TABLE tasks ADD COLUMN concurrency_key TEXT;
ALTER TABLE tasks ADD COLUMN tier TEXT;
ALTER TABLE tasks ADD COLUMN key_limit INTEGER;
UPDATE tasks SET concurrency_key = owner;
DROP INDEX tasks_running;
CREATE INDEX tasks_running ON tasks(queue, concurrency_key) WHERE state = 'running';
CREATE INDEX tasks_key_queued ON tasks(queue, concurrency_key, turn) WHERE state = 'queued';
ALTER TABLE queues ADD COLUMN key_rules TEXT;
UPDATE queues SET key_rules = json_object('limit', owner_concurrency, 'tiers', json('{}'), 'keyLimits', json('{}')) WHERE owner_concurrency IS NOT NULL;`,
  },
  {
    // Workers over HTTP (server/worker-routes.ts): the keys that let them in (only the secret's SHA-256
    // is kept, found through its unique index), and which worker rows are such workers.
    version: 12,
    sql: `CREATE TABLE worker_keys (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  queues TEXT NOT NULL,
  secret_hash TEXT NOT NULL UNIQUE,
  created_at INTEGER NOT NULL,
  revoked_at INTEGER
);
ALTER TABLE workers ADD COLUMN remote TEXT;`,
  },
  {
    // Counts of finished tasks per queue and state kept by triggers as they change (#16): the
    // dashboard's queue counts no longer scan an index of every finished task, and a finish writes
    // one counter row instead of an entry in that index. Work still to do is counted from its
    // partial indexes, which hold only unfinished tasks. Retention goes along the primary key instead of
    // an index of every finish time, and failed and canceled tasks are listed through an index of their own.
    version: 13,
    sql: `DROP INDEX tasks_finished;
CREATE INDEX tasks_failed ON tasks(seq) WHERE state = 'failed';
CREATE INDEX tasks_canceled ON tasks(seq) WHERE state = 'canceled';
CREATE TABLE state_counts (queue TEXT NOT NULL, state TEXT NOT NULL, n INTEGER NOT NULL, PRIMARY KEY (queue, state)) WITHOUT ROWID;
INSERT INTO state_counts SELECT queue, state, count(*) FROM tasks WHERE state IN ('succeeded', 'failed', 'canceled') GROUP BY queue, state;
DROP INDEX tasks_finished_counts;
CREATE TRIGGER count_finished_in AFTER UPDATE OF state ON tasks
  WHEN NEW.state IN ('succeeded', 'failed', 'canceled') AND NEW.state IS NOT OLD.state
  BEGIN INSERT INTO state_counts VALUES (NEW.queue, NEW.state, 1) ON CONFLICT (queue, state) DO UPDATE SET n = n + 1; END;
CREATE TRIGGER count_finished_out AFTER UPDATE OF state ON tasks
  WHEN OLD.state IN ('succeeded', 'failed', 'canceled') AND NEW.state IS NOT OLD.state
  BEGIN UPDATE state_counts SET n = n - 1 WHERE queue = OLD.queue AND state = OLD.state; END;
CREATE TRIGGER count_finished_inserted AFTER INSERT ON tasks
  WHEN NEW.state IN ('succeeded', 'failed', 'canceled')
  BEGIN INSERT INTO state_counts VALUES (NEW.queue, NEW.state, 1) ON CONFLICT (queue, state) DO UPDATE SET n = n + 1; END;
CREATE TRIGGER count_finished_deleted AFTER DELETE ON tasks
  WHEN OLD.state IN ('succeeded', 'failed', 'canceled')
  BEGIN UPDATE state_counts SET n = n - 1 WHERE queue = OLD.queue AND state = OLD.state; END;`,
  },
  {
    // The store counts finished tasks itself (sqlite/tx.ts, FinishedCounts): a group commit adds
    // one delta per queue and state, where the triggers ran a sub-program for every insert, claim
    // and finish (two for each update of state) and an upsert for every finished task: ~12% of a
    // no-op task's CPU. The counts the triggers kept stay as they are.
    version: 14,
    sql: `DROP TRIGGER count_finished_in;
DROP TRIGGER count_finished_out;
DROP TRIGGER count_finished_inserted;
DROP TRIGGER count_finished_deleted;`,
  },
];

export const LATEST_VERSION = MIGRATIONS[MIGRATIONS.length - 1]?.version ?? 0;

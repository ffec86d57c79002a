import { keepDerivedEventsSql } from "./derived-events.js";

/**
 * Numbered schema migrations, each a function of the (already validated,
 * quoted) schema name. `outlast_meta.schema_version` holds the number of the
 * last one applied; never edit a released entry, append a new one.
 */
export const MIGRATIONS: readonly { version: number; sql: (s: string) => string }[] = [
  {
    version: 1,
    sql: (s) => `
CREATE TABLE ${s}.tasks (
  seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  id text NOT NULL UNIQUE,
  name text NOT NULL,
  queue text NOT NULL,
  owner text NOT NULL,
  state text NOT NULL,
  priority integer NOT NULL,
  attempt integer NOT NULL DEFAULT 0,
  max_attempts integer NOT NULL,
  attempt_budget integer NOT NULL,
  timeout_ms bigint,
  input text NOT NULL,
  progress text,
  progress_seq integer,
  result text,
  error text,
  checkpoint text,
  idempotency_key text,
  created_at bigint NOT NULL,
  run_at bigint NOT NULL,
  started_at bigint,
  finished_at bigint,
  last_seq integer NOT NULL DEFAULT 0,
  log_count integer NOT NULL DEFAULT 0,
  cancel_requested boolean NOT NULL DEFAULT false,
  worker_id text,
  lease_token bigint NOT NULL DEFAULT 0,
  lease_expires_at bigint
);
CREATE UNIQUE INDEX tasks_idempotency ON ${s}.tasks(owner, name, idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE INDEX tasks_runnable ON ${s}.tasks(queue, priority DESC, run_at, seq) WHERE state = 'queued';
CREATE INDEX tasks_owner_queued ON ${s}.tasks(queue, owner) WHERE state = 'queued';
CREATE INDEX tasks_running ON ${s}.tasks(queue, owner) WHERE state = 'running';
CREATE INDEX tasks_owner ON ${s}.tasks(owner, seq);
-- Purging by state and age, and the recent durations of a queue's successes.
CREATE INDEX tasks_finished ON ${s}.tasks(state, finished_at) WHERE finished_at IS NOT NULL;
-- No index on lease_expires_at: recovery scans tasks_running, which holds
-- only running tasks. Every index here costs an entry per state change of
-- every task (a state change is never a HOT update), so there are few.

CREATE TABLE ${s}.task_steps (
  task_id text NOT NULL,
  name text NOT NULL,
  result text NOT NULL,
  attempt integer NOT NULL,
  at bigint NOT NULL,
  PRIMARY KEY (task_id, name)
);

-- txid: the writing transaction, so a listener that lost its connection can
-- find every event committed since a snapshot it took (ids are not in
-- commit order on PostgreSQL, transaction visibility is exact).
CREATE TABLE ${s}.task_events (
  task_id text NOT NULL,
  owner text NOT NULL,
  queue text NOT NULL,
  seq integer NOT NULL,
  kind text NOT NULL,
  attempt integer NOT NULL,
  at bigint NOT NULL,
  data text NOT NULL,
  txid xid8 NOT NULL DEFAULT pg_current_xact_id(),
  PRIMARY KEY (task_id, seq)
);
CREATE INDEX task_events_txid ON ${s}.task_events(txid);

CREATE TABLE ${s}.queues (
  name text PRIMARY KEY,
  concurrency integer,
  max_queued integer,
  owner_concurrency integer,
  owner_max_queued integer,
  paused boolean NOT NULL DEFAULT false,
  updated_at bigint NOT NULL
);

CREATE TABLE ${s}.workers (
  id text PRIMARY KEY,
  host text NOT NULL,
  pid integer NOT NULL,
  queues text NOT NULL,
  started_at bigint NOT NULL,
  heartbeat_at bigint NOT NULL,
  running text NOT NULL
);

CREATE TABLE ${s}.schedules (name text PRIMARY KEY, last_tick bigint NOT NULL);
`,
  },
  {
    // Led by the queue, this index looked to the planner like a cheaper way
    // to find a queue's runnable tasks than tasks_runnable while a table's
    // statistics were still those of an empty one (a fresh start, before the
    // first analyze): claims then sorted every queued task of the queue.
    // Led by the owner, it serves only what it is for: one owner's queued
    // count in a queue.
    version: 2,
    sql: (s) => `
DROP INDEX ${s}.tasks_owner_queued;
CREATE INDEX tasks_owner_queued ON ${s}.tasks(owner, queue) WHERE state = 'queued';
`,
  },
  {
    // How many event streams each process serves, for the dashboard's view of every node.
    version: 3,
    sql: (s) => `ALTER TABLE ${s}.workers ADD COLUMN streams integer;`,
  },
  {
    // A queue's limits as code declared them and as an operator changed them (core/queue-limits.ts);
    // the limit columns hold what applies. Limits stored before count as declared.
    version: 4,
    sql: (s) => `
ALTER TABLE ${s}.queues ADD COLUMN declared jsonb NOT NULL DEFAULT '{}', ADD COLUMN overrides jsonb NOT NULL DEFAULT '{}';
UPDATE ${s}.queues SET declared = jsonb_build_object('concurrency', concurrency, 'maxQueued', max_queued, 'ownerConcurrency', owner_concurrency, 'ownerMaxQueued', owner_max_queued);`,
  },
  {
    // The dashboard's prefix search (TaskFilter.search) compares in the "C"
    // collation, so it needs indexes in that collation: the ones above use
    // the database's, which may order text differently (en_US and the like).
    // Each costs an entry per state change (see version 1); search is why.
    version: 5,
    sql: (s) => `
CREATE INDEX tasks_search_id ON ${s}.tasks(id COLLATE "C");
CREATE INDEX tasks_search_owner ON ${s}.tasks(owner COLLATE "C");
CREATE INDEX tasks_search_name ON ${s}.tasks(name COLLATE "C");`,
  },
  {
    // A task's title (core/title.ts), searched by prefix like id, owner and name (see version 5).
    version: 6,
    sql: (s) => `
ALTER TABLE ${s}.tasks ADD COLUMN title text;
CREATE INDEX tasks_search_title ON ${s}.tasks(title COLLATE "C") WHERE title IS NOT NULL;`,
  },
  {
    // Claims take turns across owners (core/turns.ts): the runnable index orders by turn, and holds
    // only tasks with one; delayed tasks wait in an index of their own until a claim gives them a turn.
    // Tasks queued before start without one and are given theirs by the first claim.
    version: 7,
    sql: (s) => `
ALTER TABLE ${s}.tasks ADD COLUMN turn bigint;
DROP INDEX ${s}.tasks_runnable;
DROP INDEX ${s}.tasks_owner_queued;
CREATE INDEX tasks_runnable ON ${s}.tasks(queue, priority DESC, turn, seq) WHERE state = 'queued' AND turn IS NOT NULL;
CREATE INDEX tasks_due ON ${s}.tasks(queue, run_at) WHERE state = 'queued' AND turn IS NULL;
CREATE INDEX tasks_owner_queued ON ${s}.tasks(owner, queue, turn) WHERE state = 'queued';`,
  },
  {
    // Children, groups and durable waits (core/waits.ts): a child names its parent and its key
    // there; a waiting task keeps what it waits for, and when the clock ends it; signals sent
    // before a task waits for them are kept until it does.
    version: 8,
    sql: (s) => `
ALTER TABLE ${s}.tasks ADD COLUMN parent_id text;
ALTER TABLE ${s}.tasks ADD COLUMN child_key text;
ALTER TABLE ${s}.tasks ADD COLUMN weight double precision NOT NULL DEFAULT 1;
ALTER TABLE ${s}.tasks ADD COLUMN wait text;
ALTER TABLE ${s}.tasks ADD COLUMN wake_at bigint;
ALTER TABLE ${s}.tasks ADD COLUMN children integer NOT NULL DEFAULT 0;
CREATE UNIQUE INDEX tasks_child_key ON ${s}.tasks(parent_id, child_key) WHERE parent_id IS NOT NULL;
CREATE INDEX tasks_children ON ${s}.tasks(parent_id, seq) WHERE parent_id IS NOT NULL;
CREATE INDEX tasks_wake ON ${s}.tasks(wake_at) WHERE state = 'waiting' AND wake_at IS NOT NULL;
CREATE INDEX tasks_waiting ON ${s}.tasks(queue) WHERE state = 'waiting';
CREATE TABLE ${s}.task_signals (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  task_id text NOT NULL,
  name text NOT NULL,
  payload text NOT NULL,
  at bigint NOT NULL
);
CREATE INDEX task_signals_task ON ${s}.task_signals(task_id, name, id);`,
  },
  {
    // Dead letters and poison pills (core/dead-letters.ts): a failed task is kept for an operator (a
    // parent failed by its child is not: the child is); a task's lease expiries in a row, and how many
    // quarantine it, known at submit so every process recovering leases applies the same limit.
    // Tasks that failed before count as dead letters.
    version: 9,
    sql: (s) => `
ALTER TABLE ${s}.tasks ADD COLUMN dead_letter integer NOT NULL DEFAULT 0;
ALTER TABLE ${s}.tasks ADD COLUMN lease_expiries integer NOT NULL DEFAULT 0;
ALTER TABLE ${s}.tasks ADD COLUMN max_lease_expiries integer NOT NULL DEFAULT 3;
UPDATE ${s}.tasks SET dead_letter = 1 WHERE state = 'failed' AND (error IS NULL OR (error::jsonb ->> 'code') IS DISTINCT FROM 'child_failed');
CREATE INDEX tasks_dead ON ${s}.tasks(finished_at DESC, seq DESC) WHERE dead_letter = 1;`,
  },
  {
    // Submits that collapse by a key (core/dedupe.ts): the key, and the latest runAt of a debounce's
    // burst. The index holds only unfinished tasks with a key, where a dedupe submit looks; concurrent
    // submits of one key are serialized by a transaction-scoped advisory lock on it (submit.ts).
    version: 10,
    sql: (s) => `
ALTER TABLE ${s}.tasks ADD COLUMN dedupe_key text;
ALTER TABLE ${s}.tasks ADD COLUMN dedupe_deadline bigint;
CREATE INDEX tasks_dedupe ON ${s}.tasks(owner, name, dedupe_key) WHERE dedupe_key IS NOT NULL AND finished_at IS NULL;`,
  },
  {
    // Rate limits (core/rate-limit.ts): the queue's limit as applied (its patches live in declared/overrides);
    // each task's rate key (set at submit; null when unkeyed) and cost; and the ledger of starts the
    // claims of a rate-limited queue count over the window and prune as they go.
    version: 11,
    sql: (s) => `
ALTER TABLE ${s}.queues ADD COLUMN rate_limit integer, ADD COLUMN rate_period_ms bigint, ADD COLUMN rate_keyed boolean NOT NULL DEFAULT false;
ALTER TABLE ${s}.tasks ADD COLUMN rate_key text, ADD COLUMN cost integer NOT NULL DEFAULT 1;
CREATE TABLE ${s}.rate_starts (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  queue text NOT NULL,
  key text NOT NULL,
  at bigint NOT NULL,
  cost integer NOT NULL
);
CREATE INDEX rate_starts_window ON ${s}.rate_starts(queue, at);`,
  },
  {
    // Concurrency per key (core/key-limits.ts): each task's key (its owner unless the queue says
    // otherwise), tier and own limit, set at submit; running tasks are counted per key, and claims
    // take turns across keys (core/turns.ts), so the running and queued indexes go by key. The
    // queue's per-key rules as applied live in key_rules (perOwner.concurrency is the limit per owner key).
    version: 12,
    sql: (s) => `
ALTER TABLE ${s}.tasks ADD COLUMN concurrency_key text, ADD COLUMN tier text, ADD COLUMN key_limit integer;
UPDATE ${s}.tasks SET concurrency_key = owner;
DROP INDEX ${s}.tasks_running;
CREATE INDEX tasks_running ON ${s}.tasks(queue, concurrency_key) WHERE state = 'running';
CREATE INDEX tasks_key_queued ON ${s}.tasks(queue, concurrency_key, turn) WHERE state = 'queued';
ALTER TABLE ${s}.queues ADD COLUMN key_rules jsonb;
UPDATE ${s}.queues SET key_rules = jsonb_build_object('limit', owner_concurrency, 'tiers', '{}'::jsonb, 'keyLimits', '{}'::jsonb) WHERE owner_concurrency IS NOT NULL;`,
  },
  {
    // Workers over HTTP (server/worker-routes.ts): the keys that let them in (only the secret's SHA-256
    // is kept, found through its unique index), and which worker rows are such workers.
    version: 13,
    sql: (s) => `
CREATE TABLE ${s}.worker_keys (
  id text PRIMARY KEY,
  name text NOT NULL,
  queues text NOT NULL,
  secret_hash text NOT NULL UNIQUE,
  created_at bigint NOT NULL,
  revoked_at bigint
);
ALTER TABLE ${s}.workers ADD COLUMN remote text;`,
  },
  {
    // A lean hot path (#16): the task row keeps every task's history, and the work still to do lives
    // in the narrow `active` table (one row per queued, running or waiting task), kept in step with the
    // row by triggers. No index of `tasks` covers a column a success changes (state, turn, started_at,
    // finished_at), so a claim's and a finish's updates of the row are HOT: no index entries, and
    // `fillfactor` leaves the page room for them. Counts of finished tasks per queue and state are
    // deltas appended by the same trigger (no row every finish would lock), summed and folded by readers.
    version: 14,
    sql: (s) => `
CREATE TABLE ${s}.active (
  seq bigint PRIMARY KEY,
  queue text NOT NULL,
  state text NOT NULL,
  name text NOT NULL,
  owner text NOT NULL,
  priority integer NOT NULL,
  turn bigint,
  run_at bigint NOT NULL,
  concurrency_key text,
  wake_at bigint
);
INSERT INTO ${s}.active SELECT seq, queue, state, name, owner, priority, turn, run_at, concurrency_key, wake_at
  FROM ${s}.tasks WHERE state IN ('queued', 'running', 'waiting');
CREATE INDEX active_runnable ON ${s}.active(queue, priority DESC, turn, seq) WHERE state = 'queued' AND turn IS NOT NULL;
CREATE INDEX active_due ON ${s}.active(queue, run_at) WHERE state = 'queued' AND turn IS NULL;
CREATE INDEX active_key_queued ON ${s}.active(queue, concurrency_key, turn) WHERE state = 'queued';
CREATE INDEX active_running ON ${s}.active(queue, concurrency_key) WHERE state = 'running';
CREATE INDEX active_wake ON ${s}.active(wake_at) WHERE state = 'waiting' AND wake_at IS NOT NULL;
CREATE TABLE ${s}.state_counts (queue text NOT NULL, state text NOT NULL, n bigint NOT NULL);
INSERT INTO ${s}.state_counts SELECT queue, state, count(*) FROM ${s}.tasks WHERE state NOT IN ('queued', 'running', 'waiting') GROUP BY queue, state;
-- Statement triggers: a batch of a thousand rows costs one set-based statement, not a thousand calls.
CREATE FUNCTION ${s}.track_tasks() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    INSERT INTO ${s}.active SELECT seq, queue, state, name, owner, priority, turn, run_at, concurrency_key, wake_at
      FROM new_rows WHERE state IN ('queued', 'running', 'waiting');
    INSERT INTO ${s}.state_counts SELECT queue, state, count(*) FROM new_rows WHERE state NOT IN ('queued', 'running', 'waiting') GROUP BY queue, state;
  ELSIF TG_OP = 'DELETE' THEN
    DELETE FROM ${s}.active a USING old_rows o WHERE a.seq = o.seq AND o.state IN ('queued', 'running', 'waiting');
    INSERT INTO ${s}.state_counts SELECT queue, state, -count(*) FROM old_rows WHERE state NOT IN ('queued', 'running', 'waiting') GROUP BY queue, state;
  ELSE
    -- No join of old_rows with new_rows (no statistics, no index: planned as a nested loop):
    -- the active row holds the old values, and counts change by new minus old per queue and state.
    DELETE FROM ${s}.active a USING new_rows n WHERE a.seq = n.seq AND n.state NOT IN ('queued', 'running', 'waiting');
    UPDATE ${s}.active a SET state = n.state, queue = n.queue, priority = n.priority, turn = n.turn, run_at = n.run_at,
        concurrency_key = n.concurrency_key, wake_at = n.wake_at
      FROM new_rows n
      WHERE a.seq = n.seq AND n.state IN ('queued', 'running', 'waiting')
        AND (n.state, n.queue, n.priority, n.turn, n.run_at, n.concurrency_key, n.wake_at)
          IS DISTINCT FROM (a.state, a.queue, a.priority, a.turn, a.run_at, a.concurrency_key, a.wake_at);
    INSERT INTO ${s}.active SELECT n.seq, n.queue, n.state, n.name, n.owner, n.priority, n.turn, n.run_at, n.concurrency_key, n.wake_at
      FROM new_rows n WHERE n.state IN ('queued', 'running', 'waiting') AND NOT EXISTS (SELECT 1 FROM ${s}.active a WHERE a.seq = n.seq);
    INSERT INTO ${s}.state_counts SELECT queue, state, sum(d) FROM (
        SELECT queue, state, 1 AS d FROM new_rows WHERE state NOT IN ('queued', 'running', 'waiting')
        UNION ALL
        SELECT queue, state, -1 FROM old_rows WHERE state NOT IN ('queued', 'running', 'waiting')
      ) x GROUP BY queue, state HAVING sum(d) <> 0;
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER track_inserts AFTER INSERT ON ${s}.tasks REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION ${s}.track_tasks();
CREATE TRIGGER track_updates AFTER UPDATE ON ${s}.tasks REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION ${s}.track_tasks();
CREATE TRIGGER track_deletes AFTER DELETE ON ${s}.tasks REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION ${s}.track_tasks();
DROP INDEX ${s}.tasks_runnable, ${s}.tasks_due, ${s}.tasks_owner_queued, ${s}.tasks_key_queued, ${s}.tasks_running,
  ${s}.tasks_wake, ${s}.tasks_waiting, ${s}.tasks_finished, ${s}.tasks_dedupe, ${s}.tasks_dead, ${s}.tasks_search_id, ${s}.tasks_search_owner;
-- One rewrite of the table for every change:
-- dead_at is finished_at of a dead letter, and unsuccessful the state of a failed or canceled task, both null
-- for a success, which leaves them (and their indexes) alone; ids and owners in code point order, so their
-- unique and owner indexes serve the prefix search as well; a claim updates a page's worth of rows at once,
-- and half a page free keeps their new versions on it.
ALTER TABLE ${s}.tasks
  ADD COLUMN dead_at bigint GENERATED ALWAYS AS (CASE WHEN dead_letter = 1 THEN finished_at END) STORED,
  ADD COLUMN unsuccessful text GENERATED ALWAYS AS (CASE WHEN state IN ('failed', 'canceled') THEN state END) STORED,
  ALTER COLUMN id TYPE text COLLATE "C",
  ALTER COLUMN owner TYPE text COLLATE "C",
  SET (fillfactor = 50);
CREATE INDEX tasks_dedupe ON ${s}.tasks(owner, name, dedupe_key) WHERE dedupe_key IS NOT NULL;
CREATE INDEX tasks_dead ON ${s}.tasks(dead_at DESC, seq DESC) WHERE dead_at IS NOT NULL;
CREATE INDEX tasks_unsuccessful ON ${s}.tasks(unsuccessful, seq) WHERE unsuccessful IS NOT NULL;
-- Events are only ever appended, so transaction ids grow along the table: a BRIN index of a few pages finds a catch-up's.
DROP INDEX ${s}.task_events_txid;
ALTER TABLE ${s}.task_events ALTER COLUMN txid DROP DEFAULT, ALTER COLUMN txid TYPE bigint USING txid::text::bigint,
  ALTER COLUMN txid SET DEFAULT pg_current_xact_id()::text::bigint;
CREATE INDEX task_events_txid ON ${s}.task_events USING brin (txid);`,
  },
  {
    // A task's queued, running and succeeded events are its row's (derived-events.ts): a no-op task writes
    // no event row. Rows already there keep their events as rows (derived = 0).
    version: 15,
    sql: (s) => `
ALTER TABLE ${s}.tasks ADD COLUMN derived smallint NOT NULL DEFAULT 0;
${keepDerivedEventsSql(s)}
-- A claim's new version of an active row fits on its page: no lock of the old one logged first to move it.
ALTER TABLE ${s}.active SET (fillfactor = 50);`,
  },
];

export const LATEST_VERSION = MIGRATIONS[MIGRATIONS.length - 1]?.version ?? 0;

import { firstQueuedEvent, RUNNING_EVENT, stateEvent } from "../../core/transitions.js";

/**
 * State events a task row already says, so no event row is written for them.
 *
 * A no-op task's whole history is `queued` (at submit), `running` (at its
 * claim) and `succeeded` (at its finish), and its row holds each of them:
 * `created_at`; `started_at` and `attempt`; `finished_at`, `result` and
 * `last_seq`. Writing them again as three rows of `task_events` was most of
 * what a task cost PostgreSQL (three heap tuples and three index entries
 * against a HOT update of the row).
 *
 * `derived`, set at submit, says which of a row's events live only in it:
 * - QUEUED: seq 1, the first `queued` of a task submitted to run now (a
 *   delayed or waiting task's first event says more, and is a row);
 * - FIRST_RUN: seq 2, the `running` of its first claim, once `started_at`
 *   is set (a claim that is not the task's second event writes a row);
 * - SUCCEEDED: seq `last_seq`, its `succeeded` with the row's result, once
 *   its state is `succeeded` (a finish writes a row where the bit is clear).
 * The bits are set before the claim and the finish, so neither writes the
 * column (at the row's end, it would widen their WAL records).
 *
 * Reads merge these into the event rows by seq (`derivedEventsSql`). An
 * update that makes one untrue (a second claim overwrites `started_at`, a
 * release gives the attempt back, a rerun leaves `succeeded`, another event
 * takes seq 2 before the first claim) writes it out as a row and clears its
 * bit, in a trigger (`keep_derived_events`, migration 15), so no write path
 * has to remember to.
 */
export const DERIVED = { QUEUED: 1, FIRST_RUN: 2, SUCCEEDED: 4 } as const;

const QUEUED_JSON = JSON.stringify(firstQueuedEvent(0, 0));
const RUNNING_JSON = JSON.stringify(RUNNING_EVENT);

/** `{"type":"state","state":"succeeded","result":` — the row's result text (JSON) and `}` complete it, byte for byte what the writer's JSON.stringify made. */
const SUCCEEDED_PREFIX = (() => {
  const text = JSON.stringify(stateEvent("succeeded", { result: 0 }));
  return text.slice(0, text.length - "0}".length);
})();

function literal(text: string): string {
  return `'${text.replaceAll("'", "''")}'`;
}

/** The running event's data as an SQL literal, for a claim that writes it as a row. */
export const RUNNING_SQL = literal(RUNNING_JSON);

/**
 * The columns of a derived event of task row `t` (joined to `derivedEventsSql("t")`), in the order
 * and collation of task_events' (tasks' ids and owners are in C), to UNION with event rows.
 */
export const DERIVED_EVENT_COLUMNS = `t.id COLLATE "default" AS task_id, t.owner COLLATE "default" AS owner, t.queue, d.seq, d.attempt, d.at, d.data`;

/**
 * A LATERAL source of the derived events of the task row `t`, as columns
 * `seq, attempt, at, data` of `d`: join it and keep `d.bit <> 0`.
 */
export function derivedEventsSql(t: string): string {
  return `LATERAL (VALUES
      (1, 0, ${t}.created_at, ${literal(QUEUED_JSON)}, ${t}.derived & ${DERIVED.QUEUED}),
      (2, ${t}.attempt, ${t}.started_at, ${literal(RUNNING_JSON)}, CASE WHEN ${t}.started_at IS NOT NULL THEN ${t}.derived & ${DERIVED.FIRST_RUN} ELSE 0 END),
      (${t}.last_seq, ${t}.attempt, ${t}.finished_at, ${literal(SUCCEEDED_PREFIX)} || ${t}.result || '}',
        CASE WHEN ${t}.state = 'succeeded' THEN ${t}.derived & ${DERIVED.SUCCEEDED} ELSE 0 END)
    ) AS d(seq, attempt, at, data, bit)`;
}

/**
 * The trigger function and trigger that write a derived event out as a row
 * once an update made the task row stop saying it (schema `s`, quoted), and
 * clear its bit. An AFTER trigger: a BEFORE ROW trigger locks every row the
 * table's updates touch before its WHEN clause is looked at (one more WAL
 * record per finish), while an AFTER trigger's WHEN is checked as the row is
 * written and queues nothing when false, as on every claim of a new task and
 * every finish. The rows get this transaction's txid, so a feed catching up
 * after a lost connection finds them whichever transaction it missed.
 */
export function keepDerivedEventsSql(s: string): string {
  const moved = `NEW.queue <> OLD.queue OR NEW.owner <> OLD.owner OR NEW.created_at <> OLD.created_at`;
  // Before the first claim: another event took seq 2 (and no claim took it).
  const secondTaken = `OLD.started_at IS NULL AND NEW.last_seq <> OLD.last_seq AND (NEW.started_at IS NULL OR NEW.last_seq <> 2)`;
  // After it: the row no longer says when, or in which attempt, it ran.
  const firstRunChanged = `OLD.started_at IS NOT NULL AND (NEW.started_at IS DISTINCT FROM OLD.started_at OR NEW.attempt <> OLD.attempt)`;
  const succeededChanged = `OLD.state = 'succeeded' AND (NEW.state <> 'succeeded' OR NEW.last_seq <> OLD.last_seq
      OR NEW.finished_at IS DISTINCT FROM OLD.finished_at OR NEW.attempt <> OLD.attempt OR NEW.result IS DISTINCT FROM OLD.result)`;
  const insert = (seq: string, attempt: string, at: string, data: string) =>
    `INSERT INTO ${s}.task_events(task_id, owner, queue, seq, kind, attempt, at, data) VALUES (OLD.id, OLD.owner, OLD.queue, ${seq}, 'state', ${attempt}, ${at}, ${data});`;
  return `
CREATE FUNCTION ${s}.keep_derived_events() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  moved boolean := ${moved};
  cleared smallint := 0;
BEGIN
  IF OLD.derived & ${DERIVED.QUEUED} <> 0 AND moved THEN
    ${insert("1", "0", "OLD.created_at", literal(QUEUED_JSON))}
    cleared := cleared | ${DERIVED.QUEUED};
  END IF;
  IF OLD.derived & ${DERIVED.FIRST_RUN} <> 0 THEN
    IF OLD.started_at IS NOT NULL AND (moved OR ${firstRunChanged}) THEN
      ${insert("2", "OLD.attempt", "OLD.started_at", literal(RUNNING_JSON))}
      cleared := cleared | ${DERIVED.FIRST_RUN};
    ELSIF moved OR (${secondTaken}) THEN
      cleared := cleared | ${DERIVED.FIRST_RUN};
    END IF;
  END IF;
  IF OLD.derived & ${DERIVED.SUCCEEDED} <> 0 AND OLD.state = 'succeeded' AND (moved OR ${succeededChanged}) THEN
    ${insert("OLD.last_seq", "OLD.attempt", "OLD.finished_at", `${literal(SUCCEEDED_PREFIX)} || OLD.result || '}'`)}
    cleared := cleared | ${DERIVED.SUCCEEDED};
  END IF;
  -- Changes none of the columns above, so it does not come back here.
  IF cleared <> 0 THEN UPDATE ${s}.tasks SET derived = derived & ~cleared WHERE seq = NEW.seq; END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER keep_derived_events AFTER UPDATE ON ${s}.tasks FOR EACH ROW
  WHEN (OLD.derived <> 0 AND (${moved}
    OR (OLD.derived & ${DERIVED.FIRST_RUN} <> 0 AND ((${secondTaken}) OR (${firstRunChanged})))
    OR (OLD.derived & ${DERIVED.SUCCEEDED} <> 0 AND ${succeededChanged})))
  EXECUTE FUNCTION ${s}.keep_derived_events();`;
}

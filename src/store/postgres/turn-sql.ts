/**
 * The turn rule of core/turns.ts as SQL expressions, for one schema `s`,
 * over the column expressions the caller names.
 */

/** A concurrency key's last queued turn in the queue (null: none queued). */
export function keyLastTurn(s: string, queue: string, key: string): string {
  return `(SELECT max(x.turn) FROM ${s}.active x WHERE x.state = 'queued' AND x.queue = ${queue} AND x.concurrency_key = ${key})`;
}

/** The round a priority of the queue is at: its lowest runnable turn (null: nothing runnable there). */
export function roundOf(s: string, queue: string, priority: string): string {
  return `(SELECT min(x.turn) FROM ${s}.active x WHERE x.state = 'queued' AND x.queue = ${queue} AND x.priority = ${priority} AND x.turn IS NOT NULL)`;
}

/** `nextTurn(last, round)`: after the key's last turn, not before the round. */
export function nextTurn(last: string, round: string): string {
  return `CASE WHEN ${last} IS NULL THEN coalesce(${round}, 0) ELSE greatest(${last} + 1, coalesce(${round}, ${last} + 1)) END`;
}

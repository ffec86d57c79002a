/**
 * Claims take turns across owners. Every runnable task of a queue holds a
 * turn, and claims take the lowest turns first within a priority (then
 * submit order): an owner's tasks get consecutive turns, and an owner with
 * nothing queued joins at the queue's current round, so one owner's backlog
 * of 10,000 delays another owner's single task by at most one task of each
 * owner ahead of it — one claim round.
 *
 * A delayed task (or one backing off before a retry) has no turn until it is
 * due; a claim then gives it the current round of its priority, so it runs
 * next rather than behind work that arrived while it waited.
 */

/**
 * The turn of a task an owner adds now: after the owner's last queued turn,
 * and not before the round its priority is at (the lowest turn queued
 * there). Both null: the queue has nothing queued at that priority.
 */
export function nextTurn(ownerLast: number | null, round: number | null): number {
  if (ownerLast === null) return round ?? 0;
  return round === null ? ownerLast + 1 : Math.max(ownerLast + 1, round);
}

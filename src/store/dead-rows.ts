import { DEAD_LETTER_BATCH, type DeadLetterFilter, type DeadLetterSelection } from "../core/dead-letters.js";

/**
 * The conditions both SQL stores select dead letters by, one per field
 * given; `param` adds a value and answers its placeholder (`?` or `$n`),
 * `codeOf` is the store's expression for the error's code.
 */
export function deadConditions(filter: DeadLetterFilter, param: (value: string | number) => string, codeOf: string, finishedAt = "finished_at"): string[] {
  const where: string[] = [];
  if (filter.queue !== undefined) where.push(`queue = ${param(filter.queue)}`);
  if (filter.name !== undefined) where.push(`name = ${param(filter.name)}`);
  if (filter.code !== undefined) where.push(`${codeOf} = ${param(filter.code)}`);
  if (filter.since !== undefined) where.push(`${finishedAt} >= ${param(filter.since)}`);
  if (filter.until !== undefined) where.push(`${finishedAt} < ${param(filter.until)}`);
  return where;
}

/** A dead-letter page's cursor: where the last task of a page is in newest-first order. */
export function deadCursor(row: { finished_at: number | null; seq: number }): string {
  return `${(row.finished_at ?? 0).toString(36)}_${row.seq.toString(36)}`;
}

/** The (finishedAt, seq) a cursor names, or null for one that is not a store's. */
export function readDeadCursor(cursor: string | undefined): { finishedAt: number; seq: number } | null {
  if (cursor === undefined) return null;
  const [a, b, ...rest] = cursor.split("_");
  if (a === undefined || b === undefined || rest.length > 0) return null;
  const finishedAt = Number.parseInt(a, 36);
  const seq = Number.parseInt(b, 36);
  return Number.isSafeInteger(finishedAt) && Number.isSafeInteger(seq) ? { finishedAt, seq } : null;
}

/**
 * A redrive or purge in bounded transactions: ids DEAD_LETTER_BATCH at a
 * time, a filter again and again until a batch comes back short. `batch`
 * runs one transaction over at most DEAD_LETTER_BATCH dead letters and
 * answers how many it touched.
 */
export async function inDeadBatches(selection: DeadLetterSelection, batch: (part: DeadLetterSelection) => Promise<number>): Promise<number> {
  let total = 0;
  if ("ids" in selection) {
    const ids = [...new Set(selection.ids)];
    for (let i = 0; i < ids.length; i += DEAD_LETTER_BATCH) total += await batch({ ids: ids.slice(i, i + DEAD_LETTER_BATCH) });
    return total;
  }
  for (;;) {
    const n = await batch(selection);
    total += n;
    if (n < DEAD_LETTER_BATCH) return total;
  }
}

/** A redrive by filter takes only tasks that died by `now`, so one that fails again while it runs is not taken twice. */
export function redriveFilter(filter: DeadLetterFilter, now: number): DeadLetterFilter {
  return { ...filter, until: Math.min(filter.until ?? Number.POSITIVE_INFINITY, now + 1) };
}

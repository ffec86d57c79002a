/** Small measuring helpers shared by every system's child. */

export function nowMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

/** Nearest-rank percentile of already sorted samples. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}

/** Peak resident set size of this process so far, in MB. */
export function peakRssMb(): number {
  return process.resourceUsage().maxRSS / 1024;
}

/** Resolves when `ready()` is true, checking every `everyMs`; rejects after `timeoutMs`. */
export async function waitUntil(ready: () => boolean | Promise<boolean>, timeoutMs: number, what: string, everyMs = 2): Promise<void> {
  const deadline = nowMs() + timeoutMs;
  while (!(await ready())) {
    if (nowMs() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A promise with its resolve function, re-armed for each latency sample. */
export class Latch {
  private resolveFn: ((at: number) => void) | null = null;
  private promise: Promise<number> | null = null;

  arm(): Promise<number> {
    this.promise = new Promise<number>((resolve) => (this.resolveFn = resolve));
    return this.promise;
  }

  fire(): void {
    const resolve = this.resolveFn;
    this.resolveFn = null;
    resolve?.(nowMs());
  }
}

/** Splits `count` into chunks of at most `size`. */
export function chunks(count: number, size: number): number[] {
  const out: number[] = [];
  for (let left = count; left > 0; left -= size) out.push(Math.min(size, left));
  return out;
}

import { z } from "zod";
import type { Outlast } from "../engine/outlast.js";

const demoInput = z.object({
  to: z.number().int().min(1).max(100_000),
  everyMs: z.number().int().min(0).max(60_000).default(100),
  failAt: z.number().int().optional(),
  failTimes: z.number().int().min(0).optional(),
});

export type DemoInput = z.input<typeof demoInput>;

/**
 * `demo.count` (API.md, "The demo task"): counts to `to`, one step per
 * number, so a retry or resume shows steps being skipped; fails on purpose
 * at `failAt` on its first `failTimes` attempts.
 */
export function defineDemoTask(outlast: Outlast): void {
  outlast.define("demo.count", {
    input: demoInput,
    async run(input, ctx) {
      let ranSteps = 0;
      const failTimes = input.failTimes ?? 1;
      for (let n = 1; n <= input.to; n++) {
        if (n === input.failAt && ctx.attempt <= failTimes) {
          throw new Error(`Failing at ${n} on purpose (attempt ${ctx.attempt} of the first ${failTimes})`);
        }
        await ctx.step(`count-${n}`, async () => {
          ranSteps++;
          if (input.everyMs > 0) await sleep(input.everyMs, ctx.signal);
          return n;
        });
        ctx.progress({ current: n, total: input.to, percent: (n / input.to) * 100 });
      }
      return { counted: input.to, ranSteps };
    },
  });
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason instanceof Error ? signal.reason : new Error("aborted"));
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason instanceof Error ? signal.reason : new Error("aborted"));
    };
    signal.addEventListener("abort", onAbort, { once: true });
  });
}

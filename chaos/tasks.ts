// The tasks module every `serve` and `worker` process of the chaos run loads
// (`--tasks chaos/tasks.ts`). Each step appends a JSON line to CHAOS_EXEC_LOG
// when it starts and when its work ends, before the store records it: a
// process killed mid-step leaves a "start" with no "end", so the report can
// tell a step cut by a kill from one that ran twice for no reason.
import { appendFileSync } from "node:fs";
import type { Outlast } from "../src/index.js";

/** The input of `chaos.chapters`. */
export interface ChaptersInput {
  /** Steps to run. */
  steps: number;
  /** Milliseconds each step takes. */
  ms: number;
}

/** One line of the execution log. */
export interface ExecutionLine {
  task: string;
  step: string;
  pid: number;
  attempt: number;
  phase: "start" | "end";
  at: number;
}

export const TASK_NAME = "chaos.chapters";
export const QUEUE = "chaos";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export default function register(outlast: Outlast): void {
  const log = process.env.CHAOS_EXEC_LOG;
  if (!log) throw new Error("CHAOS_EXEC_LOG must name the file step executions are appended to (chaos/run.ts sets it)");
  const record = (line: Omit<ExecutionLine, "pid" | "at">) => appendFileSync(log, `${JSON.stringify({ ...line, pid: process.pid, at: Date.now() })}\n`);
  outlast.queue(QUEUE, { concurrency: 16 });
  outlast.define(TASK_NAME, {
    queue: QUEUE,
    // Kills, connection cuts and a full disk can each cost an attempt: the
    // run asks whether work is lost, not whether it fails fast.
    maxAttempts: 50,
    backoff: { baseMs: 100, maxMs: 1_000 },
    async run(input: ChaptersInput, ctx) {
      for (let i = 0; i < input.steps; i++) {
        const step = `chapter-${i}`;
        await ctx.step(step, async () => {
          record({ task: ctx.task.id, step, attempt: ctx.attempt, phase: "start" });
          await sleep(input.ms);
          record({ task: ctx.task.id, step, attempt: ctx.attempt, phase: "end" });
          return i;
        });
        ctx.progress({ current: i + 1, total: input.steps, message: step });
      }
      return { steps: input.steps };
    },
  });
}

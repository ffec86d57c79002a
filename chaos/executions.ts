// Counts step executions from the log chaos/tasks.ts appends to, against the
// steps the store recorded. A recorded step must have run exactly once in the
// attempt that recorded it and never after. Runs in earlier attempts are the
// ones a fault cut off: the process was killed (its pid is among the killed)
// or its write to the store failed; those are counted apart from duplicates.
import { existsSync, readFileSync } from "node:fs";
import type { StepRecord } from "./observer.js";
import type { ExecutionLine } from "./tasks.js";

export interface ExecutionCount {
  executions: number;
  recordedSteps: number;
  /** Runs again after a run cut by a kill -9 of its process. */
  cutByKill: number;
  /** Runs again after a run whose process lived but whose attempt ended (a store write failed, a lease was lost). */
  cutOtherwise: number;
  /** Runs in the recording attempt beyond the first, or after it: must be 0. */
  duplicates: number;
  examples: string[];
}

export function readExecutionLog(path: string): ExecutionLine[] {
  if (!existsSync(path)) return [];
  const lines: ExecutionLine[] = [];
  for (const text of readFileSync(path, "utf8").split("\n")) {
    if (text.length === 0) continue;
    try {
      lines.push(JSON.parse(text) as ExecutionLine);
    } catch {
      // a line torn by a kill -9 mid-append: its start was not recorded as a whole
    }
  }
  return lines;
}

export function countExecutions(log: readonly ExecutionLine[], recorded: readonly StepRecord[], killedPids: ReadonlySet<number>, finished: ReadonlySet<string>): ExecutionCount {
  const starts = new Map<string, ExecutionLine[]>();
  for (const line of log) {
    if (line.phase !== "start" || !finished.has(line.task)) continue;
    const key = `${line.task} ${line.step}`;
    starts.set(key, [...(starts.get(key) ?? []), line]);
  }
  const count: ExecutionCount = { executions: 0, recordedSteps: 0, cutByKill: 0, cutOtherwise: 0, duplicates: 0, examples: [] };
  for (const runs of starts.values()) count.executions += runs.length;
  for (const step of recorded) {
    if (!finished.has(step.taskId)) continue;
    count.recordedSteps++;
    const runs = starts.get(`${step.taskId} ${step.name}`) ?? [];
    const inRecording = runs.filter((r) => r.attempt === step.attempt).length;
    const after = runs.filter((r) => r.attempt > step.attempt).length;
    const extra = Math.max(0, inRecording - 1) + after;
    if (extra > 0) {
      count.duplicates += extra;
      count.examples.push(`${step.taskId} ${step.name}: recorded by attempt ${step.attempt}, ran in attempts ${runs.map((r) => `${r.attempt}@${r.pid}`).join(",")}`);
    }
    for (const r of runs.filter((r) => r.attempt < step.attempt)) {
      if (killedPids.has(r.pid)) count.cutByKill++;
      else count.cutOtherwise++;
    }
  }
  count.examples = count.examples.slice(0, 10);
  return count;
}

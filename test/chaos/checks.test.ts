// The chaos run's verdicts (chaos/watchers.ts, chaos/executions.ts) on
// made-up histories: a check that cannot fail proves nothing.
import { test } from "node:test";
import assert from "node:assert/strict";
import { countExecutions } from "../../chaos/executions.js";
import type { ExecutionLine } from "../../chaos/tasks.js";
import { checkWatchers, type Received, type TaskWatcher } from "../../chaos/watchers.js";

const log: Received[] = [
  { seq: 1, type: "state" },
  { seq: 2, type: "state" },
  { seq: 3, type: "step" },
  { seq: 5, type: "progress" },
  { seq: 6, type: "step" },
  { seq: 7, type: "state" },
];

function watcher(baseline: number, received: Received[]): TaskWatcher {
  return { taskId: "t", baseline, received, resets: 0, connects: 1, finished: true } as unknown as TaskWatcher;
}

test("a watcher that saw every non-progress event after its snapshot passes, with compacted progress skipped", () => {
  const check = checkWatchers([watcher(1, [log[1]!, log[2]!, { seq: 4, type: "progress" }, log[4]!, log[5]!])], () => log);
  assert.deepEqual([check.gaps, check.repeats, check.unknown, check.checked], [0, 0, 0, 4]);
});

test("a missed step is a gap and an event seen twice is a repeat", () => {
  const gap = checkWatchers([watcher(1, [log[1]!, log[4]!, log[5]!])], () => log);
  assert.equal(gap.gaps, 1);
  assert.match(gap.examples[0]!, /missed seq 3/);
  const repeat = checkWatchers([watcher(1, [log[1]!, log[2]!, log[2]!, log[4]!, log[5]!])], () => log);
  assert.deepEqual([repeat.gaps, repeat.repeats], [0, 1]);
});

const line = (task: string, step: string, attempt: number, pid: number): ExecutionLine => ({ task, step, attempt, pid, phase: "start", at: 0 });

test("a step run again after its process was killed is a cut, one run again after it was recorded is a duplicate", () => {
  const finished = new Set(["a"]);
  const cut = countExecutions([line("a", "s", 1, 10), line("a", "s", 2, 11)], [{ taskId: "a", name: "s", attempt: 2 }], new Set([10]), finished);
  assert.deepEqual([cut.cutByKill, cut.cutOtherwise, cut.duplicates], [1, 0, 0]);
  const dup = countExecutions([line("a", "s", 1, 10), line("a", "s", 2, 11)], [{ taskId: "a", name: "s", attempt: 1 }], new Set(), finished);
  assert.equal(dup.duplicates, 1);
  const twice = countExecutions([line("a", "s", 1, 10), line("a", "s", 1, 11)], [{ taskId: "a", name: "s", attempt: 1 }], new Set(), finished);
  assert.equal(twice.duplicates, 1);
});

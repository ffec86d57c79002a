import { test } from "node:test";
import assert from "node:assert/strict";
import type { Task } from "../../src/client/types.js";
import { progressBar, progressLine } from "../../src/cli/progress-line.js";
import { taskTable } from "../../src/cli/tasks.js";
import { guardLeaks } from "../support/leaks.js";

guardLeaks();

function task(over: Partial<Task>): Task {
  return {
    id: "tsk_1", name: "audiobook.convert", queue: "tts", owner: "ada", title: null, state: "running", priority: 0, attempt: 1, maxAttempts: 3,
    progress: {}, position: null, etaMs: null, remainingMs: null, workerLost: false, result: null, error: null, createdAt: "2026-01-02T03:04:05.678Z",
    runAt: "2026-01-02T03:04:05.678Z", startedAt: null, finishedAt: null, lastSeq: 1, parentId: null, childKey: null, waitingFor: null, deadLetter: false, ...over,
  };
}

test("progress lines show what the task reported and leave out what it did not", () => {
  assert.equal(progressLine(task({ progress: { percent: 37.5, current: 3, total: 8, message: "Chapter\n3" } })), "progress 37.5%  3/8  Chapter 3  running");
  assert.equal(progressLine(task({ progress: { percent: 33.333 } , attempt: 2 })), "progress 33.3%  running (attempt 2)");
  assert.equal(progressLine(task({ state: "queued", position: 4 })), "progress queued  #4 in queue tts");
});

test("the terminal bar fills with the percent and is cut to the terminal's width", () => {
  assert.equal(progressBar(task({ progress: { percent: 50 } }), 80), `[${"#".repeat(12)}${"-".repeat(12)}] 50%  running`);
  assert.equal(progressBar(task({ state: "succeeded" }), 80), `[${"#".repeat(24)}] succeeded`);
  const cut = progressBar(task({ progress: { percent: 10, message: "x".repeat(200) } }), 40);
  assert.equal(cut.length, 39);
  assert.ok(cut.endsWith("…"));
});

test("the task table aligns its columns", () => {
  const text = taskTable([
    task({ id: "tsk_long_id", progress: { current: 2, total: 9 } }),
    task({ name: "x", state: "succeeded", progress: { percent: 100 }, attempt: 2 }),
  ]);
  assert.equal(
    text,
    [
      "ID           NAME               STATE      PROGRESS  ATTEMPT  CREATED",
      "tsk_long_id  audiobook.convert  running    2/9       1/3      2026-01-02 03:04:05Z",
      "tsk_1        x                  succeeded  100%      2/3      2026-01-02 03:04:05Z",
      "",
    ].join("\n"),
  );
  assert.equal(taskTable([]), "no tasks\n");
});

// The ETA rule (src/core/eta.ts) on its own: examples from issue #12 and
// properties checked against a slot-by-slot simulation; and how a page keeps
// a read's estimates (newerCopy).
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { queuedEtaMs, runningLeftMs, type QueuedShare, type RunningShare } from "../../src/core/eta.js";
import { newerCopy } from "../../src/core/fold.js";
import type { Task } from "../../src/core/task.js";

test("a running task's time left comes from its rate once it reports a percent, else from the mean run time", () => {
  assert.equal(runningLeftMs({ elapsedMs: 10_000, percent: 50 }, null), 10_000);
  assert.equal(runningLeftMs({ elapsedMs: 10_000, percent: 25 }, 90_000), 30_000, "the rate wins over the mean");
  assert.equal(runningLeftMs({ elapsedMs: 5_000 }, 20_000), 15_000);
  assert.equal(runningLeftMs({ elapsedMs: 5_000, percent: 0 }, 20_000), 15_000, "0% says nothing of the rate");
  assert.equal(runningLeftMs({ elapsedMs: 30_000 }, 20_000), 0, "overdue: not negative");
  assert.equal(runningLeftMs({ elapsedMs: 1_000, percent: 100 }, 20_000), 0);
  assert.equal(runningLeftMs({ elapsedMs: 5_000 }, null), null, "no progress and no history");
});

test("three waiting tasks behind a running one on one slot each wait for everything ahead of them", () => {
  const share = (position: number, elapsedMs: number): QueuedShare => ({ position, concurrency: 1, running: [{ elapsedMs }], meanMs: 20_000 });
  assert.deepEqual([1, 2, 3].map((p) => queuedEtaMs(share(p, 0))), [40_000, 60_000, 80_000]);
  assert.deepEqual([1, 2, 3].map((p) => queuedEtaMs(share(p, 5_000))), [35_000, 55_000, 75_000], "time passing brings them closer");
});

test("free slots start a waiting task at once; a lowered limit keeps it waiting for the longest runs", () => {
  assert.equal(queuedEtaMs({ position: 2, concurrency: 3, running: [{ elapsedMs: 0 }], meanMs: 10_000 }), 10_000);
  assert.equal(queuedEtaMs({ position: 1, concurrency: null, running: [{ elapsedMs: 0 }], meanMs: 10_000 }), 10_000);
  // Three run where one may: the first waiting task starts when the longest (8 s left) ends.
  const running = [2_000, 5_000, 8_000].map((left) => ({ elapsedMs: 10_000 - left }));
  assert.equal(queuedEtaMs({ position: 1, concurrency: 1, running, meanMs: 10_000 }), 18_000);
});

test("no estimate without history or for a place that is not one", () => {
  assert.equal(queuedEtaMs({ position: 1, concurrency: 1, running: [], meanMs: null }), null);
  assert.equal(queuedEtaMs({ position: 0, concurrency: 1, running: [], meanMs: 1_000 }), null);
  assert.equal(queuedEtaMs({ position: 1.5, concurrency: 1, running: [], meanMs: 1_000 }), null);
});

const runningTask: fc.Arbitrary<RunningShare> = fc.record({
  elapsedMs: fc.nat(100_000),
  percent: fc.option(fc.double({ min: 0, max: 100, noNaN: true }), { nil: undefined }),
});
const queued = fc.record({
  position: fc.integer({ min: 1, max: 60 }),
  concurrency: fc.option(fc.integer({ min: 1, max: 8 }), { nil: null }),
  running: fc.array(runningTask, { maxLength: 10 }),
  meanMs: fc.integer({ min: 1, max: 60_000 }),
});

/** The slots one task at a time: each waiting task takes the slot that frees first. */
function simulate(share: QueuedShare & { meanMs: number }): number {
  const left = share.running.map((task) => Math.round(runningLeftMs(task, share.meanMs)!)).sort((a, b) => a - b);
  const limit = share.concurrency ?? Infinity;
  // Runs beyond the limit end before any waiting task may start.
  const free = left.slice(Math.max(0, left.length - limit));
  let end = 0;
  for (let placed = 0; placed < share.position; placed++) {
    if (free.length < limit) free.push(0);
    free.sort((a, b) => a - b);
    end = free[0]! + share.meanMs;
    free[0] = end;
  }
  return end;
}

test("property: the estimate is what placing each task ahead on the first free slot gives", () => {
  fc.assert(fc.property(queued, (share) => assert.equal(queuedEtaMs(share), simulate(share))));
});

test("property: never negative, never less than the task's own run, and never smaller further back", () => {
  fc.assert(
    fc.property(queued, (share) => {
      const eta = queuedEtaMs(share)!;
      assert.ok(eta >= share.meanMs && eta >= 0);
      assert.ok(queuedEtaMs({ ...share, position: share.position + 1 })! >= eta);
    }),
  );
});

test("property: time passing without progress never raises an estimate", () => {
  fc.assert(
    fc.property(queued, fc.nat(30_000), (share, passed) => {
      const later = { ...share, running: share.running.map((task) => (task.percent ? task : { elapsedMs: task.elapsedMs + passed })) };
      assert.ok(queuedEtaMs(later)! <= queuedEtaMs(share)!);
    }),
  );
});

test("property: a running task's time left is never negative and null only without history and a usable rate", () => {
  fc.assert(
    fc.property(runningTask, fc.option(fc.nat(100_000), { nil: null }), (task, mean) => {
      const left = runningLeftMs(task, mean);
      // A speck of a percent (5e-324) gives no usable rate either.
      if (left === null) assert.ok(mean === null);
      else assert.ok(left >= 0);
    }),
  );
});

test("a copy folded from events keeps the estimates of the last read while it stays in the same state", () => {
  const read: Task = { ...blankRunning(), lastSeq: 4, remainingMs: 9_000 };
  const folded: Task = { ...read, lastSeq: 6, remainingMs: 30_000, progress: { percent: 60 } };
  assert.deepEqual(newerCopy(folded, read), { ...folded, remainingMs: 9_000 }, "newer events, the read's figure");
  assert.equal(newerCopy(read, { ...read, lastSeq: 7 }).lastSeq, 7, "a newer read wins whole");
  const ended: Task = { ...folded, state: "succeeded", remainingMs: null };
  assert.equal(newerCopy(ended, read), ended, "a task that left the state drops the figure");
});

function blankRunning(): Task {
  return {
    id: "task_1", name: "book", queue: "q", owner: "o", title: null, state: "running", priority: 0, attempt: 1, maxAttempts: 3, progress: {},
    position: null, etaMs: null, remainingMs: null, workerLost: false, result: null, error: null,
    createdAt: "2030-01-01T00:00:00.000Z", runAt: "2030-01-01T00:00:00.000Z", startedAt: "2030-01-01T00:00:00.000Z", finishedAt: null, lastSeq: 0, parentId: null, childKey: null, waitingFor: null, deadLetter: false,
  };
}

test("a rate-limited queue: a waiting task starts no earlier than floor((position − 1) / limit) windows from now, unless its slots say later", () => {
  const rateLimit = { limit: 3, periodMs: 60_000, keyed: false };
  const eta = (position: number, extra: Partial<QueuedShare> = {}) =>
    queuedEtaMs({ position, concurrency: null, running: [], meanMs: 1_000, rateLimit, ...extra });
  assert.deepEqual([1, 2, 3, 4, 6, 7].map((p) => eta(p)), [1_000, 1_000, 1_000, 61_000, 61_000, 121_000]);
  assert.equal(eta(2, { concurrency: 1, meanMs: 100_000 }), 200_000, "one slot of long tasks is slower than the rate");
  assert.equal(eta(7, { rateLimit: { ...rateLimit, keyed: true } }), 1_000, "keyed: the tasks ahead may be other keys'");
  assert.equal(eta(7, { rateLimit: null }), 1_000);
});

test("a speck of a percent gives no rate: the estimate falls back to the mean and always ends", () => {
  // elapsed / percent × (100 − percent) just under 2^53: once taken as a rate, its bisection never ended.
  const speck = { elapsedMs: 100_000, percent: 1.2e-9 };
  assert.equal(runningLeftMs(speck, 20_000), 0, "overdue against the mean (it ran 100 s)");
  assert.equal(queuedEtaMs({ position: 3, concurrency: 1, running: [speck], meanMs: 20_000 }), 60_000);
  assert.equal(runningLeftMs({ elapsedMs: 100_000, percent: 1e-3 }, 20_000), Math.round((100_000 / 1e-3) * (100 - 1e-3)), "a small but usable rate stands");
});

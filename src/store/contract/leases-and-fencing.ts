import assert from "node:assert/strict";
import { test } from "node:test";
import { EXPIRY_BATCH, type FinishOutcome, type Lease, type Store } from "../store.js";
import type { ContractHarness } from "./store-contract.js";
import { allEvents, claim, claimOne, LEASE_MS, mustGet, running, snapshot, stateOf, submitNew, T0 } from "./support.js";

const EXPIRED = T0 + LEASE_MS + 1;

/** Every write a worker makes, each named so a failure says which one was not fenced. */
const WORKER_WRITES: ReadonlyArray<[string, (store: Store, lease: Lease, now: number) => Promise<boolean>]> = [
  ["recordProgress", (s, l, now) => s.recordProgress(l, { percent: 50, message: "half" }, now)],
  ["recordStep", (s, l, now) => s.recordStep(l, "fenced-step", { x: 1 }, now)],
  ["recordCheckpoint", (s, l, now) => s.recordCheckpoint(l, { at: "fenced" }, now)],
  ["recordTitle", (s, l, now) => s.recordTitle(l, "fenced title", now)],
  ["appendLog", (s, l, now) => s.appendLog(l, "fenced line", now)],
  ["finish succeeded", (s, l, now) => s.finish(l, { state: "succeeded", result: "fenced" }, now)],
  ["finish failed", (s, l, now) => s.finish(l, { state: "failed", error: { message: "fenced" } }, now)],
  ["finish retry", (s, l, now) => s.finish(l, { state: "retry", error: { message: "fenced" }, runAt: now }, now)],
  ["finish canceled", (s, l, now) => s.finish(l, { state: "canceled" }, now)],
  ["release", (s, l, now) => s.release(l, now)],
  ["heartbeat", async (s, l, now) => (await s.heartbeat([l], now, LEASE_MS))[0]!.held],
];

/** Every write of `lease` reports false and leaves task, events and steps exactly as they were. */
async function assertFenced(store: Store, lease: Lease, now: number): Promise<void> {
  const before = await snapshot(store, lease.taskId);
  for (const [name, write] of WORKER_WRITES) {
    assert.equal(await write(store, lease, now), false, `${name} with a lost lease must report false`);
    assert.deepEqual(await snapshot(store, lease.taskId), before, `${name} with a lost lease must change nothing`);
  }
}

/** Leases, heartbeats, fencing of stale workers, and recovery of expired leases. */
export function leasesAndFencing(harness: ContractHarness): void {
  test("results and errors with odd text round-trip, several finishes in one commit", async (t) => {
    const store = await harness.make(t);
    const odd = { text: "nul \u0000 lone \ud800 quote \" back \\ 🎧", n: [1.5, 1e21, null] };
    await Promise.all([submitNew(store, T0), submitNew(store, T0), submitNew(store, T0)]);
    const claimed = (await claim(store, T0 + 1, { limit: 3 })).tasks;
    assert.equal(claimed.length, 3);
    const [a, b, c] = claimed;
    const error = { message: "failed: \u0000 \udc00", code: "odd" };
    const written = await Promise.all([
      store.finish(a!.lease, { state: "succeeded", result: odd }, T0 + 2),
      store.finish(b!.lease, { state: "failed", error }, T0 + 2),
      store.finish(c!.lease, { state: "retry", error, runAt: T0 + 50 }, T0 + 2),
    ]);
    assert.deepEqual(written, [true, true, true]);
    assert.deepEqual((await mustGet(store, a!.task.id)).result, odd);
    assert.deepEqual((await mustGet(store, b!.task.id)).error, error);
    const retried = await mustGet(store, c!.task.id);
    assert.equal(retried.state, "queued");
    assert.equal(retried.runAt, T0 + 50);
    const last = (await allEvents(store, a!.task.id)).at(-1);
    assert.deepEqual(last?.data, { type: "state", state: "succeeded", result: odd });
  });

  test("a write that throws halfway changes nothing, and the other writes of its commit still land", async (t) => {
    const store = await harness.make(t);
    const [a, b] = await Promise.all([running(store, T0), running(store, T0)]);
    const before = await snapshot(store, a.task.id);
    // Serialises once (the progress column), then throws (the event's data):
    // a non-database error after the first statement of the write on a store
    // that writes them in that order.
    let calls = 0;
    const poisoned = {
      percent: 10,
      toJSON() {
        if (++calls > 1) throw new TypeError("not serialisable the second time");
        return { percent: 10 };
      },
    };
    const [bad, good] = await Promise.allSettled([
      store.recordProgress(a.lease, poisoned as unknown as { percent: number }, T0 + 1),
      store.recordProgress(b.lease, { percent: 20 }, T0 + 1),
    ]);
    assert.equal(bad.status, "rejected", "the throwing write rejects");
    assert.deepEqual(good, { status: "fulfilled", value: true }, "a write in the same commit lands");
    assert.deepEqual(await snapshot(store, a.task.id), before, "the throwing write left no half of itself");
    assert.equal((await mustGet(store, b.task.id)).progress?.percent, 20);
    assert.equal(await store.recordProgress(a.lease, { percent: 30 }, T0 + 2), true, "the task takes writes afterwards");
  });

  test("a heartbeat extends the lease and reports it held", async (t) => {
    const store = await harness.make(t);
    const { lease } = await running(store, T0);
    const [status] = await store.heartbeat([lease], T0 + LEASE_MS - 1, LEASE_MS);
    assert.deepEqual(status, { held: true, cancelRequested: false });
    assert.equal((await mustGet(store, lease.taskId)).leaseExpiresAt, T0 + 2 * LEASE_MS - 1);
    // Past the first expiry, the extended lease still writes.
    assert.equal(await store.appendLog(lease, "still mine", EXPIRED), true);
    assert.equal(await store.recoverExpired(EXPIRED, "gone"), 0);
    assert.equal((await mustGet(store, lease.taskId)).state, "running");
    assert.deepEqual(await store.heartbeat([], T0, LEASE_MS), []);
  });

  test("a heartbeat answers per lease, in order", async (t) => {
    const store = await harness.make(t);
    const one = await running(store, T0);
    const two = await running(store, T0);
    await store.finish(two.lease, { state: "succeeded", result: null }, T0 + 1);
    const statuses = await store.heartbeat([one.lease, two.lease, { taskId: "task_unknown", token: 1 }], T0 + 2, LEASE_MS);
    assert.deepEqual(statuses, [
      { held: true, cancelRequested: false },
      { held: false, cancelRequested: false },
      { held: false, cancelRequested: false },
    ]);
  });

  test("after the lease expires, every write of it reports false and changes nothing", async (t) => {
    const store = await harness.make(t);
    const { lease } = await running(store, T0);
    assert.equal(await store.recordProgress(lease, { percent: 10 }, T0 + 1), true);
    await assertFenced(store, lease, EXPIRED);
  });

  test("a made-up token is fenced", async (t) => {
    const store = await harness.make(t);
    const { lease } = await running(store, T0);
    await assertFenced(store, { taskId: lease.taskId, token: lease.token + 1000 }, T0 + 1);
    assert.equal(await store.appendLog(lease, "the real lease still works", T0 + 2), true);
  });

  test("after recovery and a new claim, only the new lease writes", async (t) => {
    const [a, b] = await harness.makePair(t);
    const old = await running(a, T0);
    assert.equal(await b.recoverExpired(EXPIRED, "worker vanished"), 1);
    const recovered = await mustGet(a, old.task.id);
    assert.equal(recovered.state, "queued");
    assert.equal(recovered.workerId, null);
    const fresh = await claimOne(b, EXPIRED + 1, { workerId: "worker-2" });
    assert.equal(fresh.task.id, old.task.id);
    assert.equal(fresh.task.attempt, 2);
    assert.notDeepEqual(fresh.lease, old.lease);

    await assertFenced(a, old.lease, EXPIRED + 2);
    await assertFenced(b, old.lease, EXPIRED + 2);

    assert.equal(await a.recordProgress(fresh.lease, { percent: 70 }, EXPIRED + 3), true);
    assert.equal(await a.recordStep(fresh.lease, "s", 1, EXPIRED + 3), true);
    assert.equal(await a.recordCheckpoint(fresh.lease, { c: 1 }, EXPIRED + 3), true);
    assert.equal(await a.appendLog(fresh.lease, "new owner", EXPIRED + 3), true);
    assert.equal(await a.finish(fresh.lease, { state: "succeeded", result: "done" }, EXPIRED + 4), true);
    const done = await mustGet(b, old.task.id);
    assert.equal(done.state, "succeeded");
    assert.deepEqual(done.result, "done");
    assert.deepEqual(done.checkpoint, { c: 1 });
    assert.deepEqual(done.progress, { percent: 70 });
  });

  test("a released lease is fenced even before it would have expired", async (t) => {
    const store = await harness.make(t);
    const first = await running(store, T0);
    assert.equal(await store.release(first.lease, T0 + 1), true);
    await assertFenced(store, first.lease, T0 + 2);
    const second = await claimOne(store, T0 + 3);
    await assertFenced(store, first.lease, T0 + 4);
    assert.equal(await store.appendLog(second.lease, "mine now", T0 + 5), true);
  });

  test("a finished task's lease is fenced", async (t) => {
    const store = await harness.make(t);
    const { lease } = await running(store, T0);
    assert.equal(await store.finish(lease, { state: "succeeded", result: 1 }, T0 + 1), true);
    await assertFenced(store, lease, T0 + 2);
  });

  test("recoverExpired requeues a task with attempts left and leaves live leases alone", async (t) => {
    const store = await harness.make(t);
    const expiring = await running(store, T0, { maxAttempts: 2 });
    const live = await running(store, T0 + LEASE_MS);
    assert.equal(await store.recoverExpired(T0 + LEASE_MS, "x"), 0, "a lease is held up to its expiry");
    assert.equal(await store.recoverExpired(EXPIRED, "x"), 1);
    const task = await mustGet(store, expiring.task.id);
    assert.equal(task.state, "queued");
    assert.equal(task.attempt, 1);
    assert.equal((await mustGet(store, live.task.id)).state, "running");
    const events = await allEvents(store, task.id);
    assert.equal(stateOf(events.at(-1)!), "queued");
    assert.equal(events.at(-1)!.seq, task.lastSeq);
    assert.equal((await claimOne(store, EXPIRED)).task.attempt, 2);
  });

  test("recoverExpired works in bounded batches, earliest expiry first, the same on every store", async (t) => {
    const store = await harness.make(t);
    const tasks = [];
    for (let i = 0; i < EXPIRY_BATCH + 5; i++) tasks.push(await submitNew(store, T0));
    // All but the last expire together; the last, claimed with a shorter lease, expires first.
    let claimed = 0;
    while (claimed < EXPIRY_BATCH + 4) claimed += (await claim(store, T0, { limit: Math.min(200, EXPIRY_BATCH + 4 - claimed) })).tasks.length;
    const early = await claimOne(store, T0, { leaseMs: 1_000 });
    assert.equal(early.task.id, tasks.at(-1)!.id);
    assert.equal(await store.recoverExpired(EXPIRED, "expired"), EXPIRY_BATCH, "one call handles a bounded batch");
    assert.equal((await mustGet(store, early.task.id)).state, "queued", "the earliest expiry is in the first batch");
    assert.equal(await store.recoverExpired(EXPIRED, "expired"), 5);
    assert.equal(await store.recoverExpired(EXPIRED, "expired"), 0);
  });

  test("recoverExpired fails a task that has no attempts left, with code lease_expired", async (t) => {
    const store = await harness.make(t);
    const { task } = await running(store, T0, { maxAttempts: 1 });
    assert.equal(await store.recoverExpired(EXPIRED, "The worker stopped responding"), 1);
    const failed = await mustGet(store, task.id);
    assert.equal(failed.state, "failed");
    assert.equal(failed.error?.code, "lease_expired");
    assert.equal(failed.error?.message, "The worker stopped responding");
    assert.equal(failed.finishedAt, EXPIRED);
    assert.equal(stateOf((await allEvents(store, task.id)).at(-1)!), "failed");
    assert.deepEqual((await claim(store, EXPIRED + 1)).tasks, []);
  });

  test("recoverExpired cancels a task whose cancel was asked", async (t) => {
    const store = await harness.make(t);
    const { task } = await running(store, T0);
    assert.equal((await store.cancel(task.id, T0 + 1)).kind, "requested");
    assert.equal(await store.recoverExpired(EXPIRED, "x"), 1);
    const canceled = await mustGet(store, task.id);
    assert.equal(canceled.state, "canceled");
    assert.equal(stateOf((await allEvents(store, task.id)).at(-1)!), "canceled");
  });

  const outcomes: ReadonlyArray<[string, FinishOutcome]> = [
    ["succeeded", { state: "succeeded", result: { chapters: 12, files: ["a.mp3"] } }],
    ["failed", { state: "failed", error: { message: "bad epub", code: "invalid_epub" } }],
    ["canceled", { state: "canceled" }],
    ["canceled with error", { state: "canceled", error: { message: "stopped by user", code: "canceled" } }],
  ];
  for (const [label, outcome] of outcomes) {
    test(`finish ${label} records the outcome and a final state event`, async (t) => {
      const store = await harness.make(t);
      const { task, lease } = await running(store, T0);
      assert.equal(await store.finish(lease, outcome, T0 + 500), true);
      const done = await mustGet(store, task.id);
      assert.equal(done.state, outcome.state);
      assert.equal(done.finishedAt, T0 + 500);
      assert.equal(done.leaseExpiresAt, null);
      if (outcome.state === "succeeded") assert.deepEqual(done.result, outcome.result);
      if (outcome.state === "failed") assert.deepEqual(done.error, outcome.error);
      if (outcome.state === "canceled" && outcome.error) assert.deepEqual(done.error, outcome.error);
      const last = (await allEvents(store, task.id)).at(-1)!;
      assert.equal(stateOf(last), outcome.state);
      assert.equal(last.seq, 3);
      assert.equal(last.attempt, 1);
      assert.equal(last.at, T0 + 500);
      assert.deepEqual((await claim(store, T0 + 600)).tasks, []);
    });
  }

  test("finish retry queues the task for runAt, claimable then and not before", async (t) => {
    const store = await harness.make(t);
    const { task, lease } = await running(store, T0);
    const error = { message: "rate limited", code: "upstream_429" };
    assert.equal(await store.finish(lease, { state: "retry", error, runAt: T0 + 30_000 }, T0 + 10), true);
    const waiting = await mustGet(store, task.id);
    assert.equal(waiting.state, "queued");
    assert.equal(waiting.runAt, T0 + 30_000);
    assert.equal(waiting.attempt, 1);
    assert.deepEqual(waiting.error, error);
    assert.equal(stateOf((await allEvents(store, task.id)).at(-1)!), "queued");
    const early = await claim(store, T0 + 29_999);
    assert.deepEqual(early.tasks, []);
    assert.equal(early.nextRunAt, T0 + 30_000);
    const again = await claimOne(store, T0 + 30_000);
    assert.equal(again.task.id, task.id);
    assert.equal(again.task.attempt, 2);
  });

  test("release gives the task back without spending its attempt", async (t) => {
    const store = await harness.make(t);
    const { task, lease } = await running(store, T0, { maxAttempts: 1 });
    assert.equal(await store.release(lease, T0 + 5), true);
    const back = await mustGet(store, task.id);
    assert.equal(back.state, "queued");
    assert.equal(back.attempt, 0);
    assert.equal(back.workerId, null);
    assert.equal(stateOf((await allEvents(store, task.id)).at(-1)!), "queued");
    const again = await claimOne(store, T0 + 5);
    assert.equal(again.task.attempt, 1, "the released attempt was not counted");
    // With its one attempt unspent, an expiry now fails it rather than running a second time.
    assert.equal(await store.recoverExpired(T0 + 5 + LEASE_MS + 1, "x"), 1);
    assert.equal((await mustGet(store, task.id)).state, "failed");
  });
}

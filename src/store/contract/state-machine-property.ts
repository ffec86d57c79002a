import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { toPublicEvent } from "../../core/events.js";
import { applyEvent } from "../../core/fold.js";
import { canTransition, type TaskState } from "../../core/states.js";
import { toIso, toPublicTask, type Task, type TaskRecord } from "../../core/task.js";
import type { FinishOutcome, Lease, Store } from "../store.js";
import type { WaitSpec } from "../../core/waits.js";
import type { ContractHarness } from "./store-contract.js";
import { allEvents, claim, LEASE_MS, mustGet, QUEUE, stateOf, submitRequest, T0 } from "./support.js";

type Op =
  | { kind: "submit"; via: number; owner: number; key: number | null; priority: number }
  | { kind: "claim"; via: number; limit: number }
  | { kind: "finish"; via: number; lease: number; outcome: FinishOutcome["state"]; delay: number }
  | { kind: "progress"; via: number; lease: number }
  | { kind: "log"; via: number; lease: number }
  | { kind: "release"; via: number; lease: number }
  | { kind: "heartbeat"; via: number; lease: number }
  | { kind: "cancel"; via: number; task: number }
  | { kind: "retry"; via: number; task: number }
  /** Recover leases that ran out by now (a `wait` lets them run out). */
  | { kind: "expire"; via: number }
  /** The holder of a lease waits (core/waits.ts): a sleep, a signal, or its children. */
  | { kind: "suspend"; via: number; lease: number; what: "sleep" | "signal" | "children"; delay: number; failure: number }
  | { kind: "child"; via: number; lease: number; key: number }
  | { kind: "signal"; via: number; task: number; name: number }
  | { kind: "wake"; via: number }
  | { kind: "wait"; ms: number };

const CONCURRENCY = 3;
const OWNERS = ["alice", "bob"];
const KEYS = ["k1", "k2"];

const via = fc.integer({ min: 0, max: 1 });
// Counted back from the newest lease or task, small numbers favoured: the
// newest lease is the one most likely to be live, so writes mostly land.
const pick = fc.oneof({ weight: 3, arbitrary: fc.constant(0) }, { weight: 2, arbitrary: fc.nat({ max: 2 }) }, { weight: 1, arbitrary: fc.nat({ max: 50 }) });
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant("submit" as const), via, owner: fc.nat({ max: 1 }), key: fc.option(fc.nat({ max: 1 })), priority: fc.integer({ min: -1, max: 1 }) }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant("claim" as const), via, limit: fc.integer({ min: 1, max: 3 }) }) },
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant("finish" as const),
      via,
      lease: pick,
      outcome: fc.constantFrom("succeeded" as const, "failed" as const, "retry" as const, "canceled" as const),
      delay: fc.nat({ max: 2_000 }),
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("progress" as const), via, lease: pick }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("log" as const), via, lease: pick }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("release" as const), via, lease: pick }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("heartbeat" as const), via, lease: pick }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("cancel" as const), via, task: pick }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("retry" as const), via, task: pick }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("expire" as const), via }) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant("suspend" as const),
      via,
      lease: pick,
      what: fc.constantFrom("sleep" as const, "signal" as const, "children" as const),
      delay: fc.nat({ max: 3_000 }),
      failure: fc.nat({ max: 2 }),
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("child" as const), via, lease: pick, key: fc.nat({ max: 2 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("signal" as const), via, task: pick, name: fc.nat({ max: 1 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("wake" as const), via }) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant("wait" as const),
      // Short waits, and ones around a lease's length so leases run out with and without recovery.
      ms: fc.oneof(fc.nat({ max: 3_000 }), fc.integer({ min: LEASE_MS - 1_000, max: 2 * LEASE_MS })),
    }),
  },
);

/** What the test knows about one task while the operations run. */
interface Tracked {
  id: string;
  state: TaskState;
  /** Seqs taken by progress events: the only seqs that compaction may remove. */
  progressSeqs: number[];
  /** It has children: the store writes its rolled-up progress too, so its progress seqs are not all known here. */
  parent: boolean;
}

const FAILURES = ["fail-fast", "continue", { maxFailures: 1 }] as const;
const SIGNALS = ["s0", "s1"];

const RUNS = Number(process.env.OUTLAST_PROPERTY_RUNS ?? 25);

/**
 * Random sequences of submit, claim, finish, cancel, retry, lease expiry and
 * the rest, from two connections, against the invariants every store keeps.
 */
export function stateMachineProperty(harness: ContractHarness): void {
  test("random operations keep seqs gapless, one holder per task, and legal transitions", async (t) => {
    const property = fc.assert(
      fc.asyncProperty(fc.array(opArb, { minLength: 5, maxLength: 60, size: "max" }), async (ops) => {
        const stores = await harness.makePair(t);
        await stores[0].declareQueue(QUEUE, { concurrency: CONCURRENCY, maxQueued: null, ownerConcurrency: null, ownerMaxQueued: null }, T0);
        const tasks: Tracked[] = [];
        const leases: Lease[] = [];
        let now = T0;
        for (const op of ops) {
          now += 1;
          if (op.kind === "wait") {
            now += op.ms;
          } else {
            now = await apply(stores[op.via % 2]!, op, { tasks, leases, now });
          }
          await checkInvariants(stores[0], { tasks, leases, now });
        }
      }),
      // Every run opens fresh stores, so shrinking a failure is slow: bound it.
      { numRuns: RUNS, interruptAfterTimeLimit: 60_000 },
    );
    await property.catch((error: unknown) => {
      // Show the failing assertion itself, not only fast-check's summary.
      if (error instanceof Error && error.cause instanceof Error) error.message += `\n${error.cause.stack ?? error.cause.message}`;
      throw error;
    });
  });
}

interface World {
  tasks: Tracked[];
  leases: Lease[];
  now: number;
}

/** Run one operation; returns the clock after it. */
async function apply(store: Store, op: Exclude<Op, { kind: "wait" }>, world: World): Promise<number> {
  const { tasks, leases } = world;
  let now = world.now;
  const lease = "lease" in op ? fromNewest(leases, op.lease) : undefined;
  const task = "task" in op ? fromNewest(tasks, op.task) : undefined;
  switch (op.kind) {
    case "submit": {
      const key = op.key === null ? null : KEYS[op.key]!;
      const outcome = await store.submit(submitRequest({ owner: OWNERS[op.owner]!, idempotencyKey: key, priority: op.priority, runAt: now }), now);
      if (outcome.kind === "created") tasks.push({ id: outcome.task.id, state: "queued", progressSeqs: [], parent: false });
      else assert.ok(tasks.some((x) => x.id === outcome.task.id), "an existing task is one we made");
      break;
    }
    case "claim": {
      const result = await claim(store, now, { limit: op.limit });
      for (const claimed of result.tasks) {
        assert.equal(claimed.task.state, "running");
        leases.push(claimed.lease);
      }
      break;
    }
    case "finish": {
      if (!lease) break;
      const error = { message: "property" };
      const outcome: FinishOutcome =
        op.outcome === "succeeded"
          ? { state: "succeeded", result: now }
          : op.outcome === "failed"
            ? { state: "failed", error }
            : op.outcome === "retry"
              ? { state: "retry", error, runAt: now + op.delay }
              : { state: "canceled" };
      await store.finish(lease, outcome, now);
      break;
    }
    case "progress": {
      if (!lease) break;
      if (await store.recordProgress(lease, { current: now - T0 }, now)) {
        const record = await mustGet(store, lease.taskId);
        tasks.find((x) => x.id === lease.taskId)!.progressSeqs.push(record.lastSeq);
      }
      break;
    }
    case "log":
      if (lease) await store.appendLog(lease, `at ${now}`, now);
      break;
    case "release":
      if (lease) await store.release(lease, now);
      break;
    case "heartbeat":
      if (lease) await store.heartbeat([lease], now, LEASE_MS);
      break;
    case "cancel":
      if (task) await store.cancel(task.id, now);
      break;
    case "retry":
      if (task) await store.retry(task.id, now);
      break;
    case "expire":
      await store.recoverExpired(now, "expired in property test");
      break;
    case "suspend": {
      if (!lease) break;
      const n = now - T0;
      const wait: WaitSpec =
        op.what === "sleep"
          ? { kind: "sleep", step: `~sleep:${n}`, until: now + op.delay }
          : op.what === "signal"
            ? { kind: "signal", step: `~signal:s${op.failure % 2}:${n}`, name: SIGNALS[op.failure % 2]!, until: op.delay > 1_500 ? null : now + op.delay }
            : { kind: "children", keys: null, failure: FAILURES[op.failure]! };
      await store.finish(lease, { state: "waiting", wait }, now);
      break;
    }
    case "child": {
      if (!lease) break;
      const parent = await store.getTask(lease.taskId);
      if (!parent) break;
      const [child] = await store.submitChildren(
        parent.id,
        [submitRequest({ owner: parent.owner, runAt: now, parent: { id: parent.id, key: `c${op.key}`, weight: 1 + op.key } })],
        now,
      );
      if (child && !tasks.some((x) => x.id === child.id)) {
        tasks.push({ id: child.id, state: child.state, progressSeqs: [], parent: false });
        tasks.find((x) => x.id === parent.id)!.parent = true;
      }
      break;
    }
    case "signal":
      if (task) await store.signal(task.id, SIGNALS[op.name]!, { at: now }, now);
      break;
    case "wake":
      await store.wakeDue(now);
      break;
  }
  return now;
}

/** A task as submitted, before any event: what a fold starts from (every submit here uses the default 3 attempts). */
function blankTask(record: TaskRecord): Task {
  const createdAt = toIso(record.createdAt);
  return {
    ...toPublicTask(record),
    state: "queued",
    attempt: 0,
    maxAttempts: 3,
    progress: {},
    position: null,
    etaMs: null,
    result: null,
    error: null,
    runAt: createdAt,
    startedAt: null,
    finishedAt: null,
    lastSeq: 0,
  };
}

function fromNewest<T>(list: readonly T[], back: number): T | undefined {
  return list.length === 0 ? undefined : list[list.length - 1 - (back % list.length)];
}

async function checkInvariants(store: Store, world: World): Promise<void> {
  const { tasks, leases, now } = world;
  // Probe every lease at once with a write that adds no event: at most one may hold a task.
  const held = await Promise.all(leases.map((lease) => store.recordCheckpoint(lease, "probe", now)));
  let running = 0;
  const byState: Record<TaskState, number> = { queued: 0, running: 0, waiting: 0, succeeded: 0, failed: 0, canceled: 0 };
  for (const tracked of tasks) {
    const record = await mustGet(store, tracked.id);
    byState[record.state]++;
    const events = await allEvents(store, tracked.id);

    // Seqs rise, end at lastSeq, and only superseded progress is missing.
    const present = new Set(events.map((e) => e.seq));
    for (let i = 1; i < events.length; i++) assert.ok(events[i]!.seq > events[i - 1]!.seq, "seqs rise");
    assert.equal(events.at(-1)?.seq, record.lastSeq, "the last event has the task's lastSeq");
    const progress = events.filter((e) => e.data.type === "progress");
    assert.ok(progress.length <= 1, "at most one progress event is kept");
    if (!tracked.parent) {
      for (let seq = 1; seq <= record.lastSeq; seq++) {
        if (!present.has(seq)) assert.ok(tracked.progressSeqs.includes(seq), `seq ${seq} of ${tracked.id} is missing but was not progress`);
      }
      if (progress[0]) assert.equal(progress[0].seq, tracked.progressSeqs.at(-1), "the kept progress is the latest");
    }
    // A parent's missing seqs may also be roll-ups the store wrote and superseded: the fold below still checks its log.

    // The state events replay a legal path ending in the task's state.
    const states = events.map(stateOf).filter((s): s is TaskState => s !== undefined);
    assert.equal(states[0], "queued");
    for (let i = 1; i < states.length; i++) {
      assert.ok(canTransition(states[i - 1]!, states[i]!), `illegal ${states[i - 1]} → ${states[i]} for ${tracked.id}`);
    }
    assert.equal(states.at(-1), record.state);

    // The one rule of how events change a task: folding the log from seq 1 gives what the store holds.
    const folded = events.reduce((task, event) => applyEvent(task, toPublicEvent(event)), blankTask(record));
    assert.deepEqual(folded, toPublicTask(record), `folding the log of ${tracked.id} gives the stored task`);
    if (record.state !== tracked.state) assert.ok(canTransition(tracked.state, record.state), `illegal ${tracked.state} → ${record.state}`);
    tracked.state = record.state;

    const holders = leases.filter((lease, i) => lease.taskId === tracked.id && held[i]).length;
    assert.ok(holders <= 1, `${holders} leases hold ${tracked.id}`);
    if (record.state !== "running") assert.equal(holders, 0, "only a running task has a holder");
    else if (record.leaseExpiresAt !== null && record.leaseExpiresAt >= now) assert.equal(holders, 1, "a live running task has its holder");
    else assert.equal(holders, 0, "an expired lease holds nothing, recovered or not");
    if (record.state === "running") running++;
  }
  assert.ok(running <= CONCURRENCY, `${running} running with concurrency ${CONCURRENCY}`);
  // Queue counts are kept as tasks change state (not counted from the rows): they must agree with the rows.
  const counted: Record<TaskState, number> = { queued: 0, running: 0, waiting: 0, succeeded: 0, failed: 0, canceled: 0 };
  for (const queue of await store.listQueues()) for (const state of Object.keys(counted) as TaskState[]) counted[state] += queue.counts[state];
  assert.deepEqual(counted, byState, "queue counts agree with the tasks");
}

import assert from "node:assert/strict";
import { toPublicEvent, type StoredEvent } from "../../core/events.js";
import { applyEvent } from "../../core/fold.js";
import { newId } from "../../core/ids.js";
import { toPublicTask, type Task, type TaskRecord } from "../../core/task.js";
import type { ClaimedTask, ClaimRequest, ClaimResult, Lease, Store, SubmitRequest } from "../store.js";

/** The clock every contract test starts from; tests move time by passing later values. */
export const T0 = Date.UTC(2030, 0, 1);

/** Lease length used by the suite's claims. */
export const LEASE_MS = 10_000;

export const QUEUE = "main";
export const NAME = "contract.work";

/** A submit request with sensible defaults; `overrides` win. */
export function submitRequest(overrides: Partial<SubmitRequest> = {}): SubmitRequest {
  return {
    id: newId("task"),
    name: NAME,
    queue: QUEUE,
    owner: "alice",
    title: null,
    input: { n: 1 },
    priority: 0,
    runAt: T0,
    maxAttempts: 3,
    timeoutMs: null,
    idempotencyKey: null,
    ...overrides,
  };
}

/** Submit and return the stored record, failing unless a new task was created. */
export async function submitNew(store: Store, now: number = T0, overrides: Partial<SubmitRequest> = {}): Promise<TaskRecord> {
  const outcome = await store.submit(submitRequest({ runAt: now, ...overrides }), now);
  assert.equal(outcome.kind, "created");
  return outcome.task;
}

/** A claim with the suite's defaults; `overrides` win. */
export function claimRequest(overrides: Partial<ClaimRequest> = {}): ClaimRequest {
  return { queue: QUEUE, workerId: "worker-1", limit: 1, leaseMs: LEASE_MS, names: [NAME], ...overrides };
}

export function claim(store: Store, now: number, overrides: Partial<ClaimRequest> = {}): Promise<ClaimResult> {
  return store.claim(claimRequest(overrides), now);
}

/** Claim exactly one task and return it, failing when there is none. */
export async function claimOne(store: Store, now: number, overrides: Partial<ClaimRequest> = {}): Promise<ClaimedTask> {
  const result = await claim(store, now, { ...overrides, limit: 1 });
  assert.equal(result.tasks.length, 1, "expected a task to claim");
  return result.tasks[0]!;
}

/**
 * Submit one task and claim it: the usual start of a worker-side test. The
 * claim takes the queue's next task, so nothing of the same name may be waiting.
 */
export async function running(store: Store, now: number = T0, overrides: Partial<SubmitRequest> = {}): Promise<ClaimedTask> {
  const task = await submitNew(store, now, overrides);
  const claimed = await claimOne(store, now, task.name === NAME ? {} : { names: [task.name] });
  assert.equal(claimed.task.id, task.id);
  return claimed;
}

/** Every event of a task, in order. */
export function allEvents(store: Store, taskId: string): Promise<StoredEvent[]> {
  return store.readEvents(taskId, 0, 100_000);
}

/** What a fenced write must leave untouched: the task, its event log and its steps. */
export async function snapshot(store: Store, taskId: string): Promise<unknown> {
  return {
    task: await store.getTask(taskId),
    events: await allEvents(store, taskId),
    steps: [...(await store.getSteps(taskId))],
  };
}

export function mustGet(store: Store, id: string): Promise<TaskRecord> {
  return store.getTask(id).then((task) => {
    assert.ok(task, `task ${id} should exist`);
    return task;
  });
}

/**
 * Wait for `check` to hold, polling; fails with `message` after `timeoutMs`.
 * Cross-process delivery takes a poll interval or a notification round trip,
 * so tests wait for a condition instead of sleeping a fixed time.
 */
export async function eventually(check: () => boolean | Promise<boolean>, message: string, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) assert.fail(`timed out after ${timeoutMs} ms: ${message}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Let a store's background delivery run for a while (used only to show that something did NOT arrive). */
export function settle(ms = 150): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** The state carried by a state event, or undefined for other kinds. */
export function stateOf(event: StoredEvent): string | undefined {
  return event.data.type === "state" ? event.data.state : undefined;
}

export function seqs(events: readonly StoredEvent[]): number[] {
  return events.map((event) => event.seq);
}

/** Whether `lease` is still held at `now` (a heartbeat, which also extends it). */
export async function heartbeatHeld(store: Store, lease: Lease, now: number): Promise<boolean> {
  const [status] = await store.heartbeat([lease], now, LEASE_MS);
  return status?.held ?? false;
}

/**
 * Resolves once `store`'s event subscriptions are live. A store may take a
 * moment to start listening (PostgreSQL connects and takes its starting
 * point), and a commit by another connection before that is not "new" to
 * it; a write through the store waits for that start, so it is the barrier.
 */
export async function subscriptionsLive(store: Store): Promise<void> {
  await store.setQueuePaused("contract-barrier", false, T0);
}

/** Folding a task's log from seq 1 gives what the store holds (the client's rule, core/fold.ts); tasks submitted with the default 3 attempts. */
export async function assertFoldMatches(store: Store, id: string): Promise<void> {
  const record = await mustGet(store, id);
  const blank: Task = {
    ...toPublicTask(record),
    state: "queued",
    attempt: 0,
    maxAttempts: 3,
    lastSeq: 0,
    progress: {},
    result: null,
    error: null,
    waitingFor: null,
    runAt: new Date(record.createdAt).toISOString(),
    startedAt: null,
    finishedAt: null,
  };
  const folded = (await allEvents(store, id)).reduce((task, event) => applyEvent(task, toPublicEvent(event)), blank);
  assert.deepEqual(folded, toPublicTask(record), "folding the log gives the stored task");
}

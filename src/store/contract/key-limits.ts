import assert from "node:assert/strict";
import { test } from "node:test";
import type { QueueLimitsPatch } from "../../core/queue-limits.js";
import type { Store, SubmitRequest } from "../store.js";
import type { ContractHarness } from "./store-contract.js";
import { claim, QUEUE, submitNew, submitRequest, T0 } from "./support.js";

/** A queue limited only per key (no queue-wide limit, so only the keys hold claims back). */
function keyed(store: Store, limits: QueueLimitsPatch) {
  return store.declareQueue(QUEUE, { concurrency: null, maxQueued: null, ownerConcurrency: null, ownerMaxQueued: null, rateLimit: null, ...limits }, T0);
}

/** Keys of the tasks one claim of up to `limit` takes. */
async function takeKeys(store: Store, now: number, limit: number, byKey: Map<string, string>): Promise<string[]> {
  const result = await claim(store, now, { limit });
  return result.tasks.map((c) => byKey.get(c.task.id)!);
}

async function submitKeyed(store: Store, byKey: Map<string, string>, key: string, count: number, extra: Partial<SubmitRequest> = {}): Promise<void> {
  for (let i = 0; i < count; i++) {
    const task = await submitNew(store, T0, { concurrencyKey: key, ...extra });
    byKey.set(task.id, key);
  }
}

function tally(keys: readonly string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const key of keys) out[key] = (out[key] ?? 0) + 1;
  return out;
}

/** Concurrency per key (core/key-limits.ts): keys, tiers, a task's own limit, an operator's key limits, and turns across keys. */
export function keyLimits(harness: ContractHarness): void {
  test("each key runs at most its limit, across two stores; a finished task frees its key's place", async (t) => {
    const [a, b] = await harness.makePair(t);
    await keyed(a, { keyConcurrency: { limit: 2, tiers: {} } });
    const byKey = new Map<string, string>();
    await submitKeyed(a, byKey, "k1", 5);
    await submitKeyed(a, byKey, "k2", 5);
    const first = await claim(a, T0, { limit: 3 });
    const second = await claim(b, T0, { limit: 10 });
    const claimed = [...first.tasks, ...second.tasks];
    assert.deepEqual(tally(claimed.map((c) => byKey.get(c.task.id)!)), { k1: 2, k2: 2 });
    assert.deepEqual(await takeKeys(a, T0, 10, byKey), [], "every key at its limit: nothing more");
    const done = claimed.find((c) => byKey.get(c.task.id) === "k1")!;
    assert.equal(await b.finish(done.lease, { state: "succeeded", result: null }, T0 + 1), true);
    assert.deepEqual(await takeKeys(a, T0 + 2, 10, byKey), ["k1"]);
  });

  test("tiers, a task's own limit and an operator's key limit: the key's own limit beats its tier, its tier beats the default", async (t) => {
    const store = await harness.make(t);
    await keyed(store, { keyConcurrency: { limit: 1, tiers: { premium: 3 } } });
    const byKey = new Map<string, string>();
    await submitKeyed(store, byKey, "payer", 5, { tier: "premium" });
    await submitKeyed(store, byKey, "free", 5, { tier: "free" });
    await submitKeyed(store, byKey, "own", 5, { keyLimit: 2 });
    await submitKeyed(store, byKey, "vip", 5, { tier: "premium" });
    await store.setQueueLimits(QUEUE, { keyLimits: { vip: 4 } }, false, T0);
    assert.deepEqual(tally(await takeKeys(store, T0, 50, byKey)), { payer: 3, free: 1, own: 2, vip: 4 });
  });

  test("an operator's change of a tier reaches a claim on another store at once, and lowering it under what runs starts nothing", async (t) => {
    const [a, b] = await harness.makePair(t);
    await keyed(a, { keyConcurrency: { limit: null, tiers: { premium: 1, free: 1 } } });
    const byKey = new Map<string, string>();
    await submitKeyed(a, byKey, "p", 6, { tier: "premium" });
    assert.deepEqual(await takeKeys(b, T0, 10, byKey), ["p"]);
    const changed = await a.setQueueLimits(QUEUE, { keyConcurrency: { limit: null, tiers: { premium: 3, free: 1 } } }, false, T0);
    assert.deepEqual(changed.limits.keyConcurrency, { limit: null, tiers: { premium: 3, free: 1 } });
    assert.deepEqual(await takeKeys(b, T0, 10, byKey), ["p", "p"]);
    await a.setQueueLimits(QUEUE, { keyConcurrency: { limit: null, tiers: { premium: 1, free: 1 } } }, false, T0);
    assert.deepEqual(await takeKeys(b, T0, 10, byKey), [], "three run where one is allowed: none more");
    const reset = await a.setQueueLimits(QUEUE, {}, true, T0);
    assert.deepEqual(reset.limits.keyConcurrency, { limit: null, tiers: { premium: 1, free: 1 } }, "reset: back to what code declared");
  });

  test("claims take turns across keys: one key's backlog of 2,000 delays another key's single task by at most one claim round", async (t) => {
    const store = await harness.make(t);
    await keyed(store, { keyConcurrency: { limit: 1_000, tiers: {} } });
    const backlog = Array.from({ length: 2_000 }, () => submitRequest({ concurrencyKey: "big" }));
    await store.submitMany(backlog, T0);
    await store.claim({ queue: QUEUE, workerId: "w", limit: 3, leaseMs: 10_000, names: [backlog[0]!.name] }, T0);
    const single = await submitNew(store, T0, { concurrencyKey: "small" });
    // The round now is the backlog's lowest queued turn: the single task goes there, beside one of the backlog's.
    const next = await claim(store, T0, { limit: 2 });
    assert.ok(
      next.tasks.some((c) => c.task.id === single.id),
      "the single task starts within the next claim round",
    );
  });

  test("under a rate limit too, a key at its concurrency limit is skipped and other keys start", async (t) => {
    const store = await harness.make(t);
    await keyed(store, { keyConcurrency: { limit: 1, tiers: {} }, rateLimit: { limit: 100, periodMs: 1_000, keyed: false } });
    const byKey = new Map<string, string>();
    await submitKeyed(store, byKey, "x", 4);
    await submitKeyed(store, byKey, "y", 4);
    assert.deepEqual(tally(await takeKeys(store, T0, 10, byKey)), { x: 1, y: 1 });
  });

  test("a bad concurrency key, tier or own limit is refused before anything is stored", async (t) => {
    const store = await harness.make(t);
    for (const bad of [{ concurrencyKey: "" }, { tier: "x".repeat(257) }, { keyLimit: 0 }] as Partial<SubmitRequest>[]) {
      await assert.rejects(store.submit(submitRequest(bad), T0), (error: Error & { code?: string }) => error.code === "bad_request");
    }
    assert.equal((await store.listTasks({ limit: 10 })).tasks.length, 0);
  });
}

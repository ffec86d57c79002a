// Concurrency per key over HTTP: PATCH /api/v1/queues/:name takes the keyed
// numbers (concurrency {limit, tiers, total}) and keyLimits, good and bad,
// and the queue's JSON shows them; and the declaration's checks.
import assert from "node:assert/strict";
import { test } from "node:test";
import { Outlast } from "../../src/engine/outlast.js";
import type { QueueOptions } from "../../src/index.js";
import { sqliteStore } from "../../src/store/sqlite/index.js";
import { quietLogger } from "../support/engine.js";
import { guardLeaks } from "../support/leaks.js";
import { tempDbPath } from "../support/temp.js";
import { harness } from "./harness.js";

guardLeaks();

interface PublicQueue {
  name: string;
  concurrency: number | null;
  keyConcurrency: { limit: number | null; tiers: Record<string, number> } | null;
  keyLimits: Record<string, number>;
  overridden: string[];
}

function define(outlast: Outlast): void {
  outlast.queue("tenants", {
    concurrency: { key: (input) => (input as { tenant: string }).tenant, tier: (input) => (input as { plan: string }).plan, tiers: { premium: 10, free: 1 }, limit: 2, total: 30 },
  });
  outlast.queue("plain", { concurrency: 3 });
  outlast.define("tenants.work", { queue: "tenants", run: () => null });
  outlast.define("plain.work", { queue: "plain", run: () => null });
}

test("PATCH /api/v1/queues/:name changes a keyed queue's tiers, default and key limits, merged with what is stored; reset goes back to code", async (t) => {
  const h = await harness(t, { define, start: true });
  const patch = async (json: unknown) => {
    const response = await h.request("/api/v1/queues/tenants", { method: "PATCH", json });
    const body = (await response.json()) as { queue: PublicQueue; error?: { code: string; details?: { field?: string } } };
    return { status: response.status, body };
  };
  const listed = async () => ((await (await h.request("/api/v1/queues")).json()) as { queues: PublicQueue[] }).queues.find((q) => q.name === "tenants")!;
  const declared = await listed();
  assert.equal(declared.concurrency, 30, "total: the queue-wide limit");
  assert.deepEqual(declared.keyConcurrency, { limit: 2, tiers: { premium: 10, free: 1 } });
  assert.deepEqual(declared.keyLimits, {});

  const tier = await patch({ concurrency: { tiers: { premium: 20 } } });
  assert.equal(tier.status, 200);
  assert.deepEqual(tier.body.queue.keyConcurrency, { limit: 2, tiers: { premium: 20, free: 1 } }, "the tiers not named stay");
  assert.ok(tier.body.queue.overridden.includes("keyConcurrency"));
  const both = await patch({ concurrency: { limit: 3, total: 40 }, keyLimits: { "tenant-42": 5, "tenant-7": 1 } });
  assert.deepEqual(both.body.queue.keyConcurrency, { limit: 3, tiers: { premium: 20, free: 1 } });
  assert.equal(both.body.queue.concurrency, 40);
  assert.deepEqual(both.body.queue.keyLimits, { "tenant-42": 5, "tenant-7": 1 });
  const dropped = await patch({ keyLimits: { "tenant-7": null }, concurrency: { tiers: { premium: null } } });
  assert.deepEqual(dropped.body.queue.keyLimits, { "tenant-42": 5 }, "null drops one key's limit");
  assert.deepEqual(dropped.body.queue.keyConcurrency, { limit: 3, tiers: { premium: 10, free: 1 } }, "a null tier is back to code's");
  // Every process reads the same: the engine of this server sees the stored change.
  assert.deepEqual((await h.outlast.queueSettings()).find((q) => q.name === "tenants")?.limits.keyLimits, { "tenant-42": 5 });
  const reset = await patch({ reset: true });
  assert.deepEqual(reset.body.queue.keyConcurrency, { limit: 2, tiers: { premium: 10, free: 1 } });
  assert.deepEqual(reset.body.queue.keyLimits, {});
  assert.equal(reset.body.queue.concurrency, 30);
});

test("bad keyed changes are bad_requests naming the field, and change nothing", async (t) => {
  const h = await harness(t, { define, start: true });
  const patch = async (queue: string, json: unknown) => {
    const response = await h.request(`/api/v1/queues/${queue}`, { method: "PATCH", json });
    return { status: response.status, body: (await response.json()) as { error: { code: string; message: string; details?: { field?: string } } } };
  };
  const cases: [string, unknown, string][] = [
    ["tenants", { keyLimits: { k: 0 } }, "keyLimits"],
    ["tenants", { keyLimits: { "": 3 } }, "keyLimits"],
    ["tenants", { keyLimits: [3] }, "keyLimits"],
    ["tenants", { concurrency: { tiers: { premium: 1.5 } } }, "concurrency"],
    ["tenants", { concurrency: { key: "owner" } }, "concurrency"],
    ["tenants", { concurrency: { limit: 0 } }, "concurrency"],
    ["plain", { concurrency: { limit: 2 } }, "concurrency.limit"],
  ];
  for (const [queue, body, field] of cases) {
    const answer = await patch(queue, body);
    assert.equal(answer.status, 400, `${JSON.stringify(body)}: ${JSON.stringify(answer.body)}`);
    assert.equal(answer.body.error.code, "bad_request");
    assert.ok(answer.body.error.details?.field?.startsWith(field) || answer.body.error.message.includes(field), `${JSON.stringify(body)} names ${field}: ${JSON.stringify(answer.body)}`);
  }
  const stored = (await h.outlast.queueSettings()).find((q) => q.name === "tenants")!;
  assert.deepEqual(stored.overrides, {});
});

test("a keyed concurrency is checked at declaration, and its key and tier functions at submit", async (t) => {
  const outlast = new Outlast({ store: sqliteStore({ path: tempDbPath(t) }), logger: quietLogger });
  t.after(() => outlast.close());
  const bad: [unknown, string][] = [
    [{ limit: 2 }, "concurrency.key"],
    [{ key: "tenant", limit: 2 }, "concurrency.key"],
    [{ key: "owner" }, "concurrency.limit"],
    [{ key: "owner", limit: 0 }, "concurrency.limit"],
    [{ key: "owner", tiers: { a: 1 } }, "concurrency.tier"],
    [{ key: "owner", tier: () => "a", limit: 1 }, "concurrency.tiers"],
    [{ key: "owner", limit: 1, tiers: { a: -1 }, tier: () => "a" }, "concurrency.tiers.a"],
    [{ key: "owner", limit: 1, total: 0 }, "concurrency.total"],
    [{ key: "owner", limit: 1, perKey: 3 }, "concurrency.perKey"],
  ];
  for (const [concurrency, field] of bad) {
    assert.throws(
      () => outlast.queue("q", { concurrency: concurrency as NonNullable<QueueOptions["concurrency"]> }),
      (error: Error & { code?: string; details?: { field?: string } }) => error.code === "bad_request" && error.details?.field === field,
      `${JSON.stringify(concurrency)} names ${field}`,
    );
  }
  assert.throws(
    () => outlast.queue("q", { concurrency: { key: "owner", limit: 1 }, perOwner: { concurrency: 2 } }),
    (error: Error & { code?: string }) => error.code === "bad_request" && /cannot be combined/.test(error.message),
  );

  outlast.queue("keyed", { concurrency: { key: (input) => (input as { k?: unknown }).k as string, limit: (key) => (key === "big" ? 5 : 1) } });
  outlast.define("keyed.work", { queue: "keyed", run: () => null });
  const ok = await outlast.getRecord((await outlast.submit("keyed.work", { k: "big" })).id);
  assert.ok(ok);
  for (const input of [{}, { k: "" }, { k: "x".repeat(300) }]) {
    await assert.rejects(outlast.submit("keyed.work", input), (error: Error & { code?: string; details?: { field?: string } }) => error.code === "bad_request" && error.details?.field === "concurrency.key");
  }
  outlast.queue("throws", { concurrency: { key: () => { throw new Error("no tenant"); }, limit: 1 } });
  outlast.define("throws.work", { queue: "throws", run: () => null });
  await assert.rejects(outlast.submit("throws.work", {}), /concurrency.key threw: no tenant/);
  assert.equal((await outlast.list({ queue: "keyed" })).tasks.length, 1, "nothing stored for the refused submits");
});

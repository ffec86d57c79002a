import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { StateReason, StoredEvent } from "../../src/core/events.js";
import { percentile, TaskStats } from "../../src/server/task-stats.js";
import { until } from "../support/engine.js";
import { guardLeaks } from "../support/leaks.js";
import { createHandler } from "../../src/server/handler.js";
import { ADMIN_KEY, harness, json, SECRET } from "../server/harness.js";

guardLeaks();

const BASE = Date.parse("2030-01-01T00:00:00.000Z");

function stateEvent(taskId: string, queue: string, at: number, state: "queued" | "running" | "succeeded" | "failed" | "canceled", reason?: StateReason): StoredEvent {
  return { taskId, owner: "o", queue, seq: 1, attempt: 1, at, data: { type: "state", state, ...(reason ? { reason } : {}) } };
}

describe("TaskStats ring", () => {
  test("counts finishes per bucket with run and wait times, per queue and for all", (t) => {
    const stats = new TaskStats(() => () => {});
    t.after(() => stats.close());
    // a: queued at 0, starts at 1 s, succeeds at 4 s. b: queued at 0, starts at 2 s, fails at 62 s.
    stats.record(stateEvent("a", "q1", BASE, "queued"));
    stats.record(stateEvent("b", "q2", BASE, "queued"));
    stats.record(stateEvent("a", "q1", BASE + 1000, "running"));
    stats.record(stateEvent("b", "q2", BASE + 2000, "running"));
    stats.record(stateEvent("a", "q1", BASE + 4000, "succeeded"));
    stats.record(stateEvent("b", "q2", BASE + 62_000, "failed"));
    // A retry's queued event is not a new submission.
    stats.record(stateEvent("b", "q2", BASE + 63_000, "queued", "retry"));

    const series = stats.series(15 * 60_000, BASE + 70_000);
    assert.equal(series.bucketMs, 15_000);
    assert.equal(series.all.length, 60);
    assert.deepEqual(series.queues.map((q) => q.name), ["q1", "q2"]);
    const total = (key: "submitted" | "succeeded" | "failed") => series.all.reduce((n, b) => n + b[key], 0);
    assert.equal(total("submitted"), 2);
    assert.equal(total("succeeded"), 1);
    assert.equal(total("failed"), 1);
    const q1 = series.queues[0]!.buckets.find((b) => b.succeeded === 1)!;
    assert.equal(q1.runMeanMs, 3000);
    assert.equal(q1.runP95Ms, 3000);
    const q2 = series.queues[1]!.buckets.find((b) => b.failed === 1)!;
    assert.equal(q2.runMeanMs, 60_000);
    const waits = series.all.filter((b) => b.waitMeanMs !== null);
    assert.equal(waits.length, 1, "both starts fall in the first bucket");
    assert.equal(waits[0]!.waitMeanMs, 1500);
    assert.ok(Date.parse(series.from) <= BASE && Date.parse(series.to) > BASE + 70_000);
  });

  test("forgets buckets older than a day", (t) => {
    const stats = new TaskStats(() => () => {});
    t.after(() => stats.close());
    stats.record(stateEvent("a", "q", BASE, "queued"));
    stats.record(stateEvent("b", "q", BASE + 25 * 3600_000, "queued"));
    const day = stats.series(24 * 3600_000, BASE + 25 * 3600_000);
    assert.equal(day.all.reduce((n, b) => n + b.submitted, 0), 1);
    // The old bucket is gone, not merely outside the window.
    const internal = (stats as unknown as { queues: Map<string, Map<number, unknown>> }).queues.get("q")!;
    assert.equal(internal.size, 1);
  });

  test("percentile", () => {
    assert.equal(percentile([], 0.95), null);
    assert.equal(percentile([5], 0.95), 5);
    assert.equal(percentile(Array.from({ length: 100 }, (_, i) => i + 1), 0.95), 95);
  });
});

describe("dashboard routes", () => {
  test("a server started after tasks ran shows their throughput from the stored tasks, counted once", async (t) => {
    const h = await harness(t, { start: true });
    for (let i = 0; i < 3; i++) {
      const { task } = await json<{ task: { id: string } }>(await h.request("/api/v1/tasks", { method: "POST", json: { name: "demo.count", input: { to: 1, everyMs: 0 } } }));
      await until(async () => (await h.outlast.get(task.id))?.state === "succeeded", "the task");
    }
    // Another server on the same database, as after a restart: it heard none of those events.
    const restarted = createHandler(h.outlast, { adminKey: ADMIN_KEY, secret: SECRET, logger: "silent" });
    t.after(() => restarted.close());
    const stats = async () =>
      json<{ all: { submitted: number; succeeded: number; runMeanMs: number | null }[] }>(
        await restarted(new Request("http://x/api/v1/stats?window=15m", { headers: { authorization: `Bearer ${ADMIN_KEY}` } })),
      );
    const total = (series: { all: { submitted: number; succeeded: number }[] }, key: "submitted" | "succeeded") => series.all.reduce((n, b) => n + b[key], 0);
    const first = await stats();
    assert.equal(total(first, "submitted"), 3);
    assert.equal(total(first, "succeeded"), 3);
    assert.ok(first.all.some((b) => b.runMeanMs !== null), "run times come back too");
    // One more task, heard live: counted once, not again from the table.
    const { task } = await json<{ task: { id: string } }>(await h.request("/api/v1/tasks", { method: "POST", json: { name: "demo.count", input: { to: 1, everyMs: 0 } } }));
    await until(async () => (await h.outlast.get(task.id))?.state === "succeeded", "the live task");
    await until(async () => total(await stats(), "succeeded") === 4, "the live task counted");
    assert.equal(total(await stats(), "submitted"), 4);
  });

  test("/dashboard serves the page, its script and stylesheet, with ETags", async (t) => {
    const h = await harness(t);
    const page = await h.request("/dashboard", { token: null });
    assert.equal(page.status, 200);
    assert.match(page.headers.get("content-type") ?? "", /text\/html/);
    const html = await page.text();
    assert.match(html, /<div id="app">/);
    assert.doesNotMatch(html, /https?:\/\//, "no CDN: everything comes from this server");
    const js = await h.request("/dashboard/app.js", { token: null });
    assert.equal(js.status, 200);
    assert.match(js.headers.get("content-type") ?? "", /javascript/);
    assert.ok((await js.text()).length > 10_000);
    const etag = js.headers.get("etag")!;
    const again = await h.request("/dashboard/app.js", { token: null, headers: { "if-none-match": etag } });
    assert.equal(again.status, 304);
    const css = await h.request("/dashboard/app.css", { token: null });
    assert.match(await css.text(), /progress-fill/);
  });

  test("stats, nodes and task detail need the admin key and check their queries", async (t) => {
    const h = await harness(t, { start: true });
    const { token } = await json<{ token: string }>(await h.request("/api/v1/tokens", { method: "POST", json: { owner: "ann" } }));
    for (const path of ["/api/v1/stats", "/api/v1/nodes", "/api/v1/tasks/x/detail"]) {
      assert.equal((await h.request(path, { token })).status, 403, path);
      assert.equal((await h.request(path, { token: null })).status, 401, path);
    }
    for (const bad of ["15", "0m", "2d", "25h", "1m5"]) {
      const response = await h.request(`/api/v1/stats?window=${bad}`);
      assert.equal(response.status, 400, bad);
      assert.equal((await json<{ error: { code: string } }>(response)).error.code, "bad_request");
    }
    assert.equal((await h.request("/api/v1/tasks/tsk_missing/detail")).status, 404);

    const submitted = await json<{ task: { id: string } }>(await h.request("/api/v1/tasks", { method: "POST", json: { name: "demo.count", input: { to: 3, everyMs: 0 }, owner: "ann" } }));
    const id = submitted.task.id;
    await until(async () => (await h.outlast.get(id))?.state === "succeeded", "the task");

    const stats = await json<{ all: { succeeded: number; runMeanMs: number | null }[]; queues: { name: string }[] }>(await h.request("/api/v1/stats?window=5m"));
    assert.equal(stats.all.reduce((n, b) => n + b.succeeded, 0), 1);
    assert.deepEqual(stats.queues.map((q) => q.name), ["default"]);

    const detail = await json<{ task: { state: string }; input: unknown; events: { seq: number; type: string }[]; nextAfter: number | null }>(await h.request(`/api/v1/tasks/${id}/detail`));
    assert.equal(detail.task.state, "succeeded");
    assert.deepEqual(detail.input, { to: 3, everyMs: 0 });
    assert.equal(detail.events[0]?.seq, 1);
    assert.equal(detail.events.at(-1)?.type, "state");
    assert.equal(detail.nextAfter, null);
    const paged = await json<{ events: { seq: number }[]; nextAfter: number | null }>(await h.request(`/api/v1/tasks/${id}/detail?after=1&limit=2`));
    assert.deepEqual(paged.events.map((e) => e.seq), [2, 3]);
    assert.equal(paged.nextAfter, 3);
    assert.equal((await h.request(`/api/v1/tasks/${id}/detail?limit=0`)).status, 400);

    const nodes = await json<{ nodes: { id: string; self: boolean; streams: number | null }[] }>(await h.request("/api/v1/nodes"));
    assert.equal(nodes.nodes[0]?.id, h.outlast.workerId);
    assert.equal(nodes.nodes[0]?.self, true);
    assert.equal(nodes.nodes[0]?.streams, 0);
  });
});

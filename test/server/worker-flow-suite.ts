import assert from "node:assert/strict";
import { test } from "node:test";
import { ADMIN_KEY } from "./harness.js";
import { SseReader, type ParsedEvent } from "./sse-reader.js";
import { eventually, expectCode, workerServer, type StoreKind, type WorkerServer } from "./worker-support.js";

/** What a task looks like through the public API. */
async function taskOf(server: WorkerServer, id: string): Promise<Record<string, unknown> & { state: string; attempt: number; lastSeq: number; error: { code?: string; message: string; unrecoverable?: boolean } | null; deadLetter: boolean }> {
  const res = await server.admin(`/api/v1/tasks/${id}`);
  assert.equal(res.status, 200);
  return ((await res.json()) as { task: never }).task;
}

async function readUntilFinal(reader: SseReader): Promise<ParsedEvent[]> {
  const out: ParsedEvent[] = [];
  for (let e = await reader.next(); e; e = await reader.next()) {
    out.push(e);
    if (e.event === "state" && ["succeeded", "failed", "canceled"].includes(e.data.state as string)) break;
  }
  return out;
}

/**
 * Workers over HTTP doing their work: claim, reports, finish, and the
 * engine's rules (long poll, fencing, lease expiry, retries, cancel, time
 * limits, shared concurrency) as an HTTP worker meets them.
 */
export function workerFlowSuite(kind: StoreKind): void {
  test(`${kind}: claim, heartbeat, progress, step, log, checkpoint, artifact and finish, seen by an SSE watcher and the workers list`, async (t) => {
    const server = await workerServer(t, kind);
    const id = await server.submit("tts.chapter", { chapter: 7 });
    const stream = await fetch(`${server.base}/api/v1/tasks/${id}/events`, { headers: { authorization: `Bearer ${ADMIN_KEY}` } });
    assert.equal(stream.status, 200);
    const reader = new SseReader(stream);
    t.after(() => reader.cancel());

    const claimed = await server.claim({ limit: 5, host: "gpu-1", pid: 4242 });
    assert.equal(claimed.tasks.length, 1);
    const [job] = claimed.tasks;
    assert.equal(job!.task.id, id);
    assert.equal(job!.task.state, "running");
    assert.deepEqual(job!.input, { chapter: 7 });
    assert.equal(job!.attempt, 1);
    assert.deepEqual(job!.steps, {});
    assert.equal(job!.checkpoint, null);
    assert.equal(typeof job!.lease, "string");
    assert.ok(claimed.heartbeatMs > 0 && claimed.heartbeatMs <= 2000);
    const lease = job!.lease;
    const path = `/api/v1/worker/tasks/${id}`;

    const beat = await server.call(`${path}/heartbeat`, { json: { workerId: "w1", lease } });
    const beatBody = (await beat.json()) as { cancelRequested: boolean; leaseExpiresAt: string };
    assert.equal(beat.status, 200, JSON.stringify(beatBody));
    assert.equal(beatBody.cancelRequested, false);
    assert.ok(Date.parse(beatBody.leaseExpiresAt) > Date.now());

    assert.equal((await server.call(`${path}/progress`, { json: { lease, progress: { current: 1, total: 4, message: "Chapter 7" } } })).status, 200);
    assert.equal((await server.call(`${path}/steps/${encodeURIComponent("speak part/1")}`, { method: "PUT", json: { lease, result: { seconds: 12.5 } } })).status, 200);
    const steps = await server.call(`${path}/steps?lease=${encodeURIComponent(lease)}`);
    assert.deepEqual(await steps.json(), { steps: { "speak part/1": { seconds: 12.5 } } });
    assert.equal((await server.call(`${path}/logs`, { json: { lease, message: "spoke part 1" } })).status, 200);
    assert.equal((await server.call(`${path}/checkpoint`, { method: "PUT", json: { lease, data: { part: 1 } } })).status, 200);
    const upload = await server.call(`${path}/artifacts/chapter-07.mp3?lease=${encodeURIComponent(lease)}`, {
      method: "PUT",
      body: new Uint8Array([1, 2, 3, 4, 5]),
      headers: { "content-type": "audio/mpeg" },
    });
    const uploaded = (await upload.json()) as { artifact: { name: string; size: number; contentType: string } };
    assert.equal(upload.status, 201, JSON.stringify(uploaded));
    assert.deepEqual([uploaded.artifact.name, uploaded.artifact.size, uploaded.artifact.contentType], ["chapter-07.mp3", 5, "audio/mpeg"]);

    const workers = (await (await server.admin("/api/v1/workers")).json()) as { workers: { id: string; host: string; pid: number; queues: string[]; running: string[]; remote: unknown }[] };
    const listed = workers.workers.find((w) => w.id === "w1");
    assert.deepEqual(listed && { host: listed.host, pid: listed.pid, queues: listed.queues, running: listed.running, remote: listed.remote }, {
      host: "gpu-1",
      pid: 4242,
      queues: ["tts"],
      running: [id],
      remote: { keyId: server.keyId, keyName: "test workers" },
    });

    const nodes = (await (await server.admin("/api/v1/nodes")).json()) as { nodes: { id: string }[] };
    assert.ok(!nodes.nodes.some((n) => n.id === "w1"), "a worker over HTTP is not a node");

    const finish = await server.call(`${path}/finish`, { json: { lease, outcome: "succeeded", result: { seconds: 12.5 } } });
    const finished = (await finish.json()) as { task: { state: string; result: unknown } };
    assert.equal(finish.status, 200, JSON.stringify(finished));
    assert.equal(finished.task.state, "succeeded");
    assert.deepEqual(finished.task.result, { seconds: 12.5 });

    const events = await readUntilFinal(reader);
    const kinds = events.map((e) => (e.event === "state" ? `state:${String(e.data.state)}` : e.event));
    assert.deepEqual(kinds.filter((k) => k !== "progress"), ["snapshot", "state:running", "step", "log", "log", "state:succeeded"]);
    assert.deepEqual((events.find((e) => e.event === "progress")?.data.progress as Record<string, unknown>), { current: 1, total: 4, percent: 25, message: "Chapter 7" });
    assert.equal(events.find((e) => e.event === "step")?.data.name, "speak part/1");
    assert.deepEqual(events.filter((e) => e.event === "log").map((e) => e.data.message), ["spoke part 1", "Saved chapter-07.mp3 (5 bytes)"]);
    assert.deepEqual(events.at(-1)?.data.result, { seconds: 12.5 });

    const file = await server.admin(`/api/v1/tasks/${id}/artifacts/chapter-07.mp3`);
    assert.equal(file.status, 200);
    assert.deepEqual([...new Uint8Array(await file.arrayBuffer())], [1, 2, 3, 4, 5]);
    assert.deepEqual((await server.outlast.getRecord(id))?.checkpoint, { part: 1 });
  });

  test(`${kind}: a long-polling claim answers as soon as a task is submitted, and empty at its deadline`, async (t) => {
    const server = await workerServer(t, kind);
    const empty = await server.claim({ waitMs: 300 });
    assert.deepEqual(empty.tasks, []);
    const started = Date.now();
    const waiting = server.claim({ waitMs: 25_000 });
    await new Promise((resolve) => setTimeout(resolve, 300));
    const id = await server.submit("tts.chapter", { chapter: 1 });
    const answer = await waiting;
    assert.deepEqual(answer.tasks.map((c) => c.task.id), [id]);
    // Far less than the 25 s it could have waited: the submit woke it (generous for a loaded machine).
    assert.ok(Date.now() - started < 20_000);
  });

  test(`${kind}: after a lease runs out and another worker claims, the first worker's writes answer lease_lost and change nothing`, async (t) => {
    const server = await workerServer(t, kind);
    const id = await server.submit("tts.chapter", {});
    const first = (await server.claim({ workerId: "w1", leaseMs: 1000 })).tasks[0]!;
    // No heartbeat: the server's recovery takes the task back once the lease is out.
    await eventually(async () => (await taskOf(server, id)).state === "queued", "the expired lease to be recovered");
    const second = (await server.claim({ workerId: "w2", waitMs: 5000 })).tasks[0]!;
    assert.equal(second.task.id, id);
    assert.equal(second.attempt, 2);
    const before = await taskOf(server, id);
    const path = `/api/v1/worker/tasks/${id}`;
    const old = first.lease;
    const lost = [
      await server.call(`${path}/heartbeat`, { json: { workerId: "w1", lease: old } }),
      await server.call(`${path}/progress`, { json: { lease: old, progress: { percent: 99 } } }),
      await server.call(`${path}/steps/a`, { method: "PUT", json: { lease: old, result: 1 } }),
      await server.call(`${path}/steps?lease=${encodeURIComponent(old)}`),
      await server.call(`${path}/logs`, { json: { lease: old, message: "stale" } }),
      await server.call(`${path}/checkpoint`, { method: "PUT", json: { lease: old, data: 1 } }),
      await server.call(`${path}/title`, { method: "PUT", json: { lease: old, title: "stale" } }),
      await server.call(`${path}/artifacts/x.bin?lease=${encodeURIComponent(old)}`, { method: "PUT", body: "bytes" }),
      await server.call(`${path}/finish`, { json: { lease: old, outcome: "succeeded", result: "stale" } }),
    ];
    for (const res of lost) {
      const error = await expectCode(res, 409, "lease_lost");
      assert.deepEqual(error.details, { taskId: id, state: "running" });
    }
    const batch = await server.call("/api/v1/worker/heartbeat", { json: { workerId: "w1", tasks: [{ taskId: id, lease: old }] } });
    const statuses = (await batch.json()) as { tasks: { taskId: string; held: boolean; state: string | null }[] };
    assert.deepEqual(statuses.tasks.map((s) => [s.taskId, s.held, s.state]), [[id, false, "running"]]);
    const after = await taskOf(server, id);
    assert.equal(after.lastSeq, before.lastSeq, "no event was written");
    assert.deepEqual(after.progress, before.progress);
    assert.equal(after.title, before.title);
    assert.deepEqual([...(await server.outlast.store.getSteps(id)).keys()], []);
    assert.equal((await server.outlast.getRecord(id))?.checkpoint ?? null, null);
    assert.deepEqual(await server.outlast.artifacts!.list(id), []);
    // The worker that holds it now is unaffected.
    const done = await server.call(`${path}/finish`, { json: { lease: second.lease, outcome: "succeeded", result: "fresh" } });
    assert.equal(done.status, 200);
    assert.equal((await taskOf(server, id)).result, "fresh");
  });

  test(`${kind}: a remote worker that stops heartbeating loses its task, and its expiries count toward maxLeaseExpiries`, async (t) => {
    const server = await workerServer(t, kind, { define: (o) => o.remote("tts.fragile", { queue: "tts", maxAttempts: 5, maxLeaseExpiries: 2 }) });
    const id = await server.submit("tts.fragile", {});
    await server.claim({ names: ["tts.fragile"], leaseMs: 1000 });
    await eventually(async () => (await taskOf(server, id)).state === "queued", "the first expiry");
    const events = (await server.outlast.store.readEvents(id, 0, 100)).map((e) => e.data as { state?: string; reason?: string });
    assert.equal(events.at(-1)?.reason, "lease_expired");
    await server.claim({ names: ["tts.fragile"], leaseMs: 1000, waitMs: 5000 });
    await eventually(async () => (await taskOf(server, id)).state === "failed", "the second expiry to quarantine it");
    const failed = await taskOf(server, id);
    assert.equal(failed.error?.code, "poison_pill");
    assert.equal(failed.deadLetter, true);
  });

  test(`${kind}: retries follow the declared backoff and attempts, then fail as a dead letter; retryable: false fails at once`, async (t) => {
    const server = await workerServer(t, kind);
    const id = await server.submit("tts.chapter", {});
    const finish = (lease: string, body: Record<string, unknown>) => server.call(`/api/v1/worker/tasks/${id}/finish`, { json: { lease, ...body } });

    const one = (await server.claim({})).tasks[0]!;
    const beforeRetry = Date.now();
    const retried = (await (await finish(one.lease, { outcome: "failed", error: { message: "GPU busy", code: "gpu_busy" } })).json()) as { task: { state: string; runAt: string; error: { code: string } } };
    assert.equal(retried.task.state, "queued");
    assert.equal(retried.task.error.code, "gpu_busy");
    assert.ok(Date.parse(retried.task.runAt) >= beforeRetry + 50, "the declared 50 ms backoff");

    const two = (await server.claim({ waitMs: 5000 })).tasks[0]!;
    assert.equal(two.attempt, 2);
    const beforeLater = Date.now();
    const later = (await (await finish(two.lease, { outcome: "retry", afterMs: 400 })).json()) as { task: { state: string; runAt: string; error: { code: string } } };
    assert.equal(later.task.state, "queued");
    assert.equal(later.task.error.code, "retry_later");
    assert.ok(Date.parse(later.task.runAt) >= beforeLater + 400);

    const three = (await server.claim({ waitMs: 5000 })).tasks[0]!;
    assert.equal(three.attempt, 3);
    const last = (await (await finish(three.lease, { outcome: "failed", error: { message: "still busy" } })).json()) as { task: { state: string; deadLetter: boolean; error: { message: string } } };
    assert.equal(last.task.state, "failed");
    assert.equal(last.task.deadLetter, true);
    assert.equal(last.task.error.message, "still busy");

    const other = await server.submit("tts.chapter", {});
    const claim = (await server.claim({})).tasks[0]!;
    const res = await server.call(`/api/v1/worker/tasks/${other}/finish`, { json: { lease: claim.lease, outcome: "failed", error: { message: "bad file", code: "bad_file" }, retryable: false } });
    const body = (await res.json()) as { task: { state: string; attempt: number; error: { code: string; unrecoverable?: boolean } } };
    assert.equal(body.task.state, "failed");
    assert.equal(body.task.attempt, 1);
    assert.deepEqual(body.task.error, { message: "bad file", code: "bad_file", unrecoverable: true });
  });

  test(`${kind}: a cancel reaches the worker through its heartbeat; a worker that ignores it past the grace is cut off`, async (t) => {
    const server = await workerServer(t, kind, { engine: { abortGraceMs: 300 } });
    const polite = await server.submit("tts.chapter", {});
    const rude = await server.submit("tts.chapter", {});
    const claimed = (await server.claim({ limit: 2 })).tasks;
    const leaseOf = (id: string) => claimed.find((c) => c.task.id === id)!.lease;
    for (const id of [polite, rude]) assert.equal((await server.admin(`/api/v1/tasks/${id}/cancel`, { method: "POST" })).status, 200);

    const batch = await server.call("/api/v1/worker/heartbeat", { json: { workerId: "w1", tasks: [polite, rude].map((taskId) => ({ taskId, lease: leaseOf(taskId) })) } });
    const statuses = (await batch.json()) as { tasks: { taskId: string; held: boolean; cancelRequested: boolean }[] };
    assert.deepEqual(statuses.tasks.map((s) => [s.held, s.cancelRequested]), [[true, true], [true, true]]);

    // The polite one stops and finishes: whatever it says, the task is canceled.
    const finished = await server.call(`/api/v1/worker/tasks/${polite}/finish`, { json: { lease: leaseOf(polite), outcome: "succeeded", result: 1 } });
    assert.equal(((await finished.json()) as { task: { state: string } }).task.state, "canceled");

    // The rude one keeps reporting after the grace: the server cancels it and tells it to stop.
    await new Promise((resolve) => setTimeout(resolve, 400));
    const error = await expectCode(await server.call(`/api/v1/worker/tasks/${rude}/progress`, { json: { lease: leaseOf(rude), progress: { percent: 50 } } }), 409, "lease_lost");
    assert.deepEqual(error.details, { taskId: rude, state: "canceled" });
  });

  test(`${kind}: an attempt past its timeout is ended by the server at the worker's next call, and retried like a local one`, async (t) => {
    const server = await workerServer(t, kind, { define: (o) => o.remote("tts.quick", { queue: "tts", maxAttempts: 2, timeoutMs: 300, backoff: { baseMs: 10, jitter: 0 } }) });
    const id = await server.submit("tts.quick", {});
    const first = (await server.claim({ names: ["tts.quick"] })).tasks[0]!;
    assert.equal(first.timeoutMs, 300);
    await new Promise((resolve) => setTimeout(resolve, 400));
    const error = await expectCode(await server.call(`/api/v1/worker/tasks/${id}/heartbeat`, { json: { workerId: "w1", lease: first.lease } }), 409, "lease_lost");
    assert.deepEqual(error.details, { taskId: id, state: "queued" });
    assert.equal((await taskOf(server, id)).error?.code, "timeout");
    const second = (await server.claim({ names: ["tts.quick"], waitMs: 5000 })).tasks[0]!;
    await new Promise((resolve) => setTimeout(resolve, 400));
    // Even a success reported after the limit is a timeout (as for a handler that returns late).
    const late = await server.call(`/api/v1/worker/tasks/${id}/finish`, { json: { lease: second.lease, outcome: "succeeded", result: "late" } });
    assert.equal(late.status, 200);
    assert.equal(((await late.json()) as { task: { state: string } }).task.state, "failed");
    const failed = await taskOf(server, id);
    assert.equal(failed.result, null);
    assert.equal(failed.state, "failed");
    assert.equal(failed.error?.code, "timeout");
  });

  test(`${kind}: a worker that only heartbeats past stallMs is stalled; a released task runs again without spending its attempt`, async (t) => {
    const server = await workerServer(t, kind, { define: (o) => o.remote("tts.stuck", { queue: "tts", maxAttempts: 1, stallMs: 300 }) });
    const stuck = await server.submit("tts.stuck", {});
    const job = (await server.claim({ names: ["tts.stuck"] })).tasks[0]!;
    assert.equal(job.stallMs, 300);
    const beat = () => server.call(`/api/v1/worker/tasks/${stuck}/heartbeat`, { json: { workerId: "w1", lease: job.lease } });
    assert.equal((await beat()).status, 200);
    await new Promise((resolve) => setTimeout(resolve, 400));
    const error = await expectCode(await beat(), 409, "lease_lost");
    assert.deepEqual(error.details, { taskId: stuck, state: "failed" });
    assert.equal((await taskOf(server, stuck)).error?.code, "stalled");

    const id = await server.submit("tts.chapter", {});
    const first = (await server.claim({})).tasks[0]!;
    const released = await server.call(`/api/v1/worker/tasks/${id}/finish`, { json: { lease: first.lease, outcome: "released" } });
    assert.equal(((await released.json()) as { task: { state: string } }).task.state, "queued");
    const events = (await server.outlast.store.readEvents(id, 0, 100)).map((e) => e.data as { reason?: string });
    assert.equal(events.at(-1)?.reason, "released");
    const again = (await server.claim({ waitMs: 5000 })).tasks[0]!;
    assert.equal(again.attempt, 1, "a release gives the attempt back");
  });

  test(`${kind}: a long poll whose caller went away claims nothing for it`, async (t) => {
    const server = await workerServer(t, kind);
    const gone = new AbortController();
    const polling = fetch(`${server.base}/api/v1/worker/claim`, {
      method: "POST",
      headers: { authorization: `Bearer ${server.key}`, "content-type": "application/json" },
      body: JSON.stringify({ workerId: "w1", names: ["tts.chapter"], waitMs: 20_000 }),
      signal: gone.signal,
    });
    await new Promise((resolve) => setTimeout(resolve, 300));
    gone.abort();
    await assert.rejects(polling);
    await new Promise((resolve) => setTimeout(resolve, 200));
    const id = await server.submit("tts.chapter", {});
    await new Promise((resolve) => setTimeout(resolve, 800));
    assert.equal((await taskOf(server, id)).state, "queued", "no claim took it for the worker that left");
    assert.deepEqual((await server.claim({ workerId: "w2" })).tasks.map((c) => c.task.id), [id]);
  });

  test(`${kind}: a queue's concurrency holds across an in-process worker and an HTTP worker`, async (t) => {
    let release: () => void = () => {};
    const server = await workerServer(t, kind, {
      start: true,
      define: (o) => {
        o.queue("tts", { concurrency: 1 });
        o.define("tts.local", {
          queue: "tts",
          run: () => new Promise<string>((resolve) => (release = () => resolve("local done"))),
        });
      },
    });
    const local = await server.submit("tts.local", {});
    await eventually(async () => (await taskOf(server, local)).state === "running", "the local task to start");
    const remoteId = await server.submit("tts.chapter", {});
    assert.deepEqual((await server.claim({ waitMs: 300 })).tasks, [], "the one slot is taken by the local worker");
    const waiting = server.claim({ waitMs: 20_000 });
    release();
    const claimed = (await waiting).tasks;
    assert.deepEqual(claimed.map((c) => c.task.id), [remoteId], "the slot the local task freed");
    assert.equal((await taskOf(server, local)).state, "succeeded");

    // Now the HTTP worker holds the slot: a local task waits for it.
    const next = await server.submit("tts.local", {});
    await new Promise((resolve) => setTimeout(resolve, 600));
    assert.equal((await taskOf(server, next)).state, "queued");
    const done = await server.call(`/api/v1/worker/tasks/${remoteId}/finish`, { json: { lease: claimed[0]!.lease, outcome: "succeeded" } });
    assert.equal(done.status, 200);
    await eventually(async () => (await taskOf(server, next)).state === "running", "the local task to take the freed slot");
    release();
    await eventually(async () => (await taskOf(server, next)).state === "succeeded", "the local task to finish");
  });
}

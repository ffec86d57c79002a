import assert from "node:assert/strict";
import { test } from "node:test";
import type { ContractHarness } from "./store-contract.js";
import { T0 } from "./support.js";

/** Worker keys (the secrets of workers over HTTP), and the worker rows that mark such workers. */
export function workerKeys(harness: ContractHarness): void {
  test("a worker key is found by its secret's hash only, listed newest first, and revoked once", async (t) => {
    const store = await harness.make(t);
    await store.createWorkerKey({ id: "wk_a", name: "tts boxes", queues: ["tts", "render"], createdAt: T0, revokedAt: null }, "hash-a");
    await store.createWorkerKey({ id: "wk_b", name: "other", queues: ["x"], createdAt: T0 + 1, revokedAt: null }, "hash-b");
    assert.deepEqual(await store.workerKeyByHash("hash-a"), { id: "wk_a", name: "tts boxes", queues: ["tts", "render"], createdAt: T0, revokedAt: null });
    assert.equal(await store.workerKeyByHash("wk_a"), null, "an id is not a hash");
    assert.equal(await store.workerKeyByHash("hash-c"), null);
    assert.deepEqual((await store.listWorkerKeys()).map((k) => k.id), ["wk_b", "wk_a"]);
    const revoked = await store.revokeWorkerKey("wk_a", T0 + 5);
    assert.equal(revoked?.revokedAt, T0 + 5);
    assert.equal((await store.revokeWorkerKey("wk_a", T0 + 9))?.revokedAt, T0 + 5, "a second revoke keeps the first time");
    assert.equal((await store.workerKeyByHash("hash-a"))?.revokedAt, T0 + 5, "a revoked key is still found, to be refused");
    assert.equal(await store.revokeWorkerKey("wk_none", T0), null);
    await assert.rejects(store.createWorkerKey({ id: "wk_c", name: "dup", queues: ["x"], createdAt: T0, revokedAt: null }, "hash-b"), "secret hashes are unique");
  });

  test("a worker row keeps whether it is a worker over HTTP, and its key", async (t) => {
    const store = await harness.make(t);
    const base = { host: "box", pid: 7, queues: ["tts"], startedAt: T0, heartbeatAt: T0, running: [], streams: null };
    await store.recordWorker({ ...base, id: "proc" }, T0);
    await store.recordWorker({ ...base, id: "remote-1", pid: 0, remote: { keyId: "wk_a", keyName: "tts boxes" }, running: ["task_1"] }, T0 + 1);
    await store.recordWorker({ ...base, id: "remote-1", host: "box-2", pid: 0, remote: { keyId: "wk_a", keyName: "tts boxes" }, running: [] }, T0 + 2);
    const workers = await store.listWorkers(T0);
    assert.deepEqual(
      workers.map((w) => ({ id: w.id, host: w.host, remote: w.remote ?? null, running: w.running, heartbeatAt: w.heartbeatAt })),
      [
        { id: "proc", host: "box", remote: null, running: [], heartbeatAt: T0 },
        { id: "remote-1", host: "box-2", remote: { keyId: "wk_a", keyName: "tts boxes" }, running: [], heartbeatAt: T0 + 2 },
      ],
    );
  });
}

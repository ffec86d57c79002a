import assert from "node:assert/strict";
import { test } from "node:test";
import { mintOwnerToken } from "../../src/server/index.js";
import { ADMIN_KEY, SECRET } from "./harness.js";
import { expectCode, workerServer, type StoreKind } from "./worker-support.js";

/** Bad input to the worker routes and the worker keys: each answers a clear code, and nothing is lost. */
export function workerRefusalsSuite(kind: StoreKind): void {
  test(`${kind}: wrong or malformed leases, finished tasks and malformed bodies answer clear codes and change nothing`, async (t) => {
    const server = await workerServer(t, kind);
    const id = await server.submit("tts.chapter", {});
    const job = (await server.claim({})).tasks[0]!;
    const path = `/api/v1/worker/tasks/${id}`;
    const [token, ms] = job.lease.split(".");
    const wrong = `${Number(token) + 1}.${ms}`;
    const before = (await server.outlast.getRecord(id))!;

    await expectCode(await server.call(`${path}/progress`, { json: { lease: wrong, progress: { percent: 5 } } }), 409, "lease_lost");
    await expectCode(await server.call(`${path}/finish`, { json: { lease: wrong, outcome: "succeeded" } }), 409, "lease_lost");
    for (const lease of ["abc", "1", "1.5", "1.99999999", ""]) {
      await expectCode(await server.call(`${path}/logs`, { json: { lease, message: "x" } }), 400, "bad_request");
    }
    await expectCode(await server.call(`${path}/progress`, { body: "{not json", headers: { "content-type": "application/json" } }), 400, "bad_request");
    await expectCode(await server.call(`${path}/progress`, { json: { lease: job.lease, progress: { percent: 150 } } }), 400, "bad_request");
    await expectCode(await server.call(`${path}/progress`, { json: { lease: job.lease, progres: {} } }), 400, "bad_request");
    await expectCode(await server.call(`${path}/logs`, { json: { lease: job.lease, message: "x".repeat(10_001) } }), 400, "bad_request");
    await expectCode(await server.call(`${path}/steps/${encodeURIComponent("~sleep:1")}`, { method: "PUT", json: { lease: job.lease, result: 1 } }), 400, "bad_request");
    await expectCode(await server.call(`${path}/title`, { method: "PUT", json: { lease: job.lease, title: "" } }), 400, "invalid_title");
    await expectCode(await server.call(`${path}/finish`, { json: { lease: job.lease } }), 400, "bad_request");
    await expectCode(await server.call(`${path}/finish`, { json: { lease: job.lease, outcome: "done" } }), 400, "bad_request");
    await expectCode(await server.call(`${path}/finish`, { json: { lease: job.lease, outcome: "failed" } }), 400, "bad_request");
    await expectCode(await server.call(`${path}/finish`, { json: { lease: job.lease, outcome: "retry", afterMs: -1 } }), 400, "bad_request");
    await expectCode(await server.call("/api/v1/worker/claim", { json: { workerId: "w1", names: ["tts.chapter"], limit: 0 } }), 400, "bad_request");
    await expectCode(await server.call("/api/v1/worker/claim", { json: { workerId: "w1", names: ["tts.chapter"], waitMs: 60_000 } }), 400, "bad_request");
    await expectCode(await server.call("/api/v1/worker/claim", { json: { workerId: "has space", names: ["tts.chapter"] } }), 400, "bad_request");
    await expectCode(await server.call("/api/v1/worker/claim", { json: { workerId: "w1", names: [] } }), 400, "bad_request");
    await expectCode(await server.call("/api/v1/worker/claim", { json: { workerId: "w1", names: ["nope.task"] } }), 404, "unknown_task_name");
    await expectCode(await server.call("/api/v1/worker/tasks/no_such_task/progress", { json: { lease: job.lease, progress: {} } }), 404, "not_found");
    await expectCode(await server.call("/api/v1/worker/nowhere", { json: {} }), 404, "not_found");

    const after = (await server.outlast.getRecord(id))!;
    assert.equal(after.lastSeq, before.lastSeq, "no refused call wrote an event");
    assert.equal(after.state, "running");
    assert.equal(after.title, null);

    // The lease still works, then the task is finished: every later call is told it lost it.
    assert.equal((await server.call(`${path}/finish`, { json: { lease: job.lease, outcome: "succeeded", result: 1 } })).status, 200);
    for (const res of [
      await server.call(`${path}/finish`, { json: { lease: job.lease, outcome: "failed", error: { message: "late" } } }),
      await server.call(`${path}/heartbeat`, { json: { workerId: "w1", lease: job.lease } }),
      await server.call(`${path}/logs`, { json: { lease: job.lease, message: "late" } }),
    ]) {
      const error = await expectCode(res, 409, "lease_lost");
      assert.deepEqual(error.details, { taskId: id, state: "succeeded" });
    }
    const final = (await server.outlast.getRecord(id))!;
    assert.equal(final.state, "succeeded");
    assert.equal(final.result, 1);
  });

  test(`${kind}: an oversize artifact answers 413 and saves nothing; an earlier file of that name stays`, async (t) => {
    const server = await workerServer(t, kind, { handler: { artifactLimitBytes: 1000 } });
    const id = await server.submit("tts.chapter", {});
    const job = (await server.claim({})).tasks[0]!;
    const url = `/api/v1/worker/tasks/${id}/artifacts/out.bin?lease=${encodeURIComponent(job.lease)}`;
    assert.equal((await server.call(url, { method: "PUT", body: new Uint8Array(1000).fill(7) })).status, 201);
    const error = await expectCode(await server.call(url, { method: "PUT", body: new Uint8Array(2000) }), 413, "payload_too_large");
    assert.deepEqual(error.details, { limit: 1000 });
    // Without a length up front (a stream), the server counts as it reads.
    const chunks = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let i = 0; i < 4; i++) controller.enqueue(new Uint8Array(400));
        controller.close();
      },
    });
    const streamed = await fetch(`${server.base}${url}`, { method: "PUT", body: chunks, headers: { authorization: `Bearer ${server.key}` }, duplex: "half" } as RequestInit);
    await expectCode(streamed, 413, "payload_too_large");
    const [info] = await server.outlast.artifacts!.list(id);
    assert.equal(info?.size, 1000);
    const file = await server.admin(`/api/v1/tasks/${id}/artifacts/out.bin`);
    assert.deepEqual(new Set(new Uint8Array(await file.arrayBuffer())), new Set([7]));
    await expectCode(await server.call(`/api/v1/worker/tasks/${id}/artifacts/..bad?lease=${encodeURIComponent(job.lease)}`, { method: "PUT", body: "x" }), 400, "bad_request");
  });

  test(`${kind}: keys are scoped: another queue, admin routes, and other credentials on worker routes are refused`, async (t) => {
    const server = await workerServer(t, kind, { define: (o) => o.remote("mail.send", { queue: "mail" }) });
    const mailKey = ((await (await server.admin("/api/v1/worker-keys", { json: { name: "mailers", queues: ["mail"] } })).json()) as { secret: string }).secret;
    const id = await server.submit("tts.chapter", {});
    const job = (await server.claim({})).tasks[0]!;

    // A key for "tts" may not claim "mail", nor write to a "tts" task with a "mail" key, lease or not.
    const claimed = await expectCode(await server.call("/api/v1/worker/claim", { json: { workerId: "w1", names: ["tts.chapter", "mail.send"] } }), 403, "forbidden");
    assert.deepEqual(claimed.details, { queue: "mail" });
    await expectCode(await server.call(`/api/v1/worker/tasks/${id}/progress`, { json: { lease: job.lease, progress: {} }, token: mailKey }), 403, "forbidden");
    await expectCode(await server.call(`/api/v1/worker/tasks/${id}/finish`, { json: { lease: job.lease, outcome: "succeeded" }, token: mailKey }), 403, "forbidden");
    await expectCode(await server.call("/api/v1/worker/heartbeat", { json: { workerId: "m", tasks: [{ taskId: id, lease: job.lease }] }, token: mailKey }), 403, "forbidden");

    // A worker key is refused on every other route.
    for (const [method, path] of [
      ["GET", "/api/v1/tasks"],
      ["GET", `/api/v1/tasks/${id}`],
      ["GET", "/api/v1/workers"],
      ["GET", "/api/v1/worker-keys"],
      ["GET", `/api/v1/tasks/${id}/events`],
      ["POST", `/api/v1/tasks/${id}/cancel`],
    ] as const) {
      await expectCode(await server.call(path, { method }), 403, "forbidden");
    }
    await expectCode(await server.call("/api/v1/tasks", { json: { name: "tts.chapter" } }), 403, "forbidden");
    await expectCode(await server.call(`/api/v1/tasks/${id}/events?token=${server.key}`, { token: null }), 403, "forbidden");

    // The admin key, an owner token, a task token: refused on worker routes; none, a forged or a revoked key: 401.
    const owner = (await mintOwnerToken(server.outlast, { owner: "alice", secret: SECRET })).token;
    const submitted = (await (await server.call("/api/v1/tasks", { json: { name: "tts.chapter" }, token: owner })).json()) as { token: string };
    for (const token of [ADMIN_KEY, owner, submitted.token]) {
      await expectCode(await server.call("/api/v1/worker/claim", { json: { workerId: "w1", names: ["tts.chapter"] }, token }), 403, "forbidden");
    }
    await expectCode(await server.call("/api/v1/worker/claim", { json: { workerId: "w1", names: ["tts.chapter"] }, token: null }), 401, "unauthorized");
    await expectCode(await server.call("/api/v1/worker/claim", { json: { workerId: "w1", names: ["tts.chapter"] }, token: "owk_forged" }), 401, "unauthorized");
    await expectCode(await server.call("/api/v1/worker/claim", { json: { workerId: "w1", names: ["tts.chapter"] }, token: "garbage-token" }), 401, "unauthorized");
    const keys = (await (await server.admin("/api/v1/worker-keys")).json()) as { keys: { id: string; name: string; revokedAt: string | null }[] };
    const mail = keys.keys.find((k) => k.name === "mailers")!;
    const revoked = (await (await server.admin(`/api/v1/worker-keys/${mail.id}`, { method: "DELETE" })).json()) as { key: { revokedAt: string | null } };
    assert.ok(revoked.key.revokedAt !== null);
    await expectCode(await server.call("/api/v1/worker/claim", { json: { workerId: "m", names: ["mail.send"] }, token: mailKey }), 401, "unauthorized");
    await expectCode(await server.admin("/api/v1/worker-keys/wk_none", { method: "DELETE" }), 404, "not_found");

    // The refusals changed nothing: the claimed task is still the first worker's.
    assert.equal((await server.call(`/api/v1/worker/tasks/${id}/finish`, { json: { lease: job.lease, outcome: "succeeded" } })).status, 200);
  });

  test(`${kind}: worker keys are minted by the admin only, the secret shown once and never listed`, async (t) => {
    const server = await workerServer(t, kind);
    const owner = (await mintOwnerToken(server.outlast, { owner: "alice", secret: SECRET })).token;
    await expectCode(await server.call("/api/v1/worker-keys", { json: { name: "x", queues: ["tts"] }, token: owner }), 403, "forbidden");
    await expectCode(await server.admin("/api/v1/worker-keys", { json: { name: "x", queues: [] } }), 400, "bad_request");
    await expectCode(await server.admin("/api/v1/worker-keys", { json: { name: "", queues: ["tts"] } }), 400, "bad_request");
    await expectCode(await server.admin("/api/v1/worker-keys", { json: { name: "x", queues: ["bad queue"] } }), 400, "bad_request");
    await expectCode(await server.admin("/api/v1/worker-keys", { json: { name: "x", queues: ["tts"], extra: 1 } }), 400, "bad_request");
    const made = await server.admin("/api/v1/worker-keys", { json: { name: "render farm", queues: ["render", "tts", "render"] } });
    const body = (await made.json()) as { key: { id: string; name: string; queues: string[]; createdAt: string; revokedAt: null }; secret: string };
    assert.equal(made.status, 201);
    assert.match(body.secret, /^owk_[A-Za-z0-9_-]{43}$/);
    assert.deepEqual(body.key.queues, ["render", "tts"]);
    const listed = await (await server.admin("/api/v1/worker-keys")).text();
    assert.ok(!listed.includes(body.secret.slice(4)), "the secret is not in the list");
    assert.ok(listed.includes(body.key.id));
    assert.equal((await server.claim({}, body.secret)).tasks.length, 0, "the new key works");
  });
}

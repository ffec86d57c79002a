import assert from "node:assert/strict";
import { test } from "node:test";
import type { ContractHarness } from "./store-contract.js";
import { allEvents, claimOne, mustGet, NAME, QUEUE, stateOf, submitNew, submitRequest, T0 } from "./support.js";

/** Submitting, idempotency keys, and reading tasks back. */
export function submitAndRead(harness: ContractHarness): void {
  test("init is repeatable and both connections see one database", async (t) => {
    const [a, b] = await harness.makePair(t);
    const first = await a.init();
    assert.deepEqual(await a.init(), first);
    assert.equal((await b.init()).databaseId, first.databaseId);
    assert.ok(first.schemaVersion >= 1);
  });

  test("a submitted task is queued, with a first event 'state queued' at seq 1", async (t) => {
    const store = await harness.make(t);
    const request = submitRequest({ owner: "olga", priority: 4, maxAttempts: 5, timeoutMs: 60_000 });
    const outcome = await store.submit(request, T0);
    assert.equal(outcome.kind, "created");
    const task = await mustGet(store, request.id);
    assert.deepEqual(task, outcome.task);
    assert.equal(task.id, request.id);
    assert.equal(task.name, NAME);
    assert.equal(task.queue, QUEUE);
    assert.equal(task.owner, "olga");
    assert.equal(task.state, "queued");
    assert.equal(task.priority, 4);
    assert.equal(task.attempt, 0);
    assert.equal(task.maxAttempts, 5);
    assert.equal(task.timeoutMs, 60_000);
    assert.equal(task.createdAt, T0);
    assert.equal(task.runAt, T0);
    assert.equal(task.startedAt, null);
    assert.equal(task.finishedAt, null);
    assert.equal(task.progress, null);
    assert.equal(task.error, null);
    assert.equal(task.cancelRequested, false);
    assert.equal(task.lastSeq, 1);

    const events = await allEvents(store, task.id);
    assert.equal(events.length, 1);
    const [event] = events;
    assert.equal(event!.seq, 1);
    assert.equal(event!.taskId, task.id);
    assert.equal(event!.owner, "olga");
    assert.equal(event!.queue, QUEUE);
    assert.equal(event!.at, T0);
    assert.equal(stateOf(event!), "queued");
  });

  test("input JSON round-trips exactly", async (t) => {
    const store = await harness.make(t);
    const input = {
      text: "Kapitel 1 — «Anfang» 🎧 \"quoted\" \\ back\nslash",
      // Text no database column can hold raw: kept, since inputs are stored as JSON.
      awkward: "nul \u0000 lone \ud800 and \udc00 escaped \\u0000",
      numbers: [0, -1, 1.5, 1e21, Number.MAX_SAFE_INTEGER],
      nested: { deep: { deeper: [true, false, null, { empty: {} }] } },
      empty: "",
    };
    const task = await submitNew(store, T0, { input });
    assert.deepEqual((await mustGet(store, task.id)).input, input);
    const scalar = await submitNew(store, T0, { input: "just a string" });
    assert.equal((await mustGet(store, scalar.id)).input, "just a string");
    const nothing = await submitNew(store, T0, { input: null });
    assert.equal((await mustGet(store, nothing.id)).input, null);
    // Several in one group commit, as bursts are written.
    const burst = await Promise.all([input, "x", null, { n: 1 }].map((value) => submitNew(store, T0, { input: value })));
    assert.deepEqual(
      await Promise.all(burst.map(async (task) => (await mustGet(store, task.id)).input)),
      [input, "x", null, { n: 1 }],
    );
  });

  test("getTask is null and readEvents empty for an unknown id", async (t) => {
    const store = await harness.make(t);
    assert.equal(await store.getTask("task_doesnotexist"), null);
    assert.deepEqual(await allEvents(store, "task_doesnotexist"), []);
    assert.deepEqual([...(await store.getSteps("task_doesnotexist"))], []);
  });

  test("the same owner, name and key finds the queued, running or succeeded task", async (t) => {
    const store = await harness.make(t);
    const key = "sha256:abc";
    const first = await submitNew(store, T0, { idempotencyKey: key });

    const again = await store.submit(submitRequest({ idempotencyKey: key, input: { other: true } }), T0 + 1);
    assert.equal(again.kind, "existing");
    assert.equal(again.task.id, first.id);
    assert.deepEqual(again.task.input, first.input, "the first input is kept");

    const claimed = await claimOne(store, T0 + 2);
    const whileRunning = await store.submit(submitRequest({ idempotencyKey: key }), T0 + 3);
    assert.equal(whileRunning.kind, "existing");
    assert.equal(whileRunning.task.state, "running");

    assert.equal(await store.finish(claimed.lease, { state: "succeeded", result: { ok: 1 } }, T0 + 4), true);
    const afterSuccess = await store.submit(submitRequest({ idempotencyKey: key }), T0 + 5);
    assert.equal(afterSuccess.kind, "existing");
    assert.equal(afterSuccess.task.id, first.id);
    assert.equal(afterSuccess.task.state, "succeeded");
    assert.deepEqual(afterSuccess.task.result, { ok: 1 });

    const page = await store.listTasks({ limit: 100 });
    assert.equal(page.tasks.length, 1, "no second task was stored");
    assert.equal((await mustGet(store, first.id)).lastSeq, 3, "finding the task wrote no event");
  });

  for (const ending of ["failed", "canceled"] as const) {
    test(`the same key resumes a ${ending} task: same id, steps kept, fresh attempt budget`, async (t) => {
      const store = await harness.make(t);
      const key = `key-${ending}`;
      const first = await submitNew(store, T0, { idempotencyKey: key, maxAttempts: 1 });
      const claimed = await claimOne(store, T0 + 1);
      assert.equal(await store.recordStep(claimed.lease, "chapter-1", { seconds: 61 }, T0 + 2), true);
      assert.equal(await store.recordCheckpoint(claimed.lease, { chapter: 1 }, T0 + 2), true);
      const outcome =
        ending === "failed"
          ? ({ state: "failed", error: { message: "speech engine crashed" } } as const)
          : ({ state: "canceled" } as const);
      assert.equal(await store.finish(claimed.lease, outcome, T0 + 3), true);
      const ended = await mustGet(store, first.id);
      assert.equal(ended.state, ending);

      const resumed = await store.submit(submitRequest({ idempotencyKey: key, maxAttempts: 4 }), T0 + 10);
      assert.equal(resumed.kind, "resumed");
      assert.equal(resumed.task.id, first.id);
      assert.equal(resumed.task.state, "queued");
      assert.equal(resumed.task.maxAttempts - resumed.task.attempt, 4, "a fresh budget of the new request's maxAttempts");
      assert.deepEqual(resumed.task.checkpoint, { chapter: 1 });
      assert.deepEqual(await mustGet(store, first.id), resumed.task);
      const events = await allEvents(store, first.id);
      assert.equal(stateOf(events[events.length - 1]!), "queued");
      assert.equal(events[events.length - 1]!.seq, ended.lastSeq + 1);

      const again = await claimOne(store, T0 + 11);
      assert.equal(again.task.id, first.id);
      assert.equal(again.task.attempt, ended.attempt + 1);
      assert.deepEqual(again.steps.get("chapter-1"), { seconds: 61 });
      assert.equal((await store.listTasks({ limit: 100 })).tasks.length, 1);
    });
  }

  test("the same key restarts a task that failed unrecoverably: same id, new input, steps, checkpoint and progress dropped", async (t) => {
    const store = await harness.make(t);
    const key = "key-unrecoverable";
    const first = await submitNew(store, T0, { idempotencyKey: key, input: { format: "epub" } });
    const claimed = await claimOne(store, T0 + 1);
    assert.equal(await store.recordStep(claimed.lease, "parse", { chapters: 0 }, T0 + 2), true);
    assert.equal(await store.recordCheckpoint(claimed.lease, { at: "parse" }, T0 + 2), true);
    assert.equal(await store.recordProgress(claimed.lease, { percent: 10 }, T0 + 2), true);
    const error = { message: "not an EPUB", code: "bad_book", unrecoverable: true } as const;
    assert.equal(await store.finish(claimed.lease, { state: "failed", error }, T0 + 3), true);
    assert.deepEqual((await mustGet(store, first.id)).error, error);

    const restarted = await store.submit(submitRequest({ idempotencyKey: key, input: { format: "txt" }, maxAttempts: 2 }), T0 + 10);
    assert.equal(restarted.kind, "restarted");
    assert.equal(restarted.task.id, first.id);
    assert.equal(restarted.task.state, "queued");
    assert.deepEqual(restarted.task.input, { format: "txt" });
    assert.equal(restarted.task.checkpoint, null);
    assert.equal(restarted.task.progress, null);
    assert.equal(restarted.task.error, null);
    assert.equal(restarted.task.maxAttempts - restarted.task.attempt, 2);
    assert.deepEqual(await mustGet(store, first.id), restarted.task);
    const last = (await allEvents(store, first.id)).at(-1)!;
    assert.deepEqual(last.data, { type: "state", state: "queued", reason: "restarted", maxAttempts: restarted.task.maxAttempts });

    const again = await claimOne(store, T0 + 11);
    assert.equal(again.task.id, first.id);
    assert.equal(again.steps.size, 0, "a restart runs every step again");
    assert.deepEqual(await store.getSteps(first.id), new Map());
  });

  test("a different owner or a different name with the same key makes a new task", async (t) => {
    const store = await harness.make(t);
    const key = "same-key";
    const first = await submitNew(store, T0, { idempotencyKey: key });
    const otherOwner = await store.submit(submitRequest({ idempotencyKey: key, owner: "bob" }), T0);
    const otherName = await store.submit(submitRequest({ idempotencyKey: key, name: "contract.other" }), T0);
    const noKey = await store.submit(submitRequest({ idempotencyKey: null }), T0);
    for (const outcome of [otherOwner, otherName, noKey]) {
      assert.equal(outcome.kind, "created");
      assert.notEqual(outcome.task.id, first.id);
    }
    assert.equal((await store.listTasks({ limit: 100 })).tasks.length, 4);
  });

  test("concurrent submits with one key from two connections store one task", async (t) => {
    const [a, b] = await harness.makePair(t);
    const key = "race";
    const outcomes = await Promise.all(
      Array.from({ length: 10 }, (_, i) => (i % 2 === 0 ? a : b).submit(submitRequest({ idempotencyKey: key }), T0)),
    );
    const ids = new Set(outcomes.map((o) => o.task.id));
    assert.equal(ids.size, 1);
    assert.equal(outcomes.filter((o) => o.kind === "created").length, 1);
    assert.equal((await a.listTasks({ limit: 100 })).tasks.length, 1);
  });
}

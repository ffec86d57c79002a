import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { guardLeaks } from "../support/leaks.js";
import { harness, listenServer, until, SECRET } from "./harness.js";
import { mintOwnerToken } from "../../src/server/index.js";
import { signOwnerToken } from "../../src/server/tokens.js";
import { OutlastClient, OutlastClientError, type StreamEvent, type Task, type KeyValueStorage } from "../../src/client/index.js";
import { taskStore, unfinishedTasksStore } from "../../src/client/react.js";
import type { TestContext } from "node:test";

guardLeaks();

async function setup(t: TestContext, options: Parameters<typeof harness>[1] = {}) {
  const h = await harness(t, { start: true, retryMs: 50, ...options });
  const { base, server } = await listenServer(t, h.handler);
  const token = (await mintOwnerToken(h.outlast, { owner: "alice", secret: SECRET })).token;
  const clients: OutlastClient[] = [];
  const client = (extra: Partial<ConstructorParameters<typeof OutlastClient>[0]> = {}) => {
    const c = new OutlastClient({ baseUrl: base, token, maxBackoffMs: 200, ...extra });
    clients.push(c);
    return c;
  };
  t.after(() => {
    for (const c of clients) c.close();
  });
  return { h, base, server, token, client };
}

function memoryStorage(): KeyValueStorage {
  const map = new Map<string, string>();
  return { getItem: (k) => map.get(k) ?? null, setItem: (k, v) => void map.set(k, v), removeItem: (k) => void map.delete(k) };
}

function finished(): { promise: Promise<Task>; resolve: (task: Task) => void } {
  let resolve!: (task: Task) => void;
  const promise = new Promise<Task>((r) => (resolve = r));
  return { promise, resolve };
}

describe("client SDK against a real server", () => {
  test("submit, get, list, cancel, retry, and errors with their codes", async (t) => {
    const { client } = await setup(t, { start: false });
    const c = client({ storage: memoryStorage() });
    const { task, token } = await c.submit("demo.count", { to: 3 });
    assert.equal(task.owner, "alice");
    assert.match(token, /^ey/);
    assert.deepEqual(c.rememberedTasks(), [task.id]);
    assert.equal((await c.get(task.id)).id, task.id);
    assert.deepEqual((await c.list({ state: "queued" })).tasks.map((x) => x.id), [task.id]);
    assert.equal((await c.cancel(task.id)).state, "canceled");
    assert.equal((await c.retry(task.id)).state, "queued");
    await assert.rejects(c.get("tsk_missing"), (e: unknown) => e instanceof OutlastClientError && e.status === 404 && e.code === "not_found");
    await assert.rejects(
      c.submit("demo.count", { to: -1 }),
      (e: unknown) => e instanceof OutlastClientError && e.code === "invalid_input" && Array.isArray(e.details),
    );
    const batch = await c.submitMany("demo.count", [{ to: 1 }, { to: 2 }]);
    assert.deepEqual(batch.map((x) => x.owner), ["alice", "alice"]);
    assert.deepEqual(c.rememberedTasks().sort(), [task.id, ...batch.map((x) => x.id)].sort());
    await assert.rejects(c.submitMany("demo.count", [{ to: 1 }, { to: -1 }]), (e: unknown) => e instanceof OutlastClientError && e.code === "invalid_input");
  });

  test("watch delivers the task as it changes and its final state; one connection serves every watch", async (t) => {
    const { h, client } = await setup(t);
    const c = client({ storage: memoryStorage() });
    const a = (await c.submit("demo.count", { to: 5, everyMs: 5 })).task;
    const b = (await c.submit("demo.count", { to: 8, everyMs: 5 })).task;
    const doneA = finished();
    const doneB = finished();
    const percents: number[] = [];
    const stopA = c.watch(a.id, { onTask: (task) => percents.push(task.progress.percent ?? 0), onFinish: doneA.resolve });
    const stopB = c.watch(b.id, { onFinish: doneB.resolve });
    const [fa, fb] = await Promise.all([doneA.promise, doneB.promise]);
    assert.equal(fa.state, "succeeded");
    assert.deepEqual(fa.result, { counted: 5, ranSteps: 5 });
    assert.deepEqual(fb.result, { counted: 8, ranSteps: 8 });
    assert.equal(percents.at(-1), 100);
    assert.ok(h.handler.openStreams <= 1, `${h.handler.openStreams} streams for one client`);
    assert.deepEqual(c.rememberedTasks(), [], "finished tasks are forgotten");
    stopA();
    stopB();
    await until(() => h.handler.openStreams === 0 && c.connectionState === "idle", "the connection to close when nothing is watched");
  });

  test("reconnects after the server drops the connection and catches up with no gap and no repeat", async (t) => {
    const { h, server, client } = await setup(t);
    const c = client({ storage: memoryStorage() });
    const { task } = await c.submit("demo.count", { to: 120, everyMs: 4 });
    const events: StreamEvent[] = [];
    const done = finished();
    const states: string[] = [];
    c.watch(task.id, { onEvent: (e) => events.push(e), onFinish: done.resolve, onConnectionChange: (s) => states.push(s) });
    let drops = 0;
    const cutter = setInterval(() => {
      if (events.length > 0 && drops < 8) {
        drops++;
        server.closeAllConnections();
      }
    }, 60);
    try {
      const final = await done.promise;
      assert.equal(final.state, "succeeded");
    } finally {
      clearInterval(cutter);
    }
    assert.ok(drops >= 3, `only ${drops} drops happened`);
    assert.ok(states.includes("backoff"));
    const first = events[0]!;
    assert.equal(first.type, "snapshot");
    const after = events.slice(1).map((e) => ({ seq: e.seq, type: e.type }));
    const seqs = after.map((e) => e.seq);
    assert.equal(new Set(seqs).size, seqs.length, "no repeat");
    assert.deepEqual(seqs, [...seqs].sort((x, y) => x - y), "in order");
    const log = (await h.outlast.store.readEvents(task.id, first.seq, 100_000)).filter((e) => e.data.type !== "progress").map((e) => e.seq);
    assert.deepEqual(after.filter((e) => e.type !== "progress" && e.type !== "reset").map((e) => e.seq), log, "no gap");
  });

  test("the watchdog reconnects when no byte arrives", async (t) => {
    const { h, client } = await setup(t, { pingMs: 60_000, start: false });
    const c = client({ storage: memoryStorage(), watchdogMs: 150 });
    const { task } = await c.submit("demo.count", { to: 1 });
    const states: string[] = [];
    const stop = c.watch(task.id, { onConnectionChange: (s) => states.push(s) });
    await until(() => states.filter((s) => s === "connecting").length >= 3, "three connection attempts");
    assert.ok(states.includes("backoff"));
    stop();
    await until(() => h.handler.openStreams === 0, "streams to close");
  });

  test("a 401 asks for a fresh token through the callback; a task of another owner ends with not_found", async (t) => {
    const { h, client, token } = await setup(t);
    const expired = (await signOwnerToken(new TextEncoder().encode(SECRET), "alice", 1, null, Date.now() - 60_000)).token;
    let asked = 0;
    const c = client({ token: expired, storage: memoryStorage(), onUnauthorized: () => (asked++, token) });
    const { task } = await c.submit("demo.count", { to: 2, everyMs: 1 });
    assert.equal(asked, 1);
    const done = finished();
    c.watch(task.id, { onFinish: done.resolve });
    assert.equal((await done.promise).state, "succeeded");

    const bobToken = (await mintOwnerToken(h.outlast, { owner: "bob", secret: SECRET })).token;
    const bob = client({ token: bobToken, storage: memoryStorage() });
    const error = await new Promise<OutlastClientError>((resolve) => bob.watch(task.id, { onError: resolve }));
    assert.equal(error.code, "not_found");
    await until(() => bob.connectionState === "idle", "bob's connection to go idle");

    const nobody = client({ token: "garbage", storage: memoryStorage() });
    const refused = await new Promise<OutlastClientError>((resolve) => nobody.watch(task.id, { onError: resolve }));
    assert.equal(refused.code, "unauthorized");
  });

  test("watchMine follows tasks submitted later; resume re-attaches a reloaded page to unfinished tasks", async (t) => {
    const { client } = await setup(t);
    const storage = memoryStorage();
    const first = client({ storage });
    const seen = new Set<string>();
    const finishedIds = new Set<string>();
    const stop = first.watchMine({ onTask: (task) => seen.add(task.id), onFinish: (task) => finishedIds.add(task.id) });
    await until(() => first.connectionState === "open", "the stream to open");
    const { task } = await first.submit("demo.count", { to: 2, everyMs: 1 });
    await until(() => finishedIds.has(task.id), "the later task to finish on the owner stream");
    stop();

    const slow = (await first.submit("demo.count", { to: 40, everyMs: 10 })).task;
    first.close();
    // A reload: a new client on the same storage.
    const reloaded = client({ storage });
    assert.deepEqual(reloaded.rememberedTasks(), [slow.id]);
    const done = finished();
    reloaded.resume({ onFinish: done.resolve });
    assert.equal((await done.promise).id, slow.id);
    assert.deepEqual(reloaded.rememberedTasks(), []);
  });

  test("taskStore (what useTask is built on) follows a task while subscribed", async (t) => {
    const { client } = await setup(t);
    const c = client({ storage: memoryStorage() });
    const { task } = await c.submit("demo.count", { to: 3, everyMs: 1 });
    const store = taskStore(c, task.id);
    assert.equal(store.getSnapshot().task, null);
    const unsubscribe = store.subscribe(() => {});
    await until(() => store.getSnapshot().state === "succeeded", "the view to reach succeeded");
    assert.equal(store.getSnapshot().progress?.percent, 100);
    unsubscribe();
    await until(() => c.connectionState === "idle", "the watch to stop");
  });

  test("anonymousSession: a client with no token asks for a session on its first 401, once for calls made together", async (t) => {
    const { base } = await setup(t, { anonymousSessions: true });
    const c = new OutlastClient({ baseUrl: base, anonymousSession: true, storage: memoryStorage() });
    t.after(() => c.close());
    const [a, b] = await Promise.all([c.submit("demo.count", { to: 2, everyMs: 1 }), c.submit("demo.count", { to: 2, everyMs: 1 })]);
    assert.equal(a.task.owner, b.task.owner, "both submits went on as one anonymous owner");
    assert.notEqual(a.task.owner, "alice");
    const { tasks } = await c.list();
    assert.deepEqual(tasks.map((task) => task.id).sort(), [a.task.id, b.task.id].sort());
    for (const { task } of [a, b]) await until(async () => (await c.get(task.id)).state === "succeeded", "the task to finish");
  });

  test("anonymousSession: a server that gives no sessions answers the 401, without asking again and again", async (t) => {
    const { base } = await setup(t, { anonymousSessions: false });
    const c = new OutlastClient({ baseUrl: base, anonymousSession: true, storage: memoryStorage() });
    t.after(() => c.close());
    await assert.rejects(c.submit("demo.count", { to: 1 }), (e: unknown) => e instanceof OutlastClientError && e.status === 401);
  });

  test("unfinishedTasksStore (what useUnfinishedTasks is built on) lists the caller's unfinished tasks, later ones too, and keeps them once finished", async (t) => {
    const { client } = await setup(t);
    const c = client({ storage: memoryStorage() });
    const done = await c.submit("demo.count", { to: 1, everyMs: 1 });
    await until(async () => (await c.get(done.task.id)).state === "succeeded", "the first task to finish");
    const slow = await c.submit("demo.count", { to: 30, everyMs: 20 });
    const store = unfinishedTasksStore(c);
    const unsubscribe = store.subscribe(() => {});
    await until(() => store.getSnapshot().tasks.some((task) => task.id === slow.task.id), "the running task to be listed");
    const later = await c.submit("demo.count", { to: 2, everyMs: 1 });
    await until(() => store.getSnapshot().tasks.some((task) => task.id === later.task.id && task.state === "succeeded"), "a task submitted later to be listed, and kept once done");
    assert.ok(!store.getSnapshot().tasks.some((task) => task.id === done.task.id), "a task finished before the page looked is not unfinished");
    assert.equal(store.getSnapshot().connection, "open");
    unsubscribe();
    await until(() => c.connectionState === "idle", "the watch to stop");
  });

  test("a live view and a reloaded one show the same task after a retry: its error kept, its runAt moved", async (t) => {
    const { client } = await setup(t, {
      define: (outlast) =>
        outlast.define("flaky", {
          backoff: { baseMs: 400, maxMs: 400 },
          run: (_input, ctx) => {
            if (ctx.attempt === 1) throw new Error("first attempt fails");
            return "ok";
          },
        }),
    });
    const c = client({ storage: memoryStorage() });
    const { task } = await c.submit("flaky");
    const views: Task[] = [];
    const done = finished();
    const stop = c.watch(task.id, { onTask: (view) => views.push(view), onFinish: done.resolve });
    t.after(stop);
    await until(() => views.some((view) => view.state === "queued" && view.attempt === 1), "the retry to be seen live");
    const live = views.find((view) => view.state === "queued" && view.attempt === 1)!;
    const reloaded = await c.get(task.id);
    const fields = (view: Task) => ({ state: view.state, attempt: view.attempt, error: view.error, runAt: view.runAt, startedAt: view.startedAt, finishedAt: view.finishedAt, result: view.result, maxAttempts: view.maxAttempts });
    if (reloaded.lastSeq === live.lastSeq) assert.deepEqual(fields(live), fields(reloaded));
    assert.equal(live.error?.message, "first attempt fails");
    assert.ok(Date.parse(live.runAt) > Date.parse(live.startedAt!), "the retry waits for its backoff");
    assert.equal((await done.promise).state, "succeeded");
    assert.equal(views.at(-1)?.error, null, "a later success clears the error");
  });
});

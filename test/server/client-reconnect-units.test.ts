import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { guardLeaks } from "../support/leaks.js";
import { FakeTime, settle } from "../support/fake-time.js";
import { OutlastClient, type ConnectionView, type Task, type TaskState } from "../../src/client/index.js";
import { browserWakeups } from "../../src/client/wakeups.js";
import { connectionStore } from "../../src/client/react.js";

guardLeaks();

function taskIn(state: TaskState, id = "tsk_1"): Task {
  return {
    id, name: "demo.count", queue: "default", owner: "ann", state, priority: 0, attempt: 1, maxAttempts: 3,
    progress: {}, position: null, etaMs: null, result: null, error: null,
    createdAt: "2024-01-01T00:00:00.000Z", runAt: "2024-01-01T00:00:00.000Z", startedAt: null, finishedAt: null, lastSeq: 1,
  } as Task;
}

/**
 * A fetch standing in for the server: while `up`, every stream request gets
 * a snapshot of `tasks` and stays open until `drop()`; while down, it throws
 * as fetch does when nothing listens.
 */
class FakeServer {
  up = false;
  requests = 0;
  tasks: Task[] = [];
  private readonly open = new Set<ReadableStreamDefaultController<Uint8Array>>();

  readonly fetch: typeof fetch = async (_url, init) => {
    this.requests++;
    if (!this.up) throw new TypeError("fetch failed");
    const text = this.tasks.map((task, i) => `id: c${i}\nevent: snapshot\ndata: ${JSON.stringify({ taskId: task.id, seq: task.lastSeq, task })}\n\n`).join("");
    const open = this.open;
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new TextEncoder().encode(`retry: 1000\n\n${text}`));
        open.add(controller);
        init?.signal?.addEventListener("abort", () => {
          open.delete(controller);
          controller.error(new DOMException("aborted", "AbortError"));
        });
      },
    });
    return new Response(body, { status: 200, headers: { "content-type": "text/event-stream" } });
  };

  /** The server goes away: open streams end, new requests fail. */
  drop(): void {
    this.up = false;
    for (const controller of this.open) controller.close();
    this.open.clear();
  }
}

/** Wakeups the test fires by hand; counts the listeners so a test sees none is left behind. */
class HandWakeups {
  private readonly listeners = new Set<() => void>();
  readonly wakeups = (wake: () => void) => {
    this.listeners.add(wake);
    return () => void this.listeners.delete(wake);
  };
  get listening(): number {
    return this.listeners.size;
  }
  fire(): void {
    for (const wake of [...this.listeners]) wake();
  }
}

function setup(t: TestContext) {
  const time = new FakeTime(0);
  const server = new FakeServer();
  const hand = new HandWakeups();
  const client = new OutlastClient({ baseUrl: "http://fake", token: "tok", storage: null, fetch: server.fetch, timers: time.timers, wakeups: hand.wakeups });
  t.after(() => client.close());
  return { time, server, hand, client };
}

test("a wakeup (online, the tab shown) ends the backoff at once; none is listened to once the stream is open", async (t) => {
  const { time, server, hand, client } = setup(t);
  const views: ConnectionView[] = [];
  client.onConnectionChange((view) => views.push(view));
  client.watch("tsk_1", {});
  await settle();
  assert.equal(client.connectionState, "backoff");
  assert.equal(server.requests, 1);
  assert.equal(hand.listening, 1);

  // Still down: the wakeup makes one attempt now, which fails back into backoff.
  hand.fire();
  await settle();
  assert.equal(server.requests, 2);
  assert.equal(client.connectionState, "backoff");

  server.up = true;
  server.tasks = [taskIn("running")];
  hand.fire();
  await settle();
  assert.equal(server.requests, 3, "no time passed: the wakeup, not a timer, reconnected");
  assert.equal(time.now, 0);
  assert.deepEqual(client.connectionView, { state: "open", lost: false });
  assert.equal(hand.listening, 0);
  hand.fire();
  await settle();
  assert.equal(server.requests, 3, "an open stream is not restarted by a wakeup");
  assert.deepEqual(
    views.map((v) => `${v.state}${v.lost ? " (lost)" : ""}`),
    ["connecting", "backoff (lost)", "connecting (lost)", "backoff (lost)", "connecting (lost)", "open"],
  );
});

test("after a 503 with Retry-After, a wakeup does not call the server before that time", async (t) => {
  const time = new FakeTime(0);
  const hand = new HandWakeups();
  let requests = 0;
  const busy: typeof fetch = async () => {
    requests++;
    return new Response(JSON.stringify({ error: { code: "unavailable", message: "busy" } }), {
      status: 503,
      headers: { "content-type": "application/json", "retry-after": "20" },
    });
  };
  const client = new OutlastClient({ baseUrl: "http://fake", token: "tok", storage: null, fetch: busy, timers: time.timers, wakeups: hand.wakeups });
  t.after(() => client.close());
  client.watch("tsk_1", {});
  await settle();
  assert.equal(requests, 1);
  assert.equal(client.connectionState, "backoff");
  assert.equal(hand.listening, 0, "no wakeup is listened to while the server's Retry-After runs");
  hand.fire();
  await settle();
  assert.equal(requests, 1);
  await time.advance(20_000);
  await settle();
  assert.equal(requests, 2, "the server is called again once its Retry-After has passed");
});

test("while a watched task is unfinished the backoff stays within 5 s however long the server is down", async (t) => {
  const { time, server, client } = setup(t);
  server.up = true;
  server.tasks = [taskIn("running")];
  client.watch("tsk_1", {});
  await settle();
  assert.equal(client.connectionState, "open");
  server.drop();
  await settle();
  for (let i = 0; i < 10; i++) {
    const before = server.requests;
    await time.advance(5_000);
    assert.ok(server.requests > before, `an attempt came within 5 s (window ${i + 1})`);
  }
  assert.equal(client.connectionView.lost, true);
});

test("with only finished tasks watched the backoff grows past 5 s, up to maxBackoffMs", async (t) => {
  const { time, server, client } = setup(t);
  server.up = true;
  server.tasks = [taskIn("succeeded", "tsk_old")];
  client.watchMine({});
  await settle();
  server.drop();
  await settle();
  let slow = 0;
  for (let i = 0; i < 10; i++) {
    const before = server.requests;
    await time.advance(5_000);
    if (server.requests === before) slow++;
  }
  assert.ok(slow > 0, "some wait was longer than 5 s");
  const before = server.requests;
  await time.advance(30_000);
  assert.ok(server.requests > before, "no wait is longer than 30 s");
});

test("connectionStore (useConnection) follows the shared connection whatever is watched", async (t) => {
  const { server, hand, client } = setup(t);
  const store = connectionStore(client);
  let changes = 0;
  const stop = store.subscribe(() => changes++);
  assert.deepEqual(store.getSnapshot(), { state: "idle", lost: false });
  client.watch("tsk_1", {});
  await settle();
  assert.deepEqual(store.getSnapshot(), { state: "backoff", lost: true });
  server.up = true;
  server.tasks = [taskIn("queued")];
  hand.fire();
  await settle();
  assert.deepEqual(store.getSnapshot(), { state: "open", lost: false });
  assert.ok(changes >= 3);
  stop();
});

test("browserWakeups: online and a tab becoming visible wake; a tab being hidden does not; unsubscribing removes both listeners", () => {
  const win = new EventTarget();
  const doc = Object.assign(new EventTarget(), { visibilityState: "hidden" });
  let wakes = 0;
  const stop = browserWakeups(win, doc)(() => wakes++);
  win.dispatchEvent(new Event("online"));
  assert.equal(wakes, 1);
  doc.dispatchEvent(new Event("visibilitychange"));
  assert.equal(wakes, 1, "hidden");
  doc.visibilityState = "visible";
  doc.dispatchEvent(new Event("visibilitychange"));
  assert.equal(wakes, 2);
  stop();
  win.dispatchEvent(new Event("online"));
  doc.dispatchEvent(new Event("visibilitychange"));
  assert.equal(wakes, 2);
});

// A queue's limits belong to the store: a process writes only what its code
// declares, a process that declares nothing changes nothing, and an
// operator's change reaches every process's workers within a second.
import assert from "node:assert/strict";
import { test } from "node:test";
import { QueueFullError } from "../../src/index.js";
import { makeEngine, until } from "../support/engine.js";
import { guardLeaks } from "../support/leaks.js";
import { tempDbPath } from "../support/temp.js";

guardLeaks();

test("two processes that declare a queue differently and one that declares nothing: each writes only what it declares", async (t) => {
  const path = tempDbPath(t);
  const warnings: string[] = [];
  const logger = { info() {}, error() {}, warn: (_obj: object, msg?: string) => void warnings.push(msg ?? "") };
  const define = (outlast: ReturnType<typeof makeEngine>) => outlast.define("job", { queue: "q", run: () => null });

  // `serve --max-queued 3`: only maxQueued is declared.
  const serve = makeEngine(t, { path, logger });
  serve.queue("q", { maxQueued: 3 });
  define(serve);
  await serve.start();
  // A worker whose tasks module does not declare the queue at all: the limit stays (it used to be turned off).
  const silent = makeEngine(t, { path, logger });
  define(silent);
  await silent.start();
  // A worker that declares concurrency 2.
  const worker = makeEngine(t, { path, logger });
  worker.queue("q", { concurrency: 2 });
  define(worker);
  await worker.start();

  let [settings] = await serve.queueSettings();
  assert.deepEqual(settings?.limits, { concurrency: 2, maxQueued: 3, ownerConcurrency: null, ownerMaxQueued: null, rateLimit: null, keyConcurrency: null, keyLimits: null });
  // Restarting `serve` keeps the worker's concurrency (it used to reset it to 10).
  await serve.close();
  const again = makeEngine(t, { path, logger });
  again.queue("q", { maxQueued: 3 });
  define(again);
  await again.start();
  [settings] = await again.queueSettings();
  assert.equal(settings?.limits.concurrency, 2);
  assert.deepEqual(warnings, [], "no process declared a field differently from another");

  // A process whose code says otherwise: its value applies, with a warning saying what it replaced.
  const other = makeEngine(t, { path, logger });
  other.queue("q", { concurrency: 4 });
  define(other);
  await other.start();
  assert.equal((await other.queueSettings())[0]?.limits.concurrency, 4);
  assert.match(warnings.join("\n"), /queue "q": this process declares concurrency 4 where 2 was declared before; 4 now applies/);
  await assert.rejects(
    (async () => {
      for (let i = 0; i < 4; i++) await again.submit("job", null, { delayMs: 60_000 });
    })(),
    QueueFullError,
    "maxQueued 3 still holds",
  );
});

test("an operator's change of concurrency reaches another process's workers within a second, and holds over its declaration", async (t) => {
  const path = tempDbPath(t);
  let running = 0;
  let most = 0;
  const release: (() => void)[] = [];
  const worker = makeEngine(t, { path });
  worker.queue("q", { concurrency: 3 });
  worker.define("hold", {
    queue: "q",
    run: () =>
      new Promise<void>((resolve) => {
        running++;
        most = Math.max(most, running);
        release.push(() => {
          running--;
          resolve();
        });
      }),
  });
  await worker.start();
  const operator = makeEngine(t, { path });
  operator.define("hold", { queue: "q", run: () => null });

  const changed = await operator.setQueueLimits("q", { concurrency: 1 });
  assert.deepEqual(changed.overrides, { concurrency: 1 });
  await new Promise((resolve) => setTimeout(resolve, 1_500)); // past the workers' one-second read
  for (let i = 0; i < 3; i++) await operator.submit("hold", null);
  await until(() => running === 1, "one task to run");
  await new Promise((resolve) => setTimeout(resolve, 300));
  assert.equal(running, 1, "the lowered limit holds on the worker's process");

  await operator.setQueueLimits("q", {}, { reset: true }); // back to the declared 3
  await until(() => running === 3, "the declared limit to apply again once reset");
  while (release.length > 0) release.shift()!();
  assert.equal(most, 3);
  await assert.rejects(operator.setQueueLimits("nowhere", { concurrency: 1 }), /No queue "nowhere"/);
  await assert.rejects(operator.setQueueLimits("q", { concurrency: 0 }), /concurrency must be a whole number of at least 1, or null/);
});

test("a limit an earlier version of the code declared is dropped by declaring it Infinity", async (t) => {
  const path = tempDbPath(t);
  const old = makeEngine(t, { path });
  old.queue("q", { maxQueued: 3, perOwner: { concurrency: 1 } });
  old.define("job", { queue: "q", run: () => null });
  await old.start();
  await old.close();
  const next = makeEngine(t, { path });
  next.queue("q", { maxQueued: Infinity, perOwner: { concurrency: Infinity } });
  next.define("job", { queue: "q", run: () => null });
  await next.start();
  const [settings] = await next.queueSettings();
  assert.deepEqual(settings?.limits, { concurrency: 10, maxQueued: null, ownerConcurrency: null, ownerMaxQueued: null, rateLimit: null, keyConcurrency: null, keyLimits: null });
  assert.throws(() => next.queue("r", { perProcess: Infinity }), /perProcess must be a whole number of at least 1$/);
});

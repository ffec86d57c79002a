import assert from "node:assert/strict";
import Database from "better-sqlite3";
import { Readable } from "node:stream";
import { test } from "node:test";
import { idempotencyKeyOf, OutlastError } from "../src/index.js";
import { sqliteStore } from "../src/store/sqlite/index.js";
import { collect, makeEngine, until } from "./support/engine.js";
import { guardLeaks } from "./support/leaks.js";
import { tempDbPath } from "./support/temp.js";

guardLeaks();

test("a database file written by a newer Outlast is refused with a clear error", (t) => {
  const path = tempDbPath(t);
  sqliteStore({ path }).close();
  const raw = new Database(path);
  raw.pragma("user_version = 999");
  raw.close();
  assert.throws(
    () => sqliteStore({ path }),
    (error: unknown) => error instanceof OutlastError && error.code === "store_version" && /newer Outlast/.test(error.message),
  );
});

test("the file is in WAL mode with full sync by default, normal on request", async (t) => {
  const path = tempDbPath(t);
  const full = sqliteStore({ path });
  const normalPath = tempDbPath(t);
  const normal = sqliteStore({ path: normalPath, durability: "normal" });
  t.after(() => full.close());
  t.after(() => normal.close());
  const read = (p: string) => {
    const db = new Database(p, { readonly: true });
    try {
      return db.pragma("journal_mode", { simple: true });
    } finally {
      db.close();
    }
  };
  assert.equal(read(path), "wal");
  assert.equal(read(normalPath), "wal");
  const sync = (store: unknown) => (store as { db: Database.Database }).db.pragma("synchronous", { simple: true });
  assert.equal(sync(full), 2, "FULL");
  assert.equal(sync(normal), 1, "NORMAL");
});

test("tasks survive closing and reopening the file, and resume from their steps", async (t) => {
  const path = tempDbPath(t);
  const ran: string[] = [];
  const first = makeEngine(t, { path });
  first.define("two-steps", {
    async run(_input, ctx) {
      await ctx.step("a", () => ran.push("a"));
      await new Promise((resolve) => ctx.signal.addEventListener("abort", resolve));
      throw ctx.signal.reason;
    },
  });
  await first.start();
  const task = await first.submit("two-steps");
  await until(async () => (await first.getRecord(task.id))?.lastSeq === 3, "step a recorded");
  await first.close({ graceMs: 0 });

  const second = makeEngine(t, { path });
  second.define("two-steps", {
    async run(_input, ctx) {
      await ctx.step("a", () => ran.push("a again"));
      await ctx.step("b", () => ran.push("b"));
      return "resumed";
    },
  });
  await second.start();
  await collect(second.watch(task.id));
  assert.equal((await second.get(task.id))?.result, "resumed");
  assert.deepEqual(ran, ["a", "b"]);
});

test("queued tasks report their position and an ETA from recent durations", async (t) => {
  const outlast = makeEngine(t);
  outlast.queue("q", { concurrency: 2 });
  outlast.define("sleep", { queue: "q", run: (input: { ms: number }) => new Promise((r) => setTimeout(r, input.ms)) });
  await outlast.start();
  const warm = await Promise.all([1, 2].map(() => outlast.submit("sleep", { ms: 40 })));
  for (const task of warm) await collect(outlast.watch(task.id));
  await outlast.pauseQueue("q");
  const waiting = [];
  for (let i = 0; i < 5; i++) waiting.push(await outlast.submit("sleep", { ms: 40 }));
  const fifth = await outlast.get(waiting[4]!.id);
  assert.equal(fifth?.position, 5);
  assert.ok(fifth?.etaMs !== null && fifth!.etaMs! >= 3 * 30, `eta ${fifth?.etaMs} ≈ 3 waves of ~40 ms`);
  await outlast.resumeQueue("q");
  for (const task of waiting) await collect(outlast.watch(task.id));
  assert.equal((await outlast.get(waiting[4]!.id))?.position, null);
});

test("idempotencyKeyOf hashes bytes, strings, Node streams and web streams alike", async () => {
  const bytes = new TextEncoder().encode("chapter one\nchapter two");
  const fromBytes = await idempotencyKeyOf(bytes);
  assert.match(fromBytes, /^sha256:[0-9a-f]{64}$/);
  assert.equal(await idempotencyKeyOf("chapter one\nchapter two"), fromBytes);
  assert.equal(await idempotencyKeyOf(Readable.from([bytes.slice(0, 5), bytes.slice(5)])), fromBytes);
  assert.equal(await idempotencyKeyOf(new Blob([bytes]).stream()), fromBytes);
  assert.notEqual(await idempotencyKeyOf("chapter one"), fromBytes);
});

test("retention removes finished tasks and their events after the configured time", async (t) => {
  let now = Date.now();
  const outlast = makeEngine(t, { clock: () => now, retention: { succeededMs: 1_000, checkEveryMs: 50 } });
  outlast.define("quick", { run: () => "ok" });
  await outlast.start();
  const task = await outlast.submit("quick");
  await collect(outlast.watch(task.id));
  const kept = await outlast.submit("quick", {}, { delayMs: 60_000 });
  now += 5_000;
  await until(async () => (await outlast.get(task.id)) === null, "the finished task to be purged");
  assert.deepEqual(await outlast.store.readEvents(task.id, 0, 100), []);
  assert.equal((await outlast.get(kept.id))?.state, "queued");
});

test("a database held by another process past the busy timeout answers unavailable, and works again after", async (t) => {
  const path = tempDbPath(t);
  const store = sqliteStore({ path, busyTimeoutMs: 50 });
  t.after(() => store.close());
  await store.init();
  const other = new Database(path);
  t.after(() => other.close());
  other.prepare("BEGIN IMMEDIATE").run();
  const request = {
    id: "tsk_busy",
    name: "x",
    queue: "default",
    owner: "o",
    title: null,
    input: null,
    priority: 0,
    runAt: Date.now(),
    maxAttempts: 1,
    timeoutMs: null,
    idempotencyKey: null,
  };
  await assert.rejects(store.submit(request, Date.now()), (error: unknown) => error instanceof OutlastError && error.code === "unavailable");
  other.prepare("ROLLBACK").run();
  const outcome = await store.submit(request, Date.now());
  assert.equal(outcome.kind, "created");
});

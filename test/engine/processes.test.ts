import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { Outlast } from "../../src/index.js";
import { sqliteStore } from "../../src/store/sqlite/index.js";
import { spawnFixture } from "../support/child.js";
import { collect, quietLogger, until } from "../support/engine.js";
import { guardLeaks } from "../support/leaks.js";
import { tempDir } from "../support/temp.js";

guardLeaks();

/** A submit-and-watch engine in the test process, running no workers. */
function client(t: import("node:test").TestContext, db: string): Outlast {
  const outlast = new Outlast({ store: sqliteStore({ path: db }), logger: quietLogger });
  outlast.define("chapters", { run: () => null });
  outlast.define("hold", { queue: "limited", run: () => null });
  t.after(() => outlast.close());
  return outlast;
}

/** A fresh database file with an executions log, and a client engine that has migrated it before any child starts. */
async function sharedFile(t: import("node:test").TestContext): Promise<{ db: string; execLog: string; outlast: Outlast }> {
  const dir = tempDir(t);
  const db = join(dir, "outlast.db");
  const execLog = join(dir, "exec.log");
  writeFileSync(execLog, "");
  const outlast = client(t, db);
  await outlast.get("warm-up");
  return { db, execLog, outlast };
}

test("kill -9 of a worker mid-task: another process resumes from its steps, no recorded step runs twice", async (t) => {
  const { db, execLog, outlast } = await sharedFile(t);

  const first = spawnFixture(t, "worker-process.ts", { DB: db, EXEC_LOG: execLog });
  await first.waitFor("ready");
  const task = await outlast.submit("chapters", { n: 8, ms: 60 });
  const watching = collect(outlast.watch(task.id));
  await first.waitFor("done chapter-3");
  first.process.kill("SIGKILL");
  await first.exited;
  const recordedBeforeKill = first.lines.filter((l) => l.startsWith("done ")).map((l) => l.slice(5));

  const second = spawnFixture(t, "worker-process.ts", { DB: db, EXEC_LOG: execLog });
  const events = await watching;
  const final = await outlast.get(task.id);
  assert.equal(final?.state, "succeeded");
  assert.equal((final?.result as { pid: number }).pid, second.process.pid);
  assert.equal(final?.attempt, 2);

  const execs = readFileSync(execLog, "utf8").trim().split("\n").map((l) => l.split(" "));
  const bySecond = execs.filter(([, , pid]) => Number(pid) === second.process.pid).map(([, step]) => step);
  for (const step of recordedBeforeKill) assert.ok(!bySecond.includes(step), `${step} was recorded before the kill and ran again`);
  const stepEvents = events.filter((e) => e.type === "step").map((e) => (e.type === "step" ? e.name : ""));
  assert.equal(new Set(stepEvents).size, stepEvents.length, "no step recorded twice");
  assert.equal(stepEvents.length, 8);
  // The watcher saw one contiguous log: every seq once, no gaps except superseded progress.
  const seqs = events.map((e) => ("seq" in e ? e.seq : 0));
  assert.deepEqual(seqs, [...seqs].sort((a, b) => a - b));
  assert.equal(new Set(seqs).size, seqs.length);
  second.process.kill("SIGTERM");
  assert.equal(await second.exited, 0);
});

test("queue concurrency holds across two worker processes (each allowed 2, together 3)", async (t) => {
  const { db, execLog, outlast } = await sharedFile(t);
  const a = spawnFixture(t, "worker-process.ts", { DB: db, EXEC_LOG: execLog, QUEUE_CONCURRENCY: "3", PER_PROCESS: "2" });
  const b = spawnFixture(t, "worker-process.ts", { DB: db, EXEC_LOG: execLog, QUEUE_CONCURRENCY: "3", PER_PROCESS: "2" });
  await Promise.all([a.waitFor("ready"), b.waitFor("ready")]);
  const tasks = await Promise.all(Array.from({ length: 12 }, () => outlast.submit("hold", { ms: 80 })));
  for (const task of tasks) await collect(outlast.watch(task.id));

  const marks = readFileSync(execLog, "utf8").trim().split("\n").map((l) => l.split(" "));
  const timeline = marks.map(([kind, at, pid]) => ({ delta: kind === "start" ? 1 : -1, at: Number(at), pid: Number(pid) }));
  // Ends before starts at the same millisecond, so touching intervals do not count as overlap.
  timeline.sort((x, y) => x.at - y.at || x.delta - y.delta);
  let running = 0;
  let peak = 0;
  for (const mark of timeline) peak = Math.max(peak, (running += mark.delta));
  // Each process may run 2, so only the shared limit keeps the total at 3.
  assert.ok(peak <= 3, `at most 3 at once across processes, saw ${peak}`);
  assert.equal(peak, 3, "the limit was actually reached");
  const pids = new Set(timeline.map((m) => m.pid));
  assert.equal(pids.size, 2, "both processes took work");
  for (const child of [a, b]) child.process.kill("SIGTERM");
  assert.deepEqual(await Promise.all([a.exited, b.exited]), [0, 0]);
});

test("a watcher in another process follows a task live, and resumes after a cursor with no gap and no repeat", async (t) => {
  const { db, execLog, outlast } = await sharedFile(t);
  const worker = spawnFixture(t, "worker-process.ts", { DB: db, EXEC_LOG: execLog });
  await worker.waitFor("ready");
  const task = await outlast.submit("chapters", { n: 10, ms: 30 });

  // Read a few events, drop the watch, come back after its cursor.
  const seen: { seq: number; type: string; cursor: string }[] = [];
  for await (const event of outlast.watch(task.id)) {
    seen.push({ seq: event.seq, type: event.type, cursor: event.cursor });
    if (seen.length === 4) break;
  }
  await worker.waitFor("done chapter-6");
  for await (const event of outlast.watch(task.id, { after: seen[seen.length - 1]!.cursor })) {
    seen.push({ seq: event.seq, type: event.type, cursor: event.cursor });
  }
  const seqs = seen.map((e) => e.seq);
  assert.deepEqual(seqs, [...new Set(seqs)].sort((a, b) => a - b), "ordered, no repeats");
  const log = await outlast.store.readEvents(task.id, 0, 1000);
  const nonProgress = log.filter((e) => e.data.type !== "progress").map((e) => e.seq);
  for (const seq of nonProgress) assert.ok(seqs.includes(seq), `missed event ${seq}`);
  assert.equal(seen[seen.length - 1]?.type, "state");
  assert.equal((await outlast.get(task.id))?.state, "succeeded");
  worker.process.kill("SIGTERM");
  await worker.exited;
});

test("a worker that lost its lease is aborted and nothing it writes afterwards counts", async (t) => {
  const db = join(tempDir(t), "outlast.db");
  let skew = 0;
  const late = new Outlast({ store: sqliteStore({ path: db }), leaseMs: 1_000, logger: quietLogger, pollIntervalMs: 50 });
  const early = new Outlast({ store: sqliteStore({ path: db }), leaseMs: 1_000, logger: quietLogger, pollIntervalMs: 50, clock: () => Date.now() + skew });
  t.after(() => late.close({ graceMs: 0 }));
  t.after(() => early.close({ graceMs: 0 }));
  let abortedWith: unknown = null;
  let afterLoss: unknown = null;
  late.define("job", {
    async run(_input, ctx) {
      await ctx.step("one", () => "late-1");
      await new Promise((resolve) => ctx.signal.addEventListener("abort", resolve));
      abortedWith = ctx.signal.reason;
      try {
        await ctx.step("two", () => "late-2");
      } catch (error) {
        afterLoss = error;
      }
      return "late result";
    },
  });
  early.define("job", { run: async (_input, ctx) => [await ctx.step("one", () => "early-1"), await ctx.step("two", () => "early-2")] });
  await late.start();
  const task = await late.submit("job");
  await until(async () => (await late.getRecord(task.id))?.lastSeq === 3, "first step recorded");
  // The other worker's clock runs past the lease: it sees the lease expired and takes the task.
  skew = 5_000;
  await early.start();
  await collect(late.watch(task.id));
  await until(() => afterLoss !== null, "the old holder to try writing");
  assert.equal((abortedWith as { code?: string } | null)?.code, "lease_lost");
  assert.equal((afterLoss as { code?: string }).code, "lease_lost");
  const final = await late.get(task.id);
  assert.equal(final?.state, "succeeded");
  assert.deepEqual(final?.result, ["late-1", "early-2"]);
  const steps = await late.store.getSteps(task.id);
  assert.equal(steps.get("two"), "early-2");
});

test("stop() releases running tasks so another worker resumes them at once, without spending an attempt", async (t) => {
  const db = join(tempDir(t), "outlast.db");
  const a = new Outlast({ store: sqliteStore({ path: db }), leaseMs: 60_000, logger: quietLogger, pollIntervalMs: 50 });
  const b = new Outlast({ store: sqliteStore({ path: db }), leaseMs: 60_000, logger: quietLogger, pollIntervalMs: 50 });
  t.after(() => a.close({ graceMs: 0 }));
  t.after(() => b.close({ graceMs: 0 }));
  a.define("long", {
    run: (_input, ctx) => new Promise((_resolve, reject) => ctx.signal.addEventListener("abort", () => reject(ctx.signal.reason))),
  });
  b.define("long", { run: (_input, ctx) => `b on attempt ${ctx.attempt}` });
  await a.start();
  const task = await a.submit("long");
  await until(async () => (await a.get(task.id))?.state === "running", "a to run it");
  await a.stop({ graceMs: 20 });
  await b.start();
  await collect(b.watch(task.id));
  const final = await b.get(task.id);
  assert.equal(final?.result, "b on attempt 1");
});

test("a cron schedule fires once per tick across two engines", async (t) => {
  const db = join(tempDir(t), "outlast.db");
  const engines = [0, 1].map(() => new Outlast({ store: sqliteStore({ path: db }), logger: quietLogger, pollIntervalMs: 50 }));
  for (const engine of engines) {
    t.after(() => engine.close({ graceMs: 0 }));
    engine.define("tick", { run: () => null });
    engine.schedule("every-second", "* * * * * *", "tick", {});
  }
  await Promise.all(engines.map((e) => e.start()));
  await new Promise((resolve) => setTimeout(resolve, 3_200));
  await Promise.all(engines.map((e) => e.stop({ graceMs: 100 })));
  const { tasks } = await engines[0]!.list({ limit: 100 });
  assert.ok(tasks.length >= 2 && tasks.length <= 4, `3.2 s of ticks, got ${tasks.length} tasks`);
  const seconds = tasks.map((task) => Math.round(Date.parse(task.createdAt) / 1000));
  assert.equal(new Set(seconds).size, seconds.length, "no tick fired twice");
});

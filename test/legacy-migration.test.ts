// Databases made by earlier versions (test/fixtures/legacy/<commit>/, see
// the README there) opened by this code: the migration keeps every task,
// every event in order, every step, the lists and the queues' settings,
// and the tasks left unfinished then run to their end now — a lost worker's
// lease recovered, waits woken, a kept signal taken, a cancel carried out.
import assert from "node:assert/strict";
import { copyFileSync, existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { test, type TestContext } from "node:test";
import pg from "pg";
import { isFinal } from "../src/core/states.js";
import { Outlast, type TaskContext } from "../src/index.js";
import { postgresStore } from "../src/store/postgres/index.js";
import { LATEST_VERSION as PG_LATEST } from "../src/store/postgres/migrations.js";
import { sqliteStore } from "../src/store/sqlite/index.js";
import { LATEST_VERSION as SQLITE_LATEST } from "../src/store/sqlite/migrations.js";
import type { Store } from "../src/store/store.js";
import { loadDump } from "./fixtures/legacy/load.js";
import { takeSnapshot, type Snapshot } from "./fixtures/legacy/snapshot.js";
import { quietLogger, until } from "./support/engine.js";
import { guardLeaks } from "./support/leaks.js";
import { PG_URL, testSchema } from "./support/pg.js";
import { tempDir } from "./support/temp.js";

guardLeaks();

interface Expected extends Snapshot {
  fixture: { store: string; madeAtCommit: string; schemaVersion: number; databaseId: string; endedAt: number; labels: Record<string, string> };
}

const LEGACY = new URL("./fixtures/legacy/", import.meta.url).pathname;
const DAY_MS = 86_400_000;
/** The lease the fixture's workers held (scenario.ts); a clock past it finds them lost. */
const LEASE_MS = 30_000;

const fixtures = readdirSync(LEGACY, { withFileTypes: true })
  .filter((entry) => entry.isDirectory() && existsSync(join(LEGACY, entry.name, "sqlite.expected.json")))
  .map((entry) => entry.name);

test("there is a legacy fixture to migrate", () => {
  assert.ok(fixtures.length > 0, `no fixture under ${LEGACY}`);
});

for (const name of fixtures) {
  const dir = join(LEGACY, name);
  const read = (file: string) => JSON.parse(readFileSync(join(dir, file), "utf8")) as Expected;

  test(`a SQLite file made by ${name} migrates with every task and its history, and its work runs on`, async (t) => {
    const expected = read("sqlite.expected.json");
    const path = join(tempDir(t, "outlast-legacy"), "outlast.db");
    copyFileSync(join(dir, "sqlite.db"), path);
    await checkMigrated(t, expected, SQLITE_LATEST, () => sqliteStore({ path }));
  });

  test(`a PostgreSQL schema made by ${name} migrates with every task and its history, and its work runs on`, async (t) => {
    const expected = read("postgres.expected.json");
    // Fails with how to start PostgreSQL when it is unreachable; dropped when the test ends.
    const schema = await testSchema(t);
    const client = new pg.Client({ connectionString: PG_URL });
    await client.connect();
    try {
      await loadDump(client, readFileSync(join(dir, "postgres.sql"), "utf8"), schema);
    } finally {
      await client.end();
    }
    await checkMigrated(t, expected, PG_LATEST, () => postgresStore({ connectionString: PG_URL, schema, maxConnections: 4, pollIntervalMs: 100 }));
  });
}

async function checkMigrated(t: TestContext, expected: Expected, latest: number, open: () => Store): Promise<void> {
  const { fixture } = expected;
  assert.ok(fixture.schemaVersion <= latest, "a fixture is made by an earlier version");

  // Read at the moment the fixture was left, by an engine with no workers (as make.ts read it).
  const reader = new Outlast({ store: open(), clock: () => fixture.endedAt, logger: quietLogger, retention: false });
  try {
    const info = await reader.store.init();
    assert.equal(info.schemaVersion, latest, "migrated to this version");
    assert.equal(info.databaseId, fixture.databaseId, "the database keeps its id (cursors stay valid)");
    const now = await takeSnapshot(reader);
    assert.deepEqual(Object.keys(now.tasks).sort(), Object.keys(expected.tasks).sort(), "the same tasks, none lost or added");
    for (const [id, task] of Object.entries(expected.tasks)) contains(now.tasks[id], task, `tasks.${id}`);
    for (const key of ["lists", "counts", "deadLetters", "children", "queues", "queueSettings"] as const) contains(now[key], expected[key], key);
  } finally {
    await reader.close();
  }

  await runsOn(t, expected, open);
}

/** The unfinished work of the fixture runs to its end on the migrated database, beside new work. */
async function runsOn(t: TestContext, expected: Expected, open: () => Store): Promise<void> {
  const { labels, endedAt } = expected.fixture;
  const id = (label: string) => {
    const found = labels[label];
    assert.ok(found, `the fixture labels a task "${label}"`);
    return found;
  };
  let now = endedAt;
  const worker = new Outlast({ store: open(), clock: () => now, logger: quietLogger, retention: false, leaseMs: LEASE_MS, pollIntervalMs: 50, progressIntervalMs: 10, abortGraceMs: 200 });
  t.after(() => worker.close({ graceMs: 0 }));
  defineFinishers(worker);

  // What the fixture's keys hold: an idempotency key finds its task, a debounce key replaces the queued one's input.
  const order = await worker.submitWithOutcome("legacy.work", { order: 17 }, { owner: "carol", idempotencyKey: "order-17" });
  assert.deepEqual([order.outcome, order.task.id], ["existing", id("succeeded.idempotent")]);
  const held = await worker.submitWithOutcome("legacy.held", { k: 1 }, { owner: "bob", idempotencyKey: "held-key" });
  assert.deepEqual([held.outcome, held.task.id], ["existing", id("queued.idempotent")]);
  const debounced = await worker.submitWithOutcome("legacy.held", { version: 3 }, { owner: "alice", dedupe: { key: "search-box", mode: "debounce", delayMs: 60_000 } });
  assert.deepEqual([debounced.outcome, debounced.task.id], ["replaced", id("queued.debounced")]);

  // The crashed worker's leases are still live: nobody takes those tasks yet.
  for (const label of ["running.stale-lease", "running.kept-signal", "running.cancel-requested"]) {
    const task = await worker.get(id(label));
    assert.deepEqual([task?.state, task?.workerLost], ["running", false], label);
  }

  const fresh = [await worker.submit("legacy.work", { fresh: 1 }, { owner: "dave" }), await worker.submit("legacy.work", { fresh: 2 }, { owner: "alice" })];
  await worker.resumeQueue("legacy-paused");
  await worker.signal(id("waiting.signal"), "approve", { ok: true });
  await worker.signal(id("waiting.signal-timeout"), "approve", { ok: "late" });
  // Past the leases, the sleeps, the delays, the backoff and the rate window; then still, so no lease taken from now runs out.
  now = endedAt + LEASE_MS + 3 * DAY_MS;
  await worker.start();

  // One read of every task (one statement, so one moment): reads by state could miss a task moving between them.
  const unfinished = async () => {
    const page = await worker.listRecords({ limit: 1_000 });
    assert.equal(page.nextCursor, null, "every task on one page");
    return page.tasks.filter((task) => !isFinal(task.state)).map((task) => `${task.id} ${task.name} ${task.state}`);
  };
  try {
    await until(async () => (await unfinished()).length === 0, "every task to end", 60_000);
  } catch (error) {
    throw new Error(`${(error as Error).message}; still unfinished: ${(await unfinished()).join(", ")}`);
  }

  for (const task of fresh) assert.equal((await worker.get(task.id))?.state, "succeeded", "a new submit ran");
  const stale = (await worker.get(id("running.stale-lease")))!;
  assert.deepEqual([stale.state, stale.attempt, stale.result], ["succeeded", 2, { fetched: { n: 3 }, checkpoint: { page: 3 }, signal: null }]);
  const staleEvents = await worker.readEvents(stale.id, 0, 1_000);
  const before = expected.tasks[stale.id]!.events.length;
  assert.deepEqual(
    staleEvents.slice(before).filter((event) => event.type === "state").map((event) => (event.type === "state" ? `${event.state}${event.reason ? `:${event.reason}` : ""}` : "")),
    ["queued:lease_expired", "running", "succeeded"],
    "its lost lease was recovered as any other, after the history it had",
  );
  const signaled = (await worker.get(id("running.kept-signal")))!;
  assert.deepEqual([signaled.state, signaled.result], ["succeeded", { fetched: { n: 4 }, checkpoint: { page: 4 }, signal: { approvedBy: "bob" } }], "the signal kept for it was taken");
  assert.equal((await worker.get(id("running.cancel-requested")))?.state, "canceled", "the cancel asked before is carried out when its lease runs out");
  const requeued = await worker.get(id("queued.lease-expired"));
  assert.equal(requeued?.state, "succeeded", JSON.stringify(requeued?.error));
  assert.deepEqual((await worker.get(id("waiting.sleep")))?.result, "woke");
  assert.deepEqual((await worker.get(id("waiting.signal")))?.result, { answer: { ok: true } });
  assert.deepEqual((await worker.get(id("waiting.children")))?.result, { parts: 3 });
  assert.equal((await worker.get(id("waiting.group")))?.state, "succeeded");
  assert.deepEqual((await worker.get(id("queued.debounced")))?.result, { held: { version: 3 } });

  // What had ended stays as it was; what had not, ended well (but the cancel).
  for (const [taskId, { task }] of Object.entries(expected.tasks)) {
    const then = task as { state: Parameters<typeof isFinal>[0]; name: string };
    const state = (await worker.get(taskId))?.state;
    if (isFinal(then.state)) assert.equal(state, then.state, `${taskId} (${then.name}) had ended ${then.state}`);
    else if (taskId !== id("running.cancel-requested")) assert.equal(state, "succeeded", `${taskId} (${then.name}) was ${then.state}`);
  }
}

/**
 * Today's handlers for the fixture's task names. A handler that waited must
 * wait the same way (the same sleeps, signals and children, in the same
 * order) as in scenario.ts, since its run picks up from the steps it recorded.
 */
function defineFinishers(outlast: Outlast): void {
  const hang = async (input: unknown, ctx: TaskContext) => {
    // The step ran on the lost attempt: its recorded value comes back, this function is not run.
    const fetched = await ctx.step("fetch", () => ({ n: -1 }));
    const signal = (input as { awaitSignal?: boolean }).awaitSignal ? await ctx.waitForSignal("go") : null;
    return { fetched, checkpoint: ctx.lastCheckpoint ?? null, signal };
  };
  outlast.define("legacy.hang", { maxAttempts: 2, run: hang });
  outlast.define("legacy.hang-once", { maxAttempts: 2, run: hang });
  outlast.define("legacy.hang-last", { maxAttempts: 1, run: hang });
  outlast.define("legacy.work", { run: async (input, ctx) => ({ done: await ctx.step("fetch", () => ({ fetched: input })) }) });
  outlast.define("legacy.held", { queue: "legacy-idle", run: (input) => ({ held: input }) });
  outlast.define("legacy.paused", { queue: "legacy-paused", run: () => "paused" });
  outlast.define("legacy.rated", { queue: "legacy-rated", run: (input) => ({ rated: input }) });
  outlast.define("legacy.keyed", { queue: "legacy-keyed", run: (input) => ({ keyed: input }) });
  outlast.define("legacy.join", { run: (input) => ({ joined: input }) });
  outlast.define("legacy.patient", { run: async (_input, ctx) => ({ began: await ctx.step("began", () => false) }) });
  outlast.define("legacy.backoff", { maxAttempts: 3, run: (_input, ctx) => `ran on attempt ${ctx.attempt}` });
  outlast.define("legacy.flaky", { run: () => "flaky" });
  outlast.define("legacy.doomed", { run: () => "doomed" });
  outlast.define("legacy.unrecoverable", { run: () => "unrecoverable" });
  outlast.define("legacy.second-chance", { run: () => "second chance" });
  outlast.define("legacy.abortable", { run: () => "abortable" });
  outlast.define("legacy.sleeper", {
    async run(_input, ctx) {
      await ctx.step("before-sleep", () => "slept on it");
      await ctx.sleep(DAY_MS);
      return "woke";
    },
  });
  outlast.define("legacy.approval", {
    async run(input, ctx) {
      const timeoutMs = (input as { timeoutMs?: number } | null)?.timeoutMs;
      return { answer: await ctx.waitForSignal("approve", timeoutMs === undefined ? {} : { timeoutMs }) };
    },
  });
  outlast.define("legacy.parent", {
    async run(input, ctx) {
      const { child, count } = input as { child: string; count: number };
      const outcomes = await ctx.runChildren(Array.from({ length: count }, (_, i) => ({ key: `part-${i}`, name: child, input: { part: i }, maxAttempts: 1 })));
      return { parts: outcomes.length };
    },
  });
}

/**
 * `actual` holds everything `expected` holds: the same values at the same
 * paths, arrays of the same length in the same order. Keys only `actual`
 * has are fields added since: allowed.
 */
function contains(actual: unknown, expected: unknown, path: string): void {
  if (Array.isArray(expected)) {
    assert.ok(Array.isArray(actual), `${path}: an array was expected, got ${JSON.stringify(actual)}`);
    assert.equal(actual.length, expected.length, `${path}: ${actual.length} entries where there were ${expected.length}`);
    expected.forEach((item, i) => contains(actual[i], item, `${path}[${i}]`));
  } else if (expected !== null && typeof expected === "object") {
    assert.ok(actual !== null && typeof actual === "object" && !Array.isArray(actual), `${path}: an object was expected, got ${JSON.stringify(actual)}`);
    for (const [key, value] of Object.entries(expected)) {
      assert.ok(key in actual, `${path}.${key}: missing`);
      contains((actual as Record<string, unknown>)[key], value, `${path}.${key}`);
    }
  } else {
    assert.equal(actual, expected, `${path}: changed`);
  }
}

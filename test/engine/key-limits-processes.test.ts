// Concurrency per key across two worker processes, on SQLite and on
// PostgreSQL: each tenant runs at most its tier's limit at once, an
// operator's change of a tier reaches every process, and one tenant's
// backlog of 10,000 does not starve another tenant's single task.
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test, type TestContext } from "node:test";
import { Outlast, type Store } from "../../src/index.js";
import { postgresStore } from "../../src/store/postgres/index.js";
import { sqliteStore } from "../../src/store/sqlite/index.js";
import { defineTenants, type TenantInput } from "../fixtures/tenant-tasks.js";
import { spawnFixture } from "../support/child.js";
import { collect, quietLogger, until } from "../support/engine.js";
import { guardLeaks } from "../support/leaks.js";
import { PG_URL, testSchema } from "../support/pg.js";
import { tempDir } from "../support/temp.js";

guardLeaks();

const STORES: Record<string, (t: TestContext) => Promise<{ env: Record<string, string>; store: Store }>> = {
  sqlite: async (t) => {
    const db = join(tempDir(t), "outlast.db");
    return { env: { DB: db }, store: sqliteStore({ path: db }) };
  },
  postgres: async (t) => {
    const schema = await testSchema(t);
    return { env: { PG_URL, PG_SCHEMA: schema }, store: postgresStore({ connectionString: PG_URL, schema, maxConnections: 4 }) };
  },
};

async function setup(t: TestContext, kind: string, extraEnv: Record<string, string> = {}) {
  const { env, store } = await STORES[kind]!(t);
  const execLog = join(tempDir(t), "exec.log");
  writeFileSync(execLog, "");
  const outlast = new Outlast({ store, logger: quietLogger });
  defineTenants(outlast);
  t.after(() => outlast.close());
  await outlast.get("warm-up"); // migrated before any worker starts
  const workerEnv = { ...env, ...extraEnv, EXEC_LOG: execLog };
  const workers = [spawnFixture(t, "tenant-worker.ts", workerEnv), spawnFixture(t, "tenant-worker.ts", workerEnv)];
  await Promise.all(workers.map((w) => w.waitFor("ready")));
  const stop = async () => {
    for (const worker of workers) worker.process.kill("SIGTERM");
    for (const worker of workers) assert.equal(await worker.exited, 0);
  };
  return { outlast, execLog, workers, stop };
}

interface Run {
  id: string;
  tenant: string;
  start: number;
  end: number;
  pid: number;
}

function runs(execLog: string): Run[] {
  const byId = new Map<string, Partial<Run>>();
  for (const line of readFileSync(execLog, "utf8").trim().split("\n").filter(Boolean)) {
    const [what, at, id, tenant, pid] = line.split(" ");
    const run = byId.get(id!) ?? { id: id!, tenant: tenant!, pid: Number(pid) };
    if (what === "start") run.start = Number(at);
    else run.end = Number(at);
    byId.set(id!, run);
  }
  return [...byId.values()].filter((run): run is Run => run.start !== undefined && run.end !== undefined);
}

/** The most of a tenant's runs that overlapped at any moment. */
function mostAtOnce(all: readonly Run[], tenant: string): number {
  const mine = all.filter((run) => run.tenant === tenant);
  return Math.max(0, ...mine.map((run) => mine.filter((other) => other.start <= run.start && other.end > run.start).length));
}

for (const kind of Object.keys(STORES)) {
  test(`${kind}: each tenant runs at most its tier's limit at once across two processes, and an operator's change of the tier reaches both`, async (t) => {
    // Two places per process: four at once takes both.
    const { outlast, execLog, workers, stop } = await setup(t, kind, { PER_PROCESS: "2" });
    const submit = (input: TenantInput) => outlast.submit("tenants.work", input);
    const first = await Promise.all([
      ...Array.from({ length: 6 }, () => submit({ tenant: "acme", plan: "premium", ms: 300 })),
      ...Array.from({ length: 3 }, () => submit({ tenant: "solo", plan: "free", ms: 300 })),
    ]);
    for (const task of first) await collect(outlast.watch(task.id));
    const before = runs(execLog);
    assert.equal(before.length, 9, "every task ran once");
    assert.equal(mostAtOnce(before, "acme"), 2, "premium: two at once, never more");
    assert.equal(mostAtOnce(before, "solo"), 1, "free: one at once");

    await outlast.setQueueLimits("tenants", { concurrency: { tiers: { premium: 4 } } });
    writeFileSync(execLog, "");
    const second = await Promise.all(Array.from({ length: 12 }, () => submit({ tenant: "acme", plan: "premium", ms: 600 })));
    for (const task of second) await collect(outlast.watch(task.id));
    const after = runs(execLog);
    assert.equal(after.length, 12);
    const most = mostAtOnce(after, "acme");
    assert.ok(most > 2 && most <= 4, `the raised tier holds, on both processes at once (two places each): ${most} at once`);
    assert.ok(after.every((run) => workers.some((w) => w.process.pid === run.pid)));
    await stop();
  });

  test(`${kind}: a tenant's backlog of 10,000 delays another tenant's single task by at most one claim round`, async (t) => {
    const { outlast, execLog, stop } = await setup(t, kind, { TOTAL: "4" });
    await outlast.setQueueLimits("tenants", { keyLimits: { big: 4 } });
    await outlast.submitMany("tenants.work", Array.from({ length: 10_000 }, (): TenantInput => ({ tenant: "big", plan: "free", ms: 40 })));
    await until(() => runs(execLog).length >= 8, "the backlog runs", 30_000);
    const single = await outlast.submit("tenants.work", { tenant: "small", plan: "free", ms: 1 } satisfies TenantInput);
    await collect(outlast.watch(single.id));
    const done = await outlast.get(single.id);
    assert.equal(done?.state, "succeeded");
    const submittedAt = new Date(done.createdAt).getTime();
    const startedAt = new Date(done.startedAt!).getTime();
    // Tasks of the backlog that started between the single task's submit and its start: the four places
    // freeing one by one, the backlog's turn ahead of it in the round, and claims already under way.
    const bigStartedBetween = (await outlast.list({ queue: "tenants", state: "succeeded", limit: 200 })).tasks.filter((task) => {
      const at = new Date(task.startedAt!).getTime();
      return task.id !== single.id && at > submittedAt && at < startedAt;
    });
    assert.ok(bigStartedBetween.length <= 4 + 2, `${bigStartedBetween.length} of the backlog started first`);
    const queued = (await outlast.listQueues()).find((q) => q.name === "tenants")!;
    assert.ok(queued.counts.queued > 9_000, "the backlog was still there");
    await stop();
  });
}

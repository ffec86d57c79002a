import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test, type TestContext } from "node:test";
import { InvalidInputError, Outlast, type Store, type Task } from "../../src/index.js";
import { postgresStore } from "../../src/store/postgres/index.js";
import { sqliteStore } from "../../src/store/sqlite/index.js";
import { defineFamily } from "../fixtures/family-tasks.js";
import { spawnFixture } from "../support/child.js";
import { collect, quietLogger, until } from "../support/engine.js";
import { guardLeaks } from "../support/leaks.js";
import { PG_URL, testSchema } from "../support/pg.js";
import { tempDir } from "../support/temp.js";

guardLeaks();

interface Setup {
  /** Where worker processes connect. */
  env: Record<string, string>;
  execLog: string;
  /** An engine in the test process that submits, watches and signals (no workers). */
  outlast: Outlast;
}

const STORES: Record<string, (t: TestContext) => Promise<{ env: Record<string, string>; store: Store }>> = {
  sqlite: async (t) => {
    const db = join(tempDir(t), "outlast.db");
    return { env: { DB: db }, store: sqliteStore({ path: db }) };
  },
  postgres: async (t) => {
    const schema = await testSchema(t);
    return { env: { PG_URL, PG_SCHEMA: schema }, store: postgresStore({ connectionString: PG_URL, schema }) };
  },
};

async function setup(t: TestContext, kind: string): Promise<Setup> {
  const { env, store } = await STORES[kind]!(t);
  const execLog = join(tempDir(t), "exec.log");
  writeFileSync(execLog, "");
  const outlast = new Outlast({ store, logger: quietLogger });
  defineFamily(outlast);
  t.after(() => outlast.close());
  await outlast.get("warm-up"); // migrated before any worker starts
  return { env: { ...env, EXEC_LOG: execLog }, execLog, outlast };
}

function execLines(path: string): { what: string; key: string; pid: number }[] {
  return readFileSync(path, "utf8")
    .trim()
    .split("\n")
    .filter(Boolean)
    .map((line) => {
      const parts = line.split(" ");
      return { what: parts[0]!, key: parts.length === 3 ? parts[1]! : "", pid: Number(parts.at(-1)) };
    });
}

async function stateIs(outlast: Outlast, id: string, state: Task["state"], kind?: string): Promise<void> {
  await until(async () => {
    const task = await outlast.get(id);
    return task?.state === state && (kind === undefined || task.waitingFor?.kind === kind);
  }, `task ${id} ${state}${kind ? ` for ${kind}` : ""}`, 20_000);
}

for (const kind of Object.keys(STORES)) {
  describe(`children and waits across processes: ${kind}`, () => {
    test("children spread over two processes; the parent's process killed while it waits: it resumes elsewhere, no child submitted twice", async (t) => {
      const { env, execLog, outlast } = await setup(t, kind);
      const a = spawnFixture(t, "family-worker.ts", env);
      const b = spawnFixture(t, "family-worker.ts", env);
      await Promise.all([a.waitFor("ready"), b.waitFor("ready")]);
      const parent = await outlast.submit("family.parent", { n: 8, ms: 400 });
      const watching = collect(outlast.watch(parent.id));
      await stateIs(outlast, parent.id, "waiting", "children");
      // Both processes have taken children before one of them dies.
      await until(() => new Set(execLines(execLog).filter((l) => l.what === "child").map((l) => l.pid)).size === 2, "children on both processes", 20_000);
      const parentRan = execLines(execLog).find((l) => l.what === "parent-run")!;
      const victim = parentRan.pid === a.process.pid ? a : b;
      const survivor = victim === a ? b : a;
      victim.process.kill("SIGKILL");
      await victim.exited;

      const events = await watching;
      const final = await outlast.get(parent.id);
      assert.equal(final?.state, "succeeded");
      const result = final?.result as { results: string[]; pid: number };
      assert.deepEqual(result.results, Array.from({ length: 8 }, (_, i) => `C${i}`));
      assert.equal(result.pid, survivor.process.pid, "resumed on the other process");
      const children = await outlast.children(parent.id, { limit: 100 });
      assert.equal(children.tasks.length, 8, "no child submitted twice");
      assert.deepEqual(
        children.tasks.map((c) => c.state),
        Array(8).fill("succeeded"),
      );
      const childPids = new Set(execLines(execLog).filter((l) => l.what === "child").map((l) => l.pid));
      assert.equal(childPids.size, 2, "children ran on both processes");
      // The parent's stream: seq rising with no repeat, progress carrying the counts, ending at 100.
      const seqs = events.map((e) => ("seq" in e ? e.seq : 0));
      assert.deepEqual(seqs, [...seqs].sort((x, y) => x - y));
      assert.equal(new Set(seqs).size, seqs.length);
      assert.equal(final?.progress.percent, 100);
      assert.equal(final?.progress.children?.succeeded, 8);
      survivor.process.kill("SIGTERM");
      assert.equal(await survivor.exited, 0);
    });

    test("a sleep and a signal survive a kill -9: the task wakes on a new process and gets the signal; a bad payload is refused", async (t) => {
      const { env, execLog, outlast } = await setup(t, kind);
      const first = spawnFixture(t, "family-worker.ts", env);
      await first.waitFor("ready");
      const parent = await outlast.submit("family.parent", { n: 1, ms: 20, sleepMs: 4_000, signal: true });
      await stateIs(outlast, parent.id, "waiting", "sleep");
      first.process.kill("SIGKILL");
      await first.exited;

      const second = spawnFixture(t, "family-worker.ts", env);
      await second.waitFor("ready");
      await stateIs(outlast, parent.id, "waiting", "signal");
      assert.ok(execLines(execLog).some((l) => l.what === "parent-slept" && l.pid === second.process.pid));
      await assert.rejects(outlast.signal(parent.id, "go", { ok: "yes" }), InvalidInputError);
      assert.equal((await outlast.get(parent.id))?.state, "waiting", "a bad payload leaves it waiting");
      const sent = await outlast.signal(parent.id, "go", { ok: true });
      assert.equal(sent.delivered, true);
      await stateIs(outlast, parent.id, "succeeded");
      const final = await outlast.get(parent.id);
      assert.deepEqual((final?.result as { go: unknown }).go, { ok: true });
      await assert.rejects(outlast.signal(parent.id, "go", { ok: true }), { code: "conflict" });
      assert.equal(execLines(execLog).filter((l) => l.what === "child").length, 1, "the child ran once");
      second.process.kill("SIGTERM");
      assert.equal(await second.exited, 0);
    });
  });
}

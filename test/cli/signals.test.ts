// Issue #12: a stop signal drains. Each task here has a single attempt, so a
// shutdown that leaves it to lease expiry fails it for good; a drained one is
// handed back (queued, its attempt not spent) or finished within the grace.
import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { guardLeaks } from "../support/leaks.js";
import { tempDir } from "../support/temp.js";
import { groupGone, observer, sleep, slowTasksModule, startGroup, submitRunning, type GroupLeader } from "./signalled.js";

guardLeaks();

const SERVE_READY = /running on (http:\/\/\S+)/;
const WORKER_READY = /^worker \S+ ready: /m;
/** Generous: every bound below is the grace plus this, on two shared cores. */
const SLACK_MS = 8_000;

/** Signals the whole group, as a terminal does on Ctrl-C or a runtime on stop, `times` times `apartMs` apart. */
async function signalGroup(leader: GroupLeader, signal: NodeJS.Signals, times = 1, apartMs = 0): Promise<number> {
  const at = Date.now();
  for (let i = 0; i < times; i++) {
    if (i > 0) await sleep(apartMs);
    process.kill(-leader.pid, signal);
  }
  return at;
}

/**
 * The whole group is gone within `withinMs` and the server said it drained
 * and exited 0. (Under npx the leader's own status says little: npm re-raises
 * the signal its shell died of.)
 */
async function assertDrained(leader: GroupLeader, withinMs: number, label: string): Promise<void> {
  assert.ok(await groupGone(leader.pid, withinMs), `${label} still running ${withinMs} ms after the signal:\n${leader.output()}`);
  assert.match(leader.output(), /draining, running tasks get up to/, label);
  assert.match(leader.output(), /stopped, running tasks finished or handed back \(exit 0\)/, `${label}:\n${leader.output()}`);
}

test("npm start: Ctrl-C (SIGINT to the group, delivered twice by npm) drains within the grace and hands the running task back", async (t) => {
  const db = join(tempDir(t), "outlast.db");
  const npm = await startGroup(t, "npm", ["start", "--", "--port", "0", "--db", db], SERVE_READY);
  const engine = observer(t, db);
  // Twenty seconds of counting: the default grace (10 s) ends first.
  const task = await submitRunning(engine, "demo.count", { to: 40, everyMs: 500 });

  const since = await signalGroup(npm, "SIGINT", 2, 50);
  await assertDrained(npm, 10_000 + SLACK_MS, "npm start");
  const { code, signal, at } = await npm.exited;
  assert.equal(code, 0, `npm start exited with ${code ?? signal} after ${at - since} ms:\n${npm.output()}`);
  assert.match(npm.output(), /Ctrl-C again to force/);
  const after = await engine.get(task.id);
  assert.equal(after?.state, "queued", JSON.stringify(after));
  assert.equal(after?.attempt, 0, "the attempt was given back");
});

test("SIGTERM to the group, twice in quick succession: `outlast worker` and the built bin's `serve` both drain", async (t) => {
  const dir = tempDir(t);
  const db = join(dir, "outlast.db");
  const [worker, serve] = await Promise.all([
    startGroup(t, "npx", ["outlast", "worker", "--db", db, "--tasks", slowTasksModule(dir), "--grace-ms", "1000"], WORKER_READY),
    startGroup(t, "npx", ["outlast", "serve", "--port", "0", "--db", db], SERVE_READY),
  ]);
  const engine = observer(t, db);
  const slow = await submitRunning(engine, "test.slow", {});
  // Three seconds: done well within serve's grace.
  const count = await submitRunning(engine, "demo.count", { to: 6, everyMs: 500 });

  await Promise.all([signalGroup(worker, "SIGTERM", 2, 100), signalGroup(serve, "SIGTERM", 2, 100)]);
  await assertDrained(worker, 1_000 + SLACK_MS, "outlast worker");
  await assertDrained(serve, 10_000 + SLACK_MS, "outlast serve");
  const handedBack = await engine.get(slow.id);
  assert.equal(handedBack?.state, "queued", JSON.stringify(handedBack));
  assert.equal(handedBack?.attempt, 0);
  assert.equal((await engine.get(count.id))?.state, "succeeded");
});

test("SIGTERM to the npm pid alone (a supervisor's stop): npm start and npx outlast worker drain", async (t) => {
  const dir = tempDir(t);
  const db = join(dir, "outlast.db");
  const [npm, npx] = await Promise.all([
    startGroup(t, "npm", ["start", "--", "--port", "0", "--db", db], SERVE_READY),
    startGroup(t, "npx", ["outlast", "worker", "--db", db, "--tasks", slowTasksModule(dir), "--grace-ms", "1000"], WORKER_READY),
  ]);
  const engine = observer(t, db);
  const count = await submitRunning(engine, "demo.count", { to: 6, everyMs: 500 });
  const slow = await submitRunning(engine, "test.slow", {});

  npm.process.kill("SIGTERM");
  npx.process.kill("SIGTERM");
  await assertDrained(npm, 10_000 + SLACK_MS, "npm start");
  assert.equal((await npm.exited).code, 0);
  // npx's shell does not pass the signal on: the worker stops because its parent went away.
  await assertDrained(npx, 1_000 + SLACK_MS, "npx outlast worker");
  assert.match(npx.output(), /npm went away: draining/);
  assert.equal((await engine.get(count.id))?.state, "succeeded");
  const handedBack = await engine.get(slow.id);
  assert.equal(handedBack?.state, "queued", JSON.stringify(handedBack));
  assert.equal(handedBack?.attempt, 0);
});

import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { guardLeaks } from "../support/leaks.js";
import { PG_URL, testPool, testSchema } from "../support/pg.js";
import { postgresStore } from "../../src/store/postgres/index.js";
import { tempDir } from "../support/temp.js";
import { ADMIN_KEY, startCli } from "../cli/cli.js";
import { SseReader, type ParsedEvent } from "../server/sse-reader.js";
import { MN_TASKS, dbUrl, readExecutions, until, within } from "./support.js";

guardLeaks();

const STEPS = 12;
const STEP_MS = 150;
const auth = { authorization: `Bearer ${ADMIN_KEY}` };

test("a task started on server A, which is SIGKILLed mid-task, finishes on a worker process; a watcher on server B sees every step once and the end", async (t) => {
  const schema = await testSchema(t);
  const pool = await testPool(t, 1);
  const db = dbUrl(schema);
  const log = join(tempDir(t, "outlast-multinode"), "executions.log");

  // Only A runs tasks until it dies, so the task surely starts there; the
  // worker-only process comes up after A is killed.
  const serve = (extra: string[]) => startCli(t, ["serve", "--port", "0", "--db", db, "--tasks", MN_TASKS, ...extra], /running on (http:\/\/\S+)/);
  // A holds its lease for 3 s: short enough to keep the test quick, long enough for heartbeats under load.
  const [a, b] = await Promise.all([serve(["--lease-ms", "3000"]), serve(["--no-workers"])]);
  const urlA = a.ready[1]!;
  const urlB = b.ready[1]!;

  // The queue is paused until the watcher is attached, so it sees the task from its first event on.
  const pause = (action: string) => fetch(`${urlB}/api/v1/queues/default/${action}`, { method: "POST", headers: auth });
  assert.equal((await pause("pause")).status, 200);
  const submitted = await fetch(`${urlA}/api/v1/tasks`, {
    method: "POST",
    headers: { ...auth, "content-type": "application/json" },
    body: JSON.stringify({ name: "mn.chapters", input: { n: STEPS, ms: STEP_MS, log } }),
  });
  assert.equal(submitted.status, 202);
  const id = ((await submitted.json()) as { task: { id: string } }).task.id;

  // The watcher reads B's stream over real HTTP until the stream ends after the final state.
  const response = await fetch(`${urlB}/api/v1/tasks/${id}/events`, { headers: auth });
  assert.equal(response.status, 200);
  const reader = new SseReader(response);
  t.after(() => reader.cancel());
  const events: ParsedEvent[] = [];
  const first = await reader.next();
  assert.equal(first?.event, "snapshot");
  events.push(first);
  const watched = (async () => {
    for (let e = await reader.next(); e; e = await reader.next()) events.push(e);
  })();
  assert.equal((await pause("resume")).status, 200);

  // Kill A while it is inside the third step: two steps are recorded, the third is not.
  await until(() => readExecutions(log).some((e) => e.step === "chapter-2"), "A to start chapter-2", 30_000, 10);
  a.process.kill("SIGKILL");
  await a.exited;
  const killedAfter = readExecutions(log);
  assert.ok(
    killedAfter.every((e) => e.pid === a.process.pid),
    "every step before the kill ran on A",
  );
  assert.ok(killedAfter.length < STEPS, "A was killed mid-task");

  const worker = await startCli(t, ["worker", "--db", db, "--tasks", MN_TASKS], /^worker \S+ ready: .*$/m);

  // The lease A held runs out, the worker process recovers the task and runs the rest.
  await within(watched, 60_000, "the watcher on B to see the task end");

  const final = events.at(-1)!;
  assert.equal(final.event, "state", `the stream ends with a state event; got ${JSON.stringify(events.map((e) => e.event))}`);
  assert.equal(final.data.state, "succeeded", JSON.stringify(final.data));
  assert.deepEqual(final.data.result, { chapters: STEPS, pid: worker.process.pid }, "the worker-only process finished it");

  // No gap, no repeat: the stream's events after its snapshot are exactly
  // the stored log's non-progress events, in order; progress may only be compacted.
  assert.equal((events[0]!.data.task as { state: string }).state, "queued");
  const snapshotSeq = events[0]!.data.seq as number;
  const live = events.slice(1);
  const seqs = live.map((e) => e.data.seq as number);
  for (let i = 1; i < seqs.length; i++) assert.ok(seqs[i]! > seqs[i - 1]!, `seq ${seqs[i]} after ${seqs[i - 1]}: out of order or repeated`);
  // Read through the store: some state events are the task row's, not rows of task_events.
  const logStore = postgresStore({ connectionString: PG_URL, schema });
  t.after(() => logStore.close());
  const stored = await logStore.readEvents(id, 0, 100_000);
  const storedNonProgress = stored.filter((e) => e.data.type !== "progress" && e.seq > snapshotSeq).map((e) => e.seq);
  const seenNonProgress = live.filter((e) => e.event !== "progress").map((e) => e.data.seq as number);
  assert.deepEqual(seenNonProgress, storedNonProgress, "the watcher saw every non-progress event once, in order");
  const lastSeq = (await pool.query<{ last_seq: number }>(`SELECT last_seq FROM "${schema}".tasks WHERE id = $1`, [id])).rows[0]!.last_seq;
  assert.equal(final.data.seq, lastSeq);
  assert.ok(seqs.length > 0 && seqs[0]! > snapshotSeq, "live events continue after the snapshot");

  // Every step, once, as a step event; and the recovery itself was seen.
  const stepEvents = live.filter((e) => e.event === "step");
  assert.deepEqual(
    stepEvents.map((e) => e.data.name),
    Array.from({ length: STEPS }, (_, i) => `chapter-${i}`),
  );
  const states = live.filter((e) => e.event === "state").map((e) => `${e.data.state as string}/${e.data.attempt as number}`);
  assert.ok(states.includes("running/2"), `a second attempt ran: ${states.join(", ")}`);
  assert.ok(
    live.some((e) => e.event === "state" && e.data.state === "queued" && e.data.reason === "lease_expired"),
    `the expired lease was seen: ${JSON.stringify(live.filter((e) => e.event === "state").map((e) => e.data))}`,
  );

  // No recorded step ran again: a step recorded by attempt r ran exactly
  // once in attempt r and never later; only the step A was inside when it
  // died ran twice (once unrecorded on A, once on the worker).
  const recorded = (
    await pool.query<{ name: string; attempt: number }>(`SELECT name, attempt FROM "${schema}".task_steps WHERE task_id = $1`, [id])
  ).rows;
  assert.equal(recorded.length, STEPS);
  const executions = readExecutions(log);
  let rerun = 0;
  for (const step of recorded) {
    const runs = executions.filter((e) => e.step === step.name);
    assert.equal(runs.filter((e) => e.attempt === step.attempt).length, 1, `${step.name} ran once in the attempt that recorded it`);
    assert.equal(runs.filter((e) => e.attempt > step.attempt).length, 0, `${step.name} never ran after it was recorded`);
    const earlier = runs.filter((e) => e.attempt < step.attempt);
    for (const e of earlier) assert.equal(e.pid, a.process.pid, `${step.name} ran unrecorded only on A`);
    rerun += earlier.length;
    const recorder = step.attempt === 1 ? a.process.pid : worker.process.pid;
    assert.equal(runs.find((e) => e.attempt === step.attempt)!.pid, recorder, `${step.name} recorded by the process that ran it`);
  }
  assert.ok(rerun <= 1, `only the step in flight at the kill ran twice (${rerun})`);
  assert.ok(recorded.some((s) => s.attempt === 1) && recorded.some((s) => s.attempt === 2), "steps were recorded on both processes");

  worker.process.kill("SIGTERM");
  b.process.kill("SIGTERM");
  assert.equal(await within(worker.exited, 20_000, "the worker to stop"), 0, worker.output());
  assert.equal(await within(b.exited, 20_000, "server B to stop"), 0, b.output());
});

import assert from "node:assert/strict";
import { test } from "node:test";
import { ADMIN_KEY, startCli } from "../cli/cli.js";
import { guardLeaks } from "../support/leaks.js";
import { testPool, testSchema } from "../support/pg.js";
import { SseReader, type ParsedEvent } from "../server/sse-reader.js";
import { MN_TASKS, dbUrl, until } from "./support.js";

guardLeaks();

const auth = { authorization: `Bearer ${ADMIN_KEY}` };

// A browser watching only the parent sees its bar move as children advance on
// another node, and a reconnect with Last-Event-ID mid-way loses and repeats nothing.
test("a parent's stream on a node running no workers follows children run by another process, through a reconnect", async (t) => {
  const schema = await testSchema(t);
  await testPool(t, 1);
  const db = dbUrl(schema);
  const server = await startCli(t, ["serve", "--port", "0", "--db", db, "--tasks", MN_TASKS, "--no-workers"], /running on (http:\/\/\S+)/);
  await startCli(t, ["worker", "--db", db, "--tasks", MN_TASKS, "--lease-ms", "1500"], /^worker \S+ ready: .*$/m);
  const url = server.ready[1]!;

  const submitted = await fetch(`${url}/api/v1/tasks`, {
    method: "POST",
    headers: { ...auth, "content-type": "application/json" },
    body: JSON.stringify({ name: "family.parent", input: { n: 6, ms: 600 } }),
  });
  assert.equal(submitted.status, 202);
  const { task } = (await submitted.json()) as { task: { id: string } };

  const seen: ParsedEvent[] = [];
  let snapshotState: string | null = null;
  const read = async (reader: SseReader, stopAfter: (e: ParsedEvent) => boolean) => {
    for (;;) {
      const event = await reader.next();
      if (!event) return;
      if (event.event !== "snapshot") seen.push(event);
      else if (snapshotState === null) snapshotState = (event.data.task as { state: string }).state;
      if (stopAfter(event)) return;
    }
  };
  const first = new SseReader(await fetch(`${url}/api/v1/tasks/${task.id}/events`, { headers: auth }));
  t.after(() => first.cancel());
  // Read until some child has reported progress into the parent's bar, then drop the connection.
  await read(first, (e) => e.event === "progress" && typeof (e.data.progress as { percent?: number }).percent === "number" && (e.data.progress as { percent: number }).percent > 0);
  await first.cancel();
  const lastId = seen.at(-1)!.id!;

  const second = new SseReader(await fetch(`${url}/api/v1/tasks/${task.id}/events`, { headers: { ...auth, "last-event-id": lastId } }));
  t.after(() => second.cancel());
  await read(second, () => false);

  const seqs = seen.map((e) => e.data.seq as number);
  assert.deepEqual(seqs, [...seqs].sort((a, b) => a - b), "in order");
  assert.equal(new Set(seqs).size, seqs.length, "no event twice");
  // Where the first snapshot found it, then what the streams said: it waits, is woken, runs again, ends.
  const states = [snapshotState, ...seen.filter((e) => e.event === "state").map((e) => e.data.state)];
  assert.deepEqual(states.slice(states.lastIndexOf("waiting")), ["waiting", "queued", "running", "succeeded"], `states: ${states.join(",")}`);
  assert.equal(states.at(-1), "succeeded");
  // Every non-progress event of the log reached the watcher (no gap): a replay from the start is the whole log.
  const replay: ParsedEvent[] = [];
  const whole = new SseReader(await fetch(`${url}/api/v1/tasks/${task.id}/events`, { headers: auth }));
  t.after(() => whole.cancel());
  for (let e = await whole.next(); e; e = await whole.next()) if (e.event !== "snapshot" && e.event !== "progress") replay.push(e);
  const seenSeqs = new Set(seqs);
  const missed = replay.filter((e) => !seenSeqs.has(e.data.seq as number)).map((e) => `${e.event} ${String(e.data.seq)}`);
  assert.deepEqual(missed, [], "the watcher missed no event of the log");
  const log = (await (await fetch(`${url}/api/v1/tasks/${task.id}`, { headers: auth })).json()) as { task: { lastSeq: number; progress: { percent: number; children: Record<string, number> } } };
  const progressMoves = seen.filter((e) => e.event === "progress").map((e) => (e.data.progress as { percent: number }).percent);
  assert.ok(progressMoves.length >= 3, `the bar moved as children advanced: ${progressMoves.join(", ")}`);
  assert.equal(log.task.progress.percent, 100);
  assert.equal(log.task.progress.children.succeeded, 6);
  const children = await until(async () => {
    const page = (await (await fetch(`${url}/api/v1/tasks/${task.id}/children?limit=4`, { headers: auth })).json()) as { tasks: { state: string }[]; nextCursor: string | null };
    return page.tasks.length === 4 ? page : undefined;
  }, "the children page");
  assert.ok(children.nextCursor);
  const rest = (await (await fetch(`${url}/api/v1/tasks/${task.id}/children?cursor=${encodeURIComponent(children.nextCursor!)}`, { headers: auth })).json()) as { tasks: unknown[]; nextCursor: string | null };
  assert.equal(rest.tasks.length, 2);
  assert.equal(rest.nextCursor, null);
});

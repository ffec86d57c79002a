import { test, describe } from "node:test";
import assert from "node:assert/strict";
import type { StoredEvent, TaskEventData } from "../../src/core/events.js";
import { Mailbox } from "../../src/engine/mailbox.js";
import { guardLeaks } from "../support/leaks.js";
import { makeEngine } from "../support/engine.js";

guardLeaks();

let nextSeq = 1;
function event(data: TaskEventData): StoredEvent {
  return { taskId: "t1", owner: "o", queue: "default", seq: nextSeq++, attempt: 1, at: 0, data };
}
const progress = (current: number) => event({ type: "progress", progress: { current } });
const step = (n: number) => event({ type: "step", name: `s-${n}` });

function drain(mailbox: Mailbox): StoredEvent[] {
  const out: StoredEvent[] = [];
  for (let e = mailbox.take(); e !== undefined; e = mailbox.take()) out.push(e);
  return out;
}

describe("mailbox of a consumer that does not take", () => {
  test("progress alone never holds more than the latest", () => {
    const mailbox = new Mailbox(100);
    for (let i = 0; i < 10_000; i++) mailbox.push(progress(i));
    assert.equal(mailbox.size, 1);
    assert.equal(mailbox.overflowed, false);
    const [only] = drain(mailbox);
    assert.deepEqual(only?.data, { type: "progress", progress: { current: 9_999 } });
  });

  test("a superseded progress between steps leaves no slot behind, and order is kept", () => {
    const mailbox = new Mailbox(100);
    const a = progress(1);
    const s1 = step(1);
    const b = progress(2);
    const s2 = step(2);
    const c = progress(3);
    for (const e of [a, s1, b, s2, c]) mailbox.push(e);
    assert.equal(mailbox.size, 3);
    assert.deepEqual(drain(mailbox), [s1, s2, c]);
    assert.equal(mailbox.size, 0);
  });

  test("10,000 steps with progress between them: at most `limit` events are held, then none, and the overflow is told", () => {
    const mailbox = new Mailbox(100);
    let peak = 0;
    for (let i = 0; i < 10_000; i++) {
      mailbox.push(step(i));
      mailbox.push(progress(i));
      peak = Math.max(peak, mailbox.size);
    }
    // The bound holds every push's work constant too: nothing in the mailbox is ever more than `limit` items to look at.
    assert.ok(peak <= 101, `held ${peak} events`);
    assert.equal(mailbox.overflowed, true);
    assert.equal(mailbox.size, 0, "an overflowed mailbox lets go of what it held: the log has it");
    assert.equal(mailbox.take(), undefined);

    // Reopened (the consumer re-read the log), it collects again.
    mailbox.reopen();
    assert.equal(mailbox.overflowed, false);
    const s = step(0);
    mailbox.push(s);
    assert.deepEqual(drain(mailbox), [s]);
  });

  test("taking keeps pace: a consumer that takes as events come never overflows", () => {
    const mailbox = new Mailbox(3);
    for (let i = 0; i < 10_000; i++) {
      mailbox.push(step(i));
      mailbox.push(progress(i));
      assert.equal(drain(mailbox).length, 2);
    }
    assert.equal(mailbox.overflowed, false);
  });
});

test("a watch whose consumer stops taking gets every event, in order, once it takes again; the overflow is told", async (t) => {
  const outlast = makeEngine(t);
  outlast.define("chatty", {
    async run(_input: unknown, ctx) {
      for (let i = 0; i < 600; i++) {
        await ctx.log(`line ${i}`);
        ctx.progress({ current: i, total: 600 });
      }
      return "done";
    },
  });
  const task = await outlast.submit("chatty", {});
  let overflows = 0;
  const watch = outlast.watch(task.id, { backlog: 20, onOverflow: () => overflows++ });
  const first = await watch.next();
  assert.equal(first.done, false);
  await outlast.start();
  // Not taking while the task runs to its end.
  for (let i = 0; i < 1000 && (await outlast.get(task.id))?.state !== "succeeded"; i++) await new Promise((resolve) => setTimeout(resolve, 20));
  assert.equal((await outlast.get(task.id))?.state, "succeeded");
  const seen = [first.value!];
  for await (const e of { [Symbol.asyncIterator]: () => watch }) seen.push(e);
  assert.ok(overflows >= 1, "the overflow was told");
  const log = await outlast.store.readEvents(task.id, 0, 100_000);
  const nonProgress = (xs: { seq: number; type: string }[]) => xs.filter((e) => e.type !== "progress").map((e) => e.seq);
  assert.deepEqual(
    nonProgress(seen.map((e) => ({ seq: e.seq, type: e.type }))),
    nonProgress(log.map((e) => ({ seq: e.seq, type: e.data.type }))),
  );
  const seqs = seen.map((e) => e.seq);
  assert.deepEqual(seqs, [...seqs].sort((a, b) => a - b));
  assert.equal(new Set(seqs).size, seqs.length);
  assert.equal(seen.at(-1)?.type, "state");
});

// The ping ticker all streams share: a round to many streams is written a
// slice per event loop turn, and the ticker goes with its last stream.
import assert from "node:assert/strict";
import { test } from "node:test";
import type { Timers } from "../../src/engine/clock.js";
import { SseStream, tickerOf } from "../../src/server/sse.js";
import { SLICE_WRITES } from "../../src/server/turn-budget.js";
import { guardLeaks } from "../support/leaks.js";

guardLeaks();

const PING_MS = 1000;
// "retry: 2000\n\n" is 13 bytes and a ping 8: a stream that got its ping is past this, and says it is not writable.
const PINGED_PAST = 20;

/** Timers whose interval the test fires by hand. */
function manualTimers(): { timers: Timers; fire(): void; running: number } {
  const runs = new Set<() => void>();
  const timers: Timers = {
    after: () => () => {},
    every(_ms, run) {
      runs.add(run);
      return () => void runs.delete(run);
    },
  };
  return {
    timers,
    fire: () => {
      for (const run of [...runs]) run();
    },
    get running() {
      return runs.size;
    },
  };
}

const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

test("a ping round to more streams than a slice writes at most a slice per turn, reaches every stream once, and the ticker stops with its last stream", async () => {
  const clock = manualTimers();
  const n = SLICE_WRITES * 2 + 300;
  const streams = Array.from(
    { length: n },
    () => new SseStream({ pingMs: PING_MS, stuckMs: 600_000, highWaterMark: PINGED_PAST, retryMs: 2000, backlog: 10, clock: Date.now, timers: clock.timers }),
  );
  for (const sse of streams) void sse.body;
  assert.equal(clock.running, 1, "one timer for all the streams");
  const pinged = () => streams.filter((sse) => !sse.writable).length;

  clock.fire();
  let before = pinged();
  assert.ok(before > 0 && before <= SLICE_WRITES, `${before} pinged in the first turn`);
  let turns = 1;
  // Fired again mid-round: the round goes on as it was, no second one starts over it.
  clock.fire();
  while (before < n) {
    await turn();
    const now = pinged();
    assert.ok(now > before, "every turn of the round writes some");
    assert.ok(now - before <= SLICE_WRITES, `${now - before} pinged in one turn`);
    before = now;
    turns++;
  }
  assert.ok(turns >= 3, `${turns} turns`);
  assert.equal(tickerOf(clock.timers, PING_MS)?.turns, turns);

  const decoder = new TextDecoder();
  for (const sse of [streams[0]!, streams[n - 1]!]) {
    const reader = sse.body.getReader();
    const got: string[] = [];
    for (let i = 0; i < 2; i++) got.push(decoder.decode((await reader.read()).value));
    assert.deepEqual(got, ["retry: 2000\n\n", ": ping\n\n"]);
    const more = reader.read();
    assert.equal(await Promise.race([more.then(() => "more"), turn().then(() => "nothing")]), "nothing");
    sse.close();
    assert.equal((await more).done, true);
  }
  for (const sse of streams) sse.close();
  assert.equal(clock.running, 0);
  assert.equal(tickerOf(clock.timers, PING_MS), undefined);
});

import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { guardLeaks } from "../support/leaks.js";
import { SseParser, type SseMessage } from "../../src/client/sse-parser.js";
import { TRANSITIONS, backoffDelay, next, type ConnectionState, type Signal } from "../../src/client/machine.js";

guardLeaks();

test("the SSE parser reads any framing: random events, line endings, comments and chunk boundaries", () => {
  const event = fc.record({
    event: fc.constantFrom("snapshot", "state", "progress", "log", "step", "reset"),
    id: fc.option(fc.stringMatching(/^[A-Za-z0-9._~-]{1,40}$/), { nil: undefined }),
    lines: fc.array(fc.string({ maxLength: 30 }).filter((s) => !/[\r\n]/.test(s)), { minLength: 1, maxLength: 3 }),
    comment: fc.boolean(),
  });
  fc.assert(
    fc.property(fc.array(event, { maxLength: 12 }), fc.constantFrom("\n", "\r\n", "\r"), fc.array(fc.nat(200), { maxLength: 10 }), (events, eol, cuts) => {
      let text = `retry: 2000${eol}${eol}`;
      for (const e of events) {
        if (e.comment) text += `: ping${eol}${eol}`;
        if (e.id !== undefined) text += `id: ${e.id}${eol}`;
        text += `event: ${e.event}${eol}`;
        for (const line of e.lines) text += `data: ${line}${eol}`;
        text += eol;
      }
      const got: SseMessage[] = [];
      let retry = 0;
      const parser = new SseParser((m) => got.push(m), (ms) => (retry = ms));
      const points = [...new Set(cuts.map((c) => c % (text.length + 1)))].sort((a, b) => a - b);
      let at = 0;
      for (const p of [...points, text.length]) {
        parser.push(text.slice(at, p));
        at = p;
      }
      assert.equal(retry, 2000);
      let lastId = "";
      assert.deepEqual(
        got,
        events.map((e) => {
          if (e.id !== undefined) lastId = e.id;
          return { event: e.event, data: e.lines.join("\n"), lastEventId: lastId };
        }),
      );
    }),
    { numRuns: 300 },
  );
});

test("the connection table: closed is terminal, close always closes, every state is reachable from idle", () => {
  const states = Object.keys(TRANSITIONS) as ConnectionState[];
  const signals = Object.keys(TRANSITIONS.idle) as Signal[];
  for (const s of signals) assert.equal(next("closed", s), null);
  for (const state of states.filter((s) => s !== "closed")) assert.equal(next(state, "close"), "closed");
  for (const state of states.filter((s) => s !== "closed")) assert.equal(next(state, "empty") ?? state, "idle");
  const seen = new Set<ConnectionState>(["idle"]);
  const queue: ConnectionState[] = ["idle"];
  while (queue.length > 0) {
    const from = queue.shift()!;
    for (const s of signals) {
      const to = next(from, s);
      if (to && !seen.has(to)) {
        seen.add(to);
        queue.push(to);
      }
    }
  }
  assert.deepEqual([...seen].sort(), [...states].sort());
});

test("random signal sequences never leave the machine in a state the table does not know, and never reopen after close", () => {
  const signals = Object.keys(TRANSITIONS.idle) as Signal[];
  fc.assert(
    fc.property(fc.array(fc.constantFrom(...signals), { maxLength: 60 }), (sequence) => {
      let state: ConnectionState = "idle";
      let closed = false;
      for (const s of sequence) {
        state = next(state, s) ?? state;
        assert.ok(state in TRANSITIONS);
        if (closed) assert.equal(state, "closed");
        if (state === "closed") closed = true;
      }
    }),
  );
});

test("backoff grows, is capped, and is jittered within its upper half", () => {
  fc.assert(
    fc.property(fc.nat(40), fc.integer({ min: 1, max: 5000 }), fc.integer({ min: 1, max: 60_000 }), fc.double({ min: 0, max: 1, noNaN: true }), (attempt, base, max, r) => {
      const ceiling = Math.min(max, base * 2 ** Math.min(attempt, 20));
      const delay = backoffDelay(attempt, base, max, () => r);
      assert.ok(delay >= Math.floor(ceiling / 2) && delay <= Math.ceil(ceiling), `${delay} for ceiling ${ceiling}`);
    }),
  );
});

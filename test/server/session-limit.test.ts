import assert from "node:assert/strict";
import { test, type TestContext } from "node:test";
import { defineDemoTask } from "../../src/cli/demo-task.js";
import { createHandler } from "../../src/server/handler.js";
import { RateLimiter } from "../../src/server/rate-limit.js";
import { limitKey } from "../../src/server/client-address.js";
import type { HandlerOptions } from "../../src/server/options.js";
import { makeEngine } from "../support/engine.js";
import { FakeTime } from "../support/fake-time.js";
import { guardLeaks } from "../support/leaks.js";
import { ADMIN_KEY, SECRET, listen } from "./harness.js";

guardLeaks();

type Err = { error: { code: string; message: string } };

/** A handler with anonymous sessions on a real port (so each request has a socket address), on fake time. */
async function sessions(t: TestContext, options: HandlerOptions = {}) {
  const time = new FakeTime(Date.parse("2030-01-01T00:00:00Z"));
  const outlast = makeEngine(t, { clock: time.clock, timers: time.timers });
  defineDemoTask(outlast);
  const handler = createHandler(outlast, { adminKey: ADMIN_KEY, secret: SECRET, logger: "silent", anonymousSessions: true, ...options });
  const base = await listen(t, handler);
  const start = (headers: Record<string, string> = {}) => fetch(`${base}/api/v1/session`, { method: "POST", headers });
  return { time, start, base };
}

async function startMany(start: () => Promise<Response>, n: number): Promise<number[]> {
  const statuses: number[] = [];
  for (let i = 0; i < n; i++) {
    const response = await start();
    await response.arrayBuffer();
    statuses.push(response.status);
  }
  return statuses;
}

test("one address may start 20 anonymous sessions a minute; the next is 429 rate_limited with Retry-After, and they come back with time", async (t) => {
  const { time, start } = await sessions(t);
  assert.deepEqual(await startMany(start, 20), Array(20).fill(200));
  const refused = await start();
  const body = (await refused.json()) as Err;
  assert.equal(refused.status, 429, JSON.stringify(body));
  assert.equal(body.error.code, "rate_limited");
  assert.equal(refused.headers.get("retry-after"), "3", "one more session every 60 s / 20");
  assert.equal(refused.headers.get("set-cookie"), null);

  await time.advance(2_999);
  assert.deepEqual(await startMany(start, 1), [429], "not before Retry-After");
  await time.advance(1);
  assert.deepEqual(await startMany(start, 2), [200, 429]);
  await time.advance(60_000);
  assert.deepEqual(await startMany(start, 21), [...Array(20).fill(200), 429]);
});

test("a reload with a valid session cookie keeps its owner and does not count", async (t) => {
  const { start } = await sessions(t, { sessionRateLimit: { limit: 2, windowMs: 60_000 } });
  const first = await start();
  const cookie = (first.headers.get("set-cookie") ?? "").split(";")[0]!;
  const { owner } = (await first.json()) as { owner: string };
  for (let i = 0; i < 10; i++) {
    const again = await start({ cookie });
    assert.equal(again.status, 200);
    assert.equal(((await again.json()) as { owner: string }).owner, owner);
  }
  assert.deepEqual(await startMany(start, 2), [200, 429]);
});

test("a token that is not a session's own is not renewed: a short, queue-limited token cannot be swapped for a long unlimited one", async (t) => {
  const { start, base } = await sessions(t);
  const minted = (await (
    await fetch(`${base}/api/v1/tokens`, {
      method: "POST",
      headers: { authorization: `Bearer ${ADMIN_KEY}`, "content-type": "application/json" },
      body: JSON.stringify({ owner: "carol", ttlSeconds: 60, queues: ["tts"] }),
    })
  ).json()) as { token: string };
  const swapped = (await (await start({ cookie: `outlast_session=${minted.token}` })).json()) as { owner: string };
  assert.notEqual(swapped.owner, "carol", "another owner's token is not made a session");
  const session = (await (await start()).json()) as { owner: string; token: string };
  const renewed = (await (await start({ cookie: `outlast_session=${session.token}` })).json()) as { owner: string };
  assert.equal(renewed.owner, session.owner, "a session's own token is renewed");
});

test("X-Forwarded-For names the address only with trustProxy, and then only the entry the proxy added", async (t) => {
  const plain = await sessions(t, { sessionRateLimit: { limit: 2, windowMs: 60_000 } });
  const spoofing = (i: number) => plain.start({ "x-forwarded-for": `198.51.100.${i}` });
  const statuses: number[] = [];
  for (let i = 0; i < 3; i++) statuses.push((await spoofing(i)).status);
  assert.deepEqual(statuses, [200, 200, 429], "without trustProxy the header is the client's to forge, so the socket counts");

  const proxied = await sessions(t, { sessionRateLimit: { limit: 2, windowMs: 60_000 }, trustProxy: true });
  const via = (header: string) => proxied.start({ "x-forwarded-for": header });
  assert.deepEqual(await startMany(() => via("203.0.113.7"), 2), [200, 200]);
  assert.equal((await via("forged.example, 203.0.113.7")).status, 429, "a leading entry the client wrote changes nothing");
  assert.equal((await via("203.0.113.8")).status, 200, "another client behind the proxy has its own budget");

  const named = await sessions(t, { sessionRateLimit: { limit: 1, windowMs: 60_000 }, clientAddress: (request) => request.headers.get("x-client") });
  assert.equal((await named.start({ "x-client": "a" })).status, 200);
  assert.equal((await named.start({ "x-client": "a" })).status, 429);
  assert.equal((await named.start({ "x-client": "b" })).status, 200);
});

test("the limit's options are checked when the handler is made", (t) => {
  const outlast = makeEngine(t);
  for (const sessionRateLimit of [{ limit: 0, windowMs: 1000 }, { limit: 5, windowMs: -1 }, { limit: 1.5, windowMs: 1000 }]) {
    assert.throws(() => createHandler(outlast, { sessionRateLimit, logger: "silent" }), /sessionRateLimit/);
  }
  assert.throws(() => createHandler(outlast, { trustProxy: -1, logger: "silent" }), /trustProxy/);
});

test("the limiter's memory is bounded: idle addresses are forgotten after a window, and there is a ceiling", () => {
  const time = new FakeTime(0);
  const limiter = new RateLimiter({ limit: 2, windowMs: 1000 }, time.clock, 500);
  for (let i = 0; i < 400; i++) assert.equal(limiter.take(`10.0.${i >> 8}.${i & 255}`), null);
  assert.equal(limiter.size, 400);
  time.now += 999;
  assert.equal(limiter.take("10.9.9.9"), null);
  assert.equal(limiter.size, 401, "nothing is idle for a whole window yet");
  time.now += 1;
  assert.equal(limiter.take("10.9.9.9"), null);
  assert.equal(limiter.size, 1, "every address idle for a window is dropped (its budget is full again)");
  assert.equal(typeof limiter.take("10.9.9.9"), "number", "the address still in use keeps its count");
  for (let i = 0; i < 2000; i++) limiter.take(`flood-${i}`);
  assert.equal(limiter.size, 500, "a flood of new addresses within one window stops at the ceiling");
});

test("addresses are limited by IPv4 address, and IPv6 by its /64 (mapped IPv4 counts as IPv4)", () => {
  assert.equal(limitKey("203.0.113.7"), "203.0.113.7");
  assert.equal(limitKey("::ffff:203.0.113.7"), "203.0.113.7");
  assert.equal(limitKey("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
  assert.equal(limitKey("2001:DB8:1:2:ffff:ffff:ffff:ffff"), "2001:db8:1:2::/64");
  assert.equal(limitKey("[2001:db8::1]"), "2001:db8:0:0::/64");
  assert.equal(limitKey("fe80::1%eth0"), "fe80:0:0:0::/64");
  assert.equal(limitKey("::1"), "0:0:0:0::/64");
  assert.equal(limitKey("2001:db8:1:2::1.2.3.4"), "2001:db8:1:2::/64");
});

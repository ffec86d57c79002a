import { test } from "node:test";
import assert from "node:assert/strict";
import { connect as netConnect, type Socket } from "node:net";
import { guardLeaks } from "../support/leaks.js";
import { ADMIN_KEY, harness, listenServer, until } from "./harness.js";
import { SseReader, type ParsedEvent } from "./sse-reader.js";

guardLeaks();

const STUCK = 5;
const LINES = 1500;
/** Frames are about 9 kB, so a handful fill the kernel's buffers and then the server's. */
const LINE = "x".repeat(9000);
const BUFFER_BYTES = 16 * 1024;

/** An SSE request on a raw socket that reads nothing (HTTP/1.0: no chunked framing to undo later). */
function stuckReader(port: number, path: string): { socket: Socket; received: Buffer[] } {
  const socket = netConnect({ port, host: "127.0.0.1" });
  socket.pause();
  const received: Buffer[] = [];
  socket.on("data", (chunk: Buffer) => received.push(chunk));
  socket.on("error", () => {});
  socket.write(`GET ${path} HTTP/1.0\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${ADMIN_KEY}\r\nAccept: text/event-stream\r\n\r\n`);
  return { socket, received };
}

/** The whole events in what a raw reader got (a frame cut short by the server is not one). */
async function framesOf(bytes: Buffer): Promise<ParsedEvent[]> {
  const body = new Uint8Array(bytes.subarray(bytes.indexOf("\r\n\r\n") + 4));
  return readAll(new SseReader(new Response(body)));
}

async function readAll(reader: SseReader): Promise<ParsedEvent[]> {
  const out: ParsedEvent[] = [];
  for (let e = await reader.next(); e; e = await reader.next()) out.push(e);
  return out;
}

test("readers that never read are cut with bounded bytes held for them, a normal reader gets every event in order, and the cut ones resume losing nothing", async (t) => {
  const h = await harness(t, {
    streamBufferBytes: BUFFER_BYTES,
    streamBacklog: 50,
    // Far beyond the test: a cut here is the backlog's doing, not the stuck timer's.
    stuckMs: 600_000,
    pingMs: 600_000,
    define: (outlast) =>
      outlast.define("loud", {
        async run(_input: unknown, ctx) {
          for (let i = 0; i < LINES; i++) {
            await ctx.log(`${LINE} ${i}`);
            ctx.progress({ current: i + 1, total: LINES });
          }
          return "said";
        },
      }),
  });
  const { base, server } = await listenServer(t, h.handler);
  const port = Number(new URL(base).port);
  const serverSockets = new Set<Socket>();
  server.on("connection", (socket: Socket) => serverSockets.add(socket));
  const id = (await h.outlast.submit("loud", {})).id;
  const path = `/api/v1/tasks/${id}/events`;

  const stuck = Array.from({ length: STUCK }, () => stuckReader(port, path));
  t.after(() => {
    for (const s of stuck) s.socket.destroy();
  });
  const abort = new AbortController();
  t.after(() => abort.abort());
  const normalRes = await fetch(`${base}${path}`, { headers: { authorization: `Bearer ${ADMIN_KEY}` }, signal: abort.signal });
  assert.equal(normalRes.status, 200);
  const normal = readAll(new SseReader(normalRes));
  await until(() => h.handler.openStreams === STUCK + 1, "every stream to open");

  // Node's own buffer for each connection (bytes handed to socket.write and not yet to the kernel).
  let peakNodeBuffer = 0;
  const sampler = setInterval(() => {
    for (const socket of serverSockets) peakNodeBuffer = Math.max(peakNodeBuffer, socket.writableLength);
  }, 5);
  t.after(() => clearInterval(sampler));

  await h.outlast.start();
  const events = await normal;
  await until(() => h.handler.openStreams === 0, "the stuck streams to be cut", 60_000);
  clearInterval(sampler);

  // The normal reader: a snapshot, then every log and state event of the log after it, in order, once.
  assert.equal(events[0]?.event, "snapshot");
  const from = events[0]!.data.seq as number;
  const log = await h.outlast.store.readEvents(id, 0, 100_000);
  const nonProgressLog = log.filter((e) => e.seq > from && e.data.type !== "progress").map((e) => e.seq);
  const live = events.slice(1);
  const seqs = live.map((e) => e.data.seq as number);
  assert.deepEqual(seqs, [...seqs].sort((a, b) => a - b), "in order");
  assert.equal(new Set(seqs).size, seqs.length, "no repeat");
  assert.deepEqual(live.filter((e) => e.event !== "progress").map((e) => e.data.seq), nonProgressLog, "no gap");
  assert.equal(live.at(-1)?.data.state, "succeeded");

  // What the server held for a reader that took nothing: the stream's buffer, one frame being written, and slack.
  assert.ok(peakNodeBuffer <= BUFFER_BYTES + 4 * LINE.length, `Node buffered ${peakNodeBuffer} bytes for one connection`);

  // Each cut reader reads what reached it, and resumes from the last whole event: nothing missing, nothing twice.
  for (const s of stuck) {
    const ended = new Promise<void>((resolve) => s.socket.once("close", () => resolve()));
    s.socket.resume();
    await ended;
    const before = await framesOf(Buffer.concat(s.received));
    assert.equal(before[0]?.event, "snapshot");
    const last = before.at(-1)!;
    assert.notEqual(last.data.state, "succeeded", "cut before the end");
    const res = await fetch(`${base}${path}`, { headers: { authorization: `Bearer ${ADMIN_KEY}`, "last-event-id": last.id! } });
    assert.equal(res.status, 200);
    const after = await readAll(new SseReader(res));
    const got = [...before.slice(1), ...after];
    const gotSeqs = got.map((e) => e.data.seq as number);
    assert.deepEqual(gotSeqs, [...gotSeqs].sort((a, b) => a - b));
    assert.equal(new Set(gotSeqs).size, gotSeqs.length);
    const snapshotSeq = before[0]!.data.seq as number;
    assert.deepEqual(
      got.filter((e) => e.event !== "progress").map((e) => e.data.seq),
      log.filter((e) => e.seq > snapshotSeq && e.data.type !== "progress").map((e) => e.seq),
    );
  }
  await until(() => h.handler.openStreams === 0, "the resumed streams to end");
});

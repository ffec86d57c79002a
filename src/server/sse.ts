import type { ServerResponse } from "node:http";
import type { CancelTimer, Clock, Timers } from "../engine/clock.js";
import { TurnBudget } from "./turn-budget.js";

/** Options of one event stream. */
export interface SseOptions {
  /** Comment line interval, so proxies and the client's watchdog see bytes. @defaultValue 15000 */
  pingMs: number;
  /** Bytes queued for a slow reader before writers wait. @defaultValue 65536 */
  highWaterMark: number;
  /** A reader that takes nothing for this long is disconnected. @defaultValue 60000 */
  stuckMs: number;
  /** Reconnect delay the stream tells the client at its start. @defaultValue 2000 */
  retryMs: number;
  /** Live events held per watched task while the reader's buffer is full, before the reader is cut. @defaultValue 1000 */
  backlog: number;
  /** The engine's clock and timers (fake in tests). */
  clock: Clock;
  timers: Timers;
}

const encoder = new TextEncoder();
const PING = encoder.encode(": ping\n\n");

/** One event's frame as bytes. Ids must not hold CR or LF (they would split the frame); JSON data is one line. */
export function sseFrame(event: string, json: string, id?: string): Uint8Array {
  let frame = "";
  if (id !== undefined) {
    if (/[\r\n]/.test(id)) throw new Error("An event id may not contain CR or LF");
    frame += `id: ${id}\n`;
  }
  frame += `event: ${event}\ndata: ${json}\n\n`;
  return encoder.encode(frame);
}

/**
 * One timer per interval for all the open streams, not one each: ten
 * thousand idle watchers then cost ten thousand set entries, not ten
 * thousand timers and closures. A round writes a slice of streams per turn
 * (see TurnBudget), so a ping to ten thousand never holds the loop for all
 * of them. A stream's first tick may come sooner than the interval after it
 * opens, never later.
 */
export class Ticker {
  readonly streams = new Set<SseStream>();
  private cursor: Iterator<SseStream> | null = null;
  private readonly stop: CancelTimer;
  /** Turns the last round took, for tests. */
  turns = 0;

  constructor(
    timers: Timers,
    ms: number,
    private readonly onEmpty: (ticker: Ticker) => void,
  ) {
    this.stop = timers.every(ms, () => this.round());
  }

  leave(stream: SseStream): void {
    if (!this.streams.delete(stream) || this.streams.size > 0) return;
    this.stop();
    this.cursor = null;
    this.onEmpty(this);
  }

  private round(): void {
    // The last round is still going (a loop far behind): this one would only repeat it.
    if (this.cursor !== null) return;
    this.cursor = this.streams.values();
    this.turns = 0;
    this.slice();
  }

  private slice(): void {
    const cursor = this.cursor;
    if (cursor === null) return;
    this.turns++;
    const budget = new TurnBudget();
    for (;;) {
      if (!budget.take()) {
        setImmediate(() => this.slice());
        return;
      }
      const next = cursor.next();
      if (next.done) break;
      next.value.tick();
    }
    if (this.cursor === cursor) this.cursor = null;
  }
}

const tickers = new WeakMap<Timers, Map<number, Ticker>>();

function joinTicker(timers: Timers, ms: number, stream: SseStream): Ticker {
  let byMs = tickers.get(timers);
  if (!byMs) tickers.set(timers, (byMs = new Map()));
  const known = byMs;
  let ticker = known.get(ms);
  if (!ticker) {
    ticker = new Ticker(timers, ms, (done) => {
      if (known.get(ms) === done) known.delete(ms);
    });
    known.set(ms, ticker);
  }
  ticker.streams.add(stream);
  return ticker;
}

/** The shared ticker a stream with these options is on, for tests. */
export function tickerOf(timers: Timers, ms: number): Ticker | undefined {
  return tickers.get(timers)?.get(ms);
}

/**
 * Why a stream ended: the client left, the server closed it, the reader took
 * nothing for `stuckMs` (stuck), or it fell more than `backlog` events behind
 * while its buffer was full (behind).
 */
export type CloseReason = "client" | "server" | "stuck" | "behind";

/**
 * Told when a stream ends. An object (the registry, a fan-out member), not a
 * closure each: a closure and its context per stream add up over ten
 * thousand streams.
 */
export interface StreamCloseListener {
  streamClosed(sse: SseStream): void;
}

/** Told when the reader has taken what was queued and wants more (one per stream: its feeder). */
export interface DrainListener {
  drained(): void;
}

// The stream writing to each Node response, for the one "close" listener all of them share.
const streamOf = new WeakMap<ServerResponse, SseStream>();
function responseClosed(this: ServerResponse): void {
  streamOf.get(this)?.clientLeft();
}

// Beyond a frame's own bytes, what a write may add to the response's buffer (chunk framing; the headers, on the first).
const WRITE_SLACK = 1024;

/**
 * One Server-Sent Events response. Writers wait on {@link ready} so a slow
 * reader holds at most `highWaterMark` bytes here; what the writers skip
 * meanwhile is theirs to compact.
 *
 * Its bytes go one of two ways. On Node (`serve`, `toNodeListener`) the
 * handler hands it the ServerResponse ({@link attach}) and frames are
 * written straight to it: a stream then costs its socket and this object,
 * no web stream, reader and promise per write. Elsewhere they go to
 * {@link body}, a web ReadableStream. Bytes written before either exists
 * wait here, bounded like the rest.
 */
export class SseStream {
  private res: ServerResponse | null = null;
  private controller: ReadableStreamDefaultController<Uint8Array> | null = null;
  private webBody: ReadableStream<Uint8Array> | null = null;
  private early: Uint8Array[] | null = [];
  private earlyBytes = 0;
  private waiters: (() => void)[] | null = null;
  private closeListeners: ((() => void) | StreamCloseListener)[] | null = null;
  private readonly ticker: Ticker;
  // Made the first time the reader falls behind on Node: told when what it had not taken has gone to the socket.
  private flushed: (() => void) | null = null;
  /** Told when the reader has taken what was queued and wants more (one listener: the stream's feeder). */
  onDrain: DrainListener | null = null;
  private blockedSince: number | null = null;
  /** Why the stream ended, for logs and tests; null while it is open. */
  closeReason: CloseReason | null = null;

  /** `options` may be shared by every stream of a handler: it is only read. */
  constructor(private readonly options: SseOptions) {
    this.write(encoder.encode(`retry: ${options.retryMs}\n\n`), false);
    this.ticker = joinTicker(options.timers, Math.min(options.pingMs, options.stuckMs), this);
  }

  /** The stream as a web body, for runtimes that take a `Response` (made on first use; not with {@link attach}). */
  get body(): ReadableStream<Uint8Array> {
    if (this.webBody) return this.webBody;
    if (this.res) throw new Error("This stream writes to a Node response");
    this.webBody = new ReadableStream<Uint8Array>(
      {
        start: (controller) => {
          this.controller = controller;
        },
        pull: () => this.wake(),
        cancel: () => this.finish("client"),
      },
      new ByteLengthQueuingStrategy({ highWaterMark: this.options.highWaterMark }),
    );
    const early = this.takeEarly();
    for (const bytes of early) this.controller!.enqueue(bytes);
    if (this.done) {
      if (this.closeReason === "server") this.controller!.close();
      else if (this.closeReason !== "client") this.controller!.error(new Error(`reader ${this.closeReason}`));
    }
    return this.webBody;
  }

  /**
   * Writes to `res` from now on: the headers, what was written so far, then
   * every frame as it comes. The caller has made sure nothing else writes
   * to `res` (the handler answers @hono/node-server that it is sent).
   */
  attach(res: ServerResponse, status: number, headers: Record<string, string | string[]>): void {
    if (this.res || this.webBody) throw new Error("This stream already has somewhere to write");
    this.res = res;
    res.writeHead(status, headers);
    for (const bytes of this.takeEarly()) this.write(bytes, false);
    if (this.done) {
      if (this.closeReason === "server") res.end();
      else res.destroy();
      return;
    }
    // The client may have left while the route ran: its "close" has gone by.
    if (res.destroyed) return this.finish("client");
    streamOf.set(res, this);
    res.on("close", responseClosed);
    this.wake();
  }

  /** @internal The Node response closed under the stream (the client left, or it was ended). */
  clientLeft(): void {
    this.finish("client");
  }

  get closed(): boolean {
    return this.closeReason !== null;
  }

  /** Live events a feeder holds for this stream's reader while it is behind, before it is cut. */
  get backlog(): number {
    return this.options.backlog;
  }

  /** True while the reader keeps up. */
  get writable(): boolean {
    if (this.done) return false;
    if (this.res !== null) return this.res.writableLength < this.options.highWaterMark;
    if (this.controller !== null) return (this.controller.desiredSize ?? 0) > 0;
    return this.earlyBytes < this.options.highWaterMark;
  }

  /** Resolves when there is room for another event, or the stream has ended. */
  ready(): Promise<void> {
    if (this.done || this.writable) return Promise.resolve();
    return new Promise((resolve) => (this.waiters ??= []).push(resolve));
  }

  /**
   * What a watch feeding this stream is given: its backlog bound, and on
   * overflow the reader is cut if it is the one holding things up. Cut, not
   * closed: a close would wait behind the bytes the reader is not taking,
   * while a cut lets them go, and the client resumes with the id of the last
   * whole event it read (the log has the rest).
   */
  watchLimits(): { backlog: number; onOverflow: () => void } {
    return {
      backlog: this.options.backlog,
      onOverflow: () => {
        if (!this.writable) this.cut("behind");
      },
    };
  }

  /** Sends one event. Ids must not hold CR or LF (they would split the frame). */
  send(event: string, data: unknown, id?: string): void {
    this.sendJson(event, JSON.stringify(data), id);
  }

  /** Like `send`, with the data already JSON (which escapes newlines, so it is one line). */
  sendJson(event: string, json: string, id?: string): void {
    if (this.done) return;
    this.sendFrame(sseFrame(event, json, id));
  }

  /**
   * Sends a frame made by {@link sseFrame}: one made once and sent to many
   * streams. On Node it joins what else this turn writes to the socket
   * (one syscall for a burst of catch-up events).
   */
  sendFrame(frame: Uint8Array): void {
    if (this.done) return;
    this.write(frame, false);
  }

  /**
   * Sends a frame and hands it to the socket now, not at the end of the
   * turn: what a write costs is then spent where a slice of writes is timed
   * (the fan-out, the pings).
   */
  sendNow(frame: Uint8Array): void {
    if (this.done) return;
    this.write(frame, true);
  }

  onClose(listener: (() => void) | StreamCloseListener): void {
    if (this.closed) tell(listener, this);
    else (this.closeListeners ??= []).push(listener);
  }

  /** Ends the stream; `retryMs` tells the client when to come back (used at shutdown). */
  close(retryMs?: number): void {
    if (this.done) return;
    if (retryMs !== undefined) this.write(encoder.encode(`retry: ${retryMs}\n\n`), false);
    if (this.res !== null) this.res.end();
    else if (this.controller !== null) {
      try {
        this.controller.close();
      } catch {
        // Already errored by the reader.
      }
    }
    this.finish("server");
  }

  // The same bytes may sit in many streams' queues: nothing writes into them after this.
  private write(bytes: Uint8Array, now: boolean): void {
    const res = this.res;
    if (res !== null) {
      // A write that leaves the reader behind is told when it reaches the socket: the stream is writable again then (or after a later one).
      if (res.writableLength + bytes.byteLength + WRITE_SLACK >= this.options.highWaterMark) res.write(bytes, (this.flushed ??= () => this.wake()));
      else res.write(bytes);
      if (now) res.uncork();
      return;
    }
    if (this.controller !== null) {
      try {
        this.controller.enqueue(bytes);
      } catch {
        this.finish("client");
      }
      return;
    }
    this.early?.push(bytes);
    this.earlyBytes += bytes.byteLength;
  }

  private takeEarly(): Uint8Array[] {
    const early = this.early ?? [];
    this.early = null;
    this.earlyBytes = 0;
    return early;
  }

  /** @internal Called by the shared ticker. */
  tick(): void {
    if (this.done) return;
    if (this.writable) {
      this.blockedSince = null;
      this.write(PING, true);
      return;
    }
    const now = this.options.clock();
    this.blockedSince ??= now;
    if (now - this.blockedSince >= this.options.stuckMs) this.cut("stuck");
  }

  /** Ends the response abruptly (the server side lets go of the socket), for a reader that cannot keep up. */
  cut(reason: "stuck" | "behind"): void {
    if (this.done) return;
    if (this.res !== null) this.res.destroy();
    else if (this.controller !== null) {
      try {
        this.controller.error(new Error(`reader ${reason}`));
      } catch {
        // Already closed.
      }
    }
    this.finish(reason);
  }

  private wake(): void {
    if (!this.done && !this.writable) return;
    this.blockedSince = null;
    if (!this.done) this.onDrain?.drained();
    const waiters = this.waiters;
    if (waiters === null) return;
    this.waiters = null;
    for (const resolve of waiters) resolve();
  }

  private finish(reason: CloseReason): void {
    if (this.done) return;
    this.closeReason = reason;
    this.ticker.leave(this);
    this.wake();
    this.onDrain = null;
    const listeners = this.closeListeners;
    this.closeListeners = null;
    if (listeners !== null) for (const listener of listeners) tell(listener, this);
  }

  private get done(): boolean {
    return this.closeReason !== null;
  }
}

function tell(listener: (() => void) | StreamCloseListener, sse: SseStream): void {
  if (typeof listener === "function") listener();
  else listener.streamClosed(sse);
}

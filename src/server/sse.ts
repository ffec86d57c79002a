import type { CancelTimer, Clock, Timers } from "../engine/clock.js";
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
 * thousand timers and closures. A stream's first tick may come sooner than
 * the interval after it opens, never later.
 */
interface Ticker {
  streams: Set<SseStream>;
  stop: CancelTimer;
}
const tickers = new WeakMap<Timers, Map<number, Ticker>>();

function joinTicker(timers: Timers, ms: number, stream: SseStream): () => void {
  let byMs = tickers.get(timers);
  if (!byMs) tickers.set(timers, (byMs = new Map()));
  let ticker = byMs.get(ms);
  if (!ticker) {
    const streams = new Set<SseStream>();
    const stop = timers.every(ms, () => {
      for (const s of streams) s.tick();
    });
    ticker = { streams, stop };
    byMs.set(ms, ticker);
  }
  const joined = ticker;
  joined.streams.add(stream);
  return () => {
    if (!joined.streams.delete(stream) || joined.streams.size > 0) return;
    joined.stop();
    if (byMs.get(ms) === joined) byMs.delete(ms);
  };
}

/**
 * Why a stream ended: the client left, the server closed it, the reader took
 * nothing for `stuckMs` (stuck), or it fell more than `backlog` events behind
 * while its buffer was full (behind).
 */
export type CloseReason = "client" | "server" | "stuck" | "behind";

/**
 * One Server-Sent Events response. Writers wait on {@link ready} so a slow
 * reader holds at most `highWaterMark` bytes here; what the writers skip
 * meanwhile is theirs to compact.
 */
export class SseStream {
  readonly body: ReadableStream<Uint8Array>;
  private controller!: ReadableStreamDefaultController<Uint8Array>;
  private waiters: (() => void)[] = [];
  private closeListeners: (() => void)[] = [];
  private readonly stopTicks: () => void;
  /** Told when the reader has taken what was queued and wants more (one listener: the stream's feeder). */
  onDrain: (() => void) | null = null;
  private blockedSince: number | null = null;
  private done = false;
  /** Why the stream ended, for logs and tests. */
  closeReason: CloseReason | null = null;

  constructor(private readonly options: SseOptions) {
    this.body = new ReadableStream<Uint8Array>(
      {
        start: (controller) => {
          this.controller = controller;
        },
        pull: () => this.wake(),
        cancel: () => this.finish("client"),
      },
      new ByteLengthQueuingStrategy({ highWaterMark: options.highWaterMark }),
    );
    this.write(`retry: ${options.retryMs}\n\n`);
    this.stopTicks = joinTicker(options.timers, Math.min(options.pingMs, options.stuckMs), this);
  }

  get closed(): boolean {
    return this.done;
  }

  /** True while the reader keeps up. */
  get writable(): boolean {
    return !this.done && (this.controller.desiredSize ?? 0) > 0;
  }

  /** Resolves when there is room for another event, or the stream has ended. */
  ready(): Promise<void> {
    if (this.done || this.writable) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
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

  /** Sends a frame made by {@link sseFrame}: one made once and sent to many streams. */
  sendFrame(frame: Uint8Array): void {
    if (this.done) return;
    this.enqueue(frame);
  }

  onClose(listener: () => void): void {
    if (this.done) listener();
    else this.closeListeners.push(listener);
  }

  /** Ends the stream; `retryMs` tells the client when to come back (used at shutdown). */
  close(retryMs?: number): void {
    if (this.done) return;
    if (retryMs !== undefined) this.write(`retry: ${retryMs}\n\n`);
    try {
      this.controller.close();
    } catch {
      // Already errored by the reader.
    }
    this.finish("server");
  }

  private write(text: string): void {
    this.enqueue(encoder.encode(text));
  }

  // The same bytes may sit in many streams' queues: nothing writes into them after this.
  private enqueue(bytes: Uint8Array): void {
    try {
      this.controller.enqueue(bytes);
    } catch {
      this.finish("client");
    }
  }

  /** @internal Called by the shared ticker. */
  tick(): void {
    if (this.done) return;
    if (this.writable) {
      this.blockedSince = null;
      this.write(": ping\n\n");
      return;
    }
    const now = this.options.clock();
    this.blockedSince ??= now;
    if (now - this.blockedSince >= this.options.stuckMs) this.cut("stuck");
  }

  /** Ends the response abruptly (the server side lets go of the socket), for a reader that cannot keep up. */
  cut(reason: "stuck" | "behind"): void {
    if (this.done) return;
    try {
      this.controller.error(new Error(`reader ${reason}`));
    } catch {
      // Already closed.
    }
    this.finish(reason);
  }

  private wake(): void {
    this.blockedSince = null;
    if (!this.done) this.onDrain?.();
    const waiters = this.waiters;
    this.waiters = [];
    for (const resolve of waiters) resolve();
  }

  private finish(reason: CloseReason): void {
    if (this.done) return;
    this.done = true;
    this.closeReason = reason;
    this.stopTicks();
    this.wake();
    this.onDrain = null;
    const listeners = this.closeListeners;
    this.closeListeners = [];
    for (const listener of listeners) listener();
  }
}

import type { Logger as PinoLogger } from "pino";
import type { Outlast } from "../engine/outlast.js";
import type { AuthConfig, Principal } from "./auth.js";
import type { ServerMetrics } from "./metrics.js";
import type { OpsState } from "./ops-routes.js";
import type { ResolvedOptions } from "./options.js";
import type { RateLimiter } from "./rate-limit.js";
import type { SseOptions, SseStream, StreamCloseListener } from "./sse.js";
import type { TaskFanouts } from "./task-fanout.js";

/** What every route needs, built once per handler. */
export interface ServerContext {
  outlast: Outlast;
  options: ResolvedOptions;
  auth: AuthConfig;
  log: PinoLogger;
  metrics: ServerMetrics;
  streams: StreamRegistry;
  /** What every event stream of the handler is made with (one object for all of them). */
  sseOptions: SseOptions;
  /** The live streams of each watched task, written to together. */
  fanouts: TaskFanouts;
  authenticate(request: Request, allowQueryToken?: boolean): Promise<Principal>;
  /** New anonymous sessions per client address; null: no limit. */
  sessionLimiter: RateLimiter | null;
  /** The mount prefix ("" at the root), for what names the handler's own URLs. */
  basePath: string;
  /** The page at `/`, or null for none. */
  homePage: string | null;
  /** The dashboard's throughput figures. */
  ops: OpsState;
  /** The client's address (see `trustProxy`, `clientAddress`); `env` is what the server runtime passed with the request. */
  clientAddress(request: Request, env: unknown): string | null;
}

/** Open streams, counted per caller so one owner cannot hold them all. */
export class StreamRegistry implements StreamCloseListener {
  // Each open stream and the key it counts under.
  private readonly open = new Map<SseStream, string>();
  private readonly perKey = new Map<string, number>();

  /** Streams open now. */
  get size(): number {
    return this.open.size;
  }

  /** Counts a stream under `key`; false when `key` is at `limit` (null: no limit). */
  add(sse: SseStream, key: string, limit: number | null): boolean {
    const n = this.perKey.get(key) ?? 0;
    if (limit !== null && n >= limit) return false;
    this.perKey.set(key, n + 1);
    this.open.set(sse, key);
    sse.onClose(this);
    return true;
  }

  streamClosed(sse: SseStream): void {
    const key = this.open.get(sse);
    if (key === undefined) return;
    this.open.delete(sse);
    const left = (this.perKey.get(key) ?? 1) - 1;
    if (left <= 0) this.perKey.delete(key);
    else this.perKey.set(key, left);
  }

  closeAll(retryMs: number): void {
    for (const sse of [...this.open.keys()]) sse.close(retryMs);
  }
}

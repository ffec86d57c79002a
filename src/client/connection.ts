import { applyEvent } from "../core/fold.js";
import { backoffDelay, next, type ConnectionState, type Signal } from "./machine.js";
import { SseParser, type SseMessage } from "./sse-parser.js";
import type { ClientTimers } from "./timers.js";
import { OutlastClientError, type ConnectionView, type StreamEvent, type Task, type TaskEvent, type WatchHandlers } from "./types.js";
import type { Wakeups } from "./wakeups.js";

/** One `watch()` or `watchMine()` call. */
export interface Subscription {
  /** The task ids it follows, or "mine" for every task of the caller. */
  tasks: ReadonlySet<string> | "mine";
  handlers: WatchHandlers;
}

export interface ConnectionDeps {
  baseUrl: string;
  fetch: typeof fetch;
  credentials: RequestCredentials | undefined;
  token(): Promise<string | null>;
  /** A fresh token after a 401, or null when there is none. */
  refresh(): Promise<string | null>;
  /** Whether a task is still visible (for pruning after a 404); throws on network failure. */
  exists(id: string): Promise<boolean>;
  watchdogMs: number;
  maxBackoffMs: number;
  /** The lower cap while a watched task is unfinished: someone is looking at its bar. */
  unfinishedMaxBackoffMs: number;
  timers: ClientTimers;
  /** Ends a backoff early (`online`, the tab shown again); null for none. */
  wakeups: Wakeups | null;
  /** Called for every task that reached its final state. */
  onFinal(task: Task): void;
}

const FINAL = new Set(["succeeded", "failed", "canceled"]);

/**
 * The one connection a client keeps: every watched task of the tab on one
 * multi-task stream. Driven by the table in machine.ts; this class only
 * performs each state's entry action (SPEC.md).
 */
export class Connection {
  state: ConnectionState = "idle";
  /** From a drop until a stream is open again: what a page shows as "connection lost". */
  lost = false;
  private readonly subs = new Set<Subscription>();
  private readonly tasks = new Map<string, Task>();
  private cursor: string | undefined;
  private request: AbortController | null = null;
  private generation = 0;
  private attempt = 0;
  private retryBaseMs = 1000;
  private minDelayMs = 0;
  private timer: (() => void) | null = null;
  private watchdog: (() => void) | null = null;
  private unwake: (() => void) | null = null;
  private readonly viewers = new Set<(view: ConnectionView) => void>();
  private failure = new OutlastClientError(403, "forbidden", "The server refused to stream these tasks to this caller");

  constructor(private readonly deps: ConnectionDeps) {}

  add(sub: Subscription): void {
    this.subs.add(sub);
    for (const id of this.ids(sub)) {
      const task = this.tasks.get(id);
      if (task) sub.handlers.onTask?.(task);
    }
    this.signal("change");
  }

  remove(sub: Subscription): void {
    if (!this.subs.delete(sub)) return;
    this.signal(this.subs.size === 0 ? "empty" : "change");
  }

  close(): void {
    this.signal("close");
  }

  /** Calls `listener` on every change of state, whoever watches what. */
  observe(listener: (view: ConnectionView) => void): () => void {
    this.viewers.add(listener);
    return () => this.viewers.delete(listener);
  }

  /** Feed a signal to the machine; performs the entry action of the new state. */
  signal(signal: Signal): void {
    const to = next(this.state, signal);
    if (to === null) return;
    this.state = to;
    // Lost stays true through the attempts (connecting, refreshing) so a badge does not flicker between them.
    if (to === "backoff") this.lost = true;
    else if (to === "open" || to === "idle" || to === "failed" || to === "closed") this.lost = false;
    const view: ConnectionView = { state: to, lost: this.lost };
    for (const sub of this.subs) sub.handlers.onConnectionChange?.(to, view);
    for (const viewer of this.viewers) viewer(view);
    this.enter(to);
  }

  private enter(state: ConnectionState): void {
    switch (state) {
      case "connecting":
        this.stopRequest();
        void this.connect(this.generation);
        return;
      case "open":
        return;
      case "backoff": {
        this.stopRequest();
        const cap = this.hasUnfinished() ? Math.min(this.deps.maxBackoffMs, this.deps.unfinishedMaxBackoffMs) : this.deps.maxBackoffMs;
        const asked = this.minDelayMs;
        const delay = Math.max(asked, backoffDelay(this.attempt++, this.retryBaseMs, cap));
        this.minDelayMs = 0;
        this.timer = this.deps.timers.after(delay, () => {
          this.timer = null;
          this.signal("retryDue");
        });
        // A server that said when to come back (Retry-After) is not called earlier because the tab woke up.
        if (asked === 0) this.unwake = this.deps.wakeups?.(() => this.signal("wake")) ?? null;
        return;
      }
      case "refreshing": {
        this.stopRequest();
        const generation = this.generation;
        this.deps.refresh().then(
          (token) => generation === this.generation && this.signal(token ? "refreshed" : "refreshFailed"),
          () => generation === this.generation && this.signal("refreshFailed"),
        );
        this.failure = new OutlastClientError(401, "unauthorized", "The token was refused and no fresh one could be had");
        return;
      }
      case "pruning":
        this.stopRequest();
        void this.prune(this.generation);
        return;
      case "failed":
        this.stopRequest();
        this.fail(this.failure);
        return;
      case "idle":
      case "closed":
        this.stopRequest();
        return;
    }
  }

  /** Ends the current request and timers; results of older generations are ignored. */
  private stopRequest(): void {
    this.generation++;
    this.request?.abort();
    this.request = null;
    this.timer?.();
    this.timer = null;
    this.watchdog?.();
    this.watchdog = null;
    this.unwake?.();
    this.unwake = null;
  }

  /** A watched task not known to be finished (one not seen yet counts: it was watched for a reason). */
  private hasUnfinished(): boolean {
    for (const sub of this.subs) {
      const ids = sub.tasks === "mine" ? this.tasks.keys() : sub.tasks;
      for (const id of ids) {
        const task = this.tasks.get(id);
        if (!task || !FINAL.has(task.state)) return true;
      }
    }
    return false;
  }

  private url(): string {
    const mine = [...this.subs].some((s) => s.tasks === "mine");
    if (mine) return `${this.deps.baseUrl}/api/v1/events`;
    const ids = new Set<string>();
    for (const sub of this.subs) for (const id of this.ids(sub)) ids.add(id);
    return `${this.deps.baseUrl}/api/v1/events?tasks=${[...ids].map(encodeURIComponent).join(",")}`;
  }

  private ids(sub: Subscription): Iterable<string> {
    return sub.tasks === "mine" ? [] : sub.tasks;
  }

  private async connect(generation: number): Promise<void> {
    const controller = new AbortController();
    this.request = controller;
    const current = () => generation === this.generation;
    try {
      const headers: Record<string, string> = { accept: "text/event-stream" };
      const token = await this.deps.token();
      if (token) headers.authorization = `Bearer ${token}`;
      if (this.cursor) headers["last-event-id"] = this.cursor;
      this.armWatchdog(generation);
      const init: RequestInit = { headers, signal: controller.signal, cache: "no-store" };
      if (this.deps.credentials) init.credentials = this.deps.credentials;
      const response = await this.deps.fetch(this.url(), init);
      if (!current()) return void response.body?.cancel().catch(() => {});
      if (response.status === 200 && response.body) return await this.read(response.body, generation);
      if (response.status !== 403) await response.body?.cancel().catch(() => {});
      if (response.status === 204) return this.signal("ended");
      if (response.status === 401) return this.signal("unauthorized");
      if (response.status === 403) {
        this.failure = await errorOf(response);
        return this.signal("forbidden");
      }
      if (response.status === 404) return this.signal("notFound");
      const retryAfter = Number(response.headers.get("retry-after"));
      if (Number.isFinite(retryAfter) && retryAfter > 0) this.minDelayMs = retryAfter * 1000;
      this.signal("dropped");
    } catch {
      if (current()) this.signal("dropped");
    }
  }

  private async read(body: ReadableStream<Uint8Array>, generation: number): Promise<void> {
    const reader = body.getReader();
    const decoder = new TextDecoder();
    const parser = new SseParser(
      (message) => generation === this.generation && this.onMessage(message),
      (ms) => (this.retryBaseMs = Math.max(100, ms)),
    );
    this.signal("opened");
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (generation !== this.generation) break;
        if (done) {
          // The server ended the stream (shutdown, or a stuck-reader cut): come back after the backoff.
          this.signal("dropped");
          break;
        }
        this.armWatchdog(generation);
        parser.push(decoder.decode(value, { stream: true }));
      }
    } finally {
      reader.cancel().catch(() => {});
    }
  }

  /** No byte for `watchdogMs` (pings come every 15 s): the connection is dead even if TCP has not noticed. */
  private armWatchdog(generation: number): void {
    this.watchdog?.();
    this.watchdog = this.deps.timers.after(this.deps.watchdogMs, () => {
      this.watchdog = null;
      if (generation === this.generation) this.signal("dropped");
    });
  }

  private onMessage(message: SseMessage): void {
    let event: StreamEvent;
    try {
      const data = JSON.parse(message.data) as Record<string, unknown>;
      event = { ...data, type: message.event } as StreamEvent;
    } catch {
      return;
    }
    if (typeof event.taskId !== "string") return;
    this.attempt = 0;
    const task = this.apply(event);
    // The cursor moves only once the event is applied, so a reconnect never skips it.
    if (message.lastEventId) this.cursor = message.lastEventId;
    if (task === null) return;
    for (const sub of this.subs) {
      if (sub.tasks !== "mine" && !sub.tasks.has(event.taskId)) continue;
      const h = sub.handlers;
      h.onEvent?.(event);
      if (task) {
        if (event.type === "progress") h.onProgress?.(event.progress, task);
        if (event.type === "log") h.onLog?.(event.message, task);
        h.onTask?.(task);
        if (FINAL.has(task.state) && (event.type === "state" || event.type === "snapshot" || event.type === "reset")) h.onFinish?.(task);
      }
    }
    if (task && FINAL.has(task.state)) this.deps.onFinal(task);
  }

  /** Keeps the local copy of the task current; null for an event already applied (never expected, but harmless). */
  private apply(incoming: StreamEvent): Task | undefined | null {
    if (incoming.type === "snapshot" || incoming.type === "reset") {
      const whole = incoming as Extract<StreamEvent, { task: Task }>;
      this.tasks.set(whole.taskId, whole.task);
      return whole.task;
    }
    const event = incoming as TaskEvent;
    const known = this.tasks.get(event.taskId);
    if (!known) return undefined;
    if (event.seq <= known.lastSeq) return null;
    // The same rule the stores follow (src/core/fold.ts): a live page and a reloaded one agree.
    const task = applyEvent(known, event);
    this.tasks.set(event.taskId, task);
    return task;
  }

  /** After a 404 on a task list: drop the tasks that are gone and tell their watchers. */
  private async prune(generation: number): Promise<void> {
    const ids = new Set<string>();
    for (const sub of this.subs) for (const id of this.ids(sub)) ids.add(id);
    const gone: string[] = [];
    try {
      for (const id of ids) if (!(await this.deps.exists(id))) gone.push(id);
    } catch {
      if (generation === this.generation) this.signal("dropped");
      return;
    }
    if (generation !== this.generation) return;
    if (gone.length === 0) {
      this.failure = new OutlastClientError(404, "not_found", "The server refused the stream, yet every task exists");
      return this.signal("forbidden");
    }
    const error = new OutlastClientError(404, "not_found", "No such task (or not yours)");
    for (const sub of [...this.subs]) {
      if (sub.tasks === "mine") continue;
      const lost = gone.filter((id) => (sub.tasks as ReadonlySet<string>).has(id));
      if (lost.length === 0) continue;
      sub.handlers.onError?.(error);
      const left = new Set([...sub.tasks].filter((id) => !gone.includes(id)));
      if (left.size === 0) this.subs.delete(sub);
      else sub.tasks = left;
    }
    this.signal(this.subs.size === 0 ? "empty" : "pruned");
  }

  private fail(error: OutlastClientError): void {
    for (const sub of this.subs) sub.handlers.onError?.(error);
  }
}

/** The API's error body as an error, whatever the response holds. */
export async function errorOf(response: Response): Promise<OutlastClientError> {
  let code = response.status === 0 ? "network" : "http_" + response.status;
  let message = `The server answered ${response.status}`;
  let details: unknown;
  try {
    const body = (await response.json()) as { error?: { code?: unknown; message?: unknown; details?: unknown } };
    if (typeof body.error?.code === "string") code = body.error.code;
    if (typeof body.error?.message === "string") message = body.error.message;
    details = body.error?.details;
  } catch {
    // Not our JSON (a proxy's page): keep the generic message.
  }
  const retryAfter = Number(response.headers.get("retry-after"));
  return new OutlastClientError(response.status, code, message, details, Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter : null);
}

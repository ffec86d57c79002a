import { Connection, errorOf, type Subscription } from "./connection.js";
import type { ConnectionState } from "./machine.js";
import { defaultStorage, RememberedTasks } from "./remembered.js";
import { realTimers, type ClientTimers } from "./timers.js";
import { browserWakeups, type Wakeups } from "./wakeups.js";
import {
  OutlastClientError,
  type ClientSubmitOptions,
  type ConnectionView,
  type KeyValueStorage,
  type ListFilter,
  type WorkerKeyView,
  type GroupSubmit,
  type BulkAction,
  type BulkFilter,
  type QueueChange,
  type QueueView,
  type Task,
  type WatchHandlers,
} from "./types.js";

/** Options of {@link OutlastClient}. */
export interface OutlastClientOptions {
  /** Where the API is, e.g. "https://app.example" (no trailing /api/v1). Empty for the page's own origin. */
  baseUrl: string;
  /** A bearer token (owner or task token). Leave out to use the session cookie. */
  token?: string;
  /** Called before requests when there is no `token`, e.g. to read one from your app's state. */
  getToken?: () => string | null | Promise<string | null>;
  /** Called on a 401 for a fresh token; return null to give up. @defaultValue getToken */
  onUnauthorized?: () => string | null | Promise<string | null>;
  /**
   * With no token of its own, answer a 401 by asking the server for an anonymous
   * session (`POST /api/v1/session`) and going on as that owner, so a page of a
   * visitor who has not signed in needs no setup. @defaultValue false
   */
  anonymousSession?: boolean;
  /** Fetch credentials; "include" sends the session cookie across origins. @defaultValue "same-origin" */
  credentials?: RequestCredentials;
  /** Where unfinished task ids are remembered across reloads; null to remember nothing. @defaultValue localStorage, else memory */
  storage?: KeyValueStorage | null;
  /** Reconnect when no byte arrived for this long (the server pings every 15 s). @defaultValue 40000 */
  watchdogMs?: number;
  /** Longest wait between reconnect attempts. @defaultValue 30000 */
  maxBackoffMs?: number;
  /**
   * Longest wait between reconnect attempts while a watched task is
   * unfinished: a page showing a bar should come back soon after the server
   * does. @defaultValue 5000
   */
  unfinishedMaxBackoffMs?: number;
  /**
   * What ends a reconnect wait early; null for nothing.
   * @defaultValue browserWakeups(): the browser's `online` event and the tab becoming visible
   */
  wakeups?: Wakeups | null;
  /** The timers of reconnects and the watchdog. @defaultValue setTimeout */
  timers?: ClientTimers;
  /** A fetch implementation. @defaultValue globalThis.fetch */
  fetch?: typeof fetch;
}

/**
 * The Outlast API from a browser or Node: submit, read, cancel, and watch
 * tasks live. All of a client's watches share one connection, which
 * reconnects with backoff and resumes where it left off.
 * @example
 * const client = new OutlastClient({ baseUrl: "", token });
 * const { task } = await client.submit("demo.count", { to: 10 });
 * const stop = client.watch(task.id, { onTask: (t) => render(t.progress.percent) });
 */
export class OutlastClient {
  private readonly baseUrl: string;
  private token: string | null;
  private readonly options: OutlastClientOptions;
  private readonly fetcher: typeof fetch;
  private readonly remembered: RememberedTasks | null;
  private readonly connection: Connection;

  constructor(options: OutlastClientOptions) {
    if (typeof (options as Partial<OutlastClientOptions> | undefined)?.baseUrl !== "string") {
      throw new TypeError('new OutlastClient({ baseUrl }) needs the API\'s base URL: "" for this page\'s origin, or like "https://app.example/jobs"');
    }
    this.options = options;
    this.baseUrl = options.baseUrl.replace(/\/+$/, "");
    this.token = options.token ?? null;
    this.fetcher = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
    const storage = options.storage === undefined ? defaultStorage() : options.storage;
    this.remembered = storage ? new RememberedTasks(storage, this.baseUrl) : null;
    this.connection = new Connection({
      baseUrl: this.baseUrl,
      fetch: this.fetcher,
      credentials: options.credentials,
      token: () => this.currentToken(),
      refresh: () => this.refreshToken(),
      exists: async (id) => {
        const response = await this.send("GET", `/api/v1/tasks/${encodeURIComponent(id)}`);
        if (response.status === 404) return false;
        if (response.ok) return true;
        throw await errorOf(response);
      },
      watchdogMs: options.watchdogMs ?? 40_000,
      maxBackoffMs: options.maxBackoffMs ?? 30_000,
      unfinishedMaxBackoffMs: options.unfinishedMaxBackoffMs ?? 5_000,
      timers: options.timers ?? realTimers,
      wakeups: options.wakeups === undefined ? browserWakeups() : options.wakeups,
      onFinal: (task) => this.remembered?.remove(task.id),
    });
  }

  /** The shared connection's state. */
  get connectionState(): ConnectionState {
    return this.connection.state;
  }

  /** The shared connection as a page shows it: its state, and whether it is lost (dropped and not back yet). */
  get connectionView(): ConnectionView {
    return { state: this.connection.state, lost: this.connection.lost };
  }

  /**
   * Calls `listener` on every change of the shared connection, whatever is
   * watched (for one "connection lost" banner per page); returns the
   * function that stops.
   * @example client.onConnectionChange(({ lost }) => (banner.hidden = !lost));
   */
  onConnectionChange(listener: (view: ConnectionView) => void): () => void {
    return this.connection.observe(listener);
  }

  /** Submit a task; remembers its id until it finishes. 202 (new or resumed) and 200 (existing, by idempotency key) both resolve. */
  async submit(name: string, input?: unknown, options: ClientSubmitOptions = {}): Promise<{ task: Task; token: string }> {
    const body = await this.call<{ task: Task; token: string }>("POST", "/api/v1/tasks", { ...options, name, input });
    this.remembered?.add(body.task.id);
    return body;
  }

  /** One task per input, the same options for all, stored together or not at all (`POST /api/v1/tasks/batch`). */
  async submitMany(name: string, inputs: readonly unknown[], options: Omit<ClientSubmitOptions, "idempotencyKey" | "dedupe"> = {}): Promise<Task[]> {
    const { tasks } = await this.call<{ tasks: Task[] }>("POST", "/api/v1/tasks/batch", { ...options, name, inputs });
    for (const task of tasks) this.remembered?.add(task.id);
    return tasks;
  }

  async get(id: string): Promise<Task> {
    return (await this.call<{ task: Task }>("GET", `/api/v1/tasks/${encodeURIComponent(id)}`)).task;
  }

  async list(filter: ListFilter = {}): Promise<{ tasks: Task[]; nextCursor: string | null }> {
    const query = new URLSearchParams();
    for (const [key, value] of Object.entries(filter)) if (value !== undefined) query.set(key, String(value));
    const q = query.toString();
    return this.call("GET", `/api/v1/tasks${q ? `?${q}` : ""}`);
  }

  async cancel(id: string): Promise<Task> {
    return (await this.call<{ task: Task }>("POST", `/api/v1/tasks/${encodeURIComponent(id)}/cancel`)).task;
  }

  async retry(id: string): Promise<Task> {
    const task = (await this.call<{ task: Task }>("POST", `/api/v1/tasks/${encodeURIComponent(id)}/retry`)).task;
    this.remembered?.add(task.id);
    return task;
  }

  /** Submit a group (`POST /api/v1/groups`): its children run, then its `then` task; remembered like a task. */
  async submitGroup(group: GroupSubmit): Promise<{ task: Task; token: string }> {
    const body = await this.call<{ task: Task; token: string }>("POST", "/api/v1/groups", group);
    this.remembered?.add(body.task.id);
    return body;
  }

  /** A task's children in submit order, a page at a time. */
  async children(id: string, page: { limit?: number; cursor?: string } = {}): Promise<{ tasks: Task[]; nextCursor: string | null }> {
    const query = new URLSearchParams();
    if (page.limit !== undefined) query.set("limit", String(page.limit));
    if (page.cursor !== undefined) query.set("cursor", page.cursor);
    const q = query.toString();
    return this.call("GET", `/api/v1/tasks/${encodeURIComponent(id)}/children${q ? `?${q}` : ""}`);
  }

  /** Send a signal to a task (`ctx.waitForSignal` in its handler); `delivered` is false when it is kept until the task asks. */
  async signal(id: string, name: string, payload?: unknown): Promise<{ task: Task; delivered: boolean }> {
    return this.call("POST", `/api/v1/tasks/${encodeURIComponent(id)}/signals/${encodeURIComponent(name)}`, { payload: payload ?? null });
  }

  /** Dead letters, newest first, a page at a time (admin key); `since`/`until` are ISO times of when they failed. */
  async deadLetters(filter: DeadLetterView = {}): Promise<{ tasks: Task[]; nextCursor: string | null }> {
    const query = new URLSearchParams();
    for (const [key, value] of Object.entries(filter)) if (value !== undefined) query.set(key, String(value));
    const q = query.toString();
    return this.call("GET", `/api/v1/dead${q ? `?${q}` : ""}`);
  }

  /** Redrive (run again from their steps) or purge dead letters by ids or by filter (admin key); answers how many. */
  async deadAction(action: "redrive" | "purge", target: { ids: string[] } | { filter: Omit<DeadLetterView, "limit" | "cursor"> & { until?: string } }): Promise<number> {
    return (await this.call<{ count: number }>("POST", `/api/v1/dead/${action}`, target)).count;
  }

  /**
   * Cancel, retry or redrive every task matching `filter` (admin key), at
   * most 10,000 a call (call again for the rest); answers how many it
   * touched. A task that changed state meanwhile is skipped.
   * @example await client.bulk("cancel", { queue: "llm", owner: "alice", state: "queued" }); // → 3
   */
  async bulk(action: BulkAction, filter: BulkFilter): Promise<number> {
    const body: Record<string, string> = {};
    for (const [field, value] of Object.entries(filter) as [keyof BulkFilter, BulkFilter[keyof BulkFilter]][]) {
      if (value === undefined) continue;
      // Times go as ISO text, as the route takes them; a bad one is the server's 400 naming the field.
      const time = value instanceof Date ? value.getTime() : typeof value === "number" ? value : null;
      body[field] = time === null ? (value as string) : Number.isFinite(time) ? new Date(time).toISOString() : String(value);
    }
    return (await this.call<{ count: number }>("POST", "/api/v1/tasks/bulk", { action, filter: body })).count;
  }

  /** Every queue with its limits and counts (admin key). */
  async queues(): Promise<QueueView[]> {
    return (await this.call<{ queues: QueueView[] }>("GET", "/api/v1/queues")).queues;
  }

  /** Change a queue's limits on every node, pause or resume it, or `reset` it to what code declares (admin key). */
  async updateQueue(name: string, change: QueueChange): Promise<QueueView> {
    return (await this.call<{ queue: QueueView }>("PATCH", `/api/v1/queues/${encodeURIComponent(name)}`, change)).queue;
  }

  /** Make a worker key for workers over HTTP (admin key); the secret is in this answer only. */
  async createWorkerKey(name: string, queues: readonly string[]): Promise<{ key: WorkerKeyView; secret: string }> {
    return this.call("POST", "/api/v1/worker-keys", { name, queues });
  }

  /** Every worker key, newest first, revoked ones included (admin key). */
  async workerKeys(): Promise<WorkerKeyView[]> {
    return (await this.call<{ keys: WorkerKeyView[] }>("GET", "/api/v1/worker-keys")).keys;
  }

  /** Revoke a worker key: its workers' next calls are refused (admin key). */
  async revokeWorkerKey(id: string): Promise<WorkerKeyView> {
    return (await this.call<{ key: WorkerKeyView }>("DELETE", `/api/v1/worker-keys/${encodeURIComponent(id)}`)).key;
  }

  /** Ask the server for an anonymous session (sets its cookie); use the returned token or rely on the cookie. */
  async session(): Promise<{ owner: string; token: string }> {
    const body = await this.call<{ owner: string; token: string }>("POST", "/api/v1/session");
    return body;
  }

  /** Watch one task; returns the function that stops watching. */
  watch(id: string, handlers: WatchHandlers): () => void {
    return this.subscribe({ tasks: new Set([id]), handlers });
  }

  /** Watch several tasks on the shared connection. */
  watchMany(ids: readonly string[], handlers: WatchHandlers): () => void {
    if (ids.length === 0) return () => {};
    return this.subscribe({ tasks: new Set(ids), handlers });
  }

  /** Watch every task of the caller, including ones submitted later. */
  watchMine(handlers: WatchHandlers): () => void {
    return this.subscribe({ tasks: "mine", handlers });
  }

  /** Unfinished tasks this client submitted (kept across reloads). */
  rememberedTasks(): string[] {
    return this.remembered?.list() ?? [];
  }

  /** Re-attach to every remembered unfinished task with one call, e.g. after a page reload. */
  resume(handlers: WatchHandlers): () => void {
    return this.watchMany(this.rememberedTasks(), handlers);
  }

  /** Stop every watch and close the connection. */
  close(): void {
    this.connection.close();
  }

  private subscribe(sub: Subscription): () => void {
    this.connection.add(sub);
    let done = false;
    return () => {
      if (done) return;
      done = true;
      this.connection.remove(sub);
    };
  }

  private async currentToken(): Promise<string | null> {
    if (this.token) return this.token;
    if (this.options.getToken) return (await this.options.getToken()) ?? null;
    return null;
  }

  private async refreshToken(): Promise<string | null> {
    const refresh = this.options.onUnauthorized ?? this.options.getToken ?? (this.options.anonymousSession ? () => this.anonymousToken() : undefined);
    if (!refresh) return null;
    const token = (await refresh()) ?? null;
    if (token) this.token = token;
    return token;
  }

  // One session request at a time, however many calls got the 401 together.
  private pendingSession: Promise<string | null> | null = null;
  private anonymousToken(): Promise<string | null> {
    // Sent directly, not through call(): a refused session must not ask for a session again.
    this.pendingSession ??= this.send("POST", "/api/v1/session").then(
      async (response) => (response.ok ? ((await response.json()) as { token: string }).token : null),
      () => null,
    );
    const pending = this.pendingSession;
    void pending.finally(() => {
      if (this.pendingSession === pending) this.pendingSession = null;
    });
    return pending;
  }

  private async send(method: string, path: string, body?: unknown): Promise<Response> {
    const headers: Record<string, string> = {};
    const token = await this.currentToken();
    if (token) headers.authorization = `Bearer ${token}`;
    if (body !== undefined) headers["content-type"] = "application/json";
    const init: RequestInit = { method, headers };
    if (body !== undefined) init.body = JSON.stringify(body);
    if (this.options.credentials) init.credentials = this.options.credentials;
    try {
      return await this.fetcher(this.baseUrl + path, init);
    } catch (error) {
      throw new OutlastClientError(0, "network", `Could not reach ${this.baseUrl || "the server"}: ${error instanceof Error ? error.message : String(error)}`);
    }
  }

  private async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    let response = await this.send(method, path, body);
    if (response.status === 401 && (await this.refreshToken())) response = await this.send(method, path, body);
    if (!response.ok) throw await errorOf(response);
    return (await response.json()) as T;
  }
}

/** Filters of `GET /api/v1/dead`. */
export interface DeadLetterView {
  queue?: string;
  name?: string;
  code?: string;
  since?: string;
  until?: string;
  limit?: number;
  cursor?: string;
}

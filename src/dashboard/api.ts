import type { Task, TaskEvent, TaskState } from "../client/index.js";

export type { Task, TaskEvent, TaskState };

/** `GET /api/v1/queues`. */
export type { QueueView as QueueRow } from "../client/index.js";

/** `GET /api/v1/workers`. */
export interface WorkerRow {
  id: string;
  host: string;
  pid: number;
  queues: string[];
  startedAt: string;
  heartbeatAt: string;
  running: string[];
  /** A worker over HTTP and the key it uses; null for a process running the library. */
  remote: { keyId: string; keyName: string } | null;
}

/** `GET /api/v1/nodes`. */
export interface NodeRow {
  id: string;
  self: boolean;
  host: string;
  pid: number;
  startedAt: string;
  heartbeatAt: string | null;
  /** Event streams open on the node; null when the node does not report it. */
  streams: number | null;
  listeners: number | null;
  running: number;
}

// The server's own types: type-only, so nothing of the server enters the bundle.
export type { StatsBucket, StatsSeries as Stats } from "../server/task-stats.js";

/** `GET /api/v1/tasks/:id/detail`. */
export interface TaskDetail {
  task: Task;
  input: unknown;
  checkpoint: unknown;
  idempotencyKey: string | null;
  timeoutMs: number | null;
  workerId: string | null;
  cancelRequested: boolean;
  events: TaskEvent[];
  nextAfter: number | null;
}

export interface TaskPage {
  tasks: Task[];
  nextCursor: string | null;
}

/** A parent's children by state (`progress.children`). */
export type ChildCounts = NonNullable<Task["progress"]["children"]>;

/** What a waiting task waits for (`waitingFor`). */
export type WaitingFor = NonNullable<Task["waitingFor"]>;

/** `POST /api/v1/tasks/:id/signals/:name`. */
export interface SignalAnswer {
  task: Task;
  /** False when the task was not waiting for it yet: it is kept until the task asks. */
  delivered: boolean;
}

/** An error answer of the API, shown to the operator as it came. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** Calls to the server's API with the admin key. */
export class Api {
  /** `onUnauthorized`: the server refused the key (it restarted with another one), so every panel would fail alike. */
  constructor(
    readonly baseUrl: string,
    readonly key: string,
    private readonly onUnauthorized: () => void = () => {},
  ) {}

  get<T>(path: string): Promise<T> {
    return this.call<T>("GET", path);
  }

  post<T>(path: string, body?: unknown): Promise<T> {
    return this.call<T>("POST", path, body);
  }

  patch<T>(path: string, body: unknown): Promise<T> {
    return this.call<T>("PATCH", path, body);
  }

  private async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    let response: Response;
    const headers: Record<string, string> = { authorization: `Bearer ${this.key}` };
    if (body !== undefined) headers["content-type"] = "application/json";
    try {
      response = await fetch(this.baseUrl + path, { method, headers, cache: "no-store", ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
    } catch {
      throw new ApiError(0, "network", "The server cannot be reached");
    }
    if (response.status === 401) this.onUnauthorized();
    if (!response.ok) {
      const body = (await response.json().catch(() => null)) as { error?: { code?: string; message?: string } } | null;
      throw new ApiError(response.status, body?.error?.code ?? "error", body?.error?.message ?? `HTTP ${response.status}`);
    }
    return (await response.json()) as T;
  }
}

/** A query string from the set fields. */
export function query(params: Record<string, string | number | undefined | null>): string {
  const q = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) if (value !== undefined && value !== null && value !== "") q.set(key, String(value));
  const text = q.toString();
  return text ? `?${text}` : "";
}

import { OutlastClient, type ConnectionState, type StreamEvent, type Task } from "../client/index.js";

type Listener = () => void;

/**
 * The dashboard's one live connection: the admin's all-tasks stream
 * (`GET /api/v1/events` with no `tasks=`). It keeps the running tasks, tells
 * pages about task changes, and batches notifications to one per frame so a
 * burst of thousands of events re-renders once.
 */
export class LiveFeed {
  readonly running = new Map<string, Task>();
  connection: ConnectionState = "idle";
  /** The stream dropped and is not back yet (the client's `lost`). */
  lost = false;
  /** Rises on every state change of any task, so views that count tasks know to reload. */
  stateVersion = 0;
  private readonly client: OutlastClient;
  private readonly stop: () => void;
  private readonly listeners = new Set<Listener>();
  private readonly taskListeners = new Map<string, Set<(task: Task, event: StreamEvent) => void>>();
  private readonly anyTaskListeners = new Set<(task: Task) => void>();
  private scheduled = false;

  /** `onUnauthorized`: the stream was refused the key (the client has no other token to try). */
  constructor(baseUrl: string, key: string, onUnauthorized: () => void = () => {}) {
    this.client = new OutlastClient({ baseUrl, token: key, storage: null });
    this.stop = this.client.watchMine({
      onEvent: (event) => this.onEvent(event),
      onTask: (task) => this.onTask(task),
      onError: (error) => {
        if (error.status === 401) onUnauthorized();
      },
      onConnectionChange: (state, view) => {
        this.connection = state;
        this.lost = view.lost;
        this.changed();
      },
    });
  }

  close(): void {
    this.stop();
    this.client.close();
  }

  /** Called (at most once per frame) after anything changed. */
  subscribe(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Every event of one task, with the task as it is after it. */
  onTaskEvent(id: string, listener: (task: Task, event: StreamEvent) => void): () => void {
    let set = this.taskListeners.get(id);
    if (!set) this.taskListeners.set(id, (set = new Set()));
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size > 0) return;
      this.taskListeners.delete(id);
      this.latest.delete(id);
    };
  }

  /** Every task update, for tables that patch the rows they show. */
  onAnyTask(listener: (task: Task) => void): () => void {
    this.anyTaskListeners.add(listener);
    return () => this.anyTaskListeners.delete(listener);
  }

  /** The last copy of each task a page listens to (only those: the stream may carry thousands). */
  private readonly latest = new Map<string, Task>();

  private onTask(task: Task): void {
    if (this.taskListeners.has(task.id)) this.latest.set(task.id, task);
    if (task.state === "running") this.running.set(task.id, task);
    else this.running.delete(task.id);
    for (const listener of this.anyTaskListeners) listener(task);
    this.changed();
  }

  private onEvent(event: StreamEvent): void {
    if (event.type === "state" || event.type === "snapshot" || event.type === "reset") this.stateVersion++;
    const set = this.taskListeners.get(event.taskId);
    if (!set) return;
    // onTask runs after onEvent for the same event; hand listeners the task it makes.
    queueMicrotask(() => {
      const task = this.latest.get(event.taskId);
      if (task) for (const listener of set) listener(task, event);
    });
  }

  private changed(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    const flush = () => {
      this.scheduled = false;
      for (const listener of this.listeners) listener();
    };
    if (typeof requestAnimationFrame === "function" && document.visibilityState === "visible") requestAnimationFrame(flush);
    else setTimeout(flush, 100);
  }
}

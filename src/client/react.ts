import { createContext, createElement, useContext, useMemo, useSyncExternalStore, type ReactNode } from "react";
import type { OutlastClient } from "./client.js";
import type { ConnectionState } from "./machine.js";
import type { ConnectionView, OutlastClientError, Progress, Task, TaskState } from "./types.js";

/** What `useTask` returns. Everything is null until the first snapshot arrives. */
export interface TaskView {
  task: Task | null;
  progress: Progress | null;
  state: TaskState | null;
  error: OutlastClientError | null;
}

/** What `useUnfinishedTasks` returns. */
export interface UnfinishedTasksView {
  /** Tasks that were unfinished when this page first saw them, oldest first; they stay (in their final state) once they finish. */
  tasks: readonly Task[];
  connection: ConnectionState | null;
  /** The stream dropped and is not back yet (see {@link ConnectionView}): show "connection lost". */
  connectionLost: boolean;
  error: OutlastClientError | null;
}

interface ExternalStore<T> {
  subscribe(onChange: () => void): () => void;
  getSnapshot(): T;
}

const EMPTY: TaskView = { task: null, progress: null, state: null, error: null };

/**
 * Shares one watch among all subscribers and runs it only while someone
 * is subscribed: the shape React's useSyncExternalStore wants.
 */
function sharedWatch<T>(initial: T, start: (set: (next: T) => void, get: () => T) => () => void): ExternalStore<T> {
  let view = initial;
  const listeners = new Set<() => void>();
  let stop: (() => void) | null = null;
  const set = (next: T) => {
    view = next;
    for (const listener of listeners) listener();
  };
  return {
    getSnapshot: () => view,
    subscribe(onChange) {
      listeners.add(onChange);
      stop ??= start(set, () => view);
      return () => {
        listeners.delete(onChange);
        if (listeners.size === 0 && stop) {
          stop();
          stop = null;
        }
      };
    },
  };
}

/**
 * A live view of one task for any UI library: `subscribe` + `getSnapshot`.
 * Watches only while someone is subscribed.
 */
export function taskStore(client: OutlastClient, id: string | null): ExternalStore<TaskView> {
  return sharedWatch(EMPTY, (set, get) =>
    id
      ? client.watch(id, {
          onTask: (task) => set({ task, progress: task.progress, state: task.state, error: null }),
          onError: (error) => set({ ...get(), error }),
        })
      : () => {},
  );
}

/**
 * Every unfinished task of the caller (this browser's session, or the
 * owner of the client's token), including ones submitted later, on the
 * client's one shared connection.
 */
export function unfinishedTasksStore(client: OutlastClient): ExternalStore<UnfinishedTasksView> {
  return sharedWatch<UnfinishedTasksView>({ tasks: [], connection: null, connectionLost: false, error: null }, (set, get) => {
    const order: string[] = [];
    const byId = new Map<string, Task>();
    return client.watchMine({
      onTask: (task) => {
        if (!byId.has(task.id)) {
          // A task first seen already finished (a snapshot of an old one) is not "unfinished".
          if (task.state === "succeeded" || task.state === "failed" || task.state === "canceled") return;
          order.push(task.id);
        }
        byId.set(task.id, task);
        set({ ...get(), tasks: order.map((id) => byId.get(id)).filter((t): t is Task => t !== undefined), error: null });
      },
      onConnectionChange: (connection, view) => set({ ...get(), connection, connectionLost: view.lost }),
      onError: (error) => set({ ...get(), error }),
    });
  });
}

/** The client's shared connection, live, whatever is watched. */
export function connectionStore(client: OutlastClient): ExternalStore<ConnectionView> {
  let view = client.connectionView;
  return {
    getSnapshot: () => view,
    subscribe: (onChange) => {
      view = client.connectionView;
      return client.onConnectionChange((next) => {
        view = next;
        onChange();
      });
    },
  };
}

const ClientContext = createContext<OutlastClient | null>(null);

/**
 * Makes a client available to `useTask` and `useUnfinishedTasks` below it.
 * @example
 * const client = new OutlastClient({ baseUrl: "" });
 * root.render(<OutlastProvider client={client}><App /></OutlastProvider>);
 */
export function OutlastProvider(props: { client: OutlastClient; children?: ReactNode }): ReactNode {
  return createElement(ClientContext.Provider, { value: props.client }, props.children);
}

/** The client of the nearest `OutlastProvider`. */
export function useOutlastClient(): OutlastClient {
  const client = useContext(ClientContext);
  if (!client) throw new Error("useOutlastClient: wrap your components in <OutlastProvider client={…}>");
  return client;
}

/**
 * One task, live: re-renders on every saved progress and state change, and
 * catches up on its own after a reload or a lost connection.
 * @example
 * const { progress, state } = useTask(id);
 * return <progress value={progress?.percent ?? 0} max={100} />;
 */
export function useTask(id: string | null): TaskView {
  const client = useOutlastClient();
  const store = useMemo(() => taskStore(client, id), [client, id]);
  return useSyncExternalStore(store.subscribe, store.getSnapshot, store.getSnapshot);
}

/**
 * Every unfinished task of this browser (or of the token's owner), live — what
 * a page shows again after a reload, with no ids kept by hand.
 * @example
 * const { tasks } = useUnfinishedTasks();
 * return tasks.map((t) => <Bar key={t.id} task={t} />);
 */
export function useUnfinishedTasks(): UnfinishedTasksView {
  const client = useOutlastClient();
  const store = useMemo(() => unfinishedTasksStore(client), [client]);
  return useSyncExternalStore(store.subscribe, store.getSnapshot, store.getSnapshot);
}

/**
 * The client's one connection: its state and whether it is lost, for a
 * "connection lost — reconnecting…" banner.
 * @example
 * const { lost } = useConnection();
 * return lost ? <p role="status">Connection lost, reconnecting…</p> : null;
 */
export function useConnection(): ConnectionView {
  const client = useOutlastClient();
  const store = useMemo(() => connectionStore(client), [client]);
  return useSyncExternalStore(store.subscribe, store.getSnapshot, store.getSnapshot);
}

import type { OutlastClient } from "./client.js";
import type { OutlastClientError, Progress, Task, TaskState } from "./types.js";

/** What `useTask` returns. Everything is null until the first snapshot arrives. */
export interface TaskView {
  task: Task | null;
  progress: Progress | null;
  state: TaskState | null;
  error: OutlastClientError | null;
}

/**
 * The few React functions the binding needs, typed structurally so the
 * package does not depend on React (pass `React` itself).
 */
export interface ReactHooks {
  useSyncExternalStore<T>(subscribe: (onChange: () => void) => () => void, getSnapshot: () => T): T;
  useMemo<T>(factory: () => T, deps: readonly unknown[]): T;
}

const EMPTY: TaskView = { task: null, progress: null, state: null, error: null };

/**
 * A live view of one task for any UI library: `subscribe` + `getSnapshot`
 * (the shape of React's useSyncExternalStore). Watches only while someone
 * is subscribed.
 */
export function taskStore(client: OutlastClient, id: string | null): { subscribe(onChange: () => void): () => void; getSnapshot(): TaskView } {
  let view = EMPTY;
  const listeners = new Set<() => void>();
  let stop: (() => void) | null = null;
  const set = (next: TaskView) => {
    view = next;
    for (const listener of listeners) listener();
  };
  return {
    getSnapshot: () => view,
    subscribe(onChange) {
      listeners.add(onChange);
      if (!stop && id) {
        stop = client.watch(id, {
          onTask: (task) => set({ task, progress: task.progress, state: task.state, error: null }),
          onError: (error) => set({ ...view, error }),
        });
      }
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
 * React hooks bound to a client.
 * @example
 * import * as React from "react";
 * export const { useTask } = createOutlastHooks(React, client);
 * function Bar({ id }) { const { progress, state } = useTask(id); return <progress value={progress?.percent ?? 0} max={100} />; }
 */
export function createOutlastHooks(react: ReactHooks, client: OutlastClient): { useTask(id: string | null): TaskView } {
  return {
    useTask(id) {
      const store = react.useMemo(() => taskStore(client, id), [id]);
      return react.useSyncExternalStore(store.subscribe, store.getSnapshot);
    },
  };
}

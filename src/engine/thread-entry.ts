// The worker-thread side of runInThread(): gives the handler a context
// whose writes are forwarded to the real one in the main thread.
import { parentPort, workerData } from "node:worker_threads";
import { UnrecoverableError } from "../core/errors.js";
import type { StepResult } from "../core/json.js";
import type { Progress } from "../core/progress.js";
import type { TaskContext } from "./context.js";
import { flatten, reviveThreadError as revive, type FromThread, type ThreadStart, type ToThread } from "./thread-protocol.js";

const port = parentPort!;
const start = workerData as ThreadStart;
const controller = new AbortController();
const steps = new Map(start.steps);
const pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: unknown) => void }>();
let nextId = 1;
let latest: Progress | null = null;
let flushTimer: NodeJS.Timeout | null = null;

const send = (message: FromThread, transfer: ArrayBuffer[] = []) => port.postMessage(message, transfer);

type Call = Extract<FromThread, { t: "call" }>;
type CallBody = Call extends infer C ? (C extends Call ? Omit<C, "id" | "t"> : never) : never;

function call<T>(message: CallBody, transfer: ArrayBuffer[] = []): Promise<T> {
  const id = nextId++;
  flushProgress();
  return new Promise<T>((resolve, reject) => {
    pending.set(id, { resolve: resolve as (value: unknown) => void, reject });
    send({ t: "call", id, ...message } as FromThread, transfer);
  });
}

// Progress may be reported millions of times a second; only the latest crosses, at most every 50 ms.
function flushProgress(): void {
  if (flushTimer) clearTimeout(flushTimer);
  flushTimer = null;
  if (latest) send({ t: "progress", progress: latest });
  latest = null;
}

port.on("message", (message: ToThread) => {
  if (message.t === "abort") {
    controller.abort(revive(message.reason));
    return;
  }
  const waiter = pending.get(message.id);
  if (!waiter) return;
  pending.delete(message.id);
  if (message.ok) waiter.resolve(message.value);
  else waiter.reject(revive(message.error));
});

const ctx: TaskContext = {
  task: { ...start.task, createdAt: new Date(start.task.createdAt) },
  attempt: start.task.attempt,
  signal: controller.signal,
  lastCheckpoint: start.lastCheckpoint ?? undefined,
  progress(progress: Progress) {
    latest = progress;
    flushTimer ??= setTimeout(flushProgress, 50);
  },
  async step<T>(name: string, fn: () => T | Promise<T>): Promise<StepResult<T>> {
    if (steps.has(name)) return steps.get(name) as StepResult<T>;
    controller.signal.throwIfAborted();
    const value = await fn();
    const stored = await call<StepResult<T>>({ op: "step", name, value: value === undefined ? null : value });
    steps.set(name, stored);
    return stored;
  },
  checkpoint: (data: unknown) => call<void>({ op: "checkpoint", data }),
  setTitle: (title: string) => call<void>({ op: "title", title }),
  log: (message: string) => call<void>({ op: "log", message: String(message) }),
  async saveArtifact(name: string, data: string | Uint8Array, options: { contentType?: string } = {}) {
    const bytes = typeof data === "string" ? new TextEncoder().encode(data) : new Uint8Array(data);
    return call({ op: "artifact", name, bytes, contentType: options.contentType }, [bytes.buffer as ArrayBuffer]);
  },
  sleep: notInThread("sleep"),
  sleepUntil: notInThread("sleepUntil"),
  waitForSignal: notInThread("waitForSignal"),
  child: notInThread("child"),
  runChildren: notInThread("runChildren"),
};

/** Waits and children need the engine's store: a thread handler does its waiting in a task that runs in the main thread. */
function notInThread(name: string): () => Promise<never> {
  return () => Promise.reject(new UnrecoverableError(`ctx.${name} is not available to a handler in a worker thread; call it from a task that runs in the main thread`, { code: "not_in_thread" }));
}

try {
  const mod = (await import(start.module)) as Record<string, unknown>;
  const handler = mod[start.exportName];
  if (typeof handler !== "function") {
    throw new UnrecoverableError(`${start.module} has no function export "${start.exportName}"`, { code: "bad_thread_module" });
  }
  // Starting a thread takes a moment; a cancel may have come first.
  controller.signal.throwIfAborted();
  send({ t: "started" });
  const value: unknown = await handler(start.input, ctx);
  flushProgress();
  send({ t: "done", value: value === undefined ? null : value });
} catch (error) {
  flushProgress();
  send({ t: "fail", error: flatten(error) });
}

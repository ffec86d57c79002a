export { OutlastClient } from "./client.js";
export type { OutlastClientOptions } from "./client.js";
export { OutlastClientError } from "./types.js";
export type {
  WatchHandlers,
  StreamEvent,
  ClientSubmitOptions,
  ListFilter,
  GroupSubmit,
  KeyValueStorage,
  Task,
  TaskError,
  TaskState,
  TaskEvent,
  Progress,
  ConnectionState,
  ConnectionView,
  QueueView,
  WorkerKeyView,
  QueueChange,
  BulkAction,
  BulkFilter,
} from "./types.js";
export { SseParser } from "./sse-parser.js";
export { browserWakeups } from "./wakeups.js";
export type { Wakeups, WakeTarget, VisibilityTarget } from "./wakeups.js";
export type { ClientTimers } from "./timers.js";
export { newerCopy } from "../core/fold.js";
export type { SseMessage } from "./sse-parser.js";

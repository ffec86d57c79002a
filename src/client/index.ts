export { OutlastClient } from "./client.js";
export type { OutlastClientOptions } from "./client.js";
export { OutlastClientError } from "./types.js";
export type {
  WatchHandlers,
  StreamEvent,
  ClientSubmitOptions,
  ListFilter,
  KeyValueStorage,
  Task,
  TaskError,
  TaskState,
  TaskEvent,
  Progress,
  ConnectionState,
  QueueView,
  QueueChange,
} from "./types.js";
export { SseParser } from "./sse-parser.js";
export { newerCopy } from "../core/fold.js";
export type { SseMessage } from "./sse-parser.js";

export { Outlast } from "./engine/outlast.js";
export type { OutlastOptions, StopOptions, LifecycleEvents, OwnerScope, QueueLimitsChange } from "./engine/outlast.js";
export type { QueueLimits, QueueSettings } from "./core/queue-limits.js";
export type { TaskDefinition, TaskSpec, TaskDeclaration, SubmitOptions, SubmitDedupe, QueueOptions, KeyedConcurrencyOption, RateLimitOption, DefinedTask } from "./engine/definitions.js";
export type { DedupeMode } from "./core/dedupe.js";
export { declareTask } from "./engine/declaration.js";
export type { Jsonified, StepResult } from "./core/json.js";
export type { TaskContext, TaskInfo } from "./engine/context.js";
export type { WatchEvent, WatchOptions } from "./engine/watch.js";
export type { Clock, Logger, Timers, CancelTimer } from "./engine/clock.js";
export {
  OutlastError,
  UnrecoverableError,
  RetryLaterError,
  QueueFullError,
  InvalidInputError,
  TaskAbortedError,
  SignalTimeoutError,
  ChildTaskFailedError,
  isOutlastError,
} from "./core/errors.js";
export type { ChildSpec, ChildOptions, ChildHandle, RunChildrenOptions, SignalWaitOptions } from "./engine/context-waits.js";
export type { GroupRequest, GroupChild } from "./engine/families.js";
export type { FailurePolicy, ChildCounts, ChildOutcome, WaitingFor } from "./core/waits.js";
export type { ErrorCode, AbortCode, InputIssue } from "./core/errors.js";
export type { Task, TaskError } from "./core/task.js";
export type { DeadLetterInput, DeadLetterQuery, DeadLetterTarget } from "./engine/dead-letters.js";
export type { BulkAction, BulkFilter } from "./engine/bulk.js";
export { POISON_PILL } from "./core/dead-letters.js";
export type { TaskState } from "./core/states.js";
export type { TaskEvent, TaskEventType, StateReason } from "./core/events.js";
export type { Progress } from "./core/progress.js";
export type { BackoffOptions } from "./core/backoff.js";
export { idempotencyKeyOf } from "./core/idempotency.js";
export type { Store, WorkerKeyRecord, WorkerHeartbeat, RemoteWorkerKey } from "./store/store.js";
export { fileArtifacts } from "./engine/artifacts.js";
export { runInThread } from "./engine/thread.js";
export type { ThreadOptions } from "./engine/thread.js";
export type { ArtifactStore, ArtifactInfo, ArtifactData } from "./engine/artifacts.js";

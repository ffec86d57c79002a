import { OutlastError, RetryLaterError, UnrecoverableError } from "../core/errors.js";
import { normalizeProgress, type Progress } from "../core/progress.js";
import type { TaskState } from "../core/states.js";
import type { TaskError, TaskRecord } from "../core/task.js";
import { checkTitle } from "../core/title.js";
import type { FinishOutcome, Lease, Store, WorkerKeyRecord } from "../store/store.js";
import { checkArtifactName, type ArtifactInfo, type ArtifactStore } from "./artifacts.js";
import { attemptOutcome, type AbortCause, type HandlerEnd } from "./attempt-outcome.js";
import type { CancelTimer, Clock, Logger, Timers } from "./clock.js";
import type { RegisteredDefinition } from "./definitions.js";
import type { Hub } from "./hub.js";

/** A worker over HTTP, as its key and its own calls name it. */
export interface RemoteWorker {
  id: string;
  /** Where it runs, when this call says so (else what an earlier call said, else `address`). */
  host: string | null;
  pid: number | null;
  /** The caller's address, as the server sees it. */
  address: string | null;
  key: WorkerKeyRecord;
}

/** A lease handed to a worker over HTTP: the store's lease and the length the worker asked for (each renewal extends it by as much). */
export interface RemoteLease extends Lease {
  leaseMs: number;
}

export interface RemoteClaim {
  task: TaskRecord;
  lease: RemoteLease;
  leaseExpiresAt: number;
  steps: Map<string, unknown>;
  timeoutMs: number | null;
  stallMs: number | null;
}

export interface RemoteLeaseStatus {
  taskId: string;
  held: boolean;
  cancelRequested: boolean;
  leaseExpiresAt: number | null;
  /** The task's state now when the lease is lost (null: the task is gone). */
  state: TaskState | null;
}

/** How a worker over HTTP says its attempt ended. */
export type RemoteEnd =
  | { outcome: "succeeded"; result?: unknown }
  | { outcome: "failed"; error: TaskError; retryable?: boolean }
  | { outcome: "retry"; afterMs: number; error?: TaskError }
  | { outcome: "released" };

export interface RemoteWorkDeps {
  store: Store;
  clock: Clock;
  timers: Timers;
  logger: Logger;
  hub: Hub;
  definition(name: string): RegisteredDefinition | undefined;
  abortGraceMs: number;
  artifacts: ArtifactStore | null;
  /** Whether this process's runner already recovers expired leases. */
  recovering(): boolean;
}

/** What the server knows of one attempt a worker over HTTP holds: enough to apply its time limits and a cancel's grace. */
interface Attempt {
  token: number;
  queue: string;
  task: Pick<TaskRecord, "attempt" | "maxAttempts" | "name">;
  startedAt: number;
  lastActive: number;
  lastSeen: number;
  leaseMs: number;
  timeoutMs: number | null;
  stallMs: number | null;
  /** When a heartbeat first told the worker of a cancel; the grace counts from there. */
  cancelToldAt: number | null;
  workerId: string | null;
}

const RETRY_LATER: TaskError = { message: "The worker asked to retry later", code: "retry_later" };
const RECOVER_EVERY_MS = 1000;
/** Bookkeeping of attempts and workers not heard of for this long is dropped (their leases ran out long ago). */
const FORGET_AFTER_MS = 10 * 60_000;

/**
 * The engine's side of workers over HTTP (server/worker-routes.ts): claims
 * for them, and every write they make under a lease, with the rules an
 * in-process execution applies — its time limit, its stall limit and a
 * cancel's grace are checked at each call of the worker (the server has no
 * handler to abort), and how an attempt ends is decided by the same
 * `attemptOutcome` (attempt-outcome.ts). The store fences every write, so a
 * lost lease changes nothing; this throws `lease_lost` for it.
 */
export class RemoteWork {
  private readonly attempts = new Map<string, Attempt>();
  private readonly workers = new Map<string, { host: string | null; pid: number; startedAt: number; running: Set<string>; lastSeen: number }>();
  private stopRecovery: CancelTimer | null = null;
  private closed = false;

  constructor(private readonly deps: RemoteWorkDeps) {}

  /**
   * Claims up to `limit` tasks of `names` (each on a queue of the worker's
   * key), queue by queue; with nothing to claim, waits up to `waitMs` for
   * work. Tasks claimed after `signal` aborted (the caller left) are handed back.
   */
  async claim(worker: RemoteWorker, request: { names: readonly string[]; limit: number; leaseMs: number; waitMs: number }, signal: AbortSignal): Promise<RemoteClaim[]> {
    const byQueue = new Map<string, string[]>();
    for (const name of request.names) {
      const registered = this.deps.definition(name);
      if (!registered) throw new OutlastError("unknown_task_name", `No task named "${name}" is declared on this server: declare it with outlast.remote("${name}", { queue })`, { details: { name } });
      this.mayUse(worker, registered.queue);
      const names = byQueue.get(registered.queue) ?? [];
      byQueue.set(registered.queue, names);
      names.push(name);
    }
    this.startRecovery();
    const deadline = this.deps.clock() + request.waitMs;
    let claimed: RemoteClaim[] = [];
    try {
      claimed = await this.claimUntil(worker, byQueue, request, deadline, signal);
    } catch (error) {
      // A claim of a later queue failed: what the earlier ones took goes back rather than waiting out its lease.
      if (error instanceof PartialClaim) {
        const now = this.deps.clock();
        await Promise.allSettled(error.claimed.map((c) => this.deps.store.release(c.lease, now)));
        throw error.cause;
      }
      throw error;
    }
    if (signal.aborted && claimed.length > 0) {
      const now = this.deps.clock();
      await Promise.all(claimed.map((c) => this.deps.store.release(c.lease, now)));
      claimed = [];
    }
    const now = this.deps.clock();
    for (const c of claimed) {
      const limits = this.limitsOf(c.task);
      this.attempts.set(c.task.id, {
        token: c.lease.token,
        queue: c.task.queue,
        task: c.task,
        startedAt: c.task.startedAt ?? now,
        lastActive: now,
        lastSeen: now,
        leaseMs: c.lease.leaseMs,
        ...limits,
        cancelToldAt: null,
        workerId: worker.id,
      });
    }
    await this.seen(worker, now, { add: claimed.map((c) => c.task.id) });
    return claimed;
  }

  /** Claims queue by queue until something is claimed, the deadline passes or the caller leaves. */
  private async claimUntil(
    worker: RemoteWorker,
    byQueue: ReadonlyMap<string, string[]>,
    request: { limit: number; leaseMs: number },
    deadline: number,
    signal: AbortSignal,
  ): Promise<RemoteClaim[]> {
    const claimed: RemoteClaim[] = [];
    for (;;) {
      const now = this.deps.clock();
      let nextRunAt = Infinity;
      for (const [queue, names] of byQueue) {
        if (claimed.length >= request.limit) break;
        const result = await this.deps.store
          .claim({ queue, workerId: worker.id, limit: request.limit - claimed.length, leaseMs: request.leaseMs, names }, now)
          .catch((error: unknown) => {
            throw claimed.length > 0 ? new PartialClaim(claimed, error) : error;
          });
        if (result.nextRunAt !== null) nextRunAt = Math.min(nextRunAt, result.nextRunAt);
        for (const task of result.tasks) {
          claimed.push({
            task: task.task,
            lease: { ...task.lease, leaseMs: request.leaseMs },
            leaseExpiresAt: now + request.leaseMs,
            steps: task.steps,
            ...this.limitsOf(task.task),
          });
        }
      }
      const after = this.deps.clock();
      if (claimed.length > 0 || signal.aborted || after >= deadline || this.closed) return claimed;
      // Woken by a commit that may make work runnable; the poll is a safety net for commits this process does not hear of.
      await this.workArrives(new Set(byQueue.keys()), Math.min(deadline, nextRunAt, after + RECOVER_EVERY_MS) - after, signal);
    }
  }

  /** Renews every lease named (each by its own length) and keeps the worker listed with the tasks it still holds. */
  async heartbeatAll(worker: RemoteWorker, leases: readonly RemoteLease[]): Promise<RemoteLeaseStatus[]> {
    const now = this.deps.clock();
    const statuses: RemoteLeaseStatus[] = [];
    // Each task is read (or found here) first: a task of another queue refuses the whole call before anything is renewed.
    const attempts: (Attempt | null)[] = [];
    for (const lease of leases) {
      attempts.push(
        await this.attemptOrNull(worker, lease).catch((error: unknown) => {
          if (error instanceof OutlastError && error.code === "not_found") return null;
          throw error;
        }),
      );
    }
    for (const [i, lease] of leases.entries()) {
      const attempt = attempts[i]!;
      statuses.push(attempt === null ? await this.lostStatus(lease.taskId) : await this.renew(lease, attempt, now).catch((error: unknown) => this.asStatus(error, lease.taskId)));
    }
    await this.seen(worker, now, { only: statuses.filter((s) => s.held).map((s) => s.taskId) });
    return statuses;
  }

  /** Renews one lease; throws `lease_lost` when it is no longer held. */
  async heartbeat(worker: RemoteWorker, lease: RemoteLease): Promise<{ cancelRequested: boolean; leaseExpiresAt: number }> {
    const now = this.deps.clock();
    const attempt = await this.attemptFor(worker, lease);
    const status = await this.renew(lease, attempt, now);
    await this.seen(worker, now, { add: [lease.taskId] });
    return { cancelRequested: status.cancelRequested, leaseExpiresAt: status.leaseExpiresAt! };
  }

  progress(worker: RemoteWorker, lease: RemoteLease, progress: Progress): Promise<void> {
    return this.write(worker, lease, true, (now) => this.deps.store.recordProgress(lease, normalizeProgress(progress), now));
  }

  step(worker: RemoteWorker, lease: RemoteLease, name: string, result: unknown): Promise<void> {
    return this.write(worker, lease, true, (now) => this.deps.store.recordStep(lease, name, result === undefined ? null : result, now));
  }

  checkpoint(worker: RemoteWorker, lease: RemoteLease, data: unknown): Promise<void> {
    return this.write(worker, lease, true, (now) => this.deps.store.recordCheckpoint(lease, data, now));
  }

  title(worker: RemoteWorker, lease: RemoteLease, title: string): Promise<void> {
    const checked = checkTitle(title);
    return this.write(worker, lease, false, (now) => this.deps.store.recordTitle(lease, checked, now));
  }

  log(worker: RemoteWorker, lease: RemoteLease, message: string): Promise<void> {
    return this.write(worker, lease, true, (now) => this.deps.store.appendLog(lease, message, now));
  }

  /** The steps recorded so far; renews the lease as a heartbeat does. */
  async steps(worker: RemoteWorker, lease: RemoteLease): Promise<Map<string, unknown>> {
    const now = this.deps.clock();
    await this.renew(lease, await this.attemptFor(worker, lease), now);
    return this.deps.store.getSteps(lease.taskId);
  }

  /**
   * Saves a file of the task from the worker's bytes, as `ctx.saveArtifact`
   * does (and logs it the same way). The lease is checked before and after.
   */
  async saveArtifact(worker: RemoteWorker, lease: RemoteLease, name: string, data: ReadableStream<Uint8Array>, contentType: string): Promise<ArtifactInfo> {
    checkArtifactName(name);
    const artifacts = this.deps.artifacts;
    if (!artifacts) throw new OutlastError("bad_request", "This server has no artifact storage: pass `artifacts: fileArtifacts({ dir })` to new Outlast(…)");
    const attempt = await this.attemptFor(worker, lease);
    await this.renew(lease, attempt, this.deps.clock());
    const saved = await artifacts.put(lease.taskId, name, data, contentType);
    await this.write(worker, lease, true, (now) => this.deps.store.appendLog(lease, `Saved ${name} (${saved.size} bytes)`, now));
    return saved;
  }

  /** Ends the attempt as the worker says, under the rules of attempt-outcome.ts; answers the task as it is after. */
  async finish(worker: RemoteWorker, lease: RemoteLease, end: RemoteEnd): Promise<TaskRecord> {
    const now = this.deps.clock();
    const attempt = await this.attemptFor(worker, lease);
    // Read again: a cancel asked since the last heartbeat decides the outcome.
    const record = await this.deps.store.getTask(lease.taskId);
    if (!record || record.state !== "running") throw this.lost(lease.taskId, record);
    const cause: AbortCause | null = record.cancelRequested ? "cancel" : this.limitCause(attempt, now);
    let written: boolean;
    if (end.outcome === "released" && cause === null) written = await this.deps.store.release(lease, now);
    else {
      const outcome: FinishOutcome = attemptOutcome(record, cause, handlerEnd(end), this.deps.definition(record.name)?.definition.backoff, now);
      written = await this.deps.store.finish(lease, outcome, now);
    }
    this.forget(lease.taskId, lease.token);
    if (!written) throw await this.lostNow(lease.taskId);
    const after = await this.deps.store.getTask(lease.taskId);
    return after ?? record;
  }

  /** Stops the lease recovery this started; a claim still waiting answers at once. */
  close(): void {
    this.closed = true;
    this.stopRecovery?.();
    this.stopRecovery = null;
    for (const wake of this.wakers) wake();
  }

  // ── internals ─────────────────────────────────────────────────────────

  private readonly wakers = new Set<() => void>();

  private workArrives(queues: ReadonlySet<string>, ms: number, signal: AbortSignal): Promise<void> {
    return new Promise<void>((resolve) => {
      const done = () => {
        stopWake();
        cancelTimer();
        signal.removeEventListener("abort", done);
        this.wakers.delete(done);
        resolve();
      };
      const stopWake = this.deps.hub.onWake((woken) => {
        if (!woken || [...queues].some((q) => woken.has(q))) done();
      });
      const cancelTimer = this.deps.timers.after(Math.max(0, ms), done);
      signal.addEventListener("abort", done, { once: true });
      this.wakers.add(done);
    });
  }

  private mayUse(worker: RemoteWorker, queue: string): void {
    if (!worker.key.queues.includes(queue)) {
      throw new OutlastError("forbidden", `The worker key "${worker.key.name}" may not use queue "${queue}"; it may use ${worker.key.queues.join(", ")}`, { details: { queue } });
    }
  }

  private limitsOf(task: TaskRecord): { timeoutMs: number | null; stallMs: number | null } {
    const definition = this.deps.definition(task.name)?.definition;
    return { timeoutMs: task.timeoutMs ?? definition?.timeoutMs ?? null, stallMs: definition?.stallMs ?? null };
  }

  /**
   * What this server knows of the attempt a lease names: from its claim, or
   * read from the task (a worker that claimed through another server, or
   * before a restart: its silence counts from now).
   */
  private async attemptFor(worker: RemoteWorker, lease: RemoteLease): Promise<Attempt> {
    const attempt = await this.attemptOrNull(worker, lease);
    if (attempt === null) throw await this.lostNow(lease.taskId);
    return attempt;
  }

  /** As attemptFor; null when the task is no longer running (lost), and 404 when there is no such task. */
  private async attemptOrNull(worker: RemoteWorker, lease: RemoteLease): Promise<Attempt | null> {
    const known = this.attempts.get(lease.taskId);
    if (known && known.token === lease.token) {
      this.mayUse(worker, known.queue);
      known.lastSeen = this.deps.clock();
      known.leaseMs = lease.leaseMs;
      return known;
    }
    const record = await this.deps.store.getTask(lease.taskId);
    if (!record) throw new OutlastError("not_found", `No task ${lease.taskId}: stop this attempt`, { details: { taskId: lease.taskId } });
    this.mayUse(worker, record.queue);
    if (record.state !== "running") return null;
    const now = this.deps.clock();
    const attempt: Attempt = {
      token: lease.token,
      queue: record.queue,
      task: record,
      startedAt: record.startedAt ?? now,
      lastActive: now,
      lastSeen: now,
      leaseMs: lease.leaseMs,
      ...this.limitsOf(record),
      cancelToldAt: null,
      workerId: worker.id,
    };
    // A stale lease must not push out what is known of the current one.
    if (!known || known.token < lease.token) this.attempts.set(lease.taskId, attempt);
    return attempt;
  }

  /** The attempt's time or stall limit that has passed, if any. */
  private limitCause(attempt: Attempt, now: number): "timeout" | "stalled" | null {
    if (attempt.timeoutMs !== null && now - attempt.startedAt >= attempt.timeoutMs) return "timeout";
    if (attempt.stallMs !== null && now - attempt.lastActive >= attempt.stallMs) return "stalled";
    return null;
  }

  /**
   * Before any call under a lease: a passed time or stall limit, or a
   * cancel's grace that ran out, ends the attempt here as the engine would
   * have ended it (the handler is not ours to abort), and the call is lost.
   */
  private async enforce(lease: RemoteLease, attempt: Attempt, now: number): Promise<void> {
    const cause: AbortCause | null =
      this.limitCause(attempt, now) ?? (attempt.cancelToldAt !== null && now - attempt.cancelToldAt >= this.deps.abortGraceMs ? "cancel" : null);
    if (cause === null) return;
    const outcome = attemptOutcome(attempt.task, cause, { ok: false, error: undefined }, this.deps.definition(attempt.task.name)?.definition.backoff, now);
    if (await this.deps.store.finish(lease, outcome, now)) this.deps.logger.warn({ taskId: lease.taskId, cause }, "ended a task of a worker over HTTP");
    this.forget(lease.taskId, lease.token);
    throw await this.lostNow(lease.taskId);
  }

  private async renew(lease: RemoteLease, attempt: Attempt, now: number): Promise<RemoteLeaseStatus> {
    await this.enforce(lease, attempt, now);
    const [status] = await this.deps.store.heartbeat([lease], now, lease.leaseMs);
    if (!status?.held) {
      this.forget(lease.taskId, lease.token);
      throw await this.lostNow(lease.taskId);
    }
    if (status.cancelRequested) attempt.cancelToldAt ??= now;
    return { taskId: lease.taskId, held: true, cancelRequested: status.cancelRequested, leaseExpiresAt: now + lease.leaseMs, state: "running" };
  }

  private async write(worker: RemoteWorker, lease: RemoteLease, activity: boolean, run: (now: number) => Promise<boolean>): Promise<void> {
    const now = this.deps.clock();
    const attempt = await this.attemptFor(worker, lease);
    await this.enforce(lease, attempt, now);
    if (!(await run(now))) {
      this.forget(lease.taskId, lease.token);
      throw await this.lostNow(lease.taskId);
    }
    if (activity) attempt.lastActive = now;
  }

  private forget(taskId: string, token: number): void {
    const known = this.attempts.get(taskId);
    if (known && known.token === token) this.attempts.delete(taskId);
    for (const entry of this.workers.values()) entry.running.delete(taskId);
  }

  private async lostNow(taskId: string): Promise<OutlastError> {
    return this.lost(taskId, await this.deps.store.getTask(taskId));
  }

  private lost(taskId: string, record: TaskRecord | null): OutlastError {
    const state = record?.state ?? null;
    return new OutlastError(
      "lease_lost",
      `This worker no longer holds task ${taskId} (it is ${state ?? "gone"} now): stop this attempt and send nothing more about it`,
      { details: { taskId, state } },
    );
  }

  private async lostStatus(taskId: string): Promise<RemoteLeaseStatus> {
    const record = await this.deps.store.getTask(taskId);
    return { taskId, held: false, cancelRequested: false, leaseExpiresAt: null, state: record?.state ?? null };
  }

  private asStatus(error: unknown, taskId: string): RemoteLeaseStatus {
    if (error instanceof OutlastError && error.code === "lease_lost") {
      return { taskId, held: false, cancelRequested: false, leaseExpiresAt: null, state: (error.details as { state: TaskState | null }).state };
    }
    throw error;
  }

  /** Lists the worker (a row in the workers table, marked remote), with the tasks it holds as far as this server knows. */
  private async seen(worker: RemoteWorker, now: number, running: { add: readonly string[] } | { only: readonly string[] }): Promise<void> {
    let entry = this.workers.get(worker.id);
    if (!entry) this.workers.set(worker.id, (entry = { host: null, pid: 0, startedAt: now, running: new Set(), lastSeen: now }));
    entry.host = worker.host ?? entry.host ?? worker.address;
    if (worker.pid !== null) entry.pid = worker.pid;
    entry.lastSeen = now;
    if ("only" in running) entry.running = new Set(running.only);
    else for (const id of running.add) entry.running.add(id);
    this.prune(now);
    await this.deps.store.recordWorker(
      {
        id: worker.id,
        host: entry.host ?? "unknown",
        pid: entry.pid,
        queues: worker.key.queues,
        startedAt: entry.startedAt,
        heartbeatAt: now,
        running: [...entry.running],
        streams: null,
        remote: { keyId: worker.key.id, keyName: worker.key.name },
      },
      now,
    );
  }

  private prune(now: number): void {
    for (const [id, attempt] of this.attempts) if (now - attempt.lastSeen > Math.max(FORGET_AFTER_MS, 2 * attempt.leaseMs)) this.attempts.delete(id);
    for (const [id, entry] of this.workers) if (now - entry.lastSeen > FORGET_AFTER_MS) this.workers.delete(id);
  }

  /**
   * Expired leases are recovered by every started engine (runner.ts); a
   * server whose engine runs no workers does it here, once it has handed
   * out a lease, so a dead worker over HTTP is recovered all the same.
   */
  private startRecovery(): void {
    if (this.stopRecovery || this.closed) return;
    let busy = false;
    this.stopRecovery = this.deps.timers.every(
      RECOVER_EVERY_MS,
      () => {
        if (busy || this.deps.recovering()) return;
        busy = true;
        this.deps.store
          .recoverExpired(this.deps.clock(), "The worker running this task stopped responding and no attempts are left")
          .then((n) => {
            if (n > 0) this.deps.logger.warn({ recovered: n }, "recovered tasks whose worker stopped responding");
          })
          .catch((error: unknown) => this.deps.logger.error({ err: error }, "recovering expired leases failed"))
          .finally(() => (busy = false));
      },
      { unref: true },
    );
  }
}

/** A claim that failed after earlier queues' claims took tasks, which must go back. */
class PartialClaim extends Error {
  constructor(
    readonly claimed: readonly RemoteClaim[],
    override readonly cause: unknown,
  ) {
    super("claim failed part way");
  }
}

/** What a worker over HTTP reported, as the handler's end attempt-outcome.ts decides from. */
function handlerEnd(end: RemoteEnd): HandlerEnd {
  switch (end.outcome) {
    case "succeeded":
      return { ok: true, value: end.result === undefined ? null : end.result };
    case "failed":
      return {
        ok: false,
        error:
          end.retryable === false
            ? new UnrecoverableError(end.error.message, end.error.code === undefined ? {} : { code: end.error.code })
            : Object.assign(new Error(end.error.message), end.error.code === undefined ? {} : { code: end.error.code }),
      };
    case "retry": {
      const error = end.error ?? RETRY_LATER;
      return { ok: false, error: Object.assign(new RetryLaterError(error.message, { delayMs: end.afterMs }), error.code === undefined ? {} : { code: error.code }) };
    }
    case "released":
      // Released with a cause pending (cancel, time limit): the cause decides, not this.
      return { ok: false, error: undefined };
  }
}

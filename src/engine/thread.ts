import { Worker, type ResourceLimits } from "node:worker_threads";
import { OutlastError } from "../core/errors.js";
import type { TaskContext } from "./context.js";
import { flatten, reviveThreadError, type FromThread, type ThreadStart, type ToThread } from "./thread-protocol.js";

export interface ThreadOptions {
  /** The module's export to call as `(input, ctx)`. @defaultValue "default" */
  exportName?: string;
  /** After an abort, how long the thread may take to return before it is terminated. @defaultValue 5000 */
  terminateAfterMs?: number;
  /** Passed to the Worker (e.g. `maxOldGenerationSizeMb`). */
  resourceLimits?: ResourceLimits;
}

const ENTRY = new URL(`./thread-entry${import.meta.url.endsWith(".ts") ? ".ts" : ".js"}`, import.meta.url).href;

/**
 * A handler that runs in its own worker thread, so CPU-heavy work (speech
 * synthesis, encoding) cannot stall the event loop that renews leases and
 * serves progress. The module's export gets `(input, ctx)` with the same
 * context as any handler (progress, step, checkpoint, log, saveArtifact,
 * signal); artifacts must be strings or bytes.
 * @example
 * outlast.define("audiobook.convert", { run: runInThread(new URL("./convert.js", import.meta.url)) });
 */
export function runInThread<Input, Result>(module: URL | string, options: ThreadOptions = {}): (input: Input, ctx: TaskContext) => Promise<Result> {
  const href = typeof module === "string" ? module : module.href;
  return (input, ctx) => runThread<Result>(href, input, ctx, options);
}

function runThread<Result>(module: string, input: unknown, ctx: TaskContext, options: ThreadOptions): Promise<Result> {
  const start: ThreadStart = {
    module,
    exportName: options.exportName ?? "default",
    input,
    task: { ...ctx.task, createdAt: ctx.task.createdAt.toISOString() },
    lastCheckpoint: ctx.lastCheckpoint,
    steps: [...recordedSteps(ctx)],
  };
  const worker = new Worker(bootstrap(ENTRY), { eval: true, workerData: start, ...(options.resourceLimits ? { resourceLimits: options.resourceLimits } : {}) });
  return new Promise<Result>((resolve, reject) => {
    let settled = false;
    let started = false;
    let killTimer: NodeJS.Timeout | null = null;
    const finish = (error: unknown, value?: Result) => {
      if (settled) return;
      settled = true;
      ctx.signal.removeEventListener("abort", onAbort);
      if (killTimer) clearTimeout(killTimer);
      void worker.terminate();
      if (error === null) resolve(value as Result);
      else reject(error);
    };
    const onAbort = () => {
      const reason = ctx.signal.reason as unknown;
      // A thread still loading its module has nothing to save: stop it now.
      if (!started) return finish(reason);
      worker.postMessage({ t: "abort", reason: flatten(reason) } satisfies ToThread);
      killTimer = setTimeout(() => finish(reason), options.terminateAfterMs ?? 5_000);
    };
    if (ctx.signal.aborted) onAbort();
    else ctx.signal.addEventListener("abort", onAbort, { once: true });

    const reply = (id: number, work: Promise<unknown>) =>
      work.then(
        (value) => !settled && worker.postMessage({ t: "reply", id, ok: true, value } satisfies ToThread),
        (error: unknown) => !settled && worker.postMessage({ t: "reply", id, ok: false, error: flatten(error) } satisfies ToThread),
      );
    worker.on("message", (message: FromThread) => {
      switch (message.t) {
        case "started":
          started = true;
          return;
        case "progress":
          return ctx.progress(message.progress);
        case "done":
          return finish(null, message.value as Result);
        case "fail":
          return finish(reviveThreadError(message.error));
        case "call":
          switch (message.op) {
            case "step":
              return void reply(message.id, ctx.step(message.name, () => message.value));
            case "checkpoint":
              return void reply(message.id, ctx.checkpoint(message.data));
            case "title":
              return void reply(message.id, ctx.setTitle(message.title));
            case "log":
              return void reply(message.id, ctx.log(message.message));
            case "artifact":
              return void reply(
                message.id,
                ctx.saveArtifact(message.name, message.bytes, message.contentType ? { contentType: message.contentType } : {}),
              );
          }
      }
    });
    worker.on("error", (error) => finish(error));
    worker.on("exit", (code) => finish(new OutlastError("internal", `The task's worker thread exited (code ${code}) before returning`)));
  });
}

/** Steps recorded before this attempt, so the thread replays them without a round trip. */
function recordedSteps(ctx: TaskContext): Map<string, unknown> {
  const steps = (ctx as { recordedSteps?: () => Map<string, unknown> }).recordedSteps?.();
  return steps ?? new Map();
}

// Run from TypeScript sources (tsx), the thread must register the same loader first.
function bootstrap(entry: string): string {
  const tsx = entry.endsWith(".ts") ? import.meta.resolve("tsx/esm/api") : null;
  const register = tsx ? `import(${JSON.stringify(tsx)}).then((m) => m.register())` : "Promise.resolve()";
  return `${register}.then(() => import(${JSON.stringify(entry)}))`;
}

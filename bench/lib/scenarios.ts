import { fork, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { Adapter, Hooks } from "./adapter.js";
import type { HelperMessage, ScenarioResult, ScenarioSpec } from "./protocol.js";
import { Latch, nowMs, peakRssMb, percentile, waitUntil } from "./stats.js";

/** How long one end-to-end run may take before the child gives up. */
const E2E_TIMEOUT_MS = 240_000;

class Counter implements Hooks {
  done = 0;
  ran = 0;
  readonly latch = new Latch();
  started(): void {
    this.ran++;
    this.latch.fire();
  }
  finished(count: number): void {
    this.done += count;
  }
}

/** Extra figures taken over exactly the timed part of a run (from the first submit until all are done). */
export interface Meter {
  begin(): Promise<void>;
  end(): Promise<Record<string, number>>;
}

/** Submit everything with workers already running; time until all are done. */
export async function endToEnd(adapter: Adapter, spec: ScenarioSpec, meter?: Meter): Promise<ScenarioResult> {
  const counter = new Counter();
  await adapter.startWorker(spec.concurrency, counter);
  const helpers = await startHelpers(spec);
  try {
    const helperDone = () => (adapter.seesAllCompletions ? 0 : helpers.reduce((n, h) => n + h.done, 0));
    const warmup = spec.warmup ?? 0;
    if (warmup > 0) {
      await adapter.submitMany(warmup);
      await waitUntil(() => counter.done + helperDone() >= warmup, E2E_TIMEOUT_MS, `${warmup} warm-up tasks to finish`);
      if (adapter.confirmDone) await waitUntil(() => adapter.confirmDone!(warmup), 60_000, "the store to show the warm-up complete", 5);
    }
    // Counted from here: the warm-up's completions are not the run's.
    const doneBefore = counter.done + helperDone();
    const ranBefore = counter.ran;
    await meter?.begin();
    const start = nowMs();
    await adapter.submitMany(spec.count);
    const submitted = nowMs();
    // When each tenth of the tasks was done: shows whether the rate holds up as the tables grow.
    const tenths: number[] = [];
    await waitUntil(
      () => {
        const done = counter.done + helperDone() - doneBefore;
        while (tenths.length < 10 && done >= ((tenths.length + 1) * spec.count) / 10) tenths.push(nowMs());
        return done >= spec.count;
      },
      E2E_TIMEOUT_MS,
      `${spec.count} tasks to finish`,
    );
    const finished = nowMs();

    if (adapter.confirmDone) {
      await waitUntil(() => adapter.confirmDone!(warmup + spec.count), 60_000, "the store to show every task complete", 5);
    }
    const confirmed = nowMs();
    const measured = await meter?.end();
    const seconds = (confirmed - start) / 1000;
    const closed = await stopHelpers(helpers);
    return {
      metrics: [{ name: "tasks/s", value: spec.count / seconds, unit: "tasks/s", better: "higher" }],
      peakRssMb: Math.max(peakRssMb(), ...closed.map((c) => c.peakRssMb)),
      detail: {
        totalMs: Math.round(confirmed - start),
        submitMs: Math.round(submitted - start),
        confirmLagMs: Math.round(confirmed - finished),
        warmupTasks: warmup,
        ranByFirstProcess: counter.ran - ranBefore,
        // The extra processes report a total at the end: less the warm-up tasks the first process did not run.
        ranByExtraProcesses: closed.reduce((n, c) => n + c.ran, 0) - (warmup - ranBefore),
        tenthsDoneAtMs: tenths.map((t) => Math.round(t - start)).join(" "),
        ...measured,
      },
    };
  } finally {
    for (const helper of helpers) helper.process.kill("SIGKILL");
  }
}

/** Submit rate with no worker running. */
export async function submitOnly(adapter: Adapter, spec: ScenarioSpec): Promise<ScenarioResult> {
  await adapter.connect();
  const start = nowMs();
  await adapter.submitMany(spec.count);
  const seconds = (nowMs() - start) / 1000;
  return {
    metrics: [{ name: "submits/s", value: spec.count / seconds, unit: "tasks/s", better: "higher" }],
    peakRssMb: peakRssMb(),
    detail: { totalMs: Math.round(seconds * 1000) },
  };
}

/** One task at a time to an idle worker: time from submit() to handler entry. */
export async function latency(adapter: Adapter, spec: ScenarioSpec): Promise<ScenarioResult> {
  const counter = new Counter();
  await adapter.startWorker(spec.concurrency, counter);
  // Warm up for 20 tasks, but never more than a tenth of the time budget (slow pollers).
  const warmupUntil = nowMs() + spec.budgetMs / 10;
  const deadline = nowMs() + spec.budgetMs;
  const samples: number[] = [];
  // How long submit() itself took: splits the latency into "stored" and "picked up".
  const acks: number[] = [];
  let warm = 0;
  while (samples.length < spec.count && nowMs() < deadline) {
    const started = counter.latch.arm();
    const doneBefore = counter.done;
    const t0 = nowMs();
    await adapter.submitOne();
    const acked = nowMs();
    const at = await withTimeout(started, 30_000, "a task to start");
    if (warm < 20 && nowMs() < warmupUntil) warm++;
    else {
      samples.push(at - t0);
      acks.push(acked - t0);
    }
    // Keep the worker idle for the next sample.
    await waitUntil(() => counter.done > doneBefore, 30_000, "the task to finish", 1);
  }
  if (samples.length === 0) throw new Error(`no latency sample within the ${spec.budgetMs} ms budget`);
  samples.sort((a, b) => a - b);
  acks.sort((a, b) => a - b);
  const metric = (p: number) => ({ name: `p${p}`, value: percentile(samples, p), unit: "ms", better: "lower" as const });
  return {
    metrics: [metric(50), metric(95), metric(99)],
    peakRssMb: peakRssMb(),
    detail: {
      samples: samples.length,
      warmup: warm,
      maxMs: Number(samples.at(-1)!.toFixed(3)),
      submitAckP50Ms: Number(percentile(acks, 50).toFixed(3)),
      submitAckP99Ms: Number(percentile(acks, 99).toFixed(3)),
    },
  };
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

interface Helper {
  process: ChildProcess;
  done: number;
  closed: Promise<{ peakRssMb: number; ran: number }>;
}

/** Forks the extra worker processes of a multi-process scenario and waits until they work. */
async function startHelpers(spec: ScenarioSpec): Promise<Helper[]> {
  const helpers: Helper[] = [];
  const entry = fileURLToPath(new URL("../child.ts", import.meta.url));
  for (let i = 1; i < spec.workers; i++) {
    const child = fork(entry, ["helper", JSON.stringify(spec)], { execArgv: ["--import", "tsx"], stdio: ["ignore", "inherit", "inherit", "ipc"] });
    let markReady: () => void = () => {};
    const ready = new Promise<void>((resolve) => (markReady = resolve));
    let markClosed: (closed: { peakRssMb: number; ran: number }) => void = () => {};
    const closed = new Promise<{ peakRssMb: number; ran: number }>((resolve) => (markClosed = resolve));
    const helper: Helper = { process: child, done: 0, closed };
    child.on("message", (message: HelperMessage) => {
      if (message.type === "ready") markReady();
      else if (message.type === "finished") helper.done += message.count;
      else markClosed({ peakRssMb: message.peakRssMb, ran: message.ran });
    });
    child.on("exit", () => markClosed({ peakRssMb: 0, ran: 0 }));
    helpers.push(helper);
    await withTimeout(ready, 60_000, "an extra worker process to start");
  }
  return helpers;
}

async function stopHelpers(helpers: Helper[]): Promise<{ peakRssMb: number; ran: number }[]> {
  for (const helper of helpers) helper.process.send({ type: "stop" });
  return Promise.all(helpers.map((h) => withTimeout(h.closed, 30_000, "an extra worker process to close")));
}

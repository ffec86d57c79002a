import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Outlast } from "../../src/index.js";
import { serve } from "../../src/server/node.js";
import { sqliteStore } from "../../src/store/sqlite/index.js";
import { BATCH } from "../lib/adapter.js";
import type { ScenarioResult, ScenarioSpec } from "../lib/protocol.js";
import { chunks, nowMs, peakRssMb } from "../lib/stats.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const CLK_TCK = 100; // Linux's USER_HZ: /proc/PID/stat counts CPU time in these

/**
 * No-op tasks end to end with the HTTP API serving, run either by this
 * process's own TypeScript worker or by one Python worker process
 * (`python -m outlast.worker`) that claims them over HTTP in batches of its
 * free slots and finishes each with a request: the same store, server,
 * queue settings and counts for both, so the two rows compare the path.
 */
export async function httpWorkerRun(spec: ScenarioSpec): Promise<ScenarioResult> {
  const python = spec.system === "outlast-python";
  const path = join(spec.dir, `${spec.storage}.db`);
  const outlast = new Outlast({ store: sqliteStore({ path, durability: spec.durability }), retention: false });
  outlast.queue("default", { concurrency: Infinity, perProcess: spec.concurrency });
  if (python) outlast.remote("noop", { queue: "default" });
  else outlast.define("noop", { run: async () => null });
  let done = 0;
  let target = 0;
  let reached: (() => void) | null = null;
  outlast.on("succeeded", () => {
    done++;
    if (done >= target) reached?.();
  });
  const until = (count: number) =>
    new Promise<void>((resolve) => {
      target = count;
      reached = resolve;
      if (done >= count) resolve();
    });
  await outlast.start(python ? { queues: [] } : {});
  const server = await serve(outlast, { port: 0 });
  let worker: ChildProcess | null = null;
  let result: ScenarioResult;
  try {
    if (python) {
      const { secret } = await outlast.createWorkerKey({ name: "bench", queues: ["default"] });
      worker = spawn(
        process.env["OUTLAST_BENCH_PYTHON"] ?? "python3",
        ["-m", "outlast.worker", "--url", server.url, "--key", secret, "--concurrency", String(spec.concurrency), "--worker-id", "bench-py", "--log-level", "warning", "bench_noop:worker"],
        {
          cwd: join(ROOT, "bench", "python"),
          env: { ...process.env, PYTHONPATH: [join(ROOT, "clients", "python"), join(ROOT, "bench", "python")].join(":"), PYTHONDONTWRITEBYTECODE: "1" },
          stdio: ["ignore", "inherit", "inherit"],
        },
      );
      const exited = new Promise<never>((_, reject) => worker!.once("exit", (code) => reject(new Error(`the Python worker exited (${code})`))));
      exited.catch(() => {});
      result = await Promise.race([runAll(), exited]);
    } else {
      result = await runAll();
    }
  } finally {
    await stopWorker(worker);
    await server.close();
    await outlast.close({ graceMs: 5_000 });
    for (const suffix of ["", "-wal", "-shm", "-journal"]) rmSync(path + suffix, { force: true });
  }
  return result;

  async function runAll(): Promise<ScenarioResult> {
    const warmup = spec.warmup ?? 0;
    // Untimed: the Python interpreter's start and first connections, the JIT's first compiles.
    if (warmup > 0) {
      await submit(warmup);
      await until(warmup);
    }
    const cpuBefore = worker?.pid !== undefined ? processCpuMs(worker.pid) : null;
    const start = nowMs();
    await submit(spec.count);
    await until(warmup + spec.count);
    const ms = nowMs() - start;
    const detail: Record<string, number | string> = { ms: Math.round(ms), worker: python ? "1 Python process over HTTP" : "in-process TypeScript" };
    if (worker?.pid !== undefined) {
      const cpuAfter = processCpuMs(worker.pid);
      if (cpuBefore !== null && cpuAfter !== null) detail["pythonCpuUsPerTask"] = Number((((cpuAfter - cpuBefore) * 1000) / spec.count).toFixed(1));
      const rss = peakRssOfMb(worker.pid);
      if (rss !== null) detail["pythonPeakRssMb"] = rss;
    }
    return {
      metrics: [{ name: "tasks/s", value: (spec.count / ms) * 1000, unit: "tasks/s", better: "higher" }],
      peakRssMb: peakRssMb(),
      detail,
    };
  }

  async function submit(count: number): Promise<void> {
    for (const size of chunks(count, BATCH)) await outlast.submitMany("noop", Array.from({ length: size }, () => ({})));
  }
}

/** SIGTERM (the worker drains and exits 0), SIGKILL after 15 s. */
async function stopWorker(worker: ChildProcess | null): Promise<void> {
  if (!worker || worker.exitCode !== null || worker.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => worker.once("exit", () => resolve()));
  worker.kill("SIGTERM");
  const timer = setTimeout(() => worker.kill("SIGKILL"), 15_000);
  await exited;
  clearTimeout(timer);
}

/** User + system CPU time of a process so far, ms; null where /proc is not there. */
function processCpuMs(pid: number): number | null {
  try {
    // Fields after the command name (which may hold spaces) start at ") ".
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLK_TCK;
  } catch {
    return null;
  }
}

/** The process's peak resident set so far (VmHWM), MB; null where /proc is not there. */
function peakRssOfMb(pid: number): number | null {
  try {
    const match = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return match ? Math.round(Number(match[1]) / 1024) : null;
  } catch {
    return null;
  }
}

/**
 * Outlast's benchmark: every system measured in the same run on this machine,
 * each scenario in a fresh child process. Usage (from the repo root):
 *   npm run bench [-- --quick] [-- --only sqlite,bullmq,postgres,progress,python]
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir, totalmem, type as osType, release } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Redis } from "ioredis";
import pg from "pg";
import type { Metric, ScenarioResult, ScenarioSpec, SystemName } from "./lib/protocol.js";
import { compare, label, markdownTable, type Row } from "./lib/report.js";
import { nowMs } from "./lib/stats.js";
import { postgresStoreAvailable } from "./systems/outlast.js";

const SECTIONS = ["sqlite", "progress", "bullmq", "postgres", "python", "steps", "fleet", "history"] as const;
type Section = (typeof SECTIONS)[number];

interface Options {
  quick: boolean;
  only: Set<Section>;
  /** Write a V8 CPU profile of every scenario's child to bench/results/profiles/. */
  profile: boolean;
}

function parseArgs(argv: string[]): Options {
  const only = new Set<Section>();
  let quick = false;
  let profile = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--quick") quick = true;
    else if (arg === "--profile") profile = true;
    else if (arg === "--only" || arg.startsWith("--only=")) {
      const value = arg.includes("=") ? arg.slice(arg.indexOf("=") + 1) : argv[++i];
      for (const name of (value ?? "").split(",").filter(Boolean)) {
        const section = (name === "pg" ? "postgres" : name === "redis" ? "bullmq" : name === "http-worker" ? "python" : name) as Section;
        if (!SECTIONS.includes(section)) fail(`unknown section "${name}"; choose from ${SECTIONS.join(", ")}`);
        only.add(section);
      }
    } else if (arg === "--help" || arg === "-h") {
      console.log("npm run bench [-- --quick] [-- --only sqlite,progress,bullmq,postgres,python,steps,fleet,history] [-- --profile]");
      process.exit(0);
    } else fail(`unknown argument "${arg}"`);
  }
  if (only.size === 0) for (const s of SECTIONS) only.add(s);
  return { quick, only, profile };
}

function fail(message: string): never {
  console.error(`bench: ${message}`);
  process.exit(2);
}

const options = parseArgs(process.argv.slice(2));
/** Long tasks of recorded steps, the progress fleet, and the history the "history" section's store holds first. */
const LONG_QUICK = { stepTasks: 10, steps: 1_000, fleet: 1_000, fleetSeconds: 2, history: 100_000, historyRun: { sqlite: 5_000, pg: 2_000 } };
const LONG_FULL = { stepTasks: 10, steps: 1_000, fleet: 1_000, fleetSeconds: 5, history: 1_000_000, historyRun: { sqlite: 20_000, pg: 10_000 } };
/** Progress reports per second of each task in the fleet. */
const FLEET_RATE = 100;
const sizes = options.quick
  ? { small: 1_000, large: 5_000, pg: 2_000, python: 1_000, samples: 200, budgetMs: 5_000, timeoutMs: 90_000, ...LONG_QUICK }
  : { small: 5_000, large: 50_000, pg: 20_000, python: 5_000, samples: 1_000, budgetMs: 20_000, timeoutMs: 300_000, ...LONG_FULL };
const timeoutOverride = Number(process.env["OUTLAST_BENCH_TIMEOUT_MS"] ?? "");
if (timeoutOverride > 0) sizes.timeoutMs = timeoutOverride;
const OUTLAST_SWEEP = [10, 50, 100, 200];
const BULLMQ_SWEEP = [1, 10, 50];
/** Handler slots of the Python worker (threads) and of the TypeScript worker beside it. */
const PYTHON_CONCURRENCY = 32;
/** Handler slots per worker process on PostgreSQL, the same for every system. */
const PG_CONCURRENCY = 50;
const redisUrl = process.env["OUTLAST_BENCH_REDIS_URL"] ?? "redis://127.0.0.1:6379";
const pgUrl = process.env["OUTLAST_BENCH_PG_URL"] ?? process.env["OUTLAST_TEST_PG_URL"] ?? "postgres://postgres@127.0.0.1:5432/test";

const runId = randomBytes(3).toString("hex");
const dir = mkdtempSync(join(tmpdir(), "outlast-bench-"));
const childEntry = fileURLToPath(new URL("./child.ts", import.meta.url));
const profileDir = fileURLToPath(new URL("./results/profiles/", import.meta.url));
/** One folder per scenario: `--import tsx` adds a loader thread with a profile of its own. */
const profileName = (s: ScenarioSpec) => `${s.storage.split("_").at(-1)}-${s.system}-${s.kind}-${s.count}-c${s.concurrency}-${s.durability}`;
let serial = 0;
let current: ChildProcess | null = null;
let currentSpec: ScenarioSpec | null = null;
/** Set on SIGINT/SIGTERM: no new scenario starts, only cleanup. */
let stopping = false;
const rows: Row[] = [];

/** Untimed tasks before an end-to-end run's clock starts: a quarter of the run, at most 5,000. */
function warmupFor(kind: ScenarioSpec["kind"], count: number): number {
  return kind === "e2e" ? Math.min(5_000, Math.floor(count / 4)) : 0;
}

function spec(partial: Pick<ScenarioSpec, "title" | "section" | "system" | "kind" | "count"> & Partial<ScenarioSpec>): ScenarioSpec {
  return {
    warmup: warmupFor(partial.kind, partial.count),
    concurrency: 10,
    workers: 1,
    budgetMs: sizes.budgetMs,
    durability: "full",
    storage: `bench_${runId}_${++serial}`,
    dir,
    redisUrl,
    pgUrl,
    ...partial,
  };
}

/** Kills the child's whole process group (it and its extra worker processes). */
function killGroup(child: ChildProcess): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, "SIGKILL");
  } catch {
    // Already gone.
  }
}

function runChild(role: "run" | "cleanup", s: ScenarioSpec, timeoutMs: number): Promise<ScenarioResult> {
  return new Promise((resolve, reject) => {
    const profiling = role === "run" && options.profile ? ["--cpu-prof", `--cpu-prof-dir=${join(profileDir, profileName(s))}`] : [];
    const child = spawn(process.execPath, [...profiling, "--import", "tsx", childEntry, role, JSON.stringify(s)], {
      stdio: ["ignore", "inherit", "inherit", "ipc"],
      detached: true,
    });
    current = child;
    let settled = false;
    const finish = (error: Error | null, result?: ScenarioResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      killGroup(child);
      current = null;
      if (error) reject(error);
      else resolve(result!);
    };
    const timer = setTimeout(() => finish(new Error(`timed out after ${Math.round(timeoutMs / 1000)} s`)), timeoutMs);
    let outcome: { error: Error | null; result?: ScenarioResult } | null = null;
    // Let the child exit by itself (it writes its CPU profile on exit), but not forever.
    const settle = (error: Error | null, result?: ScenarioResult) => {
      outcome ??= result ? { error, result } : { error };
      setTimeout(() => finish(outcome!.error, outcome!.result), 10_000).unref();
    };
    child.on("message", (message: { type: string; result?: ScenarioResult; message?: string }) => {
      if (message.type === "result") settle(null, message.result);
      else if (message.type === "cleaned") settle(null, { metrics: [], peakRssMb: 0, detail: {} });
      else if (message.type === "error") settle(new Error(firstLine(message.message ?? "unknown error")));
    });
    child.on("exit", (code, signal) => {
      if (outcome) finish(outcome.error, outcome.result);
      else finish(new Error(`child exited (${signal ?? code}) without a result`));
    });
    child.on("error", (error) => finish(error));
  });
}

function firstLine(text: string): string {
  return text.split("\n")[0]!.slice(0, 160);
}

async function measure(s: ScenarioSpec, config: string, timeoutMs = sizes.timeoutMs): Promise<Row> {
  if (stopping) return { spec: s, config, status: "failed", reason: "interrupted" };
  const started = nowMs();
  currentSpec = s;
  process.stderr.write(`· ${label(s.system)} ${config} — ${s.title} … `);
  let row: Row;
  try {
    const result = await runChild("run", s, timeoutMs);
    row = { spec: s, config, status: "ok", result };
    process.stderr.write(`${summary(result)} (${((nowMs() - started) / 1000).toFixed(1)} s)\n`);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    row = { spec: s, config, status: "failed", reason };
    process.stderr.write(`FAILED: ${reason}\n`);
    if (!stopping) await runChild("cleanup", s, 30_000).catch((e: unknown) => process.stderr.write(`  cleanup failed: ${String(e)}\n`));
  }
  currentSpec = null;
  rows.push(row);
  return row;
}

function summary(result: ScenarioResult): string {
  if (result.parts) return result.parts.map((p) => `${p.title}: ${p.metrics.map((m) => `${m.name} ${m.unit === "ms" ? m.value.toFixed(2) : Math.round(m.value)}`).join(" ")}`).join("; ");
  const figures = result.metrics.map((m) => `${m.name} ${m.unit === "ms" ? m.value.toFixed(2) : Math.round(m.value)}`);
  const queries = result.detail["pgQueriesPerTask"];
  if (queries !== undefined) figures.push(`${queries} SQL statements/task`);
  const d = result.detail;
  if (d["submitAckP50Ms"] !== undefined) figures.push(`submit() returned p50 ${d["submitAckP50Ms"]} ms, p99 ${d["submitAckP99Ms"]} ms`);
  if (d["pgRowsInsertedPerTask"] !== undefined) {
    figures.push(`rows/task ins ${d["pgRowsInsertedPerTask"]} upd ${d["pgRowsUpdatedPerTask"]} del ${d["pgRowsDeletedPerTask"]}`);
  }
  if (d["pgServerCpuUsPerTask"] !== undefined) figures.push(`PostgreSQL CPU ${d["pgServerCpuUsPerTask"]} µs/task`);
  if (d["pgWalBytesPerTask"] !== undefined) figures.push(`WAL ${d["pgWalBytesPerTask"]} B/task`);
  if (d["clientCpuUsPerTask"] !== undefined) figures.push(`client CPU ${d["clientCpuUsPerTask"]} µs/task`);
  return figures.join(", ");
}

function unavailable(s: ScenarioSpec, config: string, reason: string): void {
  process.stderr.write(`· ${label(s.system)} ${config} — ${s.title}: not available (${reason})\n`);
  rows.push({ spec: s, config, status: "not available", reason });
}

const n = (value: number) => value.toLocaleString("en-US");

function config(concurrency: number, suffix: string): string {
  return [`c=${concurrency}`, suffix].filter(Boolean).join(", ");
}

/** Runs the sweep at `small`, marks the best, and returns its concurrency. */
async function sweep(system: SystemName, section: string, levels: number[], durability: "full" | "normal", suffix: string): Promise<number> {
  let best: Row | null = null;
  for (const concurrency of levels) {
    const row = await measure(
      spec({ title: `no-op end to end, ${n(sizes.small)} tasks`, section, system, kind: "e2e", count: sizes.small, concurrency, durability }),
      config(concurrency, suffix),
    );
    const value = row.result?.metrics[0]?.value ?? 0;
    if (row.status === "ok" && value > (best?.result?.metrics[0]?.value ?? 0)) best = row;
  }
  if (best) best.best = true;
  return best?.spec.concurrency ?? levels[0]!;
}

async function embeddedSuite(system: SystemName, section: string, levels: number[], durability: "full" | "normal", suffix: string): Promise<void> {
  const best = await sweep(system, section, levels, durability, suffix);
  const bestConfig = config(best, suffix);
  await measure(
    spec({ title: `no-op end to end, ${n(sizes.large)} tasks`, section, system, kind: "e2e", count: sizes.large, concurrency: best, durability }),
    bestConfig,
  );
  await measure(spec({ title: `submit only, ${n(sizes.large)} tasks`, section, system, kind: "submit", count: sizes.large, durability }), suffix);
  await measure(
    spec({ title: "enqueue-to-start latency, idle worker", section, system, kind: "latency", count: sizes.samples, concurrency: best, durability }),
    bestConfig,
  );
}

/** Notes printed under the table (durability differences that the figures do not show). */
const notes: string[] = [];

async function reachable(what: "redis" | "postgres"): Promise<string | null> {
  try {
    if (what === "redis") {
      const redis = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 2_000 });
      try {
        await redis.connect();
        await redis.ping();
        const aof = ((await redis.config("GET", "appendonly")) as string[])[1];
        const fsync = ((await redis.config("GET", "appendfsync")) as string[])[1];
        const save = ((await redis.config("GET", "save")) as string[])[1];
        const note =
          `Redis here: appendonly ${aof ?? "?"}${aof === "yes" ? ` (appendfsync ${fsync ?? "?"})` : ""}, save "${save ?? ""}"` +
            (aof === "yes" && fsync === "always" ? "" : ": an acknowledged BullMQ job is not on disk, while Outlast's default (durability full) syncs every commit.");
        if (!notes.includes(note)) notes.push(note);
      } finally {
        redis.disconnect();
      }
    } else {
      const client = new pg.Client({ connectionString: pgUrl, connectionTimeoutMillis: 2_000 });
      await client.connect();
      await client.end();
    }
    return null;
  } catch (error) {
    return `${what} unreachable: ${error instanceof Error ? error.message : String(error)}`;
  }
}

async function postgresSuite(): Promise<void> {
  const down = await reachable("postgres");
  const systems: SystemName[] = ["outlast-pg", "graphile-worker", "pg-boss"];
  for (const system of systems) {
    const reason = down ?? (system === "outlast-pg" && !postgresStoreAvailable() ? "src/store/postgres/index.ts is not written yet" : null);
    for (const workers of [1, 2]) {
      const s = spec({
        title: `no-op end to end, ${n(sizes.pg)} tasks, ${workers} worker process${workers > 1 ? "es" : ""}`,
        section: "postgres",
        system,
        kind: "e2e",
        count: sizes.pg,
        concurrency: PG_CONCURRENCY,
        workers,
      });
      if (reason) unavailable(s, `c=${PG_CONCURRENCY}`, reason);
      else await measure(s, `c=${PG_CONCURRENCY}`);
    }
    const s = spec({ title: "enqueue-to-start latency, idle worker", section: "postgres", system, kind: "latency", count: sizes.samples, concurrency: PG_CONCURRENCY });
    if (reason) unavailable(s, `c=${PG_CONCURRENCY}`, reason);
    else await measure(s, `c=${PG_CONCURRENCY}`);
  }
}

/**
 * One Python worker process claiming over HTTP (batches of its free slots) against the
 * same tasks run by the TypeScript worker in the server's process, on one SQLite store
 * with the HTTP API serving in both runs.
 */
async function pythonSuite(): Promise<void> {
  const count = sizes.python;
  const warmup = Math.min(1_000, Math.floor(count / 4));
  const title = `no-op end to end, ${n(count)} tasks, HTTP API serving`;
  const c = PYTHON_CONCURRENCY;
  const inProcess = await measure(spec({ title, section: "python", system: "outlast-sqlite", kind: "http-worker", count, warmup, concurrency: c }), `TypeScript worker in the server, c=${c}`);
  const python = await measure(
    spec({ title, section: "python", system: "outlast-python", kind: "http-worker", count, warmup, concurrency: c }),
    `1 Python process over HTTP, c=${c} threads`,
  );
  const a = inProcess.result?.metrics[0]?.value;
  const b = python.result?.metrics[0]?.value;
  if (python.result && a && b) python.result.detail["vsInProcess"] = Number((b / a).toFixed(3));
}

/** Long tasks of `sizes.steps` recorded steps each, several at once, on both stores; BullMQ with `job.updateData()` per step. */
async function stepsSuite(): Promise<void> {
  const title = `long tasks, ${n(sizes.stepTasks)} × ${n(sizes.steps)} recorded steps`;
  const c = `c=${sizes.stepTasks}`;
  await measure(spec({ title, section: "steps", system: "outlast-sqlite", kind: "steps", count: sizes.stepTasks, perTask: sizes.steps }), c);
  await measurePg(spec({ title, section: "steps", system: "outlast-pg", kind: "steps", count: sizes.stepTasks, perTask: sizes.steps }), c);
  await measureRedis(spec({ title, section: "steps", system: "bullmq", kind: "steps", count: sizes.stepTasks, perTask: sizes.steps }), `${c}, job.updateData() per step`);
}

/** `sizes.fleet` tasks at once reporting progress FLEET_RATE times a second each. */
async function fleetSuite(): Promise<void> {
  const title = `progress from ${n(sizes.fleet)} running tasks, ${FLEET_RATE} reports/s each for ${sizes.fleetSeconds} s`;
  const c = `c=${n(sizes.fleet)}`;
  const base = { title, section: "fleet", kind: "progress-fleet" as const, count: sizes.fleet, perTask: FLEET_RATE, seconds: sizes.fleetSeconds };
  await measure(spec({ ...base, system: "outlast-sqlite" }), c);
  await measurePg(spec({ ...base, system: "outlast-pg" }), c);
  await measureRedis(spec({ ...base, system: "bullmq" }), `${c}, job.updateProgress()`);
}

/**
 * The no-op end-to-end and submit-only scenarios and the dashboard's reads,
 * on an empty store and on one holding `sizes.history` finished tasks, each
 * in its own child; every figure of the filled store also as a ratio to the
 * empty store's.
 */
async function historySuite(): Promise<void> {
  for (const system of ["outlast-sqlite", "outlast-pg"] as const) {
    const count = system === "outlast-pg" ? sizes.historyRun.pg : sizes.historyRun.sqlite;
    const c = system === "outlast-pg" ? PG_CONCURRENCY : 50;
    const byTitle = new Map<string, Row>();
    for (const history of [0, sizes.history]) {
      const where = history === 0 ? "empty store" : `${n(history)} finished tasks stored`;
      const s = spec({ title: where, section: "history", system, kind: "history", count, concurrency: c, history, warmup: Math.min(5_000, Math.floor(count / 4)) });
      const cfg = `c=${c}, retention on`;
      // Filling the history takes most of the child's time (a full run's 1,000,000 tasks: minutes on PostgreSQL).
      const timeoutMs = sizes.timeoutMs * (history > 0 ? 4 : 1);
      const row = system === "outlast-pg" ? await measurePg(s, cfg, timeoutMs) : await measure(s, cfg, timeoutMs);
      if (!row) continue;
      for (const part of expandParts(row, where)) {
        const empty = byTitle.get(part.spec.title.replace(where, "empty store"));
        if (history === 0) byTitle.set(part.spec.title, part);
        else if (empty?.result && part.result) part.result.detail["vsEmpty"] = versus(part.result.metrics, empty.result.metrics);
      }
    }
  }
}

/** Replaces a row that holds parts by one row per part, titled "<part>, <where>". */
function expandParts(row: Row, where: string): Row[] {
  const parts = row.result?.parts;
  if (!parts) return [];
  rows.splice(rows.indexOf(row), 1);
  const expanded = parts.map((part): Row => ({
    spec: { ...row.spec, title: `${part.title}, ${where}` },
    config: row.config,
    status: row.status,
    result: { metrics: part.metrics, peakRssMb: row.result!.peakRssMb, detail: { ...row.result!.detail, ...part.detail } },
  }));
  rows.push(...expanded);
  return expanded;
}

/** "0.95× / 1.02×": each metric against the same on the empty store, above 1 meaning better (faster, smaller). */
function versus(metrics: Metric[], against: Metric[]): string {
  return metrics
    .map((m, i) => {
      const e = against[i]?.value;
      if (e === undefined || !(e > 0) || !(m.value > 0)) return "—";
      return `${(m.better === "higher" ? m.value / e : e / m.value).toFixed(2)}×`;
    })
    .join(" / ");
}

async function measurePg(s: ScenarioSpec, cfg: string, timeoutMs = sizes.timeoutMs): Promise<Row | null> {
  const reason = (await reachable("postgres")) ?? (postgresStoreAvailable() ? null : "src/store/postgres/index.ts is not written yet");
  if (reason) return unavailable(s, cfg, reason), null;
  return measure(s, cfg, timeoutMs);
}

async function measureRedis(s: ScenarioSpec, cfg: string): Promise<Row | null> {
  const reason = await reachable("redis");
  if (reason) return unavailable(s, cfg, reason), null;
  return measure(s, cfg);
}

/** Stops the running scenario, drops its storage and the temp dir, and exits. */
async function cleanupAndExit(code: number): Promise<void> {
  if (stopping) return;
  stopping = true;
  if (current) killGroup(current);
  const interrupted = currentSpec;
  currentSpec = null;
  if (interrupted) {
    process.stderr.write(`\nbench: interrupted; dropping ${interrupted.storage}\n`);
    await runChild("cleanup", interrupted, 30_000).catch((e: unknown) => process.stderr.write(`bench: cleanup failed: ${String(e)}\n`));
  }
  rmSync(dir, { recursive: true, force: true });
  process.exit(code);
}

async function main(): Promise<void> {
  process.on("SIGINT", () => void cleanupAndExit(130));
  process.on("SIGTERM", () => void cleanupAndExit(143));
  const startedAt = new Date();
  const loadStart = loadavg()[0] ?? 0;
  const t0 = nowMs();
  process.stderr.write(`Outlast bench${options.quick ? " (quick)" : ""}: ${cpus().length} cores, Node ${process.version}, sections ${[...options.only].join(", ")}\n`);

  if (options.only.has("sqlite")) {
    await embeddedSuite("outlast-sqlite", "sqlite", OUTLAST_SWEEP, "full", "");
    await embeddedSuite("outlast-sqlite", "sqlite", OUTLAST_SWEEP, "normal", "durability normal");
  }
  if (options.only.has("progress")) {
    await measure(spec({ title: "ctx.progress() calls in one handler", section: "progress", system: "outlast-sqlite", kind: "progress", count: 1_000_000 }), "");
  }
  if (options.only.has("bullmq")) {
    const down = await reachable("redis");
    if (down) {
      unavailable(spec({ title: "all scenarios", section: "bullmq", system: "bullmq", kind: "e2e", count: 0 }), "", down);
    } else {
      await embeddedSuite("bullmq", "bullmq", BULLMQ_SWEEP, "full", "");
    }
  }
  if (options.only.has("postgres")) await postgresSuite();
  if (options.only.has("python")) await pythonSuite();
  if (options.only.has("steps")) await stepsSuite();
  if (options.only.has("fleet")) await fleetSuite();
  if (options.only.has("history")) await historySuite();

  compare(rows);
  const table = markdownTable(rows);
  console.log(`\n${table}\n`);
  const elapsed = (nowMs() - t0) / 1000;
  const loadEnd = loadavg()[0] ?? 0;
  console.log(`Run took ${elapsed.toFixed(0)} s. Ratios compare with the best peer measured in this run on the same scenario.`);
  console.log(`Load average (1 min) at start ${loadStart.toFixed(2)}, at end ${loadEnd.toFixed(2)} on ${cpus().length} cores: above the core count, figures are noisy.`);
  for (const note of notes) console.log(note);

  const resultsDir = fileURLToPath(new URL("./results/", import.meta.url));
  mkdirSync(resultsDir, { recursive: true });
  const report = {
    startedAt: startedAt.toISOString(),
    elapsedSeconds: Math.round(elapsed),
    quick: options.quick,
    sections: [...options.only],
    loadAverage: { start: loadStart, end: loadEnd },
    notes,
    machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model ?? "", memoryMb: Math.round(totalmem() / 2 ** 20), node: process.version, os: `${osType()} ${release()}` },
    rows: rows.map((row) => ({
      system: row.spec.system,
      config: row.config,
      best: row.best ?? false,
      scenario: row.spec.title,
      kind: row.spec.kind,
      count: row.spec.count,
      concurrency: row.spec.concurrency,
      workers: row.spec.workers,
      durability: row.spec.durability,
      status: row.status,
      reason: row.reason ?? null,
      metrics: row.result?.metrics ?? [],
      peakRssMb: row.result ? Math.round(row.result.peakRssMb) : null,
      detail: row.result?.detail ?? {},
      vsBestPeer: row.vsBestPeer ?? null,
      bestPeer: row.bestPeer ?? null,
    })),
    table,
  };
  writeFileSync(join(resultsDir, "latest.json"), `${JSON.stringify(report, null, 2)}\n`);
  console.log(`Results written to bench/results/latest.json`);
  await cleanupAndExit(rows.some((r) => r.status === "failed") ? 1 : 0);
}

main().catch(async (error: unknown) => {
  console.error(error);
  await cleanupAndExit(1);
});

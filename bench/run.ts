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
import type { ScenarioResult, ScenarioSpec, SystemName } from "./lib/protocol.js";
import { compare, label, markdownTable, type Row } from "./lib/report.js";
import { nowMs } from "./lib/stats.js";
import { postgresStoreAvailable } from "./systems/outlast.js";

const SECTIONS = ["sqlite", "progress", "bullmq", "postgres", "python"] as const;
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
      console.log("npm run bench [-- --quick] [-- --only sqlite,progress,bullmq,postgres,python] [-- --profile]");
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
const sizes = options.quick
  ? { small: 1_000, large: 5_000, pg: 2_000, python: 1_000, samples: 200, budgetMs: 5_000, timeoutMs: 90_000 }
  : { small: 5_000, large: 50_000, pg: 20_000, python: 5_000, samples: 1_000, budgetMs: 20_000, timeoutMs: 300_000 };
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

async function measure(s: ScenarioSpec, config: string): Promise<Row> {
  if (stopping) return { spec: s, config, status: "failed", reason: "interrupted" };
  const started = nowMs();
  currentSpec = s;
  process.stderr.write(`· ${label(s.system)} ${config} — ${s.title} … `);
  let row: Row;
  try {
    const result = await runChild("run", s, sizes.timeoutMs);
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
        notes.push(
          `Redis here: appendonly ${aof ?? "?"}${aof === "yes" ? ` (appendfsync ${fsync ?? "?"})` : ""}, save "${save ?? ""}"` +
            (aof === "yes" && fsync === "always" ? "" : ": an acknowledged BullMQ job is not on disk, while Outlast's default (durability full) syncs every commit."),
        );
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

/**
 * Stream fan-out: N watchers on one server process, each an SSE connection
 * of its own (a real HTTP port), following one task that reports progress
 * ten times a second. Measured: progress update (persisted) to watcher
 * p50/p99, server RSS per idle watcher, and HTTP submit latency while the
 * watchers are served. Baseline peer: a bare node:http SSE broadcaster
 * measured the same way in the same run.
 * With --pg: 1,000 watchers on PostgreSQL, on one server process and spread
 * over two (one runs the task, the other only serves streams).
 * Usage: node --import tsx bench/fanout/run.ts [--quick] [--counts=1000,10000] [--pg]
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { Agent, request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

const quick = process.argv.includes("--quick");
const pgProcesses = process.argv.includes("--pg");
const countsArg = process.argv.find((a) => a.startsWith("--counts="));
const COUNTS = countsArg ? countsArg.slice(9).split(",").map(Number).filter((n) => n > 0) : quick ? [1_000] : [1_000, 10_000];
const ADMIN_KEY = "bench-admin-key-0123456789abcdef";
const serverEntry = fileURLToPath(new URL("./server.ts", import.meta.url));

interface Server {
  child: ChildProcess;
  port: number;
  baseRss: number;
  ask(command: string, reply: string): Promise<string>;
}

async function startServer(kind: "outlast" | "plain" | "pg", dir: string, role = "worker"): Promise<Server> {
  // FANOUT_CPU_PROF=DIR writes each server's CPU profile there.
  const profile = process.env.FANOUT_CPU_PROF ? ["--cpu-prof", `--cpu-prof-dir=${process.env.FANOUT_CPU_PROF}`] : [];
  const child = spawn(process.execPath, [...profile, "--import", "tsx", serverEntry, kind, dir, role], { stdio: ["pipe", "pipe", "inherit"] });
  const lines = createInterface({ input: child.stdout! });
  const waiting: { prefix: string; resolve: (line: string) => void }[] = [];
  lines.on("line", (line) => {
    const i = waiting.findIndex((w) => line.startsWith(w.prefix));
    if (i >= 0) waiting.splice(i, 1)[0]!.resolve(line);
  });
  const next = (prefix: string) => new Promise<string>((resolve) => waiting.push({ prefix, resolve }));
  const [, port, rss] = (await next("ready ")).split(" ");
  return {
    child,
    port: Number(port),
    baseRss: Number(rss),
    async ask(command, reply) {
      const answer = next(reply);
      child.stdin!.write(`${command}\n`);
      return (await answer).slice(reply.length + 1);
    },
  };
}

interface Watchers {
  latencies: number[];
  opened: number;
  close(): void;
}

/** Opens `n` SSE connections; each parses events and records (receive time − event time) for progress. */
async function openWatchers(port: number, path: string, n: number): Promise<Watchers> {
  const agent = new Agent({ keepAlive: false, maxSockets: Infinity });
  const latencies: number[] = [];
  const requests: ReturnType<typeof request>[] = [];
  let opened = 0;
  await new Promise<void>((resolve, reject) => {
    let pending = n;
    const batch = (from: number) => {
      for (let i = from; i < Math.min(n, from + 500); i++) connect(0);
      if (from + 500 < n) setTimeout(() => batch(from + 500), 20);
    };
    // A connection refused or reset while thousands open at once (the listen
    // backlog overflowing on a busy machine) is tried again, a few times.
    const connect = (attempt: number): void => {
      let answered = false;
      const req = request({ host: "127.0.0.1", port, path, agent, headers: { authorization: `Bearer ${ADMIN_KEY}` } }, (res) => {
        answered = true;
        opened++;
        if (--pending === 0) resolve();
        let buffer = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => {
          buffer += chunk;
          let end: number;
          while ((end = buffer.indexOf("\n\n")) >= 0) {
            const frame = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            if (!frame.includes("event: progress")) continue;
            const data = frame.split("\n").find((l) => l.startsWith("data: "));
            if (!data) continue;
            const at = Date.parse((JSON.parse(data.slice(6)) as { at: string }).at);
            latencies.push(Date.now() - at);
          }
        });
        res.on("error", () => {});
      });
      req.on("error", (error) => {
        if (answered) return;
        if (attempt >= 5) reject(error);
        else setTimeout(() => connect(attempt + 1), 100 * (attempt + 1));
      });
      req.end();
      requests.push(req);
    };
    batch(0);
  });
  return {
    latencies,
    get opened() {
      return opened;
    },
    close() {
      for (const req of requests) req.destroy();
      agent.destroy();
    },
  };
}

/** "p50 p99 max" from the server → "p99 / max ms". */
function lagLine(answer: string): string {
  const [, p99, max] = answer.split(" ");
  return `${p99} / ${max} ms`;
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? NaN;
}

const submitterEntry = fileURLToPath(new URL("./submitter.ts", import.meta.url));

/**
 * Up to `count` submits one after another from their own process (this one
 * is busy reading the watchers' streams, which would time its own delays),
 * started by `go()`; `stop()` ends them early. `done`: their latencies in ms.
 */
async function submitter(port: number, count: number): Promise<{ go(): void; stop(): void; done: Promise<number[]> }> {
  const child = spawn(process.execPath, ["--import", "tsx", submitterEntry, String(port), String(count)], { stdio: ["pipe", "pipe", "inherit"] });
  const lines = createInterface({ input: child.stdout! });
  let ready: () => void = () => {};
  const isReady = new Promise<void>((resolve) => (ready = resolve));
  let result = "";
  lines.on("line", (line) => {
    if (line === "ready") ready();
    else result = line;
  });
  const done = new Promise<number[]>((resolve, reject) => {
    child.once("exit", (code) => (code === 0 ? resolve(JSON.parse(result) as number[]) : reject(new Error(`submitter exited ${code}`))));
  });
  await isReady;
  return { go: () => void child.stdin!.write("go\n"), stop: () => void child.stdin!.write("stop\n"), done };
}

interface Row {
  system: string;
  watchers: number;
  p50: number;
  p99: number;
  received: number;
  kbPerWatcher: number;
  submitP50: number | null;
  submitP99: number | null;
  /** Submits made while the watchers connect and catch up. */
  connectSubmitP99: number | null;
  /** The server's event loop delay (p99 / max ms) while watchers connect, and while the task's progress fans out. */
  lagConnect: string;
  lagServe: string;
}

async function measure(kind: "outlast" | "plain", n: number): Promise<Row> {
  const dir = mkdtempSync(join(tmpdir(), "outlast-fanout-"));
  const server = await startServer(kind, dir);
  try {
    // Idle watchers first: a task waiting in a paused queue (Outlast), or a silent broadcast (plain).
    const taskId = await server.ask("start", "started");
    const path = kind === "outlast" ? `/api/v1/tasks/${taskId}/events` : "/";
    const before = Number(await server.ask("rss", "rss"));
    if (process.env.FANOUT_HEAP) console.error(`fanout: ${kind} before watchers: ${await server.ask("mem", "mem")}`);
    await server.ask("lag", "lag");
    // Submits go on while the watchers connect and catch up (Outlast only: the bare server has no submit).
    const connectSubmits = kind === "outlast" ? await submitter(server.port, 1_000) : null;
    const serveSubmits = kind === "outlast" ? await submitter(server.port, 200) : null;
    connectSubmits?.go();
    const watchers = await openWatchers(server.port, path, n);
    connectSubmits?.stop();
    const duringConnect = await connectSubmits?.done;
    const lagConnect = lagLine(await server.ask("lag", "lag"));
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    global.gc?.();
    const idle = Number(await server.ask("rss", "rss"));
    const kbPerWatcher = (idle - before) / 1024 / n;
    // FANOUT_HEAP=DIR: where an idle watcher's memory goes (the heap's share of the RSS, and a snapshot to break it down).
    if (process.env.FANOUT_HEAP) {
      console.error(`fanout: ${kind} ${n} idle: ${await server.ask("mem", "mem")}`);
      console.error(`fanout: heap snapshot ${await server.ask(`heap ${join(process.env.FANOUT_HEAP, `${kind}-${n}.heapsnapshot`)}`, "heap")}`);
    }
    await server.ask("lag", "lag");
    await server.ask("go", "going");
    // The task runs 6 s; submit over HTTP while its progress fans out.
    serveSubmits?.go();
    const submits = (await serveSubmits?.done) ?? null;
    await new Promise((resolve) => setTimeout(resolve, 7_000));
    const lagServe = lagLine(await server.ask("lag", "lag"));
    watchers.close();
    return {
      system: kind === "outlast" ? "Outlast (SQLite, one process)" : "bare node:http SSE broadcast",
      watchers: n,
      p50: percentile(watchers.latencies, 0.5),
      p99: percentile(watchers.latencies, 0.99),
      received: watchers.latencies.length,
      kbPerWatcher,
      submitP50: submits ? percentile(submits, 0.5) : null,
      submitP99: submits ? percentile(submits, 0.99) : null,
      connectSubmitP99: duringConnect !== undefined && duringConnect.length > 0 ? percentile(duringConnect, 0.99) : null,
      lagConnect,
      lagServe,
    };
  } finally {
    const exited = new Promise((resolve) => server.child.once("exit", resolve));
    server.child.stdin!.write("quit\n");
    const timer = setTimeout(() => server.child.kill("SIGKILL"), 5_000);
    await exited;
    clearTimeout(timer);
    rmSync(dir, { recursive: true, force: true });
  }
}

/** `n` watchers split over `processes` server processes on one PostgreSQL schema; the task is submitted to and run by the first. */
async function measurePg(n: number, processes: number): Promise<Row> {
  const schema = `fanout_bench_${process.pid}_${processes}`;
  const servers: Server[] = [];
  try {
    for (let i = 0; i < processes; i++) servers.push(await startServer("pg", schema, i === 0 ? "worker" : "watch"));
    const taskId = await servers[0]!.ask("start", "started");
    const path = `/api/v1/tasks/${taskId}/events`;
    await servers[0]!.ask("lag", "lag");
    const duringConnect = await submitter(servers[0]!.port, 1_000);
    const serveSubmits = await submitter(servers[0]!.port, 200);
    duringConnect.go();
    const watchers = await Promise.all(servers.map((server, i) => openWatchers(server.port, path, Math.floor(n / processes) + (i < n % processes ? 1 : 0))));
    duringConnect.stop();
    const connectSubmits = await duringConnect.done;
    const lagConnect = lagLine(await servers[0]!.ask("lag", "lag"));
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    await servers[0]!.ask("lag", "lag");
    await servers[0]!.ask("go", "going");
    serveSubmits.go();
    const submits = await serveSubmits.done;
    await new Promise((resolve) => setTimeout(resolve, 7_000));
    const lagServe = lagLine(await servers[0]!.ask("lag", "lag"));
    for (const w of watchers) w.close();
    const latencies = watchers.flatMap((w) => w.latencies);
    return {
      system: `Outlast (PostgreSQL, ${processes === 1 ? "one process" : `${processes} processes`})`,
      watchers: n,
      p50: percentile(latencies, 0.5),
      p99: percentile(latencies, 0.99),
      received: latencies.length,
      kbPerWatcher: NaN,
      submitP50: percentile(submits, 0.5),
      submitP99: percentile(submits, 0.99),
      connectSubmitP99: connectSubmits.length > 0 ? percentile(connectSubmits, 0.99) : null,
      lagConnect,
      lagServe,
    };
  } finally {
    for (const server of servers) {
      const exited = new Promise((resolve) => server.child.once("exit", resolve));
      server.child.stdin!.write("quit\n");
      const timer = setTimeout(() => server.child.kill("SIGKILL"), 5_000);
      await exited;
      clearTimeout(timer);
    }
    const pg = await import("pg");
    const client = new pg.default.Client({ connectionString: process.env.OUTLAST_TEST_PG_URL ?? "postgres://postgres@127.0.0.1:5432/test" });
    await client.connect();
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await client.end();
  }
}

const rows: Row[] = [];
for (const n of COUNTS) {
  for (const kind of ["outlast", "plain"] as const) {
    console.error(`fanout: ${kind} with ${n} watchers…`);
    rows.push(await measure(kind, n));
  }
}
if (pgProcesses) {
  for (const processes of [1, 2]) {
    console.error(`fanout: PostgreSQL, 1000 watchers over ${processes} process(es)…`);
    rows.push(await measurePg(1_000, processes));
  }
}
const fmt = (v: number | null, digits = 1) => (v === null || Number.isNaN(v) ? "—" : v.toFixed(digits));
console.log("\n## Stream fan-out (one server process, watchers on a real port)\n");
console.log(
  "| system | watchers | update→watcher p50 / p99 | ratio p99 vs peer (bare; PostgreSQL rows: one process) | events received | RSS per idle watcher | HTTP submit p50 / p99 while serving | HTTP submit p99 while connecting | server event loop delay p99 / max: connecting; serving |",
);
console.log("|---|---|---|---|---|---|---|---|---|");
for (const row of rows) {
  // PostgreSQL rows compare with PostgreSQL on one process.
  const peer = row.system.includes("PostgreSQL") ? "Outlast (PostgreSQL, one" : "bare";
  const bare = rows.find((r) => r.watchers === row.watchers && r.system.startsWith(peer));
  const ratio = bare && row !== bare ? `${fmt(row.p99 / Math.max(1, bare.p99), 2)}×` : "1.00×";
  console.log(
    `| ${row.system} | ${row.watchers.toLocaleString("en")} | ${fmt(row.p50)} / ${fmt(row.p99)} ms | ${ratio} | ${row.received.toLocaleString("en")} | ${fmt(row.kbPerWatcher, 2)} KB | ${row.submitP50 === null ? "—" : `${fmt(row.submitP50)} / ${fmt(row.submitP99)} ms`} | ${row.connectSubmitP99 === null ? "—" : `${fmt(row.connectSubmitP99)} ms`} | ${row.lagConnect}; ${row.lagServe} |`,
  );
}
console.log(
  "\nLatency is from the moment the progress event was saved (its `at`) to its arrival at the watcher; both sides share one 2-core machine. The event loop delay is the server's own (monitorEventLoopDelay; on PostgreSQL, the process that runs the task).",
);

// One store's chaos run: start the processes, submit steadily over HTTP with
// watchers attached, inject that store's faults, let the work drain, then
// hold what was acknowledged and watched against what the store holds.
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { onCleanup } from "./cleanup.js";
import { ADMIN_KEY, Cluster } from "./cluster.js";
import { countExecutions, readExecutionLog, type ExecutionCount } from "./executions.js";
import { fillDisk, freeDisk, mountTmpfs, unmount } from "./faults/disk.js";
import { deadTuples, IdleConnections, IdleInTransaction, restartCommand, restartPostgres, terminateEverySecond, waitUntilUp, withApplicationName } from "./faults/postgres.js";
import { killWorkersRepeatedly } from "./faults/worker-kills.js";
import { postgresObserver, sqliteObserver, type StoreObserver } from "./observer.js";
import { FinishClock, recoveryTable, type FaultRecord, type RecoveryRow } from "./recovery.js";
import { submitSteadily } from "./submitter.js";
import { checkWatchers, TaskWatcher, type WatcherCheck } from "./watchers.js";

export type StoreKind = "sqlite" | "postgres";

export interface ScenarioOptions {
  store: StoreKind;
  seconds: number;
  pgUrl: string;
  perSecond: number;
  workers: number;
  maxWatchers: number;
  idleConnections: number;
}

export interface StoreReport {
  store: StoreKind;
  seconds: number;
  acknowledged: number;
  finished: number;
  failed: number;
  lost: number;
  lostIds: string[];
  refusedSubmits: number;
  submitRetries: number;
  steps: ExecutionCount;
  watchers: WatcherCheck;
  recovery: RecoveryRow[];
  /** Every fault: seconds into the run, and its recovery in ms (null: no task finished after it). */
  faultLog: { kind: string; atS: number; recoveryMs: number | null; detail?: string }[];
  peakRssMb: Record<string, number>;
  unplannedExits: { role: string; code: number | null; tail: string }[];
  /** Process starts refused during a fault and tried again, with the first line of why. */
  failedStarts: { role: string; reason: string }[];
  notes: string[];
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const FINAL = new Set(["succeeded", "failed", "canceled"]);

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => (typeof address === "object" && address ? resolve(address.port) : reject(new Error("no port"))));
    });
  });
}

async function ready(url: string, ms: number): Promise<number> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const ok = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(2_000) }).then((r) => r.ok, () => false);
    if (ok) return Date.now();
    await sleep(100);
  }
  return Date.now();
}

interface StoreSetup {
  db: string;
  observer: StoreObserver;
  /** Faults of this store, run alongside the submits; resolves when they are done. */
  faults(cluster: Cluster, record: FaultRecord[], until: number, stopped: () => boolean): Promise<void>;
  finish(): Promise<void>;
}

async function sqliteSetup(dir: string, seconds: number, notes: string[]): Promise<StoreSetup> {
  const dbDir = join(dir, "db");
  mkdirSync(dbDir);
  const skip = mountTmpfs(dbDir);
  if (skip) notes.push(skip);
  else {
    notes.push(`database on an 8 MB tmpfs; filled to the last byte once for 3 s`);
    onCleanup(() => unmount(dbDir));
  }
  const db = join(dbDir, "outlast.db");
  return {
    db,
    observer: sqliteObserver(db),
    async faults(cluster, record, until, stopped) {
      if (skip) return;
      await sleep(seconds * 400);
      if (stopped() || Date.now() > until) return;
      const at = Date.now();
      const ballast = fillDisk(dbDir, 16 * 1024 * 1024);
      await sleep(3_000);
      freeDisk(ballast.path);
      record.push({ kind: "disk full (3 s)", at, healthyAt: await ready(cluster.url, 30_000), detail: `${ballast.bytes} bytes of ballast` });
    },
    async finish() {},
  };
}

async function postgresSetup(options: ScenarioOptions, seconds: number, notes: string[]): Promise<StoreSetup> {
  const tag = randomBytes(4).toString("hex");
  const schema = `chaos_${tag}`;
  const appName = `outlast_chaos_${tag}`;
  const adminUrl = withApplicationName(options.pgUrl, `${appName}_admin`);
  if (!(await waitUntilUp(adminUrl, 5_000))) {
    throw new Error(`PostgreSQL is not reachable at ${options.pgUrl}. Start it with:\n  pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`);
  }
  const url = new URL(withApplicationName(options.pgUrl, appName));
  url.searchParams.set("schema", schema);
  onCleanup(async () => {
    // Up again before anything else: a restart may have been cut short.
    const command = restartCommand();
    if (!(await waitUntilUp(adminUrl, 10_000)) && "args" in command) await restartPostgres(command, adminUrl);
    const pool = new pg.Pool({ connectionString: adminUrl, max: 1 });
    await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`).finally(() => pool.end());
  });
  const idle = new IdleConnections(withApplicationName(options.pgUrl, `${appName}_idle`), options.idleConnections, 30);
  const holder = new IdleInTransaction(withApplicationName(options.pgUrl, `${appName}_tx`));
  onCleanup(() => idle.close());
  onCleanup(() => holder.close());
  const restart = restartCommand();
  if ("skip" in restart) notes.push(restart.skip);
  return {
    db: url.toString(),
    observer: postgresObserver(withApplicationName(options.pgUrl, `${appName}_observer`), schema),
    async faults(cluster, record, until, stopped) {
      await idle.open(adminUrl);
      notes.push(idle.limitNote || `${idle.held} idle connections held`);
      await holder.open();
      const terminating = terminateEverySecond(adminUrl, appName, until, record, stopped);
      if ("args" in restart) {
        await sleep(seconds * 500);
        if (!stopped()) {
          const at = Date.now();
          const problem = await restartPostgres(restart, adminUrl);
          if (problem) notes.push(problem);
          const healthyAt = await ready(cluster.url, 60_000);
          record.push({ kind: "PostgreSQL restart", at, healthyAt });
          await idle.reopen(adminUrl).catch(() => {});
          await holder.reopen().catch(() => notes.push("the idle-in-transaction session could not be opened again after the restart"));
        }
      }
      await terminating;
    },
    async finish() {
      notes.push(`idle-in-transaction session open ${Math.round((Date.now() - holder.openedAt) / 1000)} s; dead row versions in the schema at the end: ${await deadTuples(adminUrl, schema).catch(() => -1)}`);
      await holder.close();
      await idle.close();
    },
  };
}

export async function runScenario(options: ScenarioOptions): Promise<StoreReport> {
  const notes: string[] = [];
  const dir = mkdtempSync(join(tmpdir(), `outlast-chaos-${options.store}-`));
  onCleanup(() => rmSync(dir, { recursive: true, force: true }));
  const execLog = join(dir, "executions.jsonl");
  const setup = options.store === "sqlite" ? await sqliteSetup(dir, options.seconds, notes) : await postgresSetup(options, options.seconds, notes);
  const cluster = new Cluster({ db: setup.db, port: await freePort(), workers: options.workers, execLog, leaseMs: 1_000 });
  onCleanup(() => cluster.stop());
  onCleanup(() => setup.observer.close());
  await cluster.start();
  const rssTimer = setInterval(() => cluster.sampleRss(), 500);
  onCleanup(() => clearInterval(rssTimer));
  const clock = new FinishClock(setup.observer);
  clock.start();

  const faults: FaultRecord[] = [];
  const killed = new Set<number>();
  let stopped = false;
  const started = Date.now();
  const until = started + options.seconds * 1000;
  const injecting = Promise.all([
    killWorkersRepeatedly(cluster, { everyMs: 4_000, pauseMs: 500, until, maxKills: 1_000 }, faults, killed, () => stopped),
    setup.faults(cluster, faults, until, () => stopped),
  ]);

  const watchers: TaskWatcher[] = [];
  const following = new Set<Promise<void>>();
  const drainDeadline = until + 90_000;
  const submits = await submitSteadily({
    url: cluster.url,
    token: ADMIN_KEY,
    perSecond: options.perSecond,
    seconds: options.seconds,
    // Long enough (about 1.5 s) that kills land mid-task and watchers reconnect mid-stream.
    input: { steps: 6, ms: 250 },
    onAcknowledged(ack) {
      if (following.size >= options.maxWatchers) return;
      const watcher = new TaskWatcher(ack.id, cluster.url, ADMIN_KEY);
      watchers.push(watcher);
      const run = watcher.follow(drainDeadline, { min: 200, max: 800 });
      following.add(run);
      void run.finally(() => following.delete(run));
    },
  });
  stopped = true;
  await injecting;

  // Drain: every acknowledged task should end; bounded by the deadline.
  const acked = new Set(submits.acknowledged.map((a) => a.id));
  let states = new Map<string, string>();
  while (Date.now() < drainDeadline) {
    states = await setup.observer.states().catch(() => states);
    if ([...acked].every((id) => FINAL.has(states.get(id) ?? ""))) break;
    await sleep(500);
  }
  await Promise.all(following);
  clock.stop();

  const [steps, events] = [await setup.observer.steps(), await setup.observer.events()];
  const finished = new Set([...acked].filter((id) => states.get(id) === "succeeded"));
  for (const exit of cluster.unplanned) if (exit.pid !== undefined) killed.add(exit.pid);
  await setup.finish();
  await cluster.stop();
  clearInterval(rssTimer);

  const lostIds = [...acked].filter((id) => !FINAL.has(states.get(id) ?? ""));
  return {
    store: options.store,
    seconds: options.seconds,
    acknowledged: acked.size,
    finished: finished.size,
    failed: [...acked].filter((id) => states.get(id) === "failed" || states.get(id) === "canceled").length,
    lost: lostIds.length,
    lostIds: lostIds.slice(0, 20),
    refusedSubmits: submits.refused,
    submitRetries: submits.retries,
    steps: countExecutions(readExecutionLog(execLog), steps, killed, finished),
    watchers: checkWatchers(watchers, (id) => events.get(id) ?? []),
    recovery: recoveryTable(faults, clock),
    faultLog: faults.map((f) => ({ kind: f.kind, atS: Math.round((f.at - started) / 100) / 10, recoveryMs: clock.recoveryMs(f), ...(f.detail ? { detail: f.detail } : {}) })),
    peakRssMb: Object.fromEntries([...cluster.rss.peakKb].map(([role, kb]) => [role, Math.round(kb / 1024)])),
    unplannedExits: cluster.unplanned.map((u) => ({ role: u.role, code: u.code, tail: u.tail.slice(-1500) })),
    failedStarts: cluster.failedStarts.map((f) => ({ role: f.role, reason: f.reason })),
    notes,
  };
}

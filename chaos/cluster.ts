// One `serve` (HTTP and streams, no workers) and a few `worker` processes on
// one database. A process that exits without being killed by the run is an
// unplanned exit: it is counted, its output kept, and it is started again so
// the run goes on.
import { join } from "node:path";
import { killHard, ROOT, RssMeter, startCli, type Spawned } from "./processes.js";

export const ADMIN_KEY = "chaos-admin-key-0123456789abcdef";
const TASKS = join(ROOT, "chaos/tasks.ts");

export interface ClusterOptions {
  db: string;
  port: number;
  workers: number;
  execLog: string;
  leaseMs: number;
}

export interface UnplannedExit {
  role: string;
  pid: number | undefined;
  code: number | null;
  at: number;
  tail: string;
}

export class Cluster {
  readonly rss = new RssMeter();
  readonly unplanned: UnplannedExit[] = [];
  /** Starts that failed and were tried again (a worker refused to start during a fault). */
  readonly failedStarts: { role: string; at: number; reason: string }[] = [];
  private serveProcess: Spawned | null = null;
  private readonly workerProcesses: (Spawned | null)[] = [];
  private readonly planned = new WeakSet<Spawned>();
  private closing = false;

  constructor(private readonly options: ClusterOptions) {}

  get url(): string {
    return `http://127.0.0.1:${this.options.port}`;
  }

  private env(): NodeJS.ProcessEnv {
    return { ...process.env, OUTLAST_ADMIN_KEY: ADMIN_KEY, OUTLAST_LOG_LEVEL: "error", CHAOS_EXEC_LOG: this.options.execLog };
  }

  async start(): Promise<void> {
    await this.startServe();
    for (let i = 0; i < this.options.workers; i++) await this.startWorker(i);
  }

  private async startServe(): Promise<void> {
    const args = ["serve", "--db", this.options.db, "--port", String(this.options.port), "--tasks", TASKS, "--no-workers", "--no-anonymous"];
    this.serveProcess = this.watch("serve", await startCli(args, /Outlast is running on/, this.env()), () => this.startServe());
  }

  /**
   * Starts worker `i`, trying again (at most 30 times, 500 ms apart) while it
   * cannot start: a worker that finds the disk full or the database down
   * exits, as it should, and is started again once the fault is over.
   */
  async startWorker(i: number): Promise<void> {
    const args = ["worker", "--db", this.options.db, "--tasks", TASKS, "--lease-ms", String(this.options.leaseMs), "--grace-ms", "0"];
    for (let attempt = 1; ; attempt++) {
      try {
        this.workerProcesses[i] = this.watch(`worker`, await startCli(args, /^worker \S+ ready:/m, this.env()), () => this.startWorker(i));
        return;
      } catch (error) {
        if (attempt >= 30 || this.closing) throw error;
        this.failedStarts.push({ role: "worker", at: Date.now(), reason: String(error).split("\n").slice(1, 2).join("") });
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
    }
  }

  private watch(role: string, spawned: Spawned, restart: () => Promise<void>): Spawned {
    void spawned.exited.then(async (code) => {
      if (this.closing || this.planned.has(spawned)) return;
      this.unplanned.push({ role, pid: spawned.child.pid, code, at: Date.now(), tail: spawned.tail() });
      // Bounded: a process that cannot start throws out of startCli and the run reports it.
      if (this.unplanned.length <= 20) await restart().catch((error: unknown) => this.unplanned.push({ role, pid: undefined, code: null, at: Date.now(), tail: String(error) }));
    });
    return spawned;
  }

  sampleRss(): void {
    this.rss.sample("serve", this.serveProcess?.child.pid);
    for (const w of this.workerProcesses) this.rss.sample("worker", w?.child.pid);
  }

  /** kill -9 of worker `i`; it is started again after `pauseMs`. Resolves with when it was ready again. */
  async killWorker(i: number, pauseMs: number): Promise<{ killedAt: number; readyAt: number }> {
    const victim = this.workerProcesses[i];
    if (!victim) throw new Error(`no worker ${i}`);
    this.sampleRss();
    this.planned.add(victim);
    const killedAt = Date.now();
    await killHard(victim);
    this.workerProcesses[i] = null;
    await new Promise((resolve) => setTimeout(resolve, pauseMs));
    await this.startWorker(i);
    return { killedAt, readyAt: Date.now() };
  }

  workerPid(i: number): number | undefined {
    return this.workerProcesses[i]?.child.pid;
  }

  get workerCount(): number {
    return this.options.workers;
  }

  async stop(): Promise<void> {
    this.closing = true;
    this.sampleRss();
    const all = [this.serveProcess, ...this.workerProcesses].filter((p): p is Spawned => p !== null);
    for (const p of all) this.planned.add(p);
    await Promise.all(all.map((p) => killHard(p)));
  }
}

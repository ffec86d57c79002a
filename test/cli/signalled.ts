// Long-running commands started the way people start them (npm start, npx
// outlast …), each the leader of its own process group, so a test can signal
// the whole group as a terminal or a container runtime does, or one pid as a
// supervisor does.
import { spawn, type ChildProcess } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { TestContext } from "node:test";
import { declareTask, Outlast, type Task } from "../../src/index.js";
import { sqliteStore } from "../../src/store/sqlite/index.js";
import { quietLogger } from "../support/engine.js";
import { cliEnv, ROOT } from "./cli.js";

export interface GroupLeader {
  process: ChildProcess;
  pid: number;
  output(): string;
  /** Exit code and how long after `since` the leader was gone. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>;
}

/** Spawns `command` in a new process group and waits until its output matches `ready`; the group is SIGKILLed when the test ends. */
export async function startGroup(t: TestContext, command: string, args: readonly string[], ready: RegExp): Promise<GroupLeader> {
  const child = spawn(command, args, { cwd: ROOT, env: cliEnv({ OUTLAST_LOG_LEVEL: "info" }), detached: true, stdio: ["ignore", "pipe", "pipe"] });
  const pid = child.pid!;
  let all = "";
  child.stdout!.setEncoding("utf8").on("data", (chunk: string) => (all += chunk));
  child.stderr!.setEncoding("utf8").on("data", (chunk: string) => (all += chunk));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>((resolve) =>
    child.once("close", (code, signal) => resolve({ code, signal, at: Date.now() })),
  );
  t.after(async () => {
    // The leader may be gone while a child it left behind still runs.
    try {
      process.kill(-pid, "SIGKILL");
    } catch {
      // No process left in the group.
    }
    await exited;
  });
  const deadline = Date.now() + 60_000;
  while (!ready.test(all)) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`${command} ${args.join(" ")} did not get ready:\n${all}`);
    await sleep(50);
  }
  return { process: child, pid, output: () => all, exited };
}

/** Whether any process of the group is still alive. */
export function groupAlive(pid: number): boolean {
  try {
    process.kill(-pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Waits until no process of the group is left, or `ms` passed; resolves with whether it emptied. */
export async function groupGone(pid: number, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (groupAlive(pid)) {
    if (Date.now() > deadline) return false;
    await sleep(50);
  }
  return true;
}

/** An engine in the test process on the same SQLite file: it submits and reads, it never runs tasks. */
export function observer(t: TestContext, db: string): Outlast {
  const outlast = new Outlast({ store: sqliteStore({ path: db }), logger: quietLogger });
  t.after(() => outlast.close({ graceMs: 0 }));
  return outlast;
}

/** Submits `name` with a single attempt (a lost attempt fails it for good) and waits until a process runs it. */
export async function submitRunning(outlast: Outlast, name: string, input: unknown): Promise<Task> {
  const task = await outlast.submit(declareTask(name), input, { maxAttempts: 1 });
  const deadline = Date.now() + 30_000;
  for (;;) {
    const now = await outlast.get(task.id);
    if (now?.state === "running") return now;
    if (Date.now() > deadline) throw new Error(`task ${task.id} never ran: ${JSON.stringify(now)}`);
    await sleep(50);
  }
}

/**
 * A tasks module for `outlast worker` under plain node (the built bin loads
 * no TypeScript): "test.slow" runs until its signal aborts, as a handler
 * should, or a minute passes.
 */
export function slowTasksModule(dir: string): string {
  const path = join(dir, "slow-tasks.mjs");
  writeFileSync(
    path,
    `export default function register(outlast) {
  outlast.define("test.slow", {
    run: (_input, ctx) => new Promise((resolve, reject) => {
      const timer = setTimeout(resolve, 60_000);
      ctx.signal.addEventListener("abort", () => { clearTimeout(timer); reject(ctx.signal.reason); }, { once: true });
    }),
  });
}
`,
  );
  return path;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// The processes a chaos run starts: `outlast serve` and `outlast worker`,
// each a Node process of its own (no shell between, so the pid is the one to
// kill -9), in its own process group so the whole tree can be ended at once.
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";

export const ROOT = new URL("..", import.meta.url).pathname;

/** Peak RSS per process role, read from /proc while the processes live. */
export class RssMeter {
  readonly peakKb = new Map<string, number>();

  sample(role: string, pid: number | undefined): void {
    if (pid === undefined) return;
    try {
      // VmHWM is the process's own peak, so a sample just before a kill still sees it.
      const match = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
      if (match) this.peakKb.set(role, Math.max(this.peakKb.get(role) ?? 0, Number(match[1])));
    } catch {
      // gone between the check and the read
    }
  }
}

/** Every child started, so that SIGINT and the end of a run can end them all. */
const live = new Set<ChildProcess>();

export function killEverything(): void {
  for (const child of live) {
    if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
      try {
        process.kill(-child.pid, "SIGKILL");
      } catch {
        // already gone
      }
    }
  }
  live.clear();
}

export interface Spawned {
  child: ChildProcess;
  /** The last 4 KB it wrote (stdout and stderr), for a report on an unplanned exit. */
  tail(): string;
  exited: Promise<number | null>;
}

/** Starts `outlast ARGS` from the sources and waits (bounded) for `ready` in its stdout. */
export async function startCli(args: readonly string[], ready: RegExp, env: NodeJS.ProcessEnv, timeoutMs = 30_000): Promise<Spawned> {
  const child = spawn(process.execPath, ["--import", "tsx", join(ROOT, "src/cli/main.ts"), ...args], {
    cwd: ROOT,
    env,
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  live.add(child);
  let out = "";
  let all = "";
  const keep = (chunk: string) => (all = (all + chunk).slice(-4096));
  child.stdout!.setEncoding("utf8").on("data", (chunk: string) => {
    out = (out + chunk).slice(-8192);
    keep(chunk);
  });
  child.stderr!.setEncoding("utf8").on("data", keep);
  const exited = new Promise<number | null>((resolve) =>
    child.once("exit", (code) => {
      live.delete(child);
      resolve(code);
    }),
  );
  const deadline = Date.now() + timeoutMs;
  while (!ready.test(out)) {
    if (child.exitCode !== null || child.signalCode !== null || Date.now() > deadline) {
      if (child.pid !== undefined && child.exitCode === null) process.kill(-child.pid, "SIGKILL");
      throw new Error(`outlast ${args.join(" ")} did not get ready:\n${all}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return { child, tail: () => all, exited };
}

/** kill -9 of the process (and its group), resolved once it is gone. */
export async function killHard(spawned: Spawned): Promise<void> {
  const pid = spawned.child.pid;
  if (pid !== undefined && spawned.child.exitCode === null && spawned.child.signalCode === null) {
    try {
      process.kill(-pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
  await spawned.exited;
}

import { spawn, type ChildProcess } from "node:child_process";
import type { TestContext } from "node:test";
import { fileURLToPath } from "node:url";

export interface Child {
  process: ChildProcess;
  /** Resolves when the child printed a line equal to `line`. */
  waitFor(line: string, ms?: number): Promise<void>;
  lines: string[];
  exited: Promise<number | null>;
}

/** Runs a TypeScript fixture in its own Node process; killed (SIGKILL) when the test ends if still alive. */
export function spawnFixture(t: TestContext, fixture: string, env: Record<string, string>): Child {
  const path = fileURLToPath(new URL(`../fixtures/${fixture}`, import.meta.url));
  const child = spawn(process.execPath, ["--import", "tsx", path], {
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const lines: string[] = [];
  const waiters: { line: string; resolve: () => void }[] = [];
  let buffer = "";
  child.stdout!.setEncoding("utf8").on("data", (chunk: string) => {
    buffer += chunk;
    let nl: number;
    while ((nl = buffer.indexOf("\n")) >= 0) {
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + 1);
      lines.push(line);
      for (const w of waiters.filter((w) => w.line === line)) w.resolve();
    }
  });
  let stderr = "";
  child.stderr!.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  t.after(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    await exited;
  });
  return {
    process: child,
    lines,
    exited,
    waitFor(line, ms = 20_000) {
      if (lines.includes(line)) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`child never printed "${line}"; stderr:\n${stderr}`)), ms);
        waiters.push({
          line,
          resolve: () => {
            clearTimeout(timer);
            resolve();
          },
        });
        void exited.then((code) => {
          clearTimeout(timer);
          if (!lines.includes(line)) reject(new Error(`child exited (${code}) before printing "${line}"; stderr:\n${stderr}`));
        });
      });
    },
  };
}

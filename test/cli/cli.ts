import { spawn, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import type { TestContext } from "node:test";
import { fileURLToPath } from "node:url";

/** The repository root: children run there, as a user would from a checkout. */
export const ROOT = fileURLToPath(new URL("../..", import.meta.url));
export const TASKS_FIXTURE = join(ROOT, "test/fixtures/cli-tasks.ts");
export const ADMIN_KEY = "cli-test-admin-key-0123456789";

/** The environment of every child: a known admin key, quiet logs, nothing inherited that would change defaults. */
export function cliEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return { ...process.env, OUTLAST_ADMIN_KEY: ADMIN_KEY, OUTLAST_LOG_LEVEL: "warn", OUTLAST_URL: "", OUTLAST_TOKEN: "", ...extra };
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

function spawnCli(args: readonly string[], env: Record<string, string>): ChildProcess {
  return spawn(process.execPath, ["--import", "tsx", "src/cli/main.ts", ...args], {
    cwd: ROOT,
    env: cliEnv(env),
    stdio: ["ignore", "pipe", "pipe"],
  });
}

/** Runs `outlast …` to its end (killed after `timeoutMs`). */
export function runCli(args: readonly string[], options: { env?: Record<string, string>; timeoutMs?: number } = {}): Promise<CliResult> {
  const child = spawnCli(args, options.env ?? {});
  let stdout = "";
  let stderr = "";
  child.stdout!.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
  child.stderr!.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
  const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? 60_000);
  return new Promise((resolve) => {
    child.once("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** A long-running `outlast …` child (serve, worker), killed when the test ends if still alive. */
export interface RunningCli {
  process: ChildProcess;
  /** Everything it wrote so far, stdout then stderr interleaved. */
  output(): string;
  stdout(): string;
  /** The match of the `ready` pattern in its stdout. */
  ready: RegExpExecArray;
  exited: Promise<number | null>;
}

/** Starts `outlast …` and waits until its stdout matches `ready`. */
export async function startCli(t: TestContext, args: readonly string[], ready: RegExp, env: Record<string, string> = {}): Promise<RunningCli> {
  const child = spawnCli(args, env);
  let all = "";
  let out = "";
  child.stdout!.setEncoding("utf8").on("data", (chunk: string) => {
    out += chunk;
    all += chunk;
  });
  child.stderr!.setEncoding("utf8").on("data", (chunk: string) => (all += chunk));
  const exited = new Promise<number | null>((resolve) => child.once("close", (code) => resolve(code)));
  t.after(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    await exited;
  });
  const deadline = Date.now() + 30_000;
  let match: RegExpExecArray | null;
  while (!(match = ready.exec(out))) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`outlast ${args.join(" ")} did not get ready:\n${all}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return { process: child, output: () => all, stdout: () => out, ready: match, exited };
}

/** `outlast serve` on a free port with the fixture's tasks and no workers; resolves with its URL. */
export async function startApiOnly(t: TestContext, db: string): Promise<{ url: string; child: RunningCli }> {
  const child = await startCli(t, ["serve", "--port", "0", "--db", db, "--tasks", TASKS_FIXTURE, "--no-workers"], /running on (http:\/\/\S+)/);
  return { url: child.ready[1]!, child };
}

/** `outlast worker` with the fixture's tasks; resolves once it printed its ready line. */
export function startWorker(t: TestContext, db: string, extra: readonly string[] = []): Promise<RunningCli> {
  return startCli(t, ["worker", "--db", db, "--tasks", TASKS_FIXTURE, ...extra], /^worker \S+ ready: .*$/m);
}

/** Runs several `outlast …` commands, two at a time (the machines have two cores), results in order. */
export async function runEach(list: readonly (readonly string[])[], options: { env?: Record<string, string> } = {}): Promise<CliResult[]> {
  const results: CliResult[] = new Array<CliResult>(list.length);
  let next = 0;
  const lane = async () => {
    while (next < list.length) {
      const i = next++;
      results[i] = await runCli(list[i]!, options);
    }
  };
  await Promise.all([lane(), lane()]);
  return results;
}

/**
 * Runs `outlast …` with stdout on a pseudo-terminal (util-linux `script`), as
 * a person at a terminal would; `stdout` holds what the terminal received.
 */
export function runCliInTerminal(args: readonly string[], options: { env?: Record<string, string>; columns?: number } = {}): Promise<CliResult> {
  const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  const command = [process.execPath, "--import", "tsx", "src/cli/main.ts", ...args].map(quote).join(" ");
  const child = spawn("script", ["-qec", `stty cols ${options.columns ?? 100}; ${command}`, "/dev/null"], {
    cwd: ROOT,
    env: cliEnv(options.env ?? {}),
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
  const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
  return new Promise((resolve) => {
    child.once("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

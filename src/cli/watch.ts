import type { OutlastClient } from "../client/client.js";
import type { ConnectionState, Task } from "../client/types.js";
import { parseArgs, type CommandSpec } from "./args.js";
import { EXIT, type ExitCode } from "./errors.js";
import { clientFrom, HTTP_FLAGS, HTTP_FLAGS_HELP } from "./http-target.js";
import { progressBar, progressLine } from "./progress-line.js";

export const WATCH_HELP = `Usage: outlast watch ID [options]

Shows a task's progress until it ends: one redrawn line on a terminal, else a
line "progress …" per change. Reconnects on its own when the connection drops.
On success prints the result as JSON; on failure prints the error to stderr.

Options:
${HTTP_FLAGS_HELP}
  --json            print only the final task, as JSON
  --help            show this help

Exit codes: 0 succeeded, 1 failed or canceled (or no such task), 2 usage error,
3 server unreachable, 4 credential refused (401/403), also while the task runs on.
`;

const SPEC: CommandSpec = { command: "watch", flags: { ...HTTP_FLAGS, "--json": "switch" }, positionals: ["id"] };

/** `outlast watch ID`. */
export async function watchCommand(argv: readonly string[]): Promise<ExitCode> {
  const args = parseArgs(argv, SPEC);
  if (args.help) {
    process.stdout.write(WATCH_HELP);
    return EXIT.ok;
  }
  const client = clientFrom(args);
  try {
    return await watchUntilDone(client, args.positionals[0]!, { json: args.has("--json") });
  } finally {
    client.close();
  }
}

/**
 * Follows task `id` until it reaches a final state, drawing its progress on
 * stdout, and reports the outcome. The first read fails fast (exit 3 or 1)
 * when the server is down or the task is not there; after that, drops are
 * the client's to recover from.
 */
export async function watchUntilDone(client: OutlastClient, id: string, options: { json: boolean }): Promise<ExitCode> {
  const first = await client.get(id);
  const view = new View(options.json);
  if (isFinal(first)) return view.finish(first);
  view.show(first);
  const last = await new Promise<Task>((resolve, reject) => {
    let done = false;
    const stop = client.watch(id, {
      onTask: (task) => {
        if (!done) view.show(task);
      },
      onFinish: (task) => {
        if (done) return;
        done = true;
        // The callback may run inside watch(); leave it before unsubscribing.
        queueMicrotask(() => stop());
        resolve(task);
      },
      onError: (error) => {
        if (done) return;
        done = true;
        queueMicrotask(() => stop());
        reject(error);
      },
      onConnectionChange: (state) => view.connection(state),
    });
  });
  return view.finish(last);
}

function isFinal(task: Task): boolean {
  return task.state === "succeeded" || task.state === "failed" || task.state === "canceled";
}

/** What the user sees: a redrawn line on a terminal, plain lines otherwise, nothing but the end with --json. */
class View {
  private readonly tty = process.stdout.isTTY === true;
  private lastLine = "";
  private drawn = false;
  private reconnecting = false;

  constructor(private readonly json: boolean) {}

  show(task: Task): void {
    if (this.json) return;
    if (this.tty) {
      const line = progressBar(task, process.stdout.columns || 80);
      if (line === this.lastLine) return;
      this.lastLine = line;
      this.drawn = true;
      process.stdout.write(`\r\x1b[K${line}`);
      return;
    }
    const line = progressLine(task);
    if (line === this.lastLine) return;
    this.lastLine = line;
    process.stdout.write(`${line}\n`);
  }

  connection(state: ConnectionState): void {
    if (this.json) return;
    if (state === "backoff" && !this.reconnecting) {
      this.reconnecting = true;
      this.endLine();
      process.stderr.write("connection lost; reconnecting…\n");
    } else if (state === "open" && this.reconnecting) {
      this.reconnecting = false;
      process.stderr.write("reconnected\n");
    }
  }

  finish(task: Task): ExitCode {
    this.show(task);
    this.endLine();
    if (this.json) process.stdout.write(`${JSON.stringify(task)}\n`);
    if (task.state === "succeeded") {
      if (!this.json) process.stdout.write(`${JSON.stringify(task.result ?? null)}\n`);
      return EXIT.ok;
    }
    const error = task.error;
    const reason = error ? `${error.message}${error.code ? ` (${error.code})` : ""}` : "no reason recorded";
    process.stderr.write(`task ${task.id} ${task.state}: ${reason}\n`);
    return EXIT.failed;
  }

  private endLine(): void {
    if (this.tty && this.drawn) {
      process.stdout.write("\n");
      this.drawn = false;
      this.lastLine = "";
    }
  }
}

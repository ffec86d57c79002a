import { pino } from "pino";
import { Outlast } from "../engine/outlast.js";
import { parseArgs, UsageError, type CommandSpec } from "./args.js";
import { DB_FLAGS_HELP, describeTarget, openStore, storeTarget } from "./store-target.js";
import { GRACE_FLAG_HELP, stopOnSignals } from "./stop-signals.js";
import { loadTasks } from "./tasks-module.js";

export const WORKER_HELP = `Usage: outlast worker --tasks FILE [options]

Runs workers for the tasks a module defines, with no HTTP server: start one on
every machine that should run tasks, all on the same database.

The module (ESM: .js, .mjs; .ts works under tsx) exports, as default or as
"register", a function that defines tasks and queues:

  export default function register(outlast) {
    outlast.queue("tts", { concurrency: 2 });
    outlast.define("audiobook.convert", { queue: "tts", async run(input, ctx) { … } });
  }

Options:
  --tasks FILE      the tasks module (required)
${DB_FLAGS_HELP}
  --concurrency N   most tasks this process runs at once, per queue
                    (the queue's own concurrency still caps every process together)
  --queues A,B      run only these queues (default: every queue the module uses)
${GRACE_FLAG_HELP}
  --lease-ms N      how long this worker holds a task without a heartbeat before
                    another may take it (default 15000)
  --help            show this help

Prints one line "worker … ready" when it is claiming work. Exit codes: 0 after a
drain (every task finished or handed back), 1 failure or a forced stop (second
signal), 2 usage error, 3 database unreachable.
`;

const SPEC: CommandSpec = {
  command: "worker",
  flags: {
    "--tasks": "value",
    "--db": "value",
    "--schema": "value",
    "--concurrency": "value",
    "--queues": "value",
    "--grace-ms": "value",
    "--lease-ms": "value",
  },
};

/** `outlast worker`: workers for a tasks module, no HTTP. */
export async function workerCommand(argv: readonly string[]): Promise<void> {
  const args = parseArgs(argv, SPEC);
  if (args.help) {
    process.stdout.write(WORKER_HELP);
    return;
  }
  const tasksPath = args.string("--tasks");
  if (tasksPath === undefined) throw new UsageError("outlast worker needs --tasks FILE, the module that defines the tasks; see outlast worker --help");
  const perProcess = args.int("--concurrency", 1, 100_000);
  const only = args.list("--queues");
  const graceMs = args.int("--grace-ms", 0, 24 * 60 * 60 * 1000) ?? 10_000;
  const target = storeTarget(args.string("--db") ?? "./outlast.db", args.string("--schema"));

  // Logs go to stderr: stdout carries the ready line only.
  const log = pino({ name: "outlast-worker", level: process.env.OUTLAST_LOG_LEVEL ?? "info" }, pino.destination({ dest: 2, sync: true }));
  const leaseMs = args.int("--lease-ms", 100, 24 * 60 * 60 * 1000);
  const outlast = new Outlast({ store: await openStore(target), logger: log, ...(leaseMs !== undefined ? { leaseMs } : {}) });
  try {
    await loadTasks(tasksPath, outlast);
    const used = [...new Set(outlast.taskNames.map((name) => outlast.queueOf(name)!))];
    if (used.length === 0) throw new UsageError(`${tasksPath} defines no tasks; call outlast.define(name, { run }) in its register function`);
    const idle = (only ?? []).filter((q) => !used.includes(q));
    if (idle.length > 0) throw new UsageError(`--queues: no task of ${tasksPath} runs on ${idle.join(", ")}; its tasks use queues: ${used.join(", ")}`);
    const queues = only ?? used;
    await outlast.start({ queues, ...(perProcess !== undefined ? { perProcess } : {}) });
    process.stdout.write(
      `worker ${outlast.workerId} ready: ${outlast.taskNames.filter((name) => queues.includes(outlast.queueOf(name)!)).join(", ")} on queue${queues.length > 1 ? "s" : ""} ${queues.join(", ")} (${describeTarget(target)})\n`,
    );
  } catch (error) {
    await outlast.close({ graceMs: 0 }).catch(() => {});
    throw error;
  }

  stopOnSignals({ command: "worker", outlast, graceMs });
}

#!/usr/bin/env node
import { EXIT, EXIT_CODES_HELP, exitCodeOf, messageOf, type ExitCode } from "./errors.js";

const USAGE = `Usage: outlast <command> [options]

Commands:
  serve     run the HTTP API, workers, dashboard and the demo task
  worker    run workers for a tasks module, no HTTP (one per machine)
  migrate   create or upgrade the database schema
  submit    submit a task through the HTTP API
  watch     show a task's progress until it ends
  tasks     list tasks
  queue     show and change queue limits on every node
  signal    send a signal to a task waiting for it
  dead      list, redrive or purge dead letters (failed tasks)
  worker-key  make, list or revoke keys for workers over HTTP

Run outlast <command> --help for its options.
${EXIT_CODES_HELP}
`;

/**
 * Each command, loaded when called: `submit` or `tasks` in a script should
 * not pay for loading the server and the database drivers. Long-running ones
 * (serve, worker) return once started and keep the process alive.
 */
const COMMANDS: Record<string, (argv: readonly string[]) => Promise<ExitCode | void>> = {
  serve: async (argv) => (await import("./serve.js")).serveCommand(argv),
  worker: async (argv) => (await import("./worker.js")).workerCommand(argv),
  migrate: async (argv) => (await import("./migrate.js")).migrateCommand(argv),
  submit: async (argv) => (await import("./submit.js")).submitCommand(argv),
  watch: async (argv) => (await import("./watch.js")).watchCommand(argv),
  tasks: async (argv) => (await import("./tasks.js")).tasksCommand(argv),
  queue: async (argv) => (await import("./queue.js")).queueCommand(argv),
  signal: async (argv) => (await import("./signal.js")).signalCommand(argv),
  dead: async (argv) => (await import("./dead.js")).deadCommand(argv),
  "worker-key": async (argv) => (await import("./worker-key.js")).workerKeyCommand(argv),
};

async function main(argv: readonly string[]): Promise<void> {
  const [command, ...rest] = argv;
  if (command === undefined || command === "--help" || command === "-h" || command === "help") {
    process.stdout.write(USAGE);
    return;
  }
  const run = Object.hasOwn(COMMANDS, command) ? COMMANDS[command] : undefined;
  if (!run) {
    process.stderr.write(`outlast: unknown command "${command}"\n\n${USAGE}`);
    process.exitCode = EXIT.usage;
    return;
  }
  try {
    const code = await run(rest);
    if (code !== undefined) process.exitCode = code;
  } catch (error) {
    process.stderr.write(`outlast ${command}: ${messageOf(error, command)}\n`);
    process.exitCode = exitCodeOf(error);
    if (process.exitCode === EXIT.failed && process.env.OUTLAST_DEBUG && error instanceof Error && error.stack) {
      process.stderr.write(`${error.stack}\n`);
    }
  }
}

await main(process.argv.slice(2));

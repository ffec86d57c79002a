import { pino } from "pino";
import { Outlast } from "../engine/outlast.js";
import { serve, type ServeOptions } from "../server/node.js";
import { serveAdminKey, type AdminKeySource, type ServeAdminKey } from "./admin-key.js";
import { parseArgs, type CommandSpec } from "./args.js";
import { defineDemoTask } from "./demo-task.js";
import { DB_FLAGS_HELP, describeTarget, openStore, storeTarget } from "./store-target.js";
import { GRACE_FLAG_HELP, stopOnSignals } from "./stop-signals.js";
import { loadTasks } from "./tasks-module.js";

export const DEFAULT_PORT = 7391;

export const SERVE_HELP = `Usage: outlast serve [options]

Runs the HTTP API, the workers and the demo task "demo.count".

Options:
  --port N          port to listen on (default ${DEFAULT_PORT}; 0 picks a free one)
  --host HOST       address to bind (default 127.0.0.1; 0.0.0.0 for every interface)
${DB_FLAGS_HELP}
  --tasks FILE      also define the tasks of this module (see outlast worker --help)
  --no-workers      serve the API only; \`outlast worker\` processes run the tasks
  --concurrency N   tasks running at once on the default queue (default 10)
  --max-queued N    most tasks waiting on the default queue (default: no limit)
  --lease-ms N      how long a worker holds a task without a heartbeat before
                    another may take it (default 15000)
${GRACE_FLAG_HELP}
  --no-anonymous    turn off anonymous browser sessions (POST /api/v1/session)
  --max-upload-mb N largest book the audiobook app at / accepts (default 20; the
                    app runs only from a clone of the Outlast repository)
  --help            show this help

Environment: OUTLAST_ADMIN_KEY (else one is made on the first start and kept:
in outlast-data/admin-key beside a SQLite file, mode 0600; on PostgreSQL in
the database, shared by every serve node; delete it for a new key),
OUTLAST_SECRET (token signing).
`;

const SPEC: CommandSpec = {
  command: "serve",
  flags: {
    "--port": "value",
    "--host": "value",
    "--db": "value",
    "--schema": "value",
    "--tasks": "value",
    "--no-workers": "switch",
    "--lease-ms": "value",
    "--grace-ms": "value",
    "--concurrency": "value",
    "--max-queued": "value",
    "--no-anonymous": "switch",
    "--max-upload-mb": "value",
  },
};

/** `outlast serve`: the API, workers and the demo task in one process. */
export async function serveCommand(argv: readonly string[]): Promise<void> {
  const args = parseArgs(argv, SPEC);
  if (args.help) {
    process.stdout.write(SERVE_HELP);
    return;
  }
  const port = args.int("--port", 0, 65535) ?? DEFAULT_PORT;
  const host = args.string("--host") ?? "127.0.0.1";
  const concurrency = args.int("--concurrency", 1, 100_000);
  const maxQueued = args.int("--max-queued", 1, 100_000_000);
  const target = storeTarget(args.string("--db") ?? "./outlast.db", args.string("--schema"));
  const tasksPath = args.string("--tasks");
  const workers = !args.has("--no-workers");
  const graceMs = args.int("--grace-ms", 0, 24 * 60 * 60 * 1000) ?? 10_000;
  const maxUploadBytes = (args.int("--max-upload-mb", 1, 4096) ?? 20) * 1024 * 1024;

  const log = pino({ name: "outlast", level: process.env.OUTLAST_LOG_LEVEL ?? "info" });
  const leaseMs = args.int("--lease-ms", 100, 24 * 60 * 60 * 1000);
  const outlast = new Outlast({ store: await openStore(target), logger: log, ...(leaseMs !== undefined ? { leaseMs } : {}) });
  let audiobook: AppHook | null = null;
  let admin: ServeAdminKey;
  try {
    admin = await serveAdminKey(outlast);
    if (concurrency !== undefined || maxQueued !== undefined) {
      outlast.queue("default", {
        ...(concurrency !== undefined ? { concurrency } : {}),
        ...(maxQueued !== undefined ? { maxQueued } : {}),
      });
    }
    if (tasksPath !== undefined) await loadTasks(tasksPath, outlast);
    if (!outlast.taskNames.includes("demo.count")) defineDemoTask(outlast);
    audiobook = await loadAudiobook(outlast, maxUploadBytes);
    // Without workers the engine still starts: its heartbeat shows this node (and its streams) to the others.
    await outlast.start(workers ? {} : { queues: [] });
  } catch (error) {
    await outlast.close({ graceMs: 0 }).catch(() => {});
    throw error;
  }
  const server = await serve(outlast, {
    port,
    host,
    anonymousSessions: !args.has("--no-anonymous"),
    adminKey: admin.key,
    logger: log,
    handleSignals: false,
    ...(audiobook ? { app: audiobook, homePage: null } : {}),
  }).catch(async (error: unknown) => {
    await outlast.close({ graceMs: 0 }).catch(() => {});
    throw error;
  });
  const fromEnv = admin.source.kind === "env";
  process.stdout.write(
    [
      "",
      `Outlast is running on ${server.url}`,
      `  dashboard   ${server.url}/dashboard${fromEnv ? "" : `#key=${encodeURIComponent(server.handler.adminKey)}`}`,
      ...(audiobook ? [`  audiobook   ${server.url}/`] : []),
      `  API         ${server.url}/api/v1`,
      `  admin key   ${fromEnv ? "(from OUTLAST_ADMIN_KEY)" : server.handler.adminKey}`,
      `  key kept    ${whereKept(admin.source)}`,
      `  database    ${describeTarget(target)}`,
      `  workers     ${workers ? outlast.taskNames.join(", ") : "none here (--no-workers)"}`,
      "",
      "Try it:",
      `  curl -s -X POST ${server.url}/api/v1/tasks -H "Authorization: Bearer ${fromEnv ? "$OUTLAST_ADMIN_KEY" : server.handler.adminKey}" \\`,
      `    -H "Content-Type: application/json" -d '{"name":"demo.count","input":{"to":50}}'`,
      // With --no-workers that task waits until a worker process defines it.
      ...(workers ? [] : ["  (it runs once an `outlast worker` process on this database defines the task)"]),
      "",
      "",
    ].join("\n"),
  );
  // Closing the engine first ends the server's streams and stops it listening (serve registered it), then drains.
  stopOnSignals({ command: "serve", outlast, graceMs });
}

function whereKept(source: AdminKeySource): string {
  switch (source.kind) {
    case "env":
      return "OUTLAST_ADMIN_KEY (Outlast stores nothing)";
    case "file":
      return `${source.path} (the same on every start; delete the file for a new key)`;
    case "database":
      return "in the database, beside the token-signing secret (the same on every start and every serve node)";
  }
}

/** The audiobook example's entry, present only in this repository (it is a GPL workspace package, not shipped). */
const AUDIOBOOK_MODULE = "@outlast/audiobook-example/mount";
type AppHook = NonNullable<ServeOptions["app"]>;
type AudiobookModule = { mountAudiobook(outlast: Outlast, options: { maxUploadBytes: number }): AppHook | null };

/** The audiobook example at "/"; null where it is not installed, or on PostgreSQL. */
async function loadAudiobook(outlast: Outlast, maxUploadBytes: number): Promise<AppHook | null> {
  let mod: AudiobookModule;
  try {
    // A variable, so neither tsc nor a bundler follows it into the example.
    mod = (await import(AUDIOBOOK_MODULE)) as AudiobookModule;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    // Not installed (the package), or TypeScript sources under plain node (a checkout run without tsx).
    if (code === "ERR_MODULE_NOT_FOUND" || code === "ERR_UNKNOWN_FILE_EXTENSION") return null;
    throw error;
  }
  return mod.mountAudiobook(outlast, { maxUploadBytes });
}

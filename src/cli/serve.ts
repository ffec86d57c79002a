import { pino } from "pino";
import { Outlast } from "../engine/outlast.js";
import { serve } from "../server/node.js";
import type { Store } from "../store/store.js";
import { sqliteStore } from "../store/sqlite/index.js";
import { parseServeArgs, SERVE_HELP } from "./args.js";
import { defineDemoTask } from "./demo-task.js";

/** `outlast serve`: the API, workers and the demo task in one process. */
export async function serveCommand(argv: readonly string[]): Promise<void> {
  const args = parseServeArgs(argv);
  if (args.help) {
    process.stdout.write(SERVE_HELP);
    return;
  }
  const log = pino({ name: "outlast", level: process.env.OUTLAST_LOG_LEVEL ?? "info" });
  const store = await openStore(args.db);
  const outlast = new Outlast({ store, logger: log });
  if (args.concurrency !== null || args.maxQueued !== null) {
    outlast.queue("default", {
      ...(args.concurrency !== null ? { concurrency: args.concurrency } : {}),
      ...(args.maxQueued !== null ? { maxQueued: args.maxQueued } : {}),
    });
  }
  defineDemoTask(outlast);
  await outlast.start();
  const server = await serve(outlast, {
    port: args.port,
    host: args.host,
    anonymousSessions: args.anonymous,
    logger: log,
    handleSignals: false,
  });
  const fromEnv = Boolean(process.env.OUTLAST_ADMIN_KEY);
  process.stdout.write(
    [
      "",
      `Outlast is running on ${server.url}`,
      `  dashboard   ${server.url}/`,
      `  API         ${server.url}/api/v1`,
      `  admin key   ${fromEnv ? "(from OUTLAST_ADMIN_KEY)" : server.handler.adminKey}`,
      `  database    ${args.db.startsWith("postgres") ? args.db.replace(/\/\/[^@/]*@/, "//***@") : args.db}`,
      "",
      "Try it:",
      `  curl -s -X POST ${server.url}/api/v1/tasks -H "Authorization: Bearer ${fromEnv ? "$OUTLAST_ADMIN_KEY" : server.handler.adminKey}" \\`,
      `    -H "Content-Type: application/json" -d '{"name":"demo.count","input":{"to":50}}'`,
      "",
      "",
    ].join("\n"),
  );
  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, "shutting down: ending streams and draining workers");
    try {
      await server.close();
      await outlast.close();
    } catch (error) {
      log.error({ err: error }, "shutdown failed");
      process.exitCode = 1;
    }
  };
  process.once("SIGTERM", () => void shutdown("SIGTERM"));
  process.once("SIGINT", () => void shutdown("SIGINT"));
}

async function openStore(db: string): Promise<Store> {
  if (/^postgres(ql)?:\/\//.test(db)) {
    // Loaded only when asked for, so SQLite users never need the PostgreSQL store.
    const path = "../store/postgres/index.js";
    const mod = (await import(path)) as { postgresStore?: (options: { connectionString: string }) => Store };
    if (typeof mod.postgresStore !== "function") throw new Error("This build has no PostgreSQL store");
    return mod.postgresStore({ connectionString: db });
  }
  return sqliteStore({ path: db });
}

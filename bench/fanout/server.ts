// The server side of the fan-out bench, in its own process so its memory and
// CPU are its own. argv: outlast|plain DIR, or pg SCHEMA worker|watch (a
// PostgreSQL store; only the worker process runs tasks). Prints "ready PORT RSS" then
// takes commands on stdin: "rss", "mem" (process.memoryUsage() as JSON),
// "heap FILE" (a heap snapshot), "lag" (event loop delay since the last "lag":
// p50 p99 max ms), "start" (the task to watch), "go" (run it), "quit".
import { createServer, type ServerResponse } from "node:http";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { writeHeapSnapshot } from "node:v8";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { Outlast } from "../../src/index.js";
import { serve } from "../../src/server/index.js";
import { sqliteStore } from "../../src/store/sqlite/index.js";
import { postgresStore } from "../../src/store/postgres/index.js";

export const ADMIN_KEY = "bench-admin-key-0123456789abcdef";
const [kind = "outlast", dir = "/tmp", role = "worker"] = process.argv.slice(2);
const PG_URL = process.env.OUTLAST_TEST_PG_URL ?? "postgres://postgres@127.0.0.1:5432/test";
const rss = () => process.memoryUsage().rss;

/** How often the task reports progress, and for how long. */
const TICK_MS = 100;
const TICKS = 60;

interface Target {
  port: number;
  start(): Promise<string>;
  go(): Promise<void>;
  close(): Promise<void>;
}

async function outlastServer(): Promise<Target> {
  const store = kind === "pg" ? postgresStore({ connectionString: PG_URL, schema: dir }) : sqliteStore({ path: join(dir, "fanout.db") });
  const outlast = new Outlast({ store, progressIntervalMs: TICK_MS, retention: false });
  outlast.define("fan.tick", {
    async run(_input, ctx) {
      for (let i = 1; i <= TICKS; i++) {
        await new Promise((resolve) => setTimeout(resolve, TICK_MS));
        ctx.progress({ current: i, total: TICKS });
      }
      return null;
    },
  });
  // A watching process serves streams and runs nothing, so the one task runs where it was submitted.
  if (role === "worker") await outlast.start();
  const running = await serve(outlast, { port: 0, adminKey: ADMIN_KEY, secret: "bench-secret-0123456789abcdef", logger: "silent", stuckMs: 600_000 });
  return {
    port: running.port,
    // The task waits in a paused queue while watchers connect (idle), then runs on "go".
    async start() {
      await outlast.pauseQueue("default");
      const task = await outlast.submit("fan.tick", {});
      return task.id;
    },
    async go() {
      await outlast.resumeQueue("default");
    },
    close: () => running.close(),
  };
}

/** The baseline: a bare node:http server broadcasting the same events to every open response. */
async function plainServer(): Promise<Target> {
  const clients = new Set<ServerResponse>();
  const server = createServer((req, res) => {
    res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
    res.write("retry: 2000\n\n");
    clients.add(res);
    req.on("close", () => clients.delete(res));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  let seq = 0;
  return {
    port: (server.address() as { port: number }).port,
    async start() {
      return "plain";
    },
    async go() {
      void (async () => {
        for (let i = 1; i <= TICKS; i++) {
          await new Promise((resolve) => setTimeout(resolve, TICK_MS));
          const data = JSON.stringify({ taskId: "plain", seq: ++seq, at: new Date().toISOString(), progress: { current: i, total: TICKS } });
          const frame = `id: ${seq}\nevent: progress\ndata: ${data}\n\n`;
          for (const res of clients) res.write(frame);
        }
      })();
    },
    async close() {
      for (const res of clients) res.end();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

const target = kind === "plain" ? await plainServer() : await outlastServer();
const lag = monitorEventLoopDelay({ resolution: 5 });
lag.enable();
const ms = (ns: number) => (ns / 1e6).toFixed(1);
process.stdout.write(`ready ${target.port} ${rss()}\n`);
for await (const line of createInterface({ input: process.stdin })) {
  const [command] = line.split(" ");
  if (command === "rss") process.stdout.write(`rss ${rss()}\n`);
  else if (command === "lag") {
    process.stdout.write(`lag ${ms(lag.percentile(50))} ${ms(lag.percentile(99))} ${ms(lag.max)}\n`);
    lag.reset();
  } else if (command === "mem") process.stdout.write(`mem ${JSON.stringify(process.memoryUsage())}\n`);
  else if (command === "heap") process.stdout.write(`heap ${writeHeapSnapshot(line.slice(5))}\n`);
  else if (command === "start") process.stdout.write(`started ${await target.start()}\n`);
  else if (command === "go") {
    await target.go();
    process.stdout.write("going\n");
  }
  else if (command === "quit") {
    await target.close();
    process.exit(0);
  }
}

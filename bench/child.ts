/**
 * One process of one scenario. Roles:
 *   run <spec>      prepare storage, measure, clean up, send the result to the parent
 *   helper <spec>   an extra worker process of a multi-process scenario
 *   cleanup <spec>  drop a scenario's storage after its process was killed
 */
import type { Hooks } from "./lib/adapter.js";
import type { HelperMessage, OwnerMessage, ScenarioResult, ScenarioSpec } from "./lib/protocol.js";
import { endToEnd, latency, submitOnly, type Meter } from "./lib/scenarios.js";
import { peakRssMb, sleep } from "./lib/stats.js";
import { countPgQueries, pgQueriesSent } from "./lib/query-count.js";
import { adapterFor } from "./systems/index.js";
import { httpWorkerRun } from "./systems/http-worker.js";
import { progressRate } from "./systems/outlast.js";
import { outlastProgressFleet, outlastSteps } from "./systems/outlast-long.js";
import { outlastHistory } from "./systems/outlast-history.js";
import { bullmqProgressFleet, bullmqSteps } from "./systems/bullmq-long.js";
import { rowsWritten } from "./systems/pg-schema.js";
import { localPostgresCpuMs, walBytesSince, walPosition } from "./lib/pg-cost.js";

const [role, json] = process.argv.slice(2);
if (!json || !process.send) {
  console.error("bench/child.ts is started by bench/run.ts");
  process.exit(2);
}
const spec = JSON.parse(json) as ScenarioSpec;
const send = (message: unknown) => new Promise<void>((resolve) => process.send!(message, () => resolve()));

async function runScenario(): Promise<ScenarioResult> {
  if (spec.kind === "progress") return progressRate(spec);
  if (spec.kind === "http-worker") return httpWorkerRun(spec);
  if (spec.kind === "steps") return spec.system === "bullmq" ? bullmqSteps(spec) : outlastSteps(spec);
  if (spec.kind === "progress-fleet") return spec.system === "bullmq" ? bullmqProgressFleet(spec) : outlastProgressFleet(spec);
  if (spec.kind === "history") return outlastHistory(spec);
  countPgQueries();
  const adapter = await adapterFor(spec);
  await adapter.prepare();
  let result: ScenarioResult;
  let sentSql = false;
  try {
    if (spec.kind === "e2e") {
      result = await endToEnd(adapter, spec, runMeter(spec.section === "postgres"));
      sentSql = result.detail["pgQueriesPerTask"] !== undefined;
    } else if (spec.kind === "submit") result = await submitOnly(adapter, spec);
    else result = await latency(adapter, spec);
    await adapter.close();
    if (sentSql) await addRowsWritten(result);
    return result;
  } finally {
    await adapter.close().catch((error: unknown) => console.error("close failed:", error));
    await adapter.destroy().catch((error: unknown) => console.error("cleanup failed:", error));
  }
}

/**
 * Statements, and on PostgreSQL CPU and WAL, per timed task: what the system
 * asked of the database and of its own process, figures that vary less with
 * the machine's load than throughput. The whole local server's CPU is
 * counted, so other work on it shows up too.
 */
function runMeter(onPostgres: boolean): Meter {
  let wal = "";
  let serverCpuMs: number | null = null;
  let clientCpu: NodeJS.CpuUsage | undefined;
  let queries = 0;
  const perTask = (n: number) => Number((n / spec.count).toFixed(1));
  return {
    async begin() {
      queries = pgQueriesSent();
      if (!onPostgres) return;
      wal = await walPosition(spec.pgUrl);
      serverCpuMs = localPostgresCpuMs();
      clientCpu = process.cpuUsage();
    },
    async end() {
      const figures: Record<string, number> = {};
      // Statements per task, from this process only (extra worker processes are not counted).
      const sent = pgQueriesSent() - queries;
      if (sent > 0) figures["pgQueriesPerTask"] = Number((sent / spec.count).toFixed(2));
      if (!onPostgres) return figures;
      const client = process.cpuUsage(clientCpu);
      const server = localPostgresCpuMs();
      figures["pgWalBytesPerTask"] = Math.round((await walBytesSince(spec.pgUrl, wal)) / spec.count);
      if (serverCpuMs !== null && server !== null) figures["pgServerCpuUsPerTask"] = perTask((server - serverCpuMs) * 1000);
      // With one worker process, this process did all of the client's work (its other threads included).
      if (spec.workers === 1) figures["clientCpuUsPerTask"] = perTask(client.user + client.system);
      return figures;
    },
  };
}

/** Rows each task cost in PostgreSQL, read once every connection of the scenario is closed. */
async function addRowsWritten(result: ScenarioResult): Promise<void> {
  await sleep(1_000);
  const rows = await rowsWritten(spec.pgUrl, spec.storage);
  // The table statistics include the warm-up's rows.
  const perTask = (n: number) => Number((n / (spec.count + (spec.warmup ?? 0))).toFixed(2));
  result.detail["pgRowsInsertedPerTask"] = perTask(rows.inserted);
  result.detail["pgRowsUpdatedPerTask"] = perTask(rows.updated);
  result.detail["pgRowsDeletedPerTask"] = perTask(rows.deleted);
}

async function runHelper(): Promise<void> {
  // An orphaned helper would keep working against storage that is about to be dropped.
  process.on("disconnect", () => process.exit(1));
  const adapter = await adapterFor(spec);
  let pending = 0;
  let ran = 0;
  const hooks: Hooks = { started: () => void ran++, finished: (n) => void (pending += n) };
  // Counts travel in batches so IPC does not dominate the helper's CPU.
  const flush = setInterval(() => {
    if (pending === 0) return;
    const count = pending;
    pending = 0;
    process.send!({ type: "finished", count } satisfies HelperMessage);
  }, 10);
  await adapter.startWorker(spec.concurrency, hooks, !adapter.seesAllCompletions);
  await send({ type: "ready" } satisfies HelperMessage);
  await new Promise<void>((resolve) => process.on("message", (m: OwnerMessage) => m.type === "stop" && resolve()));
  clearInterval(flush);
  await adapter.close();
  process.removeAllListeners("disconnect");
  await send({ type: "closed", peakRssMb: peakRssMb(), ran } satisfies HelperMessage);
}

async function main(): Promise<void> {
  if (role === "helper") return runHelper();
  if (role === "cleanup") {
    // progress and http-worker runs remove their SQLite file themselves (and a crash leaves it in the run's temp dir, removed at the end).
    if (spec.kind !== "progress" && spec.kind !== "http-worker") await (await adapterFor(spec)).destroy();
    await send({ type: "cleaned" });
    return;
  }
  const result = await runScenario();
  await send({ type: "result", result });
}

main().then(
  () => process.exit(0),
  async (error: unknown) => {
    const message = error instanceof Error ? (error.stack ?? error.message) : String(error);
    await send({ type: "error", message }).catch(() => {});
    process.exit(1);
  },
);

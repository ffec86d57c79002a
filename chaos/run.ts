/**
 * The standing chaos suite (issue #12): steady submits over HTTP to a real
 * `outlast serve`, SSE watchers reconnecting with Last-Event-ID, worker
 * processes killed with kill -9, and each store's own faults. Usage:
 *   npm run chaos [-- --minutes N] [-- --quick] [-- --only sqlite|postgres]
 * Exits 1 when a task is lost, a watcher saw a gap or a repeat, or a recorded step ran again.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { cleanUpEverything, cleanUpOnSignals } from "./cleanup.js";
import { failures, recoveryTableText, summaryTable } from "./report.js";
import { runScenario, type StoreKind, type StoreReport } from "./scenario.js";

interface Options {
  seconds: number;
  stores: StoreKind[];
  quick: boolean;
}

function usage(message: string): never {
  console.error(`chaos: ${message}\nusage: npm run chaos -- [--minutes N (default 2, at most 60)] [--quick (30 s a store)] [--only sqlite|postgres]`);
  process.exit(2);
}

function parse(argv: readonly string[]): Options {
  let seconds = 120;
  let quick = false;
  let stores: StoreKind[] = ["sqlite", "postgres"];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--quick") {
      quick = true;
      seconds = 30;
    } else if (arg === "--minutes") {
      const minutes = Number(argv[++i]);
      if (!(minutes > 0 && minutes <= 60)) usage("--minutes takes a number from 0 to 60");
      seconds = Math.round(minutes * 60);
    } else if (arg === "--only") {
      const store = argv[++i];
      if (store !== "sqlite" && store !== "postgres") usage("--only takes sqlite or postgres");
      stores = [store];
    } else usage(`unknown argument ${arg}`);
  }
  return { seconds, stores, quick };
}

const options = parse(process.argv.slice(2));
const pgUrl = process.env.OUTLAST_TEST_PG_URL ?? "postgres://postgres@127.0.0.1:5432/test";
if (!["127.0.0.1", "localhost", "[::1]"].includes(new URL(pgUrl).hostname)) usage(`the chaos run targets this machine only; ${pgUrl} is not on 127.0.0.1`);
cleanUpOnSignals();

const startLoad = loadavg()[0]!;
const reports: StoreReport[] = [];
let code = 0;
try {
  for (const store of options.stores) {
    console.error(`chaos: ${store}, ${options.seconds} s of submits (load average ${startLoad.toFixed(2)} on ${cpus().length} cores)`);
    try {
      reports.push(await runScenario({ store, seconds: options.seconds, pgUrl, perSecond: 6, workers: 2, maxWatchers: 12, idleConnections: 300 }));
    } finally {
      await cleanUpEverything();
    }
  }
} catch (error) {
  console.error(`chaos: the run could not complete: ${(error as Error).stack ?? String(error)}`);
  code = 2;
}

if (reports.length > 0) {
  const endLoad = loadavg()[0]!;
  console.log(`\nOutlast chaos run${options.quick ? " (--quick)" : ""}: load average ${startLoad.toFixed(2)} at the start, ${endLoad.toFixed(2)} at the end, ${cpus().length} cores\n`);
  console.log(summaryTable(reports));
  console.log(`\n${recoveryTableText(reports)}\n`);
  for (const r of reports) for (const note of r.notes) console.log(`${r.store}: ${note}`);
  for (const r of reports) for (const reason of new Set(r.failedStarts.map((f) => `${f.role}: ${f.reason}`))) console.log(`${r.store}: start refused, tried again: ${reason}`);
  for (const r of reports) for (const exit of r.unplannedExits) console.log(`${r.store}: ${exit.role} exited unplanned (code ${exit.code}):\n${exit.tail}`);
  const dir = new URL("./results/", import.meta.url).pathname;
  mkdirSync(dir, { recursive: true });
  const file = `${dir}chaos-${new Date().toISOString().replace(/[:.]/g, "-")}.json`;
  writeFileSync(file, JSON.stringify({ quick: options.quick, loadAverage: { start: startLoad, end: endLoad }, reports }, null, 2));
  console.log(`\nresults: ${file}`);
  const failed = failures(reports);
  for (const f of failed) console.log(`FAIL ${f}`);
  if (failed.length > 0 && code === 0) code = 1;
}
process.exit(code);

/**
 * One process of one scenario. Roles:
 *   run <spec>      prepare storage, measure, clean up, send the result to the parent
 *   helper <spec>   an extra worker process of a multi-process scenario
 *   cleanup <spec>  drop a scenario's storage after its process was killed
 */
import type { Hooks } from "./lib/adapter.js";
import type { HelperMessage, OwnerMessage, ScenarioResult, ScenarioSpec } from "./lib/protocol.js";
import { endToEnd, latency, submitOnly } from "./lib/scenarios.js";
import { peakRssMb } from "./lib/stats.js";
import { adapterFor } from "./systems/index.js";
import { progressRate } from "./systems/outlast.js";

const [role, json] = process.argv.slice(2);
if (!json || !process.send) {
  console.error("bench/child.ts is started by bench/run.ts");
  process.exit(2);
}
const spec = JSON.parse(json) as ScenarioSpec;
const send = (message: unknown) => new Promise<void>((resolve) => process.send!(message, () => resolve()));

async function runScenario(): Promise<ScenarioResult> {
  if (spec.kind === "progress") return progressRate(spec);
  const adapter = await adapterFor(spec);
  await adapter.prepare();
  try {
    if (spec.kind === "e2e") return await endToEnd(adapter, spec);
    if (spec.kind === "submit") return await submitOnly(adapter, spec);
    return await latency(adapter, spec);
  } finally {
    await adapter.close().catch((error: unknown) => console.error("close failed:", error));
    await adapter.destroy().catch((error: unknown) => console.error("cleanup failed:", error));
  }
}

async function runHelper(): Promise<void> {
  // An orphaned helper would keep working against storage that is about to be dropped.
  process.on("disconnect", () => process.exit(1));
  const adapter = await adapterFor(spec);
  let pending = 0;
  const hooks: Hooks = { started() {}, finished: (n) => void (pending += n) };
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
  await send({ type: "closed", peakRssMb: peakRssMb() } satisfies HelperMessage);
}

async function main(): Promise<void> {
  if (role === "helper") return runHelper();
  if (role === "cleanup") {
    if (spec.kind !== "progress") await (await adapterFor(spec)).destroy();
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

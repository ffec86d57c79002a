// The printed tables and the verdict of a chaos run.
import type { StoreReport } from "./scenario.js";

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(" | ")} |`;
  return [line(header), `|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`, ...rows.map(line)].join("\n");
}

const ms = (v: number | null) => (v === null ? "—" : v >= 10_000 ? `${(v / 1000).toFixed(1)} s` : `${v} ms`);

export function summaryTable(reports: readonly StoreReport[]): string {
  const rows: [string, (r: StoreReport) => string][] = [
    ["seconds of submits", (r) => String(r.seconds)],
    ["tasks acknowledged", (r) => String(r.acknowledged)],
    ["tasks finished (succeeded)", (r) => String(r.finished)],
    ["tasks failed", (r) => String(r.failed)],
    ["**lost** (acknowledged, never finished)", (r) => String(r.lost)],
    ["submits refused after retries", (r) => String(r.refusedSubmits)],
    ["submit retries (5xx or no answer)", (r) => String(r.submitRetries)],
    ["step executions / recorded steps", (r) => `${r.steps.executions} / ${r.steps.recordedSteps}`],
    ["steps run again: cut by a process's death", (r) => String(r.steps.cutByKill)],
    ["steps run again: attempt cut otherwise", (r) => String(r.steps.cutOtherwise)],
    ["**duplicated step executions** beyond cuts", (r) => String(r.steps.duplicates)],
    ["watchers (connections, events checked)", (r) => `${r.watchers.watchers} (${r.watchers.connects}, ${r.watchers.checked})`],
    ["**watcher gaps / repeats**", (r) => `${r.watchers.gaps} / ${r.watchers.repeats}`],
    ["watcher resets / unknown events / unfinished", (r) => `${r.watchers.resets} / ${r.watchers.unknown} / ${r.watchers.unfinished}`],
    ["unplanned process exits", (r) => String(r.unplannedExits.length)],
    ["process starts refused during a fault", (r) => String(r.failedStarts.length)],
    ["peak RSS serve / worker", (r) => `${r.peakRssMb.serve ?? "—"} / ${r.peakRssMb.worker ?? "—"} MB`],
  ];
  return table(["", ...reports.map((r) => r.store)], rows.map(([label, cell]) => [label, ...reports.map(cell)]));
}

export function recoveryTableText(reports: readonly StoreReport[]): string {
  const rows = reports.flatMap((r) =>
    r.recovery.map((row) => [r.store, row.kind, String(row.count), ms(row.p50Ms), ms(row.maxMs), String(row.unrecovered)]),
  );
  return table(["store", "fault", "times", "recovery p50", "recovery max", "no task finished after"], rows);
}

/** Why the run failed, or an empty list. */
export function failures(reports: readonly StoreReport[]): string[] {
  const out: string[] = [];
  for (const r of reports) {
    if (r.acknowledged === 0) out.push(`${r.store}: no task was acknowledged`);
    if (r.lost > 0) out.push(`${r.store}: ${r.lost} acknowledged tasks never finished: ${r.lostIds.join(", ")}`);
    if (r.watchers.gaps > 0 || r.watchers.repeats > 0) out.push(`${r.store}: watchers saw ${r.watchers.gaps} gaps and ${r.watchers.repeats} repeats: ${r.watchers.examples.join("; ")}`);
    // A watcher that never saw its task end, or saw an event the store does not hold, is a hang or a made-up event.
    if (r.watchers.unfinished > 0 || r.watchers.unknown > 0) out.push(`${r.store}: ${r.watchers.unfinished} watchers never saw their task end, ${r.watchers.unknown} events were not in the store`);
    if (r.steps.duplicates > 0) out.push(`${r.store}: ${r.steps.duplicates} step executions ran again though recorded: ${r.steps.examples.join("; ")}`);
  }
  return out;
}

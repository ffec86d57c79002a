import type { Metric, ScenarioResult, ScenarioSpec, SystemName } from "./protocol.js";

/** One line of the results: a measured scenario, or why it was not measured. */
export interface Row {
  spec: ScenarioSpec;
  /** Configuration shown beside the system, e.g. "c=50". */
  config: string;
  status: "ok" | "failed" | "not available";
  result?: ScenarioResult;
  reason?: string;
  /** Set on the best configuration of a concurrency sweep. */
  best?: boolean;
  /** Per metric: this row against the best peer; above 1 means better than that peer. */
  vsBestPeer?: (number | null)[];
  bestPeer?: string;
}

const LABELS: Record<SystemName, string> = {
  "outlast-sqlite": "Outlast (SQLite)",
  "outlast-pg": "Outlast (PostgreSQL)",
  "outlast-python": "Outlast (SQLite), Python worker",
  bullmq: "BullMQ (Redis)",
  "graphile-worker": "Graphile Worker",
  "pg-boss": "pg-boss",
};

export function label(system: SystemName): string {
  return LABELS[system];
}

/** Systems compared with each other: Outlast on SQLite against BullMQ; the PostgreSQL systems together. */
function arena(system: SystemName): string {
  return system === "outlast-sqlite" || system === "outlast-python" || system === "bullmq" ? "embedded" : "postgres";
}

function isPeer(system: SystemName): boolean {
  return !system.startsWith("outlast");
}

/** Rows that measure the same thing: kind, size and worker processes. */
function scenarioKey(spec: ScenarioSpec): string {
  return `${arena(spec.system)}|${spec.kind}|${spec.kind === "latency" ? "" : spec.count}|${spec.workers}`;
}

/** Fills `vsBestPeer` of every measured row. */
export function compare(rows: Row[]): void {
  const bestPeer = new Map<string, { values: number[]; who: string[] }>();
  for (const row of rows) {
    if (row.status !== "ok" || !row.result || !isPeer(row.spec.system)) continue;
    const key = scenarioKey(row.spec);
    const entry = bestPeer.get(key) ?? { values: [], who: [] };
    row.result.metrics.forEach((metric, i) => {
      const current = entry.values[i];
      if (current === undefined || better(metric, metric.value, current)) {
        entry.values[i] = metric.value;
        entry.who[i] = `${label(row.spec.system)} ${row.config}`.trim();
      }
    });
    bestPeer.set(key, entry);
  }
  for (const row of rows) {
    const peer = bestPeer.get(scenarioKey(row.spec));
    if (row.status !== "ok" || !row.result || !peer) continue;
    row.vsBestPeer = row.result.metrics.map((metric, i) => {
      const reference = peer.values[i];
      if (metric.unranked || reference === undefined || !(metric.value > 0) || !(reference > 0)) return null;
      return metric.better === "higher" ? metric.value / reference : reference / metric.value;
    });
    row.bestPeer = peer.who[0] ?? "";
  }
}

function better(metric: Metric, a: number, b: number): boolean {
  return metric.better === "higher" ? a > b : a < b;
}

function formatValue(metric: Metric): string {
  if (metric.unit === "ms") return metric.value < 10 ? metric.value.toFixed(2) : metric.value.toFixed(1);
  return Math.round(metric.value).toLocaleString("en-US");
}

function figure(row: Row): string {
  if (row.status !== "ok" || !row.result) return row.status === "failed" ? `failed: ${row.reason ?? ""}` : `not available: ${row.reason ?? ""}`;
  const metrics = row.result.metrics;
  if (row.spec.kind === "latency") {
    return `p50 ${metrics.map(formatValue).join(" / ")} ms (p50/p95/p99, n=${row.result.detail["samples"]})`.replace(/^p50 /, "");
  }
  const text = metrics.map((m) => (m.unit === "ms" ? `${m.name} ${formatValue(m)} ms` : `${formatValue(m)} ${m.unit}`)).join(", ");
  if (row.spec.kind === "progress") return `${text} (target > 5,000,000)`;
  const empty = row.result.detail["vsEmpty"];
  if (typeof empty === "string") return `${text} (${empty} the empty store)`;
  const vs = row.result.detail["vsInProcess"];
  return typeof vs === "number" ? `${text} (${vs.toFixed(2)}× the in-process worker)` : text;
}

/** Scenarios printed with "—" where no peer has an honest equivalent (bench/README.md says why). */
const PEERLESS_KINDS = new Set<ScenarioSpec["kind"]>(["steps", "progress-fleet", "history"]);

function ratio(row: Row): string {
  if (!row.vsBestPeer) return row.status === "ok" && PEERLESS_KINDS.has(row.spec.kind) ? "—" : "";
  const parts = row.vsBestPeer.map((r) => (r === null ? "—" : `${r.toFixed(2)}×`));
  return parts.join(" / ");
}

/** The markdown table printed at the end of a run. */
export function markdownTable(rows: Row[]): string {
  const lines = [
    "| system | config | scenario | figure | vs best peer (>1 = better) | peak RSS |",
    "|---|---|---|---|---|---|",
  ];
  for (const row of rows) {
    const rss = row.result ? `${Math.round(row.result.peakRssMb)} MB` : "";
    const config = row.best ? `${row.config} (best)` : row.config;
    lines.push(`| ${label(row.spec.system)} | ${config} | ${row.spec.title} | ${figure(row)} | ${ratio(row)} | ${rss} |`);
  }
  return lines.join("\n");
}

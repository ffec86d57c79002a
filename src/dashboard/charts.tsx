import { useEffect, useRef, useState } from "preact/hooks";
import uPlot from "uplot";
import type { Stats, StatsBucket } from "./api.js";
import { useSession } from "./context.js";
import { usePoll } from "./hooks.js";
import { Card, duration, ErrorNote } from "./ui.js";

const WINDOWS = ["5m", "15m", "1h", "6h", "24h"] as const;

/** Throughput and latency over time, per queue or all together, from `GET /api/v1/stats`. */
export function ChartsCard() {
  const { api } = useSession();
  const [window, setWindow] = useState<string>("15m");
  const [queue, setQueue] = useState<string>("");
  const { data, error } = usePoll(() => api.get<Stats>(`/api/v1/stats?window=${window}`), 5000, [window]);
  const buckets = data ? (queue ? data.queues.find((q) => q.name === queue)?.buckets ?? data.all.map(emptied) : data.all) : [];
  const xs = buckets.map((b) => Date.parse(b.at) / 1000 + (data?.bucketMs ?? 0) / 2000);
  const perMinute = data ? 60_000 / data.bucketMs : 1;
  const totals = buckets.reduce((n, b) => n + b.succeeded + b.failed + b.canceled, 0);
  return (
    <Card
      title="Throughput and latency"
      actions={
        <>
          <label class="inline">
            Queue{" "}
            <select value={queue} onChange={(e) => setQueue((e.target as HTMLSelectElement).value)}>
              <option value="">all</option>
              {data?.queues.map((q) => (
                <option key={q.name} value={q.name}>
                  {q.name}
                </option>
              ))}
            </select>
          </label>
          <div class="segmented" role="group" aria-label="Time window">
            {WINDOWS.map((w) => (
              <button type="button" key={w} class={w === window ? "on" : ""} aria-pressed={w === window} onClick={() => setWindow(w)}>
                {w}
              </button>
            ))}
          </div>
        </>
      }
    >
      <ErrorNote error={error} />
      <p class="muted small">
        {totals.toLocaleString()} finished in the last {window}
        {data ? `, buckets of ${duration(data.bucketMs)}` : ""}. Counted by this server since it started.
      </p>
      <div class="charts">
        <Chart
          title="Finished per minute"
          xs={xs}
          series={[
            { label: "succeeded", stroke: "#2f855a", values: buckets.map((b) => b.succeeded * perMinute) },
            { label: "failed", stroke: "#c53030", values: buckets.map((b) => b.failed * perMinute) },
            { label: "canceled", stroke: "#718096", values: buckets.map((b) => b.canceled * perMinute) },
          ]}
          format={(v) => (v === null ? "—" : v.toFixed(v < 10 ? 1 : 0))}
        />
        <Chart
          title="Latency"
          sparse
          floor={100}
          xs={xs}
          series={[
            { label: "run mean", stroke: "#2b6cb0", values: buckets.map((b) => b.runMeanMs) },
            { label: "run p95", stroke: "#805ad5", values: buckets.map((b) => b.runP95Ms), dash: [4, 4] },
            { label: "wait mean", stroke: "#dd6b20", values: buckets.map((b) => b.waitMeanMs) },
          ]}
          format={(v) => (v === null ? "—" : duration(v))}
        />
      </div>
    </Card>
  );
}

function emptied(b: StatsBucket): StatsBucket {
  return { ...b, submitted: 0, succeeded: 0, failed: 0, canceled: 0, runMeanMs: null, runP95Ms: null, waitMeanMs: null };
}

interface Series {
  label: string;
  stroke: string;
  values: (number | null)[];
  dash?: number[];
}

/** One uPlot chart that keeps its instance and only swaps data on updates. */
function Chart({ title, xs, series, format, sparse = false, floor = 1 }: { title: string; xs: number[]; series: Series[]; format: (v: number | null) => string; sparse?: boolean; floor?: number }) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const data = [xs, ...series.map((s) => s.values)] as uPlot.AlignedData;

  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const opts: uPlot.Options = {
      width: Math.max(200, el.clientWidth),
      height: 180,
      legend: { show: true },
      cursor: { drag: { x: false, y: false } },
      // An empty chart still gets a readable scale: up to `floor`.
      scales: { y: { range: (_u, _min, max) => [0, Math.max(floor, max) * 1.1] } },
      axes: [{ stroke: "#4a5568", grid: { stroke: "#edf2f7" } }, { stroke: "#4a5568", grid: { stroke: "#edf2f7" }, size: 64, values: (_u, ticks) => ticks.map((t) => format(t)) }],
      // Sparse series (latency: nothing when nothing ran) join their points and show them, so a lone value is visible.
      series: [{}, ...series.map((s) => ({ label: s.label, stroke: s.stroke, width: 2, spanGaps: sparse, points: { show: sparse, size: 5, fill: s.stroke }, value: (_u: uPlot, v: number | null) => format(v), ...(s.dash ? { dash: s.dash } : {}) }))],
    };
    const chart = new uPlot(opts, data, el);
    plot.current = chart;
    const resize = new ResizeObserver(() => chart.setSize({ width: Math.max(200, el.clientWidth), height: 180 }));
    resize.observe(el);
    return () => {
      resize.disconnect();
      chart.destroy();
      plot.current = null;
    };
    // The chart is made once; data changes go through setData below.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);

  useEffect(() => {
    plot.current?.setData(data);
  });

  return (
    <figure class="chart">
      <figcaption>{title}</figcaption>
      <div ref={box} />
    </figure>
  );
}

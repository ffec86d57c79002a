import { taskHref } from "./router.js";
import type { ComponentChildren } from "preact";
import { useState } from "preact/hooks";
import type { ChildCounts, Task, TaskState, WaitingFor } from "./api.js";

/** A progress bar readable by assistive technology and by tests. */
export function ProgressBar({ task, label }: { task: Task; label?: string }) {
  const percent = percentOf(task);
  const text = progressText(task);
  return (
    <div class="progress-wrap">
      <div
        class={`progress progress-${task.state}`}
        role="progressbar"
        aria-label={label ?? `Progress of ${task.id}`}
        aria-valuemin={0}
        aria-valuemax={100}
        aria-valuenow={percent === null ? undefined : Math.round(percent * 10) / 10}
        aria-valuetext={text}
      >
        <div class="progress-fill" style={{ width: `${percent ?? 0}%` }} />
      </div>
      <span class="progress-text">{text}</span>
    </div>
  );
}

/** A task's share done: a succeeded one is all done (as its parent counts it), whatever it last reported. */
export function percentOf(task: Task): number | null {
  const p = task.progress;
  if (task.state === "succeeded") return 100;
  if (typeof p.percent === "number") return clamp(p.percent);
  if (typeof p.current === "number" && typeof p.total === "number" && p.total > 0) return clamp((p.current / p.total) * 100);
  return null;
}

function progressText(task: Task): string {
  const p = task.progress;
  const parts: string[] = [];
  const percent = percentOf(task);
  if (percent !== null) parts.push(`${Math.floor(percent)}%`);
  if (typeof p.current === "number" && typeof p.total === "number") parts.push(`${p.current}/${p.total}`);
  if (p.message) parts.push(p.message);
  return parts.join(" · ") || "—";
}

function clamp(n: number): number {
  return Math.max(0, Math.min(100, n));
}

/** A task's id, linking to its page. */
export function TaskLink({ id }: { id: string }) {
  return (
    <a class="mono" href={taskHref(id)}>
      {id}
    </a>
  );
}

export function StateBadge({ state }: { state: TaskState }) {
  return <span class={`badge badge-${state}`}>{state}</span>;
}

/** "12 s ago", with the exact time on hover. */
export function Ago({ at, now }: { at: string | null; now?: number }) {
  if (!at) return <span class="muted">—</span>;
  const ms = (now ?? Date.now()) - Date.parse(at);
  return <time dateTime={at} title={new Date(at).toLocaleString()}>{ago(ms)}</time>;
}

export function ago(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
}

export function duration(ms: number | null): string {
  if (ms === null) return "—";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  if (ms < 3_600_000) return `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`;
  return `${Math.floor(ms / 3_600_000)} h ${Math.round((ms % 3_600_000) / 60_000)} min`;
}

export function Json({ value }: { value: unknown }) {
  const text = value === undefined ? "—" : JSON.stringify(value, null, 2);
  return <pre class="json">{text.length > 20_000 ? `${text.slice(0, 20_000)}\n… (${text.length} characters)` : text}</pre>;
}

export function Card({ title, actions, children, id }: { title: string; actions?: ComponentChildren; children: ComponentChildren; id?: string }) {
  return (
    <section class="card" aria-label={title} id={id}>
      <header class="card-head">
        <h2>{title}</h2>
        {actions ? <div class="card-actions">{actions}</div> : null}
      </header>
      {children}
    </section>
  );
}

/** A button that runs an async action, disables itself meanwhile and shows what went wrong. */
export function ActionButton({ label, action, kind, title }: { label: string; action: () => Promise<unknown>; kind?: "danger" | "primary"; title?: string }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  return (
    <span class="action">
      <button
        type="button"
        class={`btn ${kind ? `btn-${kind}` : ""}`}
        disabled={busy}
        title={title}
        onClick={async () => {
          setBusy(true);
          setError(null);
          try {
            await action();
          } catch (err) {
            setError(err instanceof Error ? err.message : String(err));
          } finally {
            setBusy(false);
          }
        }}
      >
        {label}
      </button>
      {error ? <span class="error-inline" role="alert">{error}</span> : null}
    </span>
  );
}

export function ErrorNote({ error }: { error: string | null }) {
  return error ? <p class="error-note" role="alert">{error}</p> : null;
}

export function Empty({ children }: { children: ComponentChildren }) {
  return <p class="empty">{children}</p>;
}

/** A task's name, with its title (what it is about) above it when it has one. */
export function TitledName({ task }: { task: Task }) {
  if (task.title === null) return <>{task.name}</>;
  return (
    <>
      <span class="task-title">{task.title}</span>
      <br />
      <span class="muted">{task.name}</span>
    </>
  );
}

/** "7 of 12 done · 3 running · 1 failed": a parent's children by state. */
export function childCountsText(counts: ChildCounts): string {
  const done = counts.succeeded + counts.failed + counts.canceled;
  const parts = [`${done} of ${counts.total} done`];
  for (const state of ["running", "waiting", "queued", "failed", "canceled"] as const) {
    if (counts[state] > 0) parts.push(`${counts[state]} ${state}`);
  }
  return parts.join(" · ");
}

/** A parent's rolled-up counts, when it has children. */
export function childCountsOf(task: Task): ChildCounts | null {
  const counts = task.progress.children;
  return counts && counts.total > 0 ? counts : null;
}

/** What a waiting task waits for, in a few words: "waiting for its children", "sleeping until 14:02:11", 'waiting for signal "approve" (times out at …)'. */
export function describeWait(wait: WaitingFor): string {
  switch (wait.kind) {
    case "children":
      return "waiting for its children";
    case "sleep":
      return `sleeping until ${new Date(wait.until).toLocaleString()}`;
    case "signal":
      return `waiting for signal "${wait.name}" (${wait.until === null ? "no timeout" : `times out at ${new Date(wait.until).toLocaleString()}`})`;
  }
}

/** A child's key among its parent's children, when the task JSON carries it. */
export function childKeyOf(task: Task): string | null {
  const key = (task as Task & { childKey?: unknown; key?: unknown }).childKey ?? (task as Task & { key?: unknown }).key;
  return typeof key === "string" ? key : null;
}

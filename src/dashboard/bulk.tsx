import { useState } from "preact/hooks";
import { query } from "./api.js";
import { useSession } from "./context.js";
import { ErrorNote } from "./ui.js";

/** "1 task", "12 tasks". */
export function tasksCount(count: number): string {
  return `${count} ${count === 1 ? "task" : "tasks"}`;
}

/** "queue=bw, owner=alice": the set fields of a filter, as the confirmation names them. */
export function describeFilter(filter: Record<string, string | undefined>): string {
  const parts = Object.entries(filter).filter(([, value]) => value);
  return parts.length > 0 ? parts.map(([key, value]) => `${key}=${value}`).join(", ") : "no filter";
}

/** A `datetime-local` value as an ISO time, or undefined when empty or not a time. */
export function isoOf(local: string): string | undefined {
  if (!local.trim()) return undefined;
  const ms = Date.parse(local);
  return Number.isFinite(ms) ? new Date(ms).toISOString() : undefined;
}

/**
 * A button that asks first: clicking it shows the question with a button to
 * go ahead and one to keep things as they are; going ahead runs `action`,
 * whose answer (a line such as "Redrove 12 tasks") is shown after.
 */
export function ConfirmButton({
  label,
  question,
  yes,
  action,
  kind,
  onDone,
}: {
  label: string;
  question: string;
  yes: string;
  action: () => Promise<string>;
  kind?: "danger" | "primary" | undefined;
  onDone?: (said: string) => void;
}) {
  const [asking, setAsking] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  if (!asking) {
    return (
      <button type="button" class={`btn ${kind ? `btn-${kind}` : ""}`} onClick={() => (setError(null), setAsking(true))}>
        {label}
      </button>
    );
  }
  return (
    <span class="confirm" role="group" aria-label={`Confirm: ${label}`}>
      <span class="confirm-question">{question}</span>
      <button
        type="button"
        class={`btn ${kind === "danger" ? "btn-danger" : "btn-primary"}`}
        disabled={busy}
        onClick={async () => {
          setBusy(true);
          setError(null);
          try {
            const said = await action();
            setAsking(false);
            onDone?.(said);
          } catch (err) {
            setError(err instanceof Error ? err.message : String(err));
          } finally {
            setBusy(false);
          }
        }}
      >
        {yes}
      </button>
      <button type="button" class="btn btn-quiet" disabled={busy} onClick={() => setAsking(false)}>
        Keep them
      </button>
      <ErrorNote error={error} />
    </span>
  );
}

const ACTIONS = [
  { action: "cancel", label: "Cancel all", past: "Canceled", which: "every unfinished task", kind: "danger" },
  { action: "retry", label: "Retry all", past: "Retried", which: "every failed or canceled task", kind: undefined },
  { action: "redrive", label: "Redrive all", past: "Redrove", which: "every dead letter", kind: undefined },
] as const;

/**
 * The Tasks list's bulk actions (`POST /api/v1/tasks/bulk`): the list's
 * state, queue, name and owner, with an error code and a time range of
 * creation; cancel, retry or redrive every match (at most 10,000 a call),
 * after a confirmation naming the filter, then how many it touched.
 */
export function BulkPanel({ filter, onDone }: { filter: { state: string; queue: string; name: string; owner: string; q: string }; onDone: () => void }) {
  const { api } = useSession();
  const [extra, setExtra] = useState({ code: "", since: "", until: "" });
  const [said, setSaid] = useState<string | null>(null);
  const full = {
    state: filter.state || undefined,
    queue: filter.queue || undefined,
    name: filter.name || undefined,
    owner: filter.owner || undefined,
    code: extra.code.trim() || undefined,
    since: isoOf(extra.since),
    until: isoOf(extra.until),
  };
  const narrowed = Object.values(full).some(Boolean);
  const named = describeFilter(full);
  return (
    <details class="bulk" aria-label="Bulk action">
      <summary>Bulk action</summary>
      <p class="muted small">
        Acts on every task matching the list's filters (state, queue, name, owner) and these, up to 10,000 at a time. Times bound when the tasks were created.
      </p>
      <div class="filters">
        <label>
          Error code
          <input name="bulk-code" value={extra.code} placeholder="any" onInput={(e) => setExtra({ ...extra, code: (e.target as HTMLInputElement).value })} />
        </label>
        <label>
          Created from
          <input name="bulk-since" type="datetime-local" step={1} value={extra.since} onInput={(e) => setExtra({ ...extra, since: (e.target as HTMLInputElement).value })} />
        </label>
        <label>
          Created before
          <input name="bulk-until" type="datetime-local" step={1} value={extra.until} onInput={(e) => setExtra({ ...extra, until: (e.target as HTMLInputElement).value })} />
        </label>
      </div>
      {filter.q ? (
        <p class="muted">A bulk action does not take the "Starts with" text: clear it first, so the action matches the list.</p>
      ) : narrowed ? (
        <div class="bulk-actions">
          {ACTIONS.map((a) => (
            <ConfirmButton
              key={a.action}
              label={a.label}
              kind={a.kind}
              question={`${a.label.replace(" all", "")} ${a.which} with ${named}?`}
              yes={`Yes, ${a.label.toLowerCase()}`}
              action={async () => {
                const filterBody = Object.fromEntries(Object.entries(full).filter(([, value]) => value !== undefined));
                const { count } = await api.post<{ count: number }>("/api/v1/tasks/bulk", { action: a.action, filter: filterBody });
                return `${a.past} ${tasksCount(count)}`;
              }}
              onDone={(text) => {
                setSaid(text);
                onDone();
              }}
            />
          ))}
        </div>
      ) : (
        <p class="muted">Narrow the list first (a state, queue, name or owner) or give an error code or time.</p>
      )}
      {said ? (
        <p class="notice" role="status">
          {said}
        </p>
      ) : null}
    </details>
  );
}

/** `GET /api/v1/dead` with the set filters. */
export function deadQuery(filter: Record<string, string | undefined>, limit: number, cursor: string | undefined): string {
  return `/api/v1/dead${query({ ...filter, limit, cursor })}`;
}

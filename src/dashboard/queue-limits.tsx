import { useState } from "preact/hooks";
import type { Api, QueueRow } from "./api.js";

const FIELDS = [
  { key: "concurrency", label: "Concurrency", help: "running at once, all processes" },
  { key: "maxQueued", label: "Max queued", help: "waiting at most" },
  { key: "perOwner.concurrency", label: "Per owner running", help: "one owner's running tasks" },
  { key: "perOwner.maxQueued", label: "Per owner queued", help: "one owner's waiting tasks" },
] as const;

type FieldKey = (typeof FIELDS)[number]["key"];

function valueOf(queue: QueueRow, key: FieldKey): number | null {
  if (key === "concurrency") return queue.concurrency;
  if (key === "maxQueued") return queue.maxQueued;
  return key === "perOwner.concurrency" ? queue.perOwner.concurrency : queue.perOwner.maxQueued;
}

/** A limit as the queues table shows it: ∞ for none, * when an operator set it. */
export function LimitCell({ queue, field }: { queue: QueueRow; field: FieldKey }) {
  const value = valueOf(queue, field);
  const set = queue.overridden.includes(field);
  return (
    <span class={set ? "limit-overridden" : ""} title={set ? "set by an operator: holds over the code's declaration until reset" : "as declared"}>
      {value ?? "∞"}
      {set ? "*" : ""}
    </span>
  );
}

/**
 * Changes a queue's limits on every node (PATCH /api/v1/queues/:name): an
 * empty field means no limit; Reset goes back to what the code declares.
 */
export function QueueLimitsForm({ api, queue, onDone }: { api: Api; queue: QueueRow; onDone: () => void }) {
  const [values, setValues] = useState<Record<FieldKey, string>>(
    () => Object.fromEntries(FIELDS.map((f) => [f.key, String(valueOf(queue, f.key) ?? "")])) as Record<FieldKey, string>,
  );
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const send = async (body: unknown) => {
    setBusy(true);
    setError(null);
    try {
      await api.patch(`/api/v1/queues/${encodeURIComponent(queue.name)}`, body);
      onDone();
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    } finally {
      setBusy(false);
    }
  };
  const parsed = (key: FieldKey): number | null | "bad" => {
    const text = values[key].trim();
    if (text === "" || text === "∞") return null;
    return /^\d+$/.test(text) && Number(text) >= 1 ? Number(text) : "bad";
  };
  return (
    <form
      class="queue-limits"
      aria-label={`Limits of ${queue.name}`}
      onSubmit={(event) => {
        event.preventDefault();
        const bad = FIELDS.find((f) => parsed(f.key) === "bad");
        if (bad) return setError(`${bad.label} must be a whole number of at least 1, or empty for no limit`);
        // Only what the admin changed becomes an operator's limit; the rest stays as declared.
        const changed = (key: FieldKey) => (parsed(key) === valueOf(queue, key) ? undefined : (parsed(key) as number | null));
        const perOwner = { concurrency: changed("perOwner.concurrency"), maxQueued: changed("perOwner.maxQueued") };
        void send(JSON.parse(JSON.stringify({ concurrency: changed("concurrency"), maxQueued: changed("maxQueued"), perOwner })));
      }}
    >
      {FIELDS.map((f) => (
        <label key={f.key} title={f.help}>
          {f.label}
          <input
            name={f.key}
            inputMode="numeric"
            placeholder="∞"
            value={values[f.key]}
            onInput={(e) => setValues({ ...values, [f.key]: (e.target as HTMLInputElement).value })}
          />
        </label>
      ))}
      <button type="submit" class="btn btn-primary" disabled={busy}>
        Save
      </button>
      <button type="button" class="btn" disabled={busy || queue.overridden.length === 0} title="Back to the limits the code declares" onClick={() => void send({ reset: true })}>
        Reset
      </button>
      <button type="button" class="btn" disabled={busy} onClick={onDone}>
        Cancel
      </button>
      {error ? (
        <span class="error-inline" role="alert">
          {error}
        </span>
      ) : null}
    </form>
  );
}

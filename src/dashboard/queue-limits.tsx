import { useState } from "preact/hooks";
import type { Api, QueueRow } from "./api.js";
import { KeyLimitsEditor } from "./queue-keys.js";

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

/** A field's text as a limit: null when empty, "bad" when it is not a whole number of at least 1. */
function parseLimit(text: string): number | null | "bad" {
  const trimmed = text.trim();
  if (trimmed === "" || trimmed === "∞") return null;
  return /^\d+$/.test(trimmed) && Number(trimmed) >= 1 ? Number(trimmed) : "bad";
}

type Body = Record<string, unknown>;

/**
 * Changes a queue's limits on every node (PATCH /api/v1/queues/:name): an
 * empty field means no limit (for the per-key default and a tier: back to
 * what code declares); Reset goes back to what the code declares. Only the
 * fields the admin changed are sent, so the rest stays as declared.
 */
export function QueueLimitsForm({ api, queue, onDone, onChanged }: { api: Api; queue: QueueRow; onDone: () => void; onChanged: () => void }) {
  const keyed = queue.keyConcurrency ?? null;
  const rate = queue.rateLimit ?? null;
  const [values, setValues] = useState<Record<string, string>>(() => ({
    ...Object.fromEntries(FIELDS.map((f) => [f.key, String(valueOf(queue, f.key) ?? "")])),
    rateLimit: rate ? String(rate.limit) : "",
    ratePeriodMs: rate ? String(rate.periodMs) : "",
    perKey: keyed === null || keyed.limit === null ? "" : String(keyed.limit),
    ...Object.fromEntries(Object.entries(keyed?.tiers ?? {}).map(([tier, n]) => [`tier:${tier}`, String(n)])),
    newTier: "",
    newTierLimit: "",
  }));
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const value = (name: string) => values[name] ?? "";
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
  /** The change as the API takes it, or a message saying which field to fix. */
  const changeOf = (): Body | string => {
    const bad = FIELDS.find((f) => parseLimit(value(f.key)) === "bad");
    if (bad) return `${bad.label} must be a whole number of at least 1, or empty for no limit`;
    const changed = (key: FieldKey) => (parseLimit(value(key)) === valueOf(queue, key) ? undefined : (parseLimit(value(key)) as number | null));
    const body: Body = { concurrency: changed("concurrency"), maxQueued: changed("maxQueued") };
    body.perOwner = { concurrency: changed("perOwner.concurrency"), maxQueued: changed("perOwner.maxQueued") };
    const limit = parseLimit(value("rateLimit"));
    const period = parseLimit(value("ratePeriodMs"));
    if (limit === "bad") return "Rate limit must be a whole number of starts of at least 1, or empty for none";
    if (period === "bad") return "Rate window must be a whole number of milliseconds of at least 1";
    if ((limit === null) !== (period === null)) return "Give the rate limit and its window together, or leave both empty for none";
    if (limit === null && rate !== null) body.rateLimit = null;
    if (limit !== null && period !== null && (limit !== rate?.limit || period !== rate.periodMs)) body.rateLimit = { limit, periodMs: period };
    if (keyed) {
      const perKey = parseLimit(value("perKey"));
      if (perKey === "bad") return "Per key must be a whole number of at least 1, or empty for the declared one";
      const tiers: Record<string, number | null> = {};
      for (const [tier, n] of Object.entries(keyed.tiers)) {
        const next = parseLimit(value(`tier:${tier}`));
        if (next === "bad") return `Tier ${tier} must be a whole number of at least 1, or empty for the declared one`;
        if (next !== n) tiers[tier] = next;
      }
      const newTier = value("newTier").trim();
      if (newTier !== "") {
        const n = parseLimit(value("newTierLimit"));
        if (n === null || n === "bad") return `The new tier ${newTier} needs a limit: a whole number of at least 1`;
        tiers[newTier] = n;
      }
      const object = { limit: perKey === (keyed.limit ?? null) ? undefined : perKey, tiers: Object.keys(tiers).length > 0 ? tiers : undefined };
      // The per-key numbers travel in concurrency's object form, whose total is the queue-wide limit.
      if (object.limit !== undefined || object.tiers !== undefined) body.concurrency = { ...object, total: body.concurrency };
    }
    return JSON.parse(JSON.stringify(body)) as Body;
  };
  const input = (name: string, label: string, help: string, placeholder = "∞") => (
    <label key={name} title={help}>
      {label}
      <input name={name} inputMode="numeric" placeholder={placeholder} value={value(name)} onInput={(e) => setValues({ ...values, [name]: (e.target as HTMLInputElement).value })} />
    </label>
  );
  return (
    <div class="queue-limits-editor">
      <form
        aria-label={`Limits of ${queue.name}`}
        onSubmit={(event) => {
          event.preventDefault();
          const change = changeOf();
          if (typeof change === "string") return setError(change);
          void send(change);
        }}
      >
        <div class="queue-limits">
          {FIELDS.map((f) => input(f.key, f.label, f.help))}
          {input("rateLimit", "Rate limit (starts)", "at most this many starts (cost units) in any window, across every node; empty: none", "none")}
          {input("ratePeriodMs", "Rate window (ms)", "the window's length in milliseconds, e.g. 60000 for a minute", "ms")}
        </div>
        {keyed ? (
          <div class="queue-limits" role="group" aria-label={`Per-key limits of ${queue.name}`}>
            {input("perKey", "Per key running", "running tasks of one key at once, unless its tier or the key says otherwise; empty: as declared")}
            {Object.keys(keyed.tiers)
              .sort()
              .map((tier) => input(`tier:${tier}`, `Tier ${tier}`, `running tasks of one key of tier ${tier}; empty: as declared`))}
            <label title="a tier the code may pick for a task (its tier function)">
              New tier
              <input name="newTier" placeholder="name" value={value("newTier")} onInput={(e) => setValues({ ...values, newTier: (e.target as HTMLInputElement).value })} />
            </label>
            {input("newTierLimit", "Its limit", "running tasks of one key of the new tier", "")}
          </div>
        ) : null}
        <div class="queue-limits">
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
        </div>
      </form>
      {keyed ? <KeyLimitsEditor api={api} queue={queue} onChanged={onChanged} /> : null}
    </div>
  );
}

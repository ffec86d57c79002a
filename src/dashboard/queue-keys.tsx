import { useState } from "preact/hooks";
import type { Api, QueueRow } from "./api.js";

/** A rate window for people: "min", "5 s", "250 ms". */
export function periodText(ms: number): string {
  const units: [number, string][] = [
    [86_400_000, "day"],
    [3_600_000, "h"],
    [60_000, "min"],
    [1000, "s"],
  ];
  for (const [size, unit] of units) if (ms % size === 0) return ms === size ? unit : `${ms / size} ${unit}`;
  return `${ms} ms`;
}

/** The queues table's rate limit: "60 / min", "per key" when each key has its own budget, * when an operator set it. */
export function RateCell({ queue }: { queue: QueueRow }) {
  const rate = queue.rateLimit ?? null;
  const set = queue.overridden.includes("rateLimit");
  if (rate === null) return <span class={set ? "limit-overridden" : "muted"}>{set ? "none*" : "—"}</span>;
  return (
    <span class={set ? "limit-overridden" : ""} title={`at most ${rate.limit} starts in any ${rate.periodMs} ms${rate.keyed ? ", for each key" : ""}`}>
      {rate.limit.toLocaleString()} / {periodText(rate.periodMs)}
      {set ? "*" : ""}
      {rate.keyed ? <span class="small muted"> per key</span> : null}
    </span>
  );
}

/** The queues table's per-key limits: the default, then the tiers and how many keys have their own. */
export function PerKeyCell({ queue }: { queue: QueueRow }) {
  const keyed = queue.keyConcurrency ?? null;
  if (keyed === null) return <span class="muted" title="not limited per key">—</span>;
  const set = queue.overridden.includes("keyConcurrency");
  const tiers = Object.entries(keyed.tiers).sort(([a], [b]) => a.localeCompare(b));
  const keys = Object.keys(queue.keyLimits ?? {}).length;
  return (
    <span class={set ? "limit-overridden" : ""} title="running tasks of one key at once">
      <span data-field="perKeyDefault">
        {keyed.limit ?? "∞"}
        {set ? "*" : ""}
      </span>
      {tiers.length > 0 ? <span class="per-key-note" data-field="tiers">{tiers.map(([tier, n]) => `${tier} ${n}`).join(" · ")}</span> : null}
      {keys > 0 ? (
        <span class="per-key-note" data-field="keyLimitCount">
          {keys} {keys === 1 ? "key" : "keys"} of their own
        </span>
      ) : null}
    </span>
  );
}

/**
 * The keys of a keyed queue that have a limit of their own, each with a
 * Remove button, and a row to add one; every change is sent at once
 * (PATCH keyLimits) and `onChanged` reads the queue again.
 */
export function KeyLimitsEditor({ api, queue, onChanged }: { api: Api; queue: QueueRow; onChanged: () => void }) {
  const [key, setKey] = useState("");
  const [limit, setLimit] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const keys = Object.entries(queue.keyLimits ?? {}).sort(([a], [b]) => a.localeCompare(b));
  const send = async (keyLimits: Record<string, number | null>) => {
    setBusy(true);
    setError(null);
    try {
      await api.patch(`/api/v1/queues/${encodeURIComponent(queue.name)}`, { keyLimits });
      onChanged();
      return true;
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
      return false;
    } finally {
      setBusy(false);
    }
  };
  const add = async () => {
    const name = key.trim();
    if (name === "") return setError("Name the key (a tenant, an owner…) to give a limit of its own");
    if (!/^\d+$/.test(limit.trim()) || Number(limit) < 1) return setError(`The limit of "${name}" must be a whole number of at least 1`);
    if (await send({ [name]: Number(limit) })) {
      setKey("");
      setLimit("");
    }
  };
  return (
    <div class="key-limits" aria-label={`Key limits of ${queue.name}`} role="group">
      <h3>Keys with a limit of their own (over their tier and the default)</h3>
      {keys.length === 0 ? <p class="muted small">None yet.</p> : null}
      <ul class="key-limit-list">
        {keys.map(([name, n]) => (
          <li key={name} data-key={name}>
            <span class="mono">{name}</span> <strong>{n}</strong>
            <button type="button" class="btn btn-small" disabled={busy} title={`Drop ${name}'s own limit`} onClick={() => void send({ [name]: null })}>
              Remove
            </button>
          </li>
        ))}
      </ul>
      <div class="queue-limits">
        <label>
          Key
          <input name="newKey" value={key} placeholder="tenant-42" onInput={(e) => setKey((e.target as HTMLInputElement).value)} />
        </label>
        <label>
          Running at once
          <input name="newKeyLimit" inputMode="numeric" value={limit} placeholder="3" onInput={(e) => setLimit((e.target as HTMLInputElement).value)} />
        </label>
        <button type="button" class="btn" disabled={busy} onClick={() => void add()}>
          Add key limit
        </button>
        {error ? (
          <span class="error-inline" role="alert">
            {error}
          </span>
        ) : null}
      </div>
    </div>
  );
}

import { useState } from "preact/hooks";
import type { SignalAnswer, Task } from "./api.js";
import { useSession } from "./context.js";

/**
 * Send a signal to a task (`POST /api/v1/tasks/:id/signals/:name`): its
 * name, prefilled with the one the task waits for, and a JSON payload. The
 * API's refusal (a payload its schema rejects, a task that already ended)
 * is shown as it came.
 */
export function SignalForm({ task, onSent, onClose }: { task: Task; onSent: (answer: SignalAnswer, name: string) => void; onClose: () => void }) {
  const { api } = useSession();
  const [name, setName] = useState(task.waitingFor?.kind === "signal" ? task.waitingFor.name : "");
  const [payload, setPayload] = useState("{}");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  return (
    <form
      class="signal-form"
      aria-label="Send signal"
      onSubmit={async (e) => {
        e.preventDefault();
        setError(null);
        const signal = name.trim();
        if (!signal) return setError("Give the signal's name.");
        let value: unknown = null;
        if (payload.trim() !== "") {
          try {
            value = JSON.parse(payload);
          } catch (err) {
            return setError(`The payload is not JSON: ${(err as Error).message}`);
          }
        }
        setBusy(true);
        try {
          const answer = await api.post<SignalAnswer>(`/api/v1/tasks/${encodeURIComponent(task.id)}/signals/${encodeURIComponent(signal)}`, { payload: value });
          onSent(answer, signal);
        } catch (err) {
          setError(err instanceof Error ? err.message : String(err));
        } finally {
          setBusy(false);
        }
      }}
    >
      <label>
        Signal
        <input name="signal" class="mono" value={name} autoComplete="off" onInput={(e) => setName((e.target as HTMLInputElement).value)} />
      </label>
      <label class="signal-payload">
        Payload (JSON)
        <textarea name="payload" class="mono" rows={4} spellcheck={false} value={payload} onInput={(e) => setPayload((e.target as HTMLTextAreaElement).value)} />
      </label>
      <div class="signal-actions">
        <button type="submit" class="btn btn-primary" disabled={busy}>
          Send
        </button>
        <button type="button" class="btn btn-quiet" onClick={onClose}>
          Close
        </button>
      </div>
      {error ? (
        <p class="error-note" role="alert">
          {error}
        </p>
      ) : null}
    </form>
  );
}

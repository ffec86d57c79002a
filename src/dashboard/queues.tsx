import type { QueueRow } from "./api.js";
import { useSession } from "./context.js";
import { useReloadOnStateChange, usePoll } from "./hooks.js";
import { tasksHref } from "./router.js";
import { useState } from "preact/hooks";
import { PerKeyCell, RateCell } from "./queue-keys.js";
import { LimitCell, QueueLimitsForm } from "./queue-limits.js";
import { ActionButton, Card, Empty, ErrorNote } from "./ui.js";

const STATES = ["queued", "running", "waiting", "succeeded", "failed", "canceled"] as const;

/** Queues with their counts by state, and pause/resume. */
export function QueuesCard() {
  const { api, feed } = useSession();
  const { data, error, reload } = usePoll(() => api.get<{ queues: QueueRow[] }>("/api/v1/queues"), 5000, []);
  useReloadOnStateChange(feed, reload);
  const queues = data?.queues ?? [];
  const [editing, setEditing] = useState<string | null>(null);
  return (
    <Card title="Queues">
      <ErrorNote error={error} />
      {data && queues.length === 0 ? <Empty>No queues yet.</Empty> : null}
      {queues.length > 0 ? (
        <table class="table" aria-label="Queues">
          <thead>
            <tr>
              <th>Queue</th>
              {STATES.map((s) => (
                <th class="num" key={s}>
                  {s}
                </th>
              ))}
              <th class="num">Concurrency</th>
              <th class="num">Max queued</th>
              <th>Rate limit</th>
              <th>Per key</th>
              <th>Status</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {queues.flatMap((q) => [
              <tr key={q.name} data-queue={q.name}>
                <td>
                  <a href={tasksHref({ queue: q.name })}>{q.name}</a>
                </td>
                {STATES.map((s) => (
                  <td class="num" key={s} data-state={s}>
                    <a class={`count count-${s} ${(q.counts[s] ?? 0) === 0 ? "zero" : ""}`} href={tasksHref({ queue: q.name, state: s })}>
                      {(q.counts[s] ?? 0).toLocaleString()}
                    </a>
                  </td>
                ))}
                <td class="num" data-field="concurrency">
                  <LimitCell queue={q} field="concurrency" />
                </td>
                <td class="num" data-field="maxQueued">
                  <LimitCell queue={q} field="maxQueued" />
                </td>
                <td data-field="rateLimit">
                  <RateCell queue={q} />
                </td>
                <td data-field="perKey">
                  <PerKeyCell queue={q} />
                </td>
                <td>{q.paused ? <span class="badge badge-paused">paused</span> : <span class="badge badge-active">active</span>}</td>
                <td class="right">
                  <button type="button" class="btn" onClick={() => setEditing(editing === q.name ? null : q.name)}>
                    Limits
                  </button>
                  <ActionButton
                    label={q.paused ? "Resume" : "Pause"}
                    action={async () => {
                      await api.post(`/api/v1/queues/${encodeURIComponent(q.name)}/${q.paused ? "resume" : "pause"}`);
                      reload();
                    }}
                  />
                </td>
              </tr>,
              editing === q.name ? (
                <tr key={`${q.name}-limits`} data-queue-limits={q.name}>
                  <td colSpan={STATES.length + 7}>
                    <QueueLimitsForm
                      api={api}
                      queue={q}
                      onDone={() => {
                        setEditing(null);
                        reload();
                      }}
                      onChanged={reload}
                    />
                  </td>
                </tr>
              ) : null,
            ])}
          </tbody>
        </table>
      ) : null}
    </Card>
  );
}

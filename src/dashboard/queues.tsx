import type { QueueRow } from "./api.js";
import { useSession } from "./context.js";
import { useReloadOnStateChange, usePoll } from "./hooks.js";
import { tasksHref } from "./router.js";
import { ActionButton, Card, Empty, ErrorNote } from "./ui.js";

const STATES = ["queued", "running", "succeeded", "failed", "canceled"] as const;

/** Queues with their counts by state, and pause/resume. */
export function QueuesCard() {
  const { api, feed } = useSession();
  const { data, error, reload } = usePoll(() => api.get<{ queues: QueueRow[] }>("/api/v1/queues"), 5000, []);
  useReloadOnStateChange(feed, reload);
  const queues = data?.queues ?? [];
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
              <th>Status</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {queues.map((q) => (
              <tr key={q.name} data-queue={q.name}>
                <td>
                  <a href={tasksHref({ queue: q.name })}>{q.name}</a>
                </td>
                {STATES.map((s) => (
                  <td class="num" key={s} data-state={s}>
                    <a class={`count count-${s} ${q.counts[s] === 0 ? "zero" : ""}`} href={tasksHref({ queue: q.name, state: s })}>
                      {q.counts[s].toLocaleString()}
                    </a>
                  </td>
                ))}
                <td class="num">{q.concurrency ?? "∞"}</td>
                <td>{q.paused ? <span class="badge badge-paused">paused</span> : <span class="badge badge-active">active</span>}</td>
                <td class="right">
                  <ActionButton
                    label={q.paused ? "Resume" : "Pause"}
                    action={async () => {
                      await api.post(`/api/v1/queues/${encodeURIComponent(q.name)}/${q.paused ? "resume" : "pause"}`);
                      reload();
                    }}
                  />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
    </Card>
  );
}

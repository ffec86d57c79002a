import type { Task } from "./api.js";
import { useSession } from "./context.js";
import { useFeed, usePoll, useReloadOnStateChange } from "./hooks.js";
import { tasksHref } from "./router.js";
import { ActionButton, Ago, Card, Empty, ErrorNote, ProgressBar, StateBadge, TaskLink, TitledName } from "./ui.js";

const SHOWN = 50;

/** Running tasks with their bars, moving live from the event stream. */
export function RunningCard() {
  const { feed, api } = useSession();
  useFeed(feed);
  const running = [...feed.running.values()].sort((a, b) => (a.startedAt ?? "").localeCompare(b.startedAt ?? ""));
  return (
    <Card title={`Running (${running.length})`} actions={running.length > SHOWN ? <a href={tasksHref({ state: "running" })}>All running tasks</a> : null}>
      {running.length === 0 ? <Empty>Nothing is running.</Empty> : <TaskTable tasks={running.slice(0, SHOWN)} cancel={(id) => api.post(`/api/v1/tasks/${encodeURIComponent(id)}/cancel`)} />}
    </Card>
  );
}

function TaskTable({ tasks, cancel }: { tasks: Task[]; cancel: (id: string) => Promise<unknown> }) {
  return (
    <table class="table" aria-label="Running tasks">
      <thead>
        <tr>
          <th>Task</th>
          <th>Name</th>
          <th>Owner</th>
          <th class="wide">Progress</th>
          <th>Started</th>
          <th />
        </tr>
      </thead>
      <tbody>
        {tasks.map((t) => (
          <tr key={t.id} data-task={t.id}>
            <td>
              <TaskLink id={t.id} />
            </td>
            <td class="wrap">
              <TitledName task={t} />
            </td>
            <td>{t.owner}</td>
            <td>
              <ProgressBar task={t} />
            </td>
            <td>
              <Ago at={t.startedAt} />
            </td>
            <td class="right">
              <ActionButton label="Cancel" kind="danger" action={() => cancel(t.id)} />
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** The latest failures with their errors. */
export function FailuresCard() {
  const { api, feed } = useSession();
  const { data, error, reload } = usePoll(() => api.get<{ tasks: Task[] }>("/api/v1/tasks?state=failed&limit=8"), 10_000, []);
  // One small page, read again at most every two seconds while tasks change state.
  useReloadOnStateChange(feed, reload, 2000);
  const tasks = data?.tasks ?? [];
  return (
    <Card title="Recent failures" actions={<a href={tasksHref({ state: "failed" })}>All failed tasks</a>}>
      <ErrorNote error={error} />
      {data && tasks.length === 0 ? <Empty>No failed tasks.</Empty> : null}
      {tasks.length > 0 ? (
        <ul class="failures">
          {tasks.map((t) => (
            <li key={t.id} data-task={t.id}>
              <div class="failure-head">
                <StateBadge state={t.state} />
                {t.workerLost ? <span class="badge badge-paused">worker lost</span> : null}
                <TaskLink id={t.id} />
                <span class="muted">
                  {t.name} · {t.owner} · attempt {t.attempt}/{t.maxAttempts} · <Ago at={t.finishedAt} />
                </span>
                <ActionButton
                  label="Retry"
                  action={async () => {
                    await api.post(`/api/v1/tasks/${encodeURIComponent(t.id)}/retry`);
                    reload();
                  }}
                />
              </div>
              <p class="failure-error">{t.error?.message ?? "(no message)"}</p>
            </li>
          ))}
        </ul>
      ) : null}
    </Card>
  );
}

import { useEffect, useState } from "preact/hooks";
import type { Task, TaskPage } from "./api.js";
import { ConfirmButton, deadQuery, describeFilter, isoOf, tasksCount } from "./bulk.js";
import { useSession } from "./context.js";
import { usePoll } from "./hooks.js";
import { deadHref, navigate } from "./router.js";
import { ActionButton, Ago, Card, Empty, ErrorNote, TaskLink, TitledName } from "./ui.js";

const PAGE_SIZE = 50;

/**
 * Dead letters (`GET /api/v1/dead`): failed tasks kept for an operator,
 * newest failure first, by queue, name, error code and a time they failed
 * from; each can be redriven (run again from its steps) or purged, and so
 * can every one matching the filter, a purge only after a confirmation.
 */
export function DeadPage({ params }: { params: URLSearchParams }) {
  const { api } = useSession();
  const filter = {
    queue: params.get("queue") ?? "",
    name: params.get("name") ?? "",
    code: params.get("code") ?? "",
    since: params.get("since") ?? "",
  };
  const key = JSON.stringify(filter);
  const [cursors, setCursors] = useState<string[]>([]);
  const [draft, setDraft] = useState(filter);
  const [said, setSaid] = useState<string | null>(null);
  useEffect(() => {
    setCursors([]);
    setDraft(filter);
    setSaid(null);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [key]);
  const wanted = { queue: filter.queue || undefined, name: filter.name || undefined, code: filter.code || undefined, since: isoOf(filter.since) };
  const cursor = cursors.at(-1);
  const { data, error, reload } = usePoll(() => api.get<TaskPage>(deadQuery(wanted, PAGE_SIZE, cursor)), 0, [key, cursor]);
  const rows = data?.tasks ?? [];
  const done = (text: string) => {
    setSaid(text);
    setCursors([]);
    reload();
  };
  const target = () => ({ filter: Object.fromEntries(Object.entries(wanted).filter(([, value]) => value !== undefined)) });
  const named = describeFilter(wanted);
  return (
    <Card title="Dead letters">
      <form
        class="filters"
        aria-label="Filters"
        onSubmit={(e) => {
          e.preventDefault();
          const get = (k: keyof typeof draft) => draft[k].trim() || undefined;
          navigate(deadHref({ queue: get("queue"), name: get("name"), code: get("code"), since: get("since") }));
        }}
      >
        {(["queue", "name"] as const).map((field) => (
          <label key={field}>
            {field === "queue" ? "Queue" : "Name"}
            <input name={field} value={draft[field]} placeholder="any" onInput={(e) => setDraft({ ...draft, [field]: (e.target as HTMLInputElement).value })} />
          </label>
        ))}
        <label>
          Error code
          <input name="code" value={draft.code} placeholder="any" onInput={(e) => setDraft({ ...draft, code: (e.target as HTMLInputElement).value })} />
        </label>
        <label>
          Failed since
          <input name="since" type="datetime-local" step={1} value={draft.since} onInput={(e) => setDraft({ ...draft, since: (e.target as HTMLInputElement).value })} />
        </label>
        <button class="btn btn-primary" type="submit">
          Apply
        </button>
      </form>
      <div class="bulk-actions">
        <ConfirmButton
          label="Redrive all matching"
          question={`Run again every dead letter with ${named}?`}
          yes="Yes, redrive them"
          kind="primary"
          action={async () => `Redrove ${tasksCount((await api.post<{ count: number }>("/api/v1/dead/redrive", target())).count)}`}
          onDone={done}
        />
        <ConfirmButton
          label="Purge all matching"
          question={`Delete every dead letter with ${named}, with its events and steps? This cannot be undone.`}
          yes="Yes, purge them"
          kind="danger"
          action={async () => `Purged ${tasksCount((await api.post<{ count: number }>("/api/v1/dead/purge", target())).count)}`}
          onDone={done}
        />
      </div>
      {said ? (
        <p class="notice" role="status">
          {said}
        </p>
      ) : null}
      <ErrorNote error={error} />
      {data && rows.length === 0 ? <Empty>No dead letters match.</Empty> : null}
      {rows.length > 0 ? (
        <table class="table" aria-label="Dead letters">
          <thead>
            <tr>
              <th>Task</th>
              <th>Name</th>
              <th>Queue</th>
              <th>Error code</th>
              <th class="wide">Error</th>
              <th>Failed</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {rows.map((t) => (
              <DeadRow key={t.id} task={t} onDone={done} />
            ))}
          </tbody>
        </table>
      ) : null}
      <nav class="pager" aria-label="Pages">
        <button type="button" class="btn" disabled={cursors.length === 0} onClick={() => setCursors((c) => c.slice(0, -1))}>
          ← Previous
        </button>
        <span class="muted">Page {cursors.length + 1}</span>
        <button type="button" class="btn" disabled={!data?.nextCursor} onClick={() => data?.nextCursor && setCursors((c) => [...c, data.nextCursor!])}>
          Next →
        </button>
      </nav>
    </Card>
  );
}

function DeadRow({ task, onDone }: { task: Task; onDone: (said: string) => void }) {
  const { api } = useSession();
  const count = async (action: "redrive" | "purge") => (await api.post<{ count: number }>(`/api/v1/dead/${action}`, { ids: [task.id] })).count;
  return (
    <tr data-task={task.id}>
      <td>
        <TaskLink id={task.id} />
      </td>
      <td class="wrap">
        <TitledName task={task} />
      </td>
      <td>{task.queue}</td>
      <td class="mono">{task.error?.code ?? "—"}</td>
      <td class="wrap">
        <span class="error-text">{task.error?.message ?? "—"}</span>
      </td>
      <td>
        <Ago at={task.finishedAt} />
      </td>
      <td class="right">
        <ActionButton label="Redrive" action={async () => onDone(`Redrove ${tasksCount(await count("redrive"))}`)} />
        <ConfirmButton
          label="Purge"
          question="Delete it for good?"
          yes="Yes, purge"
          kind="danger"
          action={async () => `Purged ${tasksCount(await count("purge"))}`}
          onDone={onDone}
        />
      </td>
    </tr>
  );
}

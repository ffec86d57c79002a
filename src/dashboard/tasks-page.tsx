import { useEffect, useState } from "preact/hooks";
import { query, type Task, type TaskPage } from "./api.js";
import { BulkPanel } from "./bulk.js";
import { useSession } from "./context.js";
import { usePoll } from "./hooks.js";
import { navigate, tasksHref } from "./router.js";
import { ActionButton, Ago, Card, childCountsOf, childCountsText, describeWait, duration, Empty, ErrorNote, ProgressBar, StateBadge, TaskLink, TitledName } from "./ui.js";

const PAGE_SIZE = 50;
const STATES = ["", "queued", "running", "waiting", "succeeded", "failed", "canceled"] as const;

/**
 * Tasks by state, queue, name and owner, and by a prefix of id, owner,
 * name or title (`q`, the search box), newest first, one page at a time
 * (the list cursor; earlier cursors are kept for "Previous"). Rows on the
 * page follow the live stream.
 */
export function TasksPage({ params }: { params: URLSearchParams }) {
  const { api, feed } = useSession();
  const filter = {
    state: params.get("state") ?? "",
    queue: params.get("queue") ?? "",
    name: params.get("name") ?? "",
    owner: params.get("owner") ?? "",
    q: params.get("q") ?? "",
  };
  const key = JSON.stringify(filter);
  const [cursors, setCursors] = useState<string[]>([]);
  const [draft, setDraft] = useState(filter);
  useEffect(() => {
    setCursors([]);
    setDraft(filter);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [key]);
  const cursor = cursors.at(-1);
  const { data, error, reload } = usePoll(
    () => api.get<TaskPage>(`/api/v1/tasks${query({ ...filter, limit: PAGE_SIZE, cursor })}`),
    0,
    [key, cursor],
  );
  const [rows, setRows] = useState<Task[]>([]);
  useEffect(() => setRows(data?.tasks ?? []), [data]);
  useEffect(
    () =>
      feed.onAnyTask((task) =>
        setRows((current) => (current.some((t) => t.id === task.id) ? current.map((t) => (t.id === task.id ? { ...task } : t)) : current)),
      ),
    [feed],
  );
  const pageNumber = cursors.length + 1;
  const title = filter.state === "failed" ? "Failed tasks" : "Tasks";
  return (
    <Card title={title}>
      <form
        class="filters"
        aria-label="Filters"
        onSubmit={(e) => {
          e.preventDefault();
          const get = (k: keyof typeof draft) => draft[k].trim() || undefined;
          navigate(tasksHref({ q: get("q"), state: get("state"), queue: get("queue"), name: get("name"), owner: get("owner") }));
        }}
      >
        <label>
          Starts with
          <input name="q" value={draft.q} placeholder="id, owner, name or title" onInput={(e) => setDraft({ ...draft, q: (e.target as HTMLInputElement).value })} />
        </label>
        <label>
          State
          <select name="state" value={draft.state} onChange={(e) => setDraft({ ...draft, state: (e.target as HTMLSelectElement).value })}>
            {STATES.map((s) => (
              <option key={s} value={s}>
                {s || "any"}
              </option>
            ))}
          </select>
        </label>
        <label>
          Queue
          <input name="queue" value={draft.queue} placeholder="any" onInput={(e) => setDraft({ ...draft, queue: (e.target as HTMLInputElement).value })} />
        </label>
        <label>
          Name
          <input name="name" value={draft.name} placeholder="any" onInput={(e) => setDraft({ ...draft, name: (e.target as HTMLInputElement).value })} />
        </label>
        <label>
          Owner
          <input name="owner" value={draft.owner} placeholder="any" onInput={(e) => setDraft({ ...draft, owner: (e.target as HTMLInputElement).value })} />
        </label>
        <button class="btn btn-primary" type="submit">
          Apply
        </button>
      </form>
      <BulkPanel key={key} filter={filter} onDone={reload} />
      <ErrorNote error={error} />
      {data && rows.length === 0 ? <Empty>No tasks match.</Empty> : null}
      {rows.length > 0 ? (
        <table class="table" aria-label="Tasks">
          <thead>
            <tr>
              <th>Task</th>
              <th>State</th>
              <th>Name</th>
              <th>Queue</th>
              <th>Owner</th>
              <th class="wide">Progress or error</th>
              <th>Created</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {rows.map((t) => (
              <tr key={t.id} data-task={t.id}>
                <td>
                  <TaskLink id={t.id} />
                </td>
                <td>
                  <StateBadge state={t.state} />
                </td>
                <td class="wrap">
                  <TitledName task={t} />
                </td>
                <td>{t.queue}</td>
                <td class="wrap">{t.owner}</td>
                <td class="wrap">
                  <ProgressCell task={t} />
                </td>
                <td>
                  <Ago at={t.createdAt} />
                </td>
                <td class="right">
                  <RowAction task={t} onTask={(task) => setRows((current) => current.map((r) => (r.id === task.id ? task : r)))} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
      <nav class="pager" aria-label="Pages">
        <button type="button" class="btn" disabled={cursors.length === 0} onClick={() => setCursors((c) => c.slice(0, -1))}>
          ← Previous
        </button>
        <span class="muted">Page {pageNumber}</span>
        <button type="button" class="btn" disabled={!data?.nextCursor} onClick={() => data?.nextCursor && setCursors((c) => [...c, data.nextCursor!])}>
          Next →
        </button>
      </nav>
    </Card>
  );
}

/** A failure's error, a queued task's place or start time, what a waiting one waits for, else the bar (a parent's with its children's counts). */
function ProgressCell({ task }: { task: Task }) {
  if (task.state === "failed" || (task.state === "canceled" && task.error)) return <span class="error-text">{task.error?.message ?? "—"}</span>;
  if (task.state === "waiting" && task.waitingFor && task.waitingFor.kind !== "children") {
    return <span class="muted">{describeWait(task.waitingFor)}</span>;
  }
  const counts = childCountsOf(task);
  if (counts) {
    return (
      <>
        <ProgressBar task={task} />
        <span class="muted small">{childCountsText(counts)}</span>
      </>
    );
  }
  if (task.state === "queued") {
    const wait = Date.parse(task.runAt) - Date.now();
    if (wait > 1000) return <span class="muted" title={new Date(task.runAt).toLocaleString()}>scheduled, starts in {duration(wait)}</span>;
    if (task.position !== null) {
      const eta = task.etaMs !== null ? ` · done in about ${duration(task.etaMs)}` : "";
      return <span class="muted">waiting · #{task.position} in its queue{eta}</span>;
    }
  }
  return <ProgressBar task={task} />;
}

/** Retry for a failed or canceled task, cancel for a queued, running or waiting one. */
function RowAction({ task, onTask }: { task: Task; onTask: (task: Task) => void }) {
  const { api } = useSession();
  const act = (verb: "cancel" | "retry") => async () => onTask((await api.post<{ task: Task }>(`/api/v1/tasks/${encodeURIComponent(task.id)}/${verb}`)).task);
  if (task.state === "failed" || task.state === "canceled") return <ActionButton label="Retry" action={act("retry")} />;
  if (task.state === "queued" || task.state === "running" || task.state === "waiting") return <ActionButton label="Cancel" kind="danger" action={act("cancel")} />;
  return null;
}

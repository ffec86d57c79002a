import { useEffect, useRef, useState } from "preact/hooks";
import { newerCopy } from "../client/index.js";
import { query, type Task, type TaskPage } from "./api.js";
import { useSession } from "./context.js";
import { taskHref } from "./router.js";
import { ActionButton, Card, childCountsOf, childCountsText, childKeyOf, Empty, ErrorNote, ProgressBar, StateBadge } from "./ui.js";

const PAGE_SIZE = 50;

/**
 * A parent's children as a tree: one row per child (its title or name and
 * key, its state, its bar) linking to its page; a child with children of its
 * own opens to show them. Rows follow the live stream; the parent's rolled-up
 * counts say when there are new children to read.
 */
export function ChildrenCard({ parent }: { parent: Task }) {
  const counts = childCountsOf(parent);
  return (
    <Card title={`Children${counts ? ` (${counts.total})` : ""}`} id="children" actions={counts ? <span class="muted small child-counts">{childCountsText(counts)}</span> : null}>
      <ChildList parentId={parent.id} total={counts?.total ?? 0} label={`Children of ${parent.id}`} />
    </Card>
  );
}

/** One level of the tree: the children of `parentId`, a page at a time (`GET /api/v1/tasks/:id/children`). */
function ChildList({ parentId, total, label }: { parentId: string; total: number; label: string }) {
  const { api, feed } = useSession();
  const [rows, setRows] = useState<Task[]>([]);
  const [next, setNext] = useState<string | null>(null);
  const [loaded, setLoaded] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const shown = useRef(0);
  shown.current = rows.length;
  const path = `/api/v1/tasks/${encodeURIComponent(parentId)}/children`;

  const page = (cursor: string | null) => api.get<TaskPage>(`${path}${query({ limit: PAGE_SIZE, cursor })}`);

  // Read again from the start when the parent says it has more (or other) children: as many pages as were shown.
  useEffect(() => {
    let live = true;
    (async () => {
      const want = Math.max(PAGE_SIZE, shown.current);
      const tasks: Task[] = [];
      let cursor: string | null = null;
      do {
        const answer: TaskPage = await page(cursor);
        tasks.push(...answer.tasks);
        cursor = answer.nextCursor;
      } while (cursor !== null && tasks.length < want);
      if (!live) return;
      setRows((current) => {
        const known = new Map(current.map((t) => [t.id, t]));
        return tasks.map((t) => (known.has(t.id) ? newerCopy(known.get(t.id)!, t) : t));
      });
      setNext(cursor);
      setLoaded(true);
      setError(null);
    })().catch((err: unknown) => live && setError(err instanceof Error ? err.message : String(err)));
    return () => {
      live = false;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [parentId, total]);

  useEffect(
    () =>
      feed.onAnyTask((task) => {
        if (task.parentId !== parentId) return;
        setRows((current) => (current.some((t) => t.id === task.id) ? current.map((t) => (t.id === task.id ? newerCopy(task, t) : t)) : current));
      }),
    [feed, parentId],
  );

  const more = async () => {
    if (next === null) return;
    const answer = await page(next);
    setRows((current) => [...current, ...answer.tasks.filter((t) => !current.some((c) => c.id === t.id))]);
    setNext(answer.nextCursor);
  };

  return (
    <>
      <ErrorNote error={error} />
      {loaded && rows.length === 0 ? <Empty>No children.</Empty> : null}
      {rows.length > 0 ? (
        <ol class="child-tree" aria-label={label}>
          {rows.map((task, index) => (
            <ChildRow key={task.id} task={task} index={index} />
          ))}
        </ol>
      ) : null}
      {next !== null ? (
        <div class="child-more">
          <ActionButton label={`Show more children (${rows.length} of ${total || "?"} shown)`} action={more} />
        </div>
      ) : null}
    </>
  );
}

function ChildRow({ task, index }: { task: Task; index: number }) {
  const [open, setOpen] = useState(false);
  const counts = childCountsOf(task);
  const key = childKeyOf(task);
  const name = task.title ?? task.name;
  return (
    <li class="child" data-task={task.id}>
      <div class="child-row">
        {counts ? (
          <button
            type="button"
            class="tree-toggle"
            aria-expanded={open}
            aria-label={`${open ? "Hide" : "Show"} the children of ${task.id}`}
            onClick={() => setOpen(!open)}
          >
            {open ? "▾" : "▸"}
          </button>
        ) : (
          <span class="tree-toggle" aria-hidden="true" />
        )}
        <span class="child-name">
          <a href={taskHref(task.id)} title={task.id}>
            {name}
          </a>
          {task.title !== null ? <span class="muted small"> {task.name}</span> : null}
          <span class="child-key mono muted small">{key ?? `#${index + 1}`}</span>
        </span>
        <StateBadge state={task.state} />
        <div class="child-bar">
          <ProgressBar task={task} label={`Progress of ${key ?? name} (${task.id})`} />
          {counts ? <span class="muted small child-counts">{childCountsText(counts)}</span> : null}
        </div>
      </div>
      {open && counts ? <ChildList parentId={task.id} total={counts.total} label={`Children of ${task.id}`} /> : null}
    </li>
  );
}

import type { ComponentChildren } from "preact";
import { useEffect, useLayoutEffect, useRef, useState } from "preact/hooks";
import { newerCopy, type StreamEvent } from "../client/index.js";
import { ApiError, type SignalAnswer, type Task, type TaskDetail, type TaskEvent } from "./api.js";
import { ChildrenCard } from "./children.js";
import { useSession } from "./context.js";
import { tasksHref } from "./router.js";
import { SignalForm } from "./signal-form.js";
import { ActionButton, Ago, Card, childCountsOf, childCountsText, describeWait, duration, Empty, ErrorNote, Json, ProgressBar, StateBadge, TaskLink } from "./ui.js";

/** Events the timeline keeps in the page; older ones stay on the server. */
const MAX_TIMELINE = 2000;
/** How often a waiting or running task's estimates are read again: they change with no event. */
const ESTIMATE_REFRESH_MS = 5000;

/**
 * One task: its state and bar live (a parent's rolled up from its
 * children, with their counts and their tree), what it waits for, input,
 * result or error, logs, timeline, and cancel/retry/send signal.
 */
export function TaskPage({ id }: { id: string }) {
  const { api, feed } = useSession();
  const [detail, setDetail] = useState<TaskDetail | null>(null);
  const [task, setTask] = useState<Task | null>(null);
  const [events, setEvents] = useState<TaskEvent[]>([]);
  const [error, setError] = useState<string | null>(null);
  const [reloads, setReloads] = useState(0);
  const [signaling, setSignaling] = useState(false);
  const [sent, setSent] = useState<string | null>(null);
  const path = `/api/v1/tasks/${encodeURIComponent(id)}`;
  const timeline = useRef<HTMLOListElement>(null);
  const pinned = useRef(true);

  // The newest events are at the bottom: stay there while the reader has not scrolled up.
  useLayoutEffect(() => {
    const el = timeline.current;
    if (el && pinned.current) el.scrollTop = el.scrollHeight;
  }, [events]);
  useEffect(() => {
    const el = timeline.current;
    if (!el) return;
    const onScroll = () => (pinned.current = el.scrollHeight - el.scrollTop - el.clientHeight < 24);
    el.addEventListener("scroll", onScroll);
    return () => el.removeEventListener("scroll", onScroll);
  }, [detail !== null]);

  useEffect(() => {
    let live = true;
    setError(null);
    // Listen before reading, so an event that lands in between is not lost; duplicates are dropped by seq.
    const stop = feed.onTaskEvent(id, (latest, event) => {
      if (!live) return;
      // Events carry no estimates: the last read's stay until the next read.
      setTask((current) => (current ? newerCopy(latest, current) : latest));
      if (isLogEvent(event)) setEvents((list) => appendEvents(list, [event]));
      // A result or error arrives with the final state; the record has the rest (checkpoint).
      if (event.type === "state" && ["succeeded", "failed", "canceled"].includes(event.state)) setReloads((n) => n + 1);
    });
    api.get<TaskDetail>(`${path}/detail`).then(
      (d) => {
        if (!live) return;
        setDetail(d);
        setTask((current) => (current ? newerCopy(current, d.task) : d.task));
        setEvents((list) => appendEvents(d.events, list));
      },
      (err: unknown) => live && setError(err instanceof ApiError && err.status === 404 ? `No task ${id}` : String((err as Error).message)),
    );
    return () => {
      live = false;
      stop();
    };
  }, [id, reloads]);

  const waitingOrRunning = task?.state === "queued" || task?.state === "running";
  useEffect(() => {
    if (!waitingOrRunning) return;
    const timer = setInterval(() => {
      api.get<{ task: Task }>(path).then(
        (read) => setTask((current) => (current ? newerCopy(current, read.task) : read.task)),
        () => {},
      );
    }, ESTIMATE_REFRESH_MS);
    return () => clearInterval(timer);
  }, [path, waitingOrRunning]);

  const loadMore = async () => {
    if (!detail?.nextAfter) return;
    const more = await api.get<TaskDetail>(`${path}/detail?after=${detail.nextAfter}`);
    setDetail({ ...detail, nextAfter: more.nextAfter });
    setEvents((list) => appendEvents(list, more.events));
  };

  if (error) return <Card title="Task"><ErrorNote error={error} /></Card>;
  if (!detail || !task) return <Card title="Task"><p class="muted">Loading…</p></Card>;
  const logs = events.filter((e): e is TaskEvent & { type: "log" } => e.type === "log");
  const canCancel = task.state === "queued" || task.state === "running" || task.state === "waiting";
  const waitsForSignal = task.state === "waiting" && task.waitingFor?.kind === "signal";
  const counts = childCountsOf(task);
  const onSignal = (answer: SignalAnswer, name: string) => {
    setTask((current) => (current ? newerCopy(current, answer.task) : answer.task));
    setSignaling(false);
    setSent(answer.delivered ? `Signal "${name}" delivered: the task runs again.` : `Signal "${name}" kept: the task gets it when it waits for it.`);
  };
  const canRetry = task.state === "failed" || task.state === "canceled";
  const runMs = task.startedAt ? (task.finishedAt ? Date.parse(task.finishedAt) : Date.now()) - Date.parse(task.startedAt) : null;

  return (
    <div class="stack">
      <Card
        title={`Task ${task.id}`}
        actions={
          <>
            {canCancel ? <ActionButton label="Cancel task" kind="danger" action={async () => setTask(await post<Task>(api, `${path}/cancel`))} /> : null}
            {canRetry ? <ActionButton label="Retry task" kind="primary" action={async () => setTask(await post<Task>(api, `${path}/retry`))} /> : null}
            {waitsForSignal && !signaling ? (
              <button type="button" class="btn btn-primary" onClick={() => (setSignaling(true), setSent(null))}>
                Send signal
              </button>
            ) : null}
          </>
        }
      >
        <div class="task-summary">
          <StateBadge state={task.state} />
          {detail.cancelRequested && task.state === "running" ? <span class="badge badge-paused">cancel requested</span> : null}
          {task.workerLost ? <span class="badge badge-paused" title="Its worker stopped renewing the lease; another takes it again shortly, from its recorded steps">worker lost · waiting to be taken again</span> : null}
          <div class="task-bar">
            <ProgressBar task={task} label="Task progress" />
            {counts ? (
              <p class="child-counts small" aria-label="Children">
                <a href="#children" onClick={(e) => (e.preventDefault(), document.getElementById("children")?.scrollIntoView({ block: "start" }))}>
                  {childCountsText(counts)}
                </a>
              </p>
            ) : null}
          </div>
        </div>
        {task.state === "waiting" && task.waitingFor ? (
          <p class="wait-note" role="status" aria-label="Waiting for">
            {capitalized(describeWait(task.waitingFor))}; it holds no worker slot meanwhile.
          </p>
        ) : null}
        {signaling && waitsForSignal ? <SignalForm task={task} onSent={onSignal} onClose={() => setSignaling(false)} /> : null}
        {sent ? (
          <p class="notice" role="status">
            {sent}
          </p>
        ) : null}
        <dl class="facts">
          {task.title !== null ? <Fact label="Title">{task.title}</Fact> : null}
          <Fact label="Name">{task.name}</Fact>
          {task.parentId !== null ? <Fact label="Parent"><TaskLink id={task.parentId} /></Fact> : null}
          <Fact label="Queue"><a href={tasksHref({ queue: task.queue })}>{task.queue}</a></Fact>
          <Fact label="Owner"><a href={tasksHref({ owner: task.owner })}>{task.owner}</a></Fact>
          <Fact label="Attempt">{task.attempt} of {task.maxAttempts}</Fact>
          <Fact label="Priority">{task.priority}</Fact>
          <Fact label="Created"><Ago at={task.createdAt} /></Fact>
          <Fact label="Started"><Ago at={task.startedAt} /></Fact>
          <Fact label="Finished"><Ago at={task.finishedAt} /></Fact>
          <Fact label="Run time">{duration(runMs)}</Fact>
          {task.position !== null ? <Fact label="Position">{task.position}</Fact> : null}
          {task.etaMs !== null ? <Fact label="Done in">about {duration(task.etaMs)}</Fact> : null}
          {task.remainingMs !== null ? <Fact label="Time left">about {duration(task.remainingMs)}</Fact> : null}
          {detail.idempotencyKey ? <Fact label="Idempotency key"><span class="mono">{detail.idempotencyKey}</span></Fact> : null}
          {detail.workerId ? <Fact label="Worker"><span class="mono">{detail.workerId}</span></Fact> : null}
        </dl>
        {task.error ? (
          <div class="error-box" role="alert" aria-label="Error">
            <strong>{task.error.code ?? "Error"}</strong>: {task.error.message}
          </div>
        ) : null}
      </Card>
      {counts ? <ChildrenCard parent={task} /> : null}
      <div class="grid-2">
        <Card title="Input">
          <Json value={detail.input} />
        </Card>
        <Card title="Result">
          {task.state === "succeeded" ? <Json value={task.result} /> : <p class="muted small">No result yet.</p>}
          {detail.checkpoint !== null ? (
            <>
              <h3>Checkpoint</h3>
              <Json value={detail.checkpoint} />
            </>
          ) : null}
        </Card>
      </div>
      <Card title={`Logs (${logs.length})`}>
        {logs.length === 0 ? <Empty>No log lines.</Empty> : (
          <ol class="logs" aria-label="Logs">
            {logs.map((e) => (
              <li key={e.seq}>
                <time class="muted mono">{new Date(e.at).toLocaleTimeString()}</time> {e.message}
              </li>
            ))}
          </ol>
        )}
      </Card>
      <Card title={`Timeline (${events.length} events)`}>
        <ol class="timeline" aria-label="Timeline" ref={timeline}>
          {events.map((e) => (
            <li key={e.seq} class={`ev ev-${e.type}`} data-seq={e.seq}>
              <span class="ev-seq mono">#{e.seq}</span>
              <time class="muted mono">{new Date(e.at).toLocaleTimeString()}</time>
              <span class="ev-type">{e.type}</span>
              <span class="ev-text">{describe(e)}</span>
              <span class="muted small">attempt {e.attempt}</span>
            </li>
          ))}
        </ol>
        {detail.nextAfter ? <ActionButton label="Load more events" action={loadMore} /> : null}
      </Card>
    </div>
  );
}

function capitalized(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

function Fact({ label, children }: { label: string; children: ComponentChildren }) {
  return (
    <div class="fact">
      <dt>{label}</dt>
      <dd>{children}</dd>
    </div>
  );
}

async function post<T>(api: { post<R>(path: string): Promise<R> }, path: string): Promise<T> {
  return (await api.post<{ task: T }>(path)).task;
}

function isLogEvent(event: StreamEvent): event is TaskEvent {
  return event.type !== "snapshot" && event.type !== "reset";
}

/** Merges by seq: no repeats, in order, at most {@link MAX_TIMELINE}. */
function appendEvents(list: TaskEvent[], more: TaskEvent[]): TaskEvent[] {
  const bySeq = new Map<number, TaskEvent>();
  for (const e of list) bySeq.set(e.seq, e);
  for (const e of more) bySeq.set(e.seq, e);
  const merged = [...bySeq.values()].sort((a, b) => a.seq - b.seq);
  return merged.length > MAX_TIMELINE ? merged.slice(0, MAX_TIMELINE) : merged;
}

function describe(e: TaskEvent): string {
  switch (e.type) {
    case "state": {
      let text: string = e.waitingFor ? describeWait(e.waitingFor) : e.state;
      if (e.reason) text += ` (${e.reason})`;
      if (e.error) text += `: ${e.error.message}`;
      if (e.runAt) text += `, again at ${new Date(e.runAt).toLocaleTimeString()}`;
      return text;
    }
    case "progress": {
      const p = e.progress;
      const parts = [typeof p.percent === "number" ? `${p.percent.toFixed(1)}%` : null, typeof p.current === "number" ? `${p.current}/${p.total ?? "?"}` : null, p.message ?? null];
      return parts.filter(Boolean).join(" · ");
    }
    case "log":
      return e.message;
    case "step":
      return e.name;
  }
}

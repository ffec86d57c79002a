import type { NodeRow, WorkerRow } from "./api.js";
import { useSession } from "./context.js";
import { usePoll } from "./hooks.js";
import { taskHref } from "./router.js";
import { Ago, Card, Empty, ErrorNote } from "./ui.js";

/** Live workers: their heartbeats and what they run. */
export function WorkersCard() {
  const { api } = useSession();
  const { data, error } = usePoll(() => api.get<{ workers: WorkerRow[] }>("/api/v1/workers"), 3000, []);
  const workers = data?.workers ?? [];
  const now = Date.now();
  return (
    <Card title={`Workers (${workers.length})`}>
      <ErrorNote error={error} />
      {data && workers.length === 0 ? <Empty>No worker has sent a heartbeat recently.</Empty> : null}
      {workers.length > 0 ? (
        <table class="table" aria-label="Workers">
          <thead>
            <tr>
              <th>Worker</th>
              <th>Host · pid</th>
              <th>Queues</th>
              <th>Heartbeat</th>
              <th>Up since</th>
              <th>Running</th>
            </tr>
          </thead>
          <tbody>
            {workers.map((w) => {
              const age = now - Date.parse(w.heartbeatAt);
              return (
                <tr key={w.id} data-worker={w.id}>
                  <td>
                    <span class="mono">{w.id}</span>
                    {w.remote ? (
                      <>
                        {" "}
                        <span class="badge badge-remote" data-field="remote" title={`A worker over HTTP, with the worker key "${w.remote.keyName}"`}>
                          HTTP · {w.remote.keyName}
                        </span>
                      </>
                    ) : null}
                  </td>
                  <td>
                    {w.host} · {w.pid}
                  </td>
                  <td>{w.queues.join(", ") || "—"}</td>
                  <td>
                    <span class={`dot ${age < 10_000 ? "dot-ok" : "dot-late"}`} aria-hidden="true" />
                    <Ago at={w.heartbeatAt} now={now} />
                  </td>
                  <td>
                    <Ago at={w.startedAt} now={now} />
                  </td>
                  <td>
                    {w.running.length === 0 ? (
                      <span class="muted">idle</span>
                    ) : (
                      <span class="chips">
                        {w.running.slice(0, 6).map((id) => (
                          <a key={id} class="chip mono" href={taskHref(id)}>
                            {id}
                          </a>
                        ))}
                        {w.running.length > 6 ? <span class="muted">+{w.running.length - 6} more</span> : null}
                      </span>
                    )}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      ) : null}
    </Card>
  );
}

/** Each node (server process) with the watchers connected to it. */
export function NodesCard() {
  const { api } = useSession();
  const { data, error } = usePoll(() => api.get<{ nodes: NodeRow[] }>("/api/v1/nodes"), 3000, []);
  const nodes = data?.nodes ?? [];
  return (
    <Card title="Nodes and watchers">
      <ErrorNote error={error} />
      {nodes.length > 0 ? (
        <table class="table" aria-label="Nodes">
          <thead>
            <tr>
              <th>Node</th>
              <th>Host · pid</th>
              <th class="num">Open streams</th>
              <th class="num">Event listeners</th>
              <th class="num">Running</th>
              <th>Heartbeat</th>
            </tr>
          </thead>
          <tbody>
            {nodes.map((n) => (
              <tr key={n.id} data-node={n.id}>
                <td class="mono">
                  {n.id} {n.self ? <span class="badge badge-self">this server</span> : null}
                </td>
                <td>
                  {n.host} · {n.pid}
                </td>
                <td class="num" data-field="streams">
                  {n.streams ?? <span class="muted" title="This process serves no event streams (a worker-only process)">n/a</span>}
                </td>
                <td class="num">{n.listeners ?? <span class="muted">n/a</span>}</td>
                <td class="num">{n.running}</td>
                <td>
                  <Ago at={n.heartbeatAt} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
      <p class="muted small">Open streams are Server-Sent Event connections (browsers and apps watching tasks), this dashboard included. Other nodes' counts are as of their last heartbeat.</p>
    </Card>
  );
}

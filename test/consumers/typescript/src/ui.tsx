import { OutlastClient, type Task } from "outlast/client";
import { OutlastProvider, useTask, useUnfinishedTasks } from "outlast/react";
import { OutlastClient as StandaloneClient } from "@outlast/client";
import { useTask as useStandaloneTask } from "@outlast/client/react";

const client = new OutlastClient({ baseUrl: "/jobs", anonymousSession: true, credentials: "include" });
const standalone: StandaloneClient = new StandaloneClient({ baseUrl: "" });

function Bar({ id }: { id: string }) {
  const { progress, state, error } = useTask(id);
  const other = useStandaloneTask(id);
  return (
    <p>
      <progress value={progress?.percent ?? 0} max={100} /> {state} {error?.code} {other.state}
    </p>
  );
}

export function App() {
  const { tasks, connection } = useUnfinishedTasks();
  const first: Task | undefined = tasks[0];
  return (
    <OutlastProvider client={client}>
      <span>{connection}</span>
      {first ? <Bar id={first.id} /> : null}
      <span>{typeof standalone}</span>
    </OutlastProvider>
  );
}

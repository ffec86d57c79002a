// Tasks the Python tests add to `outlast serve --tasks` (demo.count comes with serve).
// py.approve waits for the signal "approved" ({by: string}) and returns its payload.
import { z } from "zod";

export default function register(outlast) {
  outlast.define("py.approve", {
    signals: { approved: z.object({ by: z.string() }) },
    run: (_input, ctx) => ctx.waitForSignal("approved"),
  });
  registerWorkerTasks(outlast);
}

// For the Python worker's tests: tasks the server declares and Python workers run
// (tests/py_tasks.py), and one queue shared by this server's own workers and a Python one.
export function registerWorkerTasks(outlast) {
  outlast.remote("py.chapter", { queue: "py", maxAttempts: 3, backoff: { baseMs: 50 } });
  outlast.remote("py.noop", { queue: "py" });
  // perProcess 2 leaves room for the Python worker: it gets a slot whenever this server runs 2.
  outlast.queue("pyshared", { concurrency: 3, perProcess: 2 });
  outlast.define("py.shared", {
    queue: "pyshared",
    run: async (input) => {
      const start = Date.now();
      await new Promise((resolve) => setTimeout(resolve, input?.ms ?? 300));
      return { by: "ts", start, end: Date.now() };
    },
  });
}

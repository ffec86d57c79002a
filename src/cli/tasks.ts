import type { ListFilter, Task } from "../client/types.js";
import { TASK_STATES } from "../core/states.js";
import { parseArgs, type CommandSpec } from "./args.js";
import { EXIT, type ExitCode } from "./errors.js";
import { clientFrom, HTTP_FLAGS, HTTP_FLAGS_HELP } from "./http-target.js";
import { formatPercent } from "./progress-line.js";

export const TASKS_HELP = `Usage: outlast tasks [options]

Lists tasks, newest first: id, name, state, progress, attempt, created.
An owner token sees its own tasks only; the admin key sees every owner's.

Options:
  --state STATE     ${TASK_STATES.join(", ")}
  --queue QUEUE     only this queue
  --name NAME       only tasks of this name
  --owner OWNER     only this owner's tasks (admin key only)
  --limit N         tasks per page, 1 to 200 (default 50)
  --all             follow every page, not just the first
  --cursor CURSOR   start at this page (the nextCursor of --json output)
${HTTP_FLAGS_HELP}
  --json            print {"tasks", "nextCursor"}
  --help            show this help

Exit codes: 0 listed, 1 refused, 2 usage error, 3 server unreachable, 4 credential
refused (401/403).
`;

const SPEC: CommandSpec = {
  command: "tasks",
  flags: {
    ...HTTP_FLAGS,
    "--state": "value",
    "--queue": "value",
    "--name": "value",
    "--owner": "value",
    "--limit": "value",
    "--all": "switch",
    "--cursor": "value",
    "--json": "switch",
  },
};

/** `outlast tasks`. */
export async function tasksCommand(argv: readonly string[]): Promise<ExitCode> {
  const args = parseArgs(argv, SPEC);
  if (args.help) {
    process.stdout.write(TASKS_HELP);
    return EXIT.ok;
  }
  // `owner` is a query parameter of the list route (API.md) though not yet of the client's filter type.
  const filter: ListFilter & { owner?: string } = {};
  const state = args.choice("--state", TASK_STATES);
  if (state !== undefined) filter.state = state;
  for (const [flag, key] of [
    ["--queue", "queue"],
    ["--name", "name"],
    ["--owner", "owner"],
    ["--cursor", "cursor"],
  ] as const) {
    const value = args.string(flag);
    if (value !== undefined) filter[key] = value;
  }
  const limit = args.int("--limit", 1, 200);
  if (limit !== undefined) filter.limit = limit;

  const client = clientFrom(args);
  const tasks: Task[] = [];
  let nextCursor: string | null;
  try {
    for (;;) {
      const page = await client.list(filter);
      tasks.push(...page.tasks);
      nextCursor = page.nextCursor;
      if (!args.has("--all") || nextCursor === null) break;
      filter.cursor = nextCursor;
    }
  } finally {
    client.close();
  }
  if (args.has("--json")) {
    process.stdout.write(`${JSON.stringify({ tasks, nextCursor })}\n`);
    return EXIT.ok;
  }
  process.stdout.write(taskTable(tasks));
  if (nextCursor !== null) process.stderr.write(`(more tasks: --all lists every page, or --cursor ${nextCursor})\n`);
  return EXIT.ok;
}

/** The tasks as aligned text columns, a header first; "no tasks" when empty. */
export function taskTable(tasks: readonly Task[]): string {
  if (tasks.length === 0) return "no tasks\n";
  const rows = [
    ["ID", "NAME", "STATE", "PROGRESS", "ATTEMPT", "CREATED"],
    ...tasks.map((t) => [t.id, t.name, t.state, progressCell(t), `${t.attempt}/${t.maxAttempts}`, t.createdAt.replace("T", " ").replace(/\.\d+Z$/, "Z")]),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]!))).join("  ")).join("\n") + "\n";
}

function progressCell(task: Task): string {
  const { percent, current, total } = task.progress;
  if (percent !== undefined) return `${formatPercent(percent)}%`;
  if (current !== undefined) return total !== undefined ? `${current}/${total}` : String(current);
  return "-";
}

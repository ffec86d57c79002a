import type { QueueChange, QueueView } from "../client/types.js";
import { parseArgs, UsageError, type Args, type CommandSpec } from "./args.js";
import { EXIT, type ExitCode } from "./errors.js";
import { clientFrom, HTTP_FLAGS, HTTP_FLAGS_HELP } from "./http-target.js";

export const QUEUE_HELP = `Usage: outlast queue list [options]
       outlast queue set NAME [limits] [--pause | --resume] [options]
       outlast queue reset NAME [options]

Shows and changes queue limits through the API (admin key). A change holds on
every node within a second, over whatever the processes' code declares, until
\`reset\` goes back to the declared limits.

Limits (a whole number, or "none" for no limit):
  --concurrency N         running tasks at once across every process
  --max-queued N          queued tasks at most (submits beyond it get 429)
  --owner-concurrency N   running tasks of one owner at once
  --owner-max-queued N    queued tasks of one owner at most
Options:
  --pause, --resume       stop or start claiming from the queue
${HTTP_FLAGS_HELP}
  --json                  print the queue(s) as JSON
  --help                  show this help

Exit codes: 0 done, 1 refused (no such queue), 2 usage error, 3 server unreachable,
4 credential refused (401/403: not the admin key).
`;

const LIMIT_FLAGS = {
  "--concurrency": "concurrency",
  "--max-queued": "maxQueued",
  "--owner-concurrency": "perOwner.concurrency",
  "--owner-max-queued": "perOwner.maxQueued",
} as const;

const SPEC: CommandSpec = {
  command: "queue",
  flags: { ...HTTP_FLAGS, "--concurrency": "value", "--max-queued": "value", "--owner-concurrency": "value", "--owner-max-queued": "value", "--pause": "switch", "--resume": "switch", "--json": "switch" },
  positionals: ["action", "name"],
  optionalPositionals: 2,
};

/** `outlast queue list | set NAME | reset NAME`. */
export async function queueCommand(argv: readonly string[]): Promise<ExitCode> {
  const args = parseArgs(argv, SPEC);
  const [action, name] = args.positionals;
  if (args.help || action === undefined) {
    process.stdout.write(QUEUE_HELP);
    return args.help ? EXIT.ok : EXIT.usage;
  }
  if (action !== "list" && action !== "set" && action !== "reset") throw new UsageError(`outlast queue ${action}: use list, set or reset; see outlast queue --help`);
  if (action === "list" && name !== undefined) throw new UsageError(`outlast queue list takes no queue name`);
  if (action !== "list" && name === undefined) throw new UsageError(`outlast queue ${action} needs NAME; see outlast queue --help`);
  const change = action === "set" ? changeFrom(args) : action === "reset" ? { reset: true } : null;
  const client = clientFrom(args);
  try {
    if (change === null) {
      const queues = await client.queues();
      process.stdout.write(args.has("--json") ? `${JSON.stringify(queues)}\n` : queueTable(queues));
    } else {
      const queue = await client.updateQueue(name!, change);
      process.stdout.write(args.has("--json") ? `${JSON.stringify(queue)}\n` : queueTable([queue]));
    }
  } finally {
    client.close();
  }
  return EXIT.ok;
}

function changeFrom(args: Args): QueueChange {
  const change: QueueChange = {};
  for (const [flag, field] of Object.entries(LIMIT_FLAGS)) {
    const text = args.string(flag);
    if (text === undefined) continue;
    let value: number | null;
    if (text === "none") value = null;
    else if (/^\d{1,10}$/.test(text) && Number(text) >= 1) value = Number(text);
    else throw new UsageError(`${flag} takes a whole number of at least 1, or "none"; got "${text}"`);
    if (field === "perOwner.concurrency") change.perOwner = { ...change.perOwner, concurrency: value };
    else if (field === "perOwner.maxQueued") change.perOwner = { ...change.perOwner, maxQueued: value };
    else change[field] = value;
  }
  if (args.has("--pause") && args.has("--resume")) throw new UsageError("give --pause or --resume, not both");
  if (args.has("--pause")) change.paused = true;
  if (args.has("--resume")) change.paused = false;
  if (Object.keys(change).length === 0) throw new UsageError("outlast queue set needs a limit to change, --pause or --resume; see outlast queue --help");
  return change;
}

/** The queues as aligned columns; a limit an operator set is marked with *. */
export function queueTable(queues: readonly QueueView[]): string {
  if (queues.length === 0) return "no queues\n";
  const cell = (q: QueueView, field: string, value: number | null) => `${value ?? "none"}${q.overridden.includes(field) ? "*" : ""}`;
  const rows = [
    ["QUEUE", "STATUS", "CONCURRENCY", "MAX QUEUED", "OWNER CONC.", "OWNER MAX", "QUEUED", "RUNNING"],
    ...queues.map((q) => [
      q.name,
      q.paused ? "paused" : "active",
      cell(q, "concurrency", q.concurrency),
      cell(q, "maxQueued", q.maxQueued),
      cell(q, "perOwner.concurrency", q.perOwner.concurrency),
      cell(q, "perOwner.maxQueued", q.perOwner.maxQueued),
      String(q.counts.queued),
      String(q.counts.running),
    ]),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const table = rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join("  ")).join("\n");
  return `${table}\n${queues.some((q) => q.overridden.length > 0) ? "(* set by an operator: holds over the code's declaration until outlast queue reset)\n" : ""}`;
}

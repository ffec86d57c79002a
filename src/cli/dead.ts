import { parseArgs, UsageError, type CommandSpec } from "./args.js";
import { EXIT, type ExitCode } from "./errors.js";
import { clientFrom, HTTP_FLAGS, HTTP_FLAGS_HELP } from "./http-target.js";

export const DEAD_HELP = `Usage: outlast dead list|redrive|purge [options]

Dead letters: tasks that failed (out of attempts, a lost lease on the last
one, UnrecoverableError, a poison pill), kept past retention until an
operator redrives (runs again from its steps) or purges them. redrive and
purge take --id (repeatable) or the filters, and touch every match.

Options:
  --queue NAME      only this queue's
  --name NAME       only tasks of this name
  --code CODE       only this error code (e.g. poison_pill)
  --since ISO       failed at or after this time
  --until ISO       failed before this time
  --id ID           this dead letter (repeatable; redrive and purge)
  --limit N         list: page size (default 50)
${HTTP_FLAGS_HELP}
  --json            print the answer as JSON
  --help            show this help

Exit codes: 0 done, 2 usage error, 3 server unreachable, 4 credential refused (401/403).
`;

const SPEC: CommandSpec = {
  command: "dead",
  flags: { ...HTTP_FLAGS, "--queue": "value", "--name": "value", "--code": "value", "--since": "value", "--until": "value", "--limit": "value", "--json": "switch" },
  positionals: ["action"],
};

/** `outlast dead list|redrive|purge`. */
export async function deadCommand(argv: readonly string[]): Promise<ExitCode> {
  // --id repeats: taken out before the usual parse.
  const ids: string[] = [];
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--id" || arg.startsWith("--id=")) {
      const value = arg === "--id" ? argv[++i] : arg.slice(5);
      if (value === undefined || value.length === 0) throw new UsageError("--id needs a value");
      ids.push(value);
    } else rest.push(arg);
  }
  const args = parseArgs(rest, SPEC);
  if (args.help) {
    process.stdout.write(DEAD_HELP);
    return EXIT.ok;
  }
  const action = args.positionals[0]!;
  if (action !== "list" && action !== "redrive" && action !== "purge") throw new UsageError(`outlast dead takes list, redrive or purge, got "${action}"`);
  const filter: Record<string, string> = {};
  for (const flag of ["queue", "name", "code", "since", "until"] as const) {
    const value = args.string(`--${flag}`);
    if (value === undefined) continue;
    if ((flag === "since" || flag === "until") && !Number.isFinite(Date.parse(value))) throw new UsageError(`--${flag} must be an ISO-8601 time, got "${value}"`);
    filter[flag] = value;
  }
  if (action === "list" && ids.length > 0) throw new UsageError("outlast dead list takes filters, not --id");
  if (action !== "list" && ids.length > 0 && Object.keys(filter).length > 0) throw new UsageError("give --id or filters, not both");
  const limitText = args.string("--limit");
  const limit = limitText === undefined ? undefined : Number(limitText);
  if (limit !== undefined && (!Number.isSafeInteger(limit) || limit < 1 || limit > 200)) throw new UsageError(`--limit must be a whole number from 1 to 200, got "${limitText}"`);
  const client = clientFrom(args);
  try {
    if (action === "list") {
      const page = await client.deadLetters({ ...filter, ...(limit === undefined ? {} : { limit }) });
      if (args.has("--json")) process.stdout.write(`${JSON.stringify(page)}\n`);
      else if (page.tasks.length === 0) process.stdout.write("no dead letters\n");
      else {
        const rows = [["ID", "QUEUE", "NAME", "CODE", "FAILED"], ...page.tasks.map((t) => [t.id, t.queue, t.name, t.error?.code ?? "-", t.finishedAt ?? "-"])];
        const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
        process.stdout.write(rows.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]!))).join("  ")).join("\n") + "\n");
      }
      return EXIT.ok;
    }
    const count = await client.deadAction(action, ids.length > 0 ? { ids } : { filter });
    if (args.has("--json")) process.stdout.write(`${JSON.stringify({ count })}\n`);
    else process.stdout.write(`${action === "redrive" ? "redriven" : "purged"}: ${count}\n`);
    return EXIT.ok;
  } finally {
    client.close();
  }
}

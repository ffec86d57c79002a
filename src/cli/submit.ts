import { readFileSync } from "node:fs";
import type { ClientSubmitOptions } from "../client/types.js";
import { parseArgs, UsageError, type CommandSpec } from "./args.js";
import { EXIT, type ExitCode } from "./errors.js";
import { clientFrom, HTTP_FLAGS, HTTP_FLAGS_HELP } from "./http-target.js";
import { watchUntilDone } from "./watch.js";

export const SUBMIT_HELP = `Usage: outlast submit NAME [options]

Submits a task through the HTTP API and prints its id.

Options:
  --input JSON      the task's input, e.g. '{"to": 50}'; @FILE reads it from a file
  --owner OWNER     who the task belongs to (admin key only; default anonymous)
  --priority N      higher runs first (default: the task's, else 0)
  --key KEY         idempotency key: the same owner, name and key attach to the
                    existing task, and resume it if it failed or was canceled
  --delay-ms N      start no earlier than N milliseconds from now
  --queue QUEUE     run on another queue than the task's own
${HTTP_FLAGS_HELP}
  --watch           then show its progress until it ends, like outlast watch
  --json            print {"task", "token"} instead of the id
  --help            show this help

Exit codes: 0 submitted (with --watch: succeeded), 1 refused (or with --watch:
failed or canceled), 2 usage error, 3 server unreachable, 4 credential refused
(401/403).
`;

const SPEC: CommandSpec = {
  command: "submit",
  flags: {
    ...HTTP_FLAGS,
    "--input": "value",
    "--owner": "value",
    "--priority": "value",
    "--key": "value",
    "--delay-ms": "value",
    "--queue": "value",
    "--watch": "switch",
    "--json": "switch",
  },
  positionals: ["name"],
};

/** `outlast submit NAME`. */
export async function submitCommand(argv: readonly string[]): Promise<ExitCode> {
  const args = parseArgs(argv, SPEC);
  if (args.help) {
    process.stdout.write(SUBMIT_HELP);
    return EXIT.ok;
  }
  const name = args.positionals[0]!;
  const input = readInput(args.string("--input"));
  const options: ClientSubmitOptions = {};
  const owner = args.string("--owner");
  if (owner !== undefined) options.owner = owner;
  const priority = args.int("--priority", -1_000_000, 1_000_000);
  if (priority !== undefined) options.priority = priority;
  const key = args.string("--key");
  if (key !== undefined) options.idempotencyKey = key;
  const delayMs = args.int("--delay-ms", 0, 10 * 365 * 24 * 60 * 60 * 1000);
  if (delayMs !== undefined) options.delayMs = delayMs;
  const queue = args.string("--queue");
  if (queue !== undefined) options.queue = queue;
  const json = args.has("--json");

  const client = clientFrom(args);
  try {
    const body = await client.submit(name, input, options);
    process.stdout.write(json ? `${JSON.stringify(body)}\n` : `${body.task.id}\n`);
    if (!args.has("--watch")) return EXIT.ok;
    return await watchUntilDone(client, body.task.id, { json });
  } finally {
    client.close();
  }
}

function readInput(text: string | undefined): unknown {
  if (text === undefined) return undefined;
  let source = text;
  if (text.startsWith("@")) {
    try {
      source = readFileSync(text.slice(1), "utf8");
    } catch (error) {
      throw new UsageError(`--input ${text}: cannot read the file (${(error as Error).message})`);
    }
  }
  try {
    return JSON.parse(source) as unknown;
  } catch (error) {
    throw new UsageError(`--input must be JSON, e.g. '{"to": 50}' (${(error as Error).message})`);
  }
}

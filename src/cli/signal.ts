import { parseArgs, UsageError, type CommandSpec } from "./args.js";
import { EXIT, type ExitCode } from "./errors.js";
import { clientFrom, HTTP_FLAGS, HTTP_FLAGS_HELP } from "./http-target.js";

export const SIGNAL_HELP = `Usage: outlast signal ID NAME [options]

Sends the signal NAME to a task (its handler waits for it with
ctx.waitForSignal). A task waiting for it runs on at once; an unfinished task
not yet waiting keeps it until it asks.

Options:
  --payload JSON    the signal's payload (default null)
${HTTP_FLAGS_HELP}
  --json            print {"task", "delivered"}
  --help            show this help

Exit codes: 0 sent, 1 refused (no such task, finished, payload refused by the
signal's schema), 2 usage error, 3 server unreachable, 4 credential refused (401/403).
`;

const SPEC: CommandSpec = { command: "signal", flags: { ...HTTP_FLAGS, "--payload": "value", "--json": "switch" }, positionals: ["id", "name"] };

/** `outlast signal ID NAME`. */
export async function signalCommand(argv: readonly string[]): Promise<ExitCode> {
  const args = parseArgs(argv, SPEC);
  if (args.help) {
    process.stdout.write(SIGNAL_HELP);
    return EXIT.ok;
  }
  const text = args.string("--payload");
  let payload: unknown = null;
  if (text !== undefined) {
    try {
      payload = JSON.parse(text) as unknown;
    } catch {
      throw new UsageError("--payload must be JSON, like '{\"approved\": true}'");
    }
  }
  const client = clientFrom(args);
  try {
    const [id, name] = args.positionals as [string, string];
    const sent = await client.signal(id, name, payload);
    if (args.has("--json")) process.stdout.write(`${JSON.stringify(sent)}\n`);
    else process.stdout.write(sent.delivered ? `delivered: ${id} runs on (${sent.task.state})\n` : `kept: ${id} gets it when it waits for ${name}\n`);
    return EXIT.ok;
  } finally {
    client.close();
  }
}

import type { WorkerKeyView } from "../client/types.js";
import { parseArgs, UsageError, type CommandSpec } from "./args.js";
import { EXIT, type ExitCode } from "./errors.js";
import { clientFrom, HTTP_FLAGS, HTTP_FLAGS_HELP } from "./http-target.js";

export const WORKER_KEY_HELP = `Usage: outlast worker-key create --queues Q1,Q2 [--name NAME] [options]
       outlast worker-key list [options]
       outlast worker-key revoke ID [options]

Worker keys let a process outside the server (any language that speaks HTTP)
claim and run tasks of the queues they name, through /api/v1/worker/...
(see docs/api-extensions.md, "Workers over HTTP"). create prints the secret:
it is shown this once, the server keeps only its hash. Needs the admin key.

Options:
  --queues Q1,Q2    create: the queues its workers may claim from
  --name NAME       create: who uses it (default "workers for Q1,Q2")
${HTTP_FLAGS_HELP}
  --json            print the answer as JSON
  --help            show this help

Exit codes: 0 done, 1 refused (bad queues, no such key), 2 usage error,
3 server unreachable, 4 credential refused (401/403: not the admin key).
`;

const SPEC: CommandSpec = {
  command: "worker-key",
  flags: { ...HTTP_FLAGS, "--queues": "value", "--name": "value", "--json": "switch" },
  positionals: ["action", "id"],
  optionalPositionals: 2,
};

/** `outlast worker-key create | list | revoke ID`. */
export async function workerKeyCommand(argv: readonly string[]): Promise<ExitCode> {
  const args = parseArgs(argv, SPEC);
  const [action, id] = args.positionals;
  if (args.help || action === undefined) {
    process.stdout.write(WORKER_KEY_HELP);
    return args.help ? EXIT.ok : EXIT.usage;
  }
  if (action !== "create" && action !== "list" && action !== "revoke") throw new UsageError(`outlast worker-key ${action}: use create, list or revoke; see outlast worker-key --help`);
  if (action === "revoke" && id === undefined) throw new UsageError("outlast worker-key revoke needs the key's ID (outlast worker-key list shows them)");
  if (action !== "revoke" && id !== undefined) throw new UsageError(`outlast worker-key ${action} takes no ID`);
  const queues = args.string("--queues")?.split(",").map((q) => q.trim()).filter((q) => q.length > 0);
  if (action === "create" && (queues === undefined || queues.length === 0)) throw new UsageError("outlast worker-key create needs --queues, like --queues tts,render");
  if (action !== "create" && (queues !== undefined || args.string("--name") !== undefined)) throw new UsageError("--queues and --name go with create");
  const json = args.has("--json");
  const client = clientFrom(args);
  try {
    if (action === "create") {
      const made = await client.createWorkerKey(args.string("--name") ?? `workers for ${queues!.join(",")}`, queues!);
      process.stdout.write(json ? `${JSON.stringify(made)}\n` : `${made.secret}\n`);
      if (!json) process.stderr.write(`worker key ${made.key.id} for ${made.key.queues.join(", ")}: keep the secret above, it is not shown again\n`);
    } else if (action === "list") {
      const keys = await client.workerKeys();
      process.stdout.write(json ? `${JSON.stringify(keys)}\n` : keyTable(keys));
    } else {
      const key = await client.revokeWorkerKey(id!);
      process.stdout.write(json ? `${JSON.stringify(key)}\n` : `revoked ${key.id} (${key.name})\n`);
    }
  } finally {
    client.close();
  }
  return EXIT.ok;
}

function keyTable(keys: readonly WorkerKeyView[]): string {
  if (keys.length === 0) return "no worker keys\n";
  const rows = [["ID", "NAME", "QUEUES", "CREATED", "REVOKED"], ...keys.map((k) => [k.id, k.name, k.queues.join(","), k.createdAt, k.revokedAt ?? "-"])];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return `${rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join("  ")).join("\n")}\n`;
}

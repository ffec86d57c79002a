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
  --rate-limit N/MS       at most N starts (cost units) in any MS milliseconds,
                          e.g. 60/60000; "none" removes it (keyed or not stays
                          what the code declares)
Per key, for a queue the code declares with concurrency: { key, … }:
  --per-key N             running tasks of one key at once ("declared": back to
                          the code's number)
  --tier NAME=N           running tasks of one key of tier NAME (repeatable;
                          NAME=declared: back to the code's number)
  --key-limit KEY=N       running tasks of this one key, over its tier and the
                          default (repeatable; KEY=none drops it)
  --total N               running tasks of all keys at once (as --concurrency)
Options:
  --pause, --resume       stop or start claiming from the queue
${HTTP_FLAGS_HELP}
  --json                  print the queue(s) as JSON
  --help                  show this help

Exit codes: 0 done, 1 refused (no such queue, not keyed), 2 usage error,
3 server unreachable, 4 credential refused (401/403: not the admin key).
`;

const LIMIT_FLAGS = {
  "--concurrency": "concurrency",
  "--max-queued": "maxQueued",
  "--owner-concurrency": "perOwner.concurrency",
  "--owner-max-queued": "perOwner.maxQueued",
} as const;

const SPEC: CommandSpec = {
  command: "queue",
  flags: {
    ...HTTP_FLAGS,
    "--concurrency": "value",
    "--max-queued": "value",
    "--owner-concurrency": "value",
    "--owner-max-queued": "value",
    "--rate-limit": "value",
    "--per-key": "value",
    "--tier": "repeat",
    "--key-limit": "repeat",
    "--total": "value",
    "--pause": "switch",
    "--resume": "switch",
    "--json": "switch",
  },
  positionals: ["action", "name"],
  optionalPositionals: 2,
};

// The server's bounds (PATCH /api/v1/queues/:name), checked here too so a typo is a usage error, not a round trip.
const MAX_LIMIT = 1_000_000_000;
const MAX_PERIOD_MS = 86_400_000;
const MAX_NAME = 256;

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
    const value = limitOf(flag, text, "none");
    if (field === "perOwner.concurrency") change.perOwner = { ...change.perOwner, concurrency: value };
    else if (field === "perOwner.maxQueued") change.perOwner = { ...change.perOwner, maxQueued: value };
    else change[field] = value;
  }
  const rate = args.string("--rate-limit");
  if (rate !== undefined) change.rateLimit = rateOf(rate);
  const keyed = keyedChangeFrom(args);
  if (keyed !== null) {
    if (change.concurrency !== undefined && keyed.total !== undefined) throw new UsageError("give --concurrency or --total, not both (they are the same limit)");
    // The per-key numbers travel in the object form of concurrency, whose total is the queue-wide limit.
    if (change.concurrency !== undefined) keyed.total = change.concurrency as number | null;
    change.concurrency = keyed;
  }
  const keyLimits = args.all("--key-limit");
  if (keyLimits.length > 0) change.keyLimits = pairsOf("--key-limit", "KEY", keyLimits, "none");
  if (args.has("--pause") && args.has("--resume")) throw new UsageError("give --pause or --resume, not both");
  if (args.has("--pause")) change.paused = true;
  if (args.has("--resume")) change.paused = false;
  if (Object.keys(change).length === 0) throw new UsageError("outlast queue set needs a limit to change, --pause or --resume; see outlast queue --help");
  return change;
}

/** The object form of `concurrency` from --per-key, --tier and --total, or null when none is given. */
function keyedChangeFrom(args: Args): { limit?: number | null; tiers?: Record<string, number | null>; total?: number | null } | null {
  const perKey = args.string("--per-key");
  const tiers = args.all("--tier");
  const total = args.string("--total");
  if (perKey === undefined && tiers.length === 0 && total === undefined) return null;
  return {
    ...(perKey === undefined ? {} : { limit: limitOf("--per-key", perKey, "declared") }),
    ...(tiers.length === 0 ? {} : { tiers: pairsOf("--tier", "NAME", tiers, "declared") }),
    ...(total === undefined ? {} : { total: limitOf("--total", total, "none") }),
  };
}

/** A whole number from 1 to 10⁹, or null for `nullWord` ("none": no limit; "declared": back to the code's). */
function limitOf(flag: string, text: string, nullWord: "none" | "declared"): number | null {
  if (text === nullWord) return null;
  if (/^\d{1,10}$/.test(text) && Number(text) >= 1 && Number(text) <= MAX_LIMIT) return Number(text);
  throw new UsageError(`${flag} takes a whole number from 1 to ${MAX_LIMIT}, or "${nullWord}"; got "${text}"`);
}

/** `--rate-limit N/MS` (or "none"). */
function rateOf(text: string): { limit: number; periodMs: number } | null {
  if (text === "none") return null;
  const match = /^(\d{1,10})\/(\d{1,8})$/.exec(text);
  const limit = Number(match?.[1]);
  const periodMs = Number(match?.[2]);
  if (!match || limit < 1 || limit > MAX_LIMIT || periodMs < 1 || periodMs > MAX_PERIOD_MS) {
    throw new UsageError(`--rate-limit takes N/MS: at most N starts (1 to ${MAX_LIMIT}) in any MS milliseconds (1 to ${MAX_PERIOD_MS}), e.g. 60/60000, or "none"; got "${text}"`);
  }
  return { limit, periodMs };
}

/** Repeated `NAME=N` values as a map; the number follows the last "=", so a name may hold one. */
function pairsOf(flag: string, what: string, texts: readonly string[], nullWord: "none" | "declared"): Record<string, number | null> {
  const out: Record<string, number | null> = {};
  for (const text of texts) {
    const eq = text.lastIndexOf("=");
    const name = eq < 0 ? "" : text.slice(0, eq);
    if (eq < 0 || name.length === 0 || name.length > MAX_NAME) throw new UsageError(`${flag} takes ${what}=N (${what} 1 to ${MAX_NAME} characters), or ${what}=${nullWord}; got "${text}"`);
    out[name] = limitOf(`${flag} ${name}`, text.slice(eq + 1), nullWord);
  }
  return out;
}

/** The queues as aligned columns; a limit an operator set is marked with *. */
export function queueTable(queues: readonly QueueView[]): string {
  if (queues.length === 0) return "no queues\n";
  const mark = (q: QueueView, field: string) => (q.overridden.includes(field) ? "*" : "");
  const cell = (q: QueueView, field: string, value: number | null) => `${value ?? "none"}${mark(q, field)}`;
  const rows = [
    ["QUEUE", "STATUS", "CONCURRENCY", "MAX QUEUED", "OWNER CONC.", "OWNER MAX", "RATE LIMIT", "PER KEY", "TIERS", "KEY LIMITS", "QUEUED", "RUNNING"],
    ...queues.map((q) => [
      q.name,
      q.paused ? "paused" : "active",
      cell(q, "concurrency", q.concurrency),
      cell(q, "maxQueued", q.maxQueued),
      cell(q, "perOwner.concurrency", q.perOwner.concurrency),
      cell(q, "perOwner.maxQueued", q.perOwner.maxQueued),
      // A server older than rate limits and keys sends none of these fields.
      q.rateLimit ? `${q.rateLimit.limit}/${q.rateLimit.periodMs}ms${q.rateLimit.keyed ? "/key" : ""}${mark(q, "rateLimit")}` : `none${mark(q, "rateLimit")}`,
      q.keyConcurrency ? cell(q, "keyConcurrency", q.keyConcurrency.limit) : "-",
      q.keyConcurrency ? `${tiersText(q.keyConcurrency.tiers)}${mark(q, "keyConcurrency")}` : "-",
      `${Object.keys(q.keyLimits ?? {}).length}${mark(q, "keyLimits")}`,
      String(q.counts.queued),
      String(q.counts.running),
    ]),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const table = rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join("  ")).join("\n");
  return `${table}\n${queues.some((q) => q.overridden.length > 0) ? "(* set by an operator: holds over the code's declaration until outlast queue reset)\n" : ""}`;
}

function tiersText(tiers: Record<string, number>): string {
  const names = Object.keys(tiers).sort();
  return names.length === 0 ? "none" : names.map((name) => `${name}=${tiers[name]}`).join(",");
}

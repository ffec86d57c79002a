import { isOutlastError } from "../core/errors.js";
import { OutlastClientError } from "../client/types.js";
import { UsageError } from "./args.js";

/**
 * Exit codes scripts can rely on.
 * 0: done; 1: the task failed or was cancelled, or the operation was refused;
 * 2: the command was called wrongly; 3: the server or database cannot be reached;
 * 4: the server refused the credential (401, 403) — a script must not take
 * that for a failed task: the task may well still be running.
 */
export const EXIT = { ok: 0, failed: 1, usage: 2, unreachable: 3, credentialRefused: 4 } as const;

/** The exit codes as every command's help prints them. */
export const EXIT_CODES_HELP = `Exit codes: 0 ok, 1 task failed/canceled or operation refused, 2 usage or setup error,
3 server or database unreachable, 4 credential refused (401/403: wrong, expired or
too weak a token; the task may still be running).`;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** An error the CLI reports as one line on stderr, exiting with `exitCode`. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: ExitCode,
  ) {
    super(message);
    this.name = "CliError";
  }
}

// PostgreSQL refusing us at the door (bad password, no such database) is as
// final for a script as a refused connection: it cannot reach its data.
const PG_UNREACHABLE = /^(08|28|3D)/;
const NET_CODES = new Set(["ECONNREFUSED", "ECONNRESET", "EPIPE", "ETIMEDOUT", "ENOTFOUND", "EHOSTUNREACH", "EAI_AGAIN", "SQLITE_CANTOPEN"]);

/** The exit code for anything a command threw. */
export function exitCodeOf(error: unknown): ExitCode {
  if (error instanceof CliError) return error.exitCode;
  if (error instanceof UsageError) return EXIT.usage;
  if (error instanceof OutlastClientError) {
    if (error.status === 401 || error.status === 403) return EXIT.credentialRefused;
    return error.code === "network" || error.status === 503 ? EXIT.unreachable : EXIT.failed;
  }
  if (isOutlastError(error)) return error.code === "unavailable" ? EXIT.unreachable : EXIT.failed;
  const code = typeof error === "object" && error !== null ? String((error as { code?: unknown }).code ?? "") : "";
  // A setup problem the message says how to fix (npm install pg), like a usage error.
  if (code === "ERR_OUTLAST_PG_MISSING") return EXIT.usage;
  if (NET_CODES.has(code) || PG_UNREACHABLE.test(code)) return EXIT.unreachable;
  if (error instanceof Error && /directory does not exist|unable to open database file/i.test(error.message)) return EXIT.unreachable;
  return EXIT.failed;
}

/** The line printed on stderr for `error`. */
export function messageOf(error: unknown, command: string): string {
  const text = error instanceof Error ? error.message : String(error);
  if (error instanceof UsageError) return text;
  if (error instanceof OutlastClientError && error.status === 401) return `${text} (pass --token, or set OUTLAST_TOKEN or OUTLAST_ADMIN_KEY)`;
  if (exitCodeOf(error) === EXIT.unreachable && !(error instanceof CliError)) return `cannot reach the ${command === "submit" || command === "watch" || command === "tasks" ? "server" : "database"}: ${text}`;
  return text;
}

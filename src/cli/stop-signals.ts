import type { Outlast } from "../engine/outlast.js";
import { EXIT } from "./errors.js";

/**
 * Repeats of a stop signal closer together than this are one request. One
 * Ctrl-C reaches the server two or three times within tens of milliseconds:
 * the terminal signals the whole group, npm forwards the signal again to its
 * child, and tsx relays it once more.
 */
export const DUPLICATE_SIGNAL_MS = 500;
/** After a second signal, the longest the process waits for leases to be released before it exits regardless. */
const FORCED_EXIT_MS = 3_000;
/** How often a process started by npm checks that npm is still there. */
const PARENT_CHECK_MS = 500;

export const GRACE_FLAG_HELP = `  --grace-ms N      on the first SIGTERM/SIGINT, how long running tasks may take
                    to finish before they are handed back (released, the
                    attempt not spent) for another process (default 10000);
                    a second signal hands them back at once`;

export interface StopOnSignals {
  command: "serve" | "worker";
  outlast: Outlast;
  graceMs: number;
}

/**
 * The first SIGTERM or SIGINT drains: no new claims, running tasks get the
 * grace, the rest are handed back, exit 0. A second one (not a duplicate
 * delivery of the first) forces: tasks are handed back now, exit 1.
 *
 * Under npm (`npm start`, `npx outlast …`) the process also drains when its
 * parent goes away: npm passes SIGTERM to the shell it runs the command in,
 * which dies without passing it on, so a supervisor stopping npm would
 * otherwise leave this process running with nobody to stop it.
 */
export function stopOnSignals({ command, outlast, graceMs }: StopOnSignals): void {
  const say = (line: string) => process.stderr.write(`outlast ${command}: ${line}\n`);
  const force = new AbortController();
  let firstAt: number | null = null;

  const drain = (reason: string) => {
    say(`${reason}: draining, running tasks get up to ${seconds(graceMs)}… Ctrl-C again to force`);
    outlast.close({ graceMs, force: force.signal }).then(
      () => {
        const code = force.signal.aborted ? EXIT.failed : EXIT.ok;
        say(`stopped, running tasks ${force.signal.aborted ? "handed back at once" : "finished or handed back"} (exit ${code})`);
        process.exit(code);
      },
      (error: unknown) => {
        say(`stopping failed: ${error instanceof Error ? error.message : String(error)} (exit ${EXIT.failed}); tasks not handed back run again once their lease expires`);
        process.exit(EXIT.failed);
      },
    );
  };

  const onStop = (reason: string) => {
    const now = Date.now();
    if (firstAt === null) {
      firstAt = now;
      drain(reason);
      return;
    }
    if (now - firstAt < DUPLICATE_SIGNAL_MS || force.signal.aborted) return;
    say(`${reason} again: forcing, running tasks are handed back now`);
    force.abort();
    setTimeout(() => {
      say(`leases not released within ${seconds(FORCED_EXIT_MS)}; exiting (exit ${EXIT.failed})`);
      process.exit(EXIT.failed);
    }, FORCED_EXIT_MS);
  };

  // Listeners stay for the life of the process: tsx's own handler exits at once when it sees none.
  process.on("SIGINT", () => onStop("SIGINT"));
  process.on("SIGTERM", () => onStop("SIGTERM"));
  if (process.env.npm_lifecycle_event !== undefined) watchParent(() => onStop("npm went away"));
}

function watchParent(gone: () => void): void {
  const parent = process.ppid;
  if (parent <= 1) return;
  const timer = setInterval(() => {
    try {
      process.kill(parent, 0);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ESRCH") return;
      clearInterval(timer);
      gone();
    }
  }, PARENT_CHECK_MS);
  timer.unref();
}

function seconds(ms: number): string {
  return `${Math.round(ms / 100) / 10} s`;
}

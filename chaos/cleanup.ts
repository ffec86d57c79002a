// What a run must undo however it ends (normally, on an error, on SIGINT):
// each scenario registers its undo steps here as it makes them necessary.
import { killEverything } from "./processes.js";

const undo: (() => Promise<void> | void)[] = [];

export function onCleanup(step: () => Promise<void> | void): () => void {
  undo.push(step);
  return () => {
    const i = undo.indexOf(step);
    if (i >= 0) undo.splice(i, 1);
  };
}

/** Kills every process the run started, then runs the undo steps, newest first. */
export async function cleanUpEverything(): Promise<void> {
  killEverything();
  while (undo.length > 0) {
    const step = undo.pop()!;
    try {
      await step();
    } catch (error) {
      console.error(`chaos: cleanup step failed: ${(error as Error).message}`);
    }
  }
}

let interrupted = false;
export function cleanUpOnSignals(): void {
  const handler = (signal: NodeJS.Signals) => {
    if (interrupted) return;
    interrupted = true;
    console.error(`chaos: ${signal}: stopping every process and cleaning up`);
    void cleanUpEverything().finally(() => process.exit(130));
  };
  process.on("SIGINT", handler);
  process.on("SIGTERM", handler);
  // A bug in the run itself must not leave processes, a mount or a schema behind either.
  const crash = (error: unknown) => {
    console.error(`chaos: the run crashed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    if (interrupted) return;
    interrupted = true;
    void cleanUpEverything().finally(() => process.exit(2));
  };
  process.on("uncaughtException", crash);
  process.on("unhandledRejection", crash);
}

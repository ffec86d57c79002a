import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import type { Outlast } from "../engine/outlast.js";
import { UsageError } from "./args.js";

/** What a tasks module exports, as its default export or as `register`. */
export type RegisterTasks = (outlast: Outlast) => void | Promise<void>;

/**
 * Imports the module at `path` (ESM: .js, .mjs, or .ts when running under
 * tsx) and calls its default or `register` export with `outlast`, so the
 * same file defines the same tasks and queues on every machine.
 */
export async function loadTasks(path: string, outlast: Outlast): Promise<void> {
  const absolute = resolve(path);
  if (!existsSync(absolute)) throw new UsageError(`--tasks: no file at ${absolute}`);
  const mod = (await import(pathToFileURL(absolute).href)) as { default?: unknown; register?: unknown };
  const register = typeof mod.default === "function" ? mod.default : typeof mod.register === "function" ? mod.register : null;
  if (!register) {
    throw new UsageError(`--tasks: ${path} must export a function (outlast) => void, as its default export or as "register"`);
  }
  await (register as RegisterTasks)(outlast);
}

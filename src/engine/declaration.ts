import { OutlastError } from "../core/errors.js";
import type { StandardSchemaV1 } from "../core/schema.js";
import type { TaskDeclaration, TaskSpec } from "./definitions.js";
import { checkTaskSpec } from "./submit-options.js";

/**
 * Declares a task type — its name, input schema, queue and defaults — apart
 * from its handler, so the process that accepts submits (an API server, a
 * Next.js route) never imports the handler's heavy dependencies. The worker
 * implements it with `outlast.implement(declaration, run)`.
 * @example
 * // tasks.ts, shared by the web tier and the workers
 * export const convert = declareTask("audiobook.convert", { queue: "tts", input: bookSchema }).returns<{ chapters: number }>();
 * // web tier
 * outlast.declare(convert);
 * const task = await outlast.submit(convert, book, { owner }); // input checked; task.result: { chapters: number } | null
 * // worker
 * outlast.implement(convert, async (book, ctx) => ({ chapters: await speakAll(book, ctx) }));
 */
export function declareTask<Input = unknown>(name: string, spec: TaskSpec<Input> & { input?: StandardSchemaV1<unknown, Input> } = {}): TaskDeclaration<Input, unknown> {
  if (typeof name !== "string") throw new OutlastError("bad_request", "declareTask needs a task name");
  if (spec === null || typeof spec !== "object") throw new OutlastError("bad_request", `declareTask("${name}") takes an options object`);
  if ("run" in spec) throw new OutlastError("bad_request", `declareTask("${name}") takes no run(): implement it with outlast.implement(task, run)`);
  checkTaskSpec(name, spec as Record<string, unknown>);
  const declaration: TaskDeclaration<Input, unknown> = Object.freeze({
    name,
    spec: Object.freeze({ ...spec }),
    returns: <R>() => declaration as unknown as TaskDeclaration<Input, R>,
  });
  return declaration;
}

export function isDeclaration(value: unknown): value is TaskDeclaration<unknown, unknown> {
  return typeof value === "object" && value !== null && typeof (value as { name?: unknown }).name === "string" && typeof (value as { returns?: unknown }).returns === "function" && "spec" in value;
}

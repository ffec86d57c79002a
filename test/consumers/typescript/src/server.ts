import { declareTask, Outlast, type StepResult, type Task } from "outlast";
import { sqliteStore } from "outlast/sqlite";
import { postgresStore } from "outlast/postgres";
import { createHandler, toNodeListener } from "outlast/server";
import { z } from "zod";

const convert = declareTask("book.convert", { queue: "tts", input: z.object({ text: z.string(), voice: z.string().optional() }) }).returns<{
  chapters: number;
  finishedAt: string;
}>();

const stamp = declareTask("stamp").returns<{ at: Date }>();

const outlast = new Outlast({ store: sqliteStore({ path: "./outlast.db" }) });
outlast.declare(convert);
outlast.implement(convert, async (input, ctx) => {
  const words: number = input.text.split(" ").length;
  const when = await ctx.step("when", () => new Date());
  const asString: string = when; // a Date comes back from a step as its JSON string
  const steps: StepResult<{ at: Date; n?: number; f: () => void }> = { at: asString };
  ctx.progress({ current: words, total: words, message: String(steps.n ?? 0) });
  return { chapters: 1, finishedAt: asString };
});

const defined = outlast.define("count", {
  input: z.object({ to: z.number() }),
  async run({ to }) {
    return { counted: to };
  },
});

export async function main(): Promise<void> {
  const task: Task<{ chapters: number; finishedAt: string }> = await outlast.submit(convert, { text: "a b c" }, { owner: "u1", priority: 2 });
  const chapters: number | undefined = task.result?.chapters;
  const counted = (await defined.submit({ to: 3 })).result?.counted;
  // A task's result is typed as stored: a Date the handler returned is a string.
  const stamped = await outlast.submit(stamp, undefined);
  const at: string | undefined = stamped.result?.at;
  // @ts-expect-error not a Date once stored
  const asDate: Date | undefined = stamped.result?.at;
  console.log(at, asDate);
  // @ts-expect-error the declared input is checked by the compiler too
  await outlast.submit(convert, { words: 3 });
  const handler = createHandler(outlast, { basePath: "/jobs", cors: { origins: ["https://app.example"] } });
  const lazy = createHandler(async () => outlast);
  const listener = toNodeListener(handler);
  const response: Response = await lazy(new Request("http://x/healthz"));
  const pg = postgresStore({ connectionString: "postgres://127.0.0.1/test", schema: "jobs" });
  console.log(chapters, counted, typeof listener, response.status, typeof pg);
}

// The --tasks module of `outlast serve` for the Python example: the server declares
// "chapters.convert" (no handler here: a Python worker runs it), so it accepts submits,
// checks their input and applies the retry rules.
import { z } from "zod";

export default function register(outlast) {
  outlast.remote("chapters.convert", {
    queue: "chapters",
    input: z.object({
      title: z.string().min(1).max(200),
      chapters: z.array(z.string().min(1)).min(1).max(200),
    }),
    maxAttempts: 3,
    backoff: { baseMs: 1_000 },
    stallMs: 60_000,
  });
}

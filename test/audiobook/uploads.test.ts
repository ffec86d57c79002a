import assert from "node:assert/strict";
import { readdir, utimes, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { AUDIOBOOK_TASK, defineAudiobook, saveUpload, submitBook, sweepUploads, uploadsDir } from "../../examples/audiobook/src/index.js";
import { makeEngine, until } from "../support/engine.js";
import { guardLeaks } from "../support/leaks.js";

guardLeaks();

const book = (text: string) => new TextEncoder().encode(`Title\n\nChapter 1\n\n${text}\n`);

test("the upload sweep keeps books a task may read again and deletes the rest after a grace period", async (t) => {
  const outlast = makeEngine(t);
  const dataDir = outlast.store.localDataDir!;
  defineAudiobook(outlast, { queue: "tts", dataDir });
  // Stands in for a finished conversion: succeeds at once with the same kind of input.
  outlast.define("done.book", { queue: "fast", run: () => null });
  await outlast.start({ queues: ["fast"] });

  const save = (text: string) => saveUpload(dataDir, book(text), "b.txt", { maxBytes: 1 << 20 });
  const [queued, canceled, succeeded, orphan, fresh] = await Promise.all(["queued", "canceled", "succeeded", "orphan", "fresh"].map(save));
  await submitBook(outlast, queued!, "b.txt");
  const toCancel = await submitBook(outlast, canceled!, "b.txt", { owner: "someone-else" });
  await outlast.cancel(toCancel.task.id);
  const done = await outlast.submit("done.book", { bookPath: succeeded!.path, filename: "b.txt" });
  await until(async () => (await outlast.get(done.id))?.state === "succeeded", "the stand-in to succeed");
  // A half-written file left by a crash.
  const temp = join(uploadsDir(dataDir), ".abc.1.2.tmp");
  await writeFile(temp, "half");

  const hourAgo = new Date(Date.now() - 60 * 60_000);
  for (const saved of [queued!, canceled!, succeeded!, orphan!]) await utimes(saved.path, hourAgo, hourAgo);
  await utimes(temp, hourAgo, hourAgo);

  const removed = await sweepUploads(outlast, dataDir, [AUDIOBOOK_TASK, "done.book"]);
  assert.equal(removed, 3);
  const left = new Set(await readdir(uploadsDir(dataDir)));
  for (const kept of [queued!, canceled!, fresh!]) assert.ok(left.has(kept.path.split("/").at(-1)!), `${kept.path} is kept`);
  assert.equal(left.size, 3);

  // Once nothing names the fresh one and the grace period is over, it goes too.
  assert.equal(await sweepUploads(outlast, dataDir, [AUDIOBOOK_TASK, "done.book"], Date.now() + 11 * 60_000), 1);
  assert.equal(await sweepUploads(outlast, join(dataDir, "nothing-here"), [AUDIOBOOK_TASK]), 0);
});

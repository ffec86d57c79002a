import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test, type TestContext } from "node:test";
import {
  defineAudiobook,
  espeakVoice,
  readMp3Info,
  saveUpload,
  submitBook,
  type AudiobookResult,
  type NarratedChunk,
  type Narrator,
} from "../../examples/audiobook/src/index.js";
import { InvalidInputError, UnrecoverableError, type Outlast, type Progress } from "../../src/index.js";
import { collect, makeEngine, until } from "../support/engine.js";
import { guardLeaks } from "../support/leaks.js";
import { THREE_CHAPTERS } from "./fixtures.js";

guardLeaks();

const book = new TextEncoder().encode(THREE_CHAPTERS);
// Small pieces, so a chapter is spoken in several and progress moves within it.
const voice = espeakVoice({ chunkChars: 50 });

/**
 * The real voice, wrapped to record which chapter texts were spoken and to
 * let a test act between pieces (fail, cancel) — the test's own narrator,
 * not a switch in the example.
 */
function recordingNarrator(between?: (call: number, piece: number) => void | Promise<void>): Narrator & { calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    async *narrate(text, options): AsyncGenerator<NarratedChunk> {
      calls.push(text);
      const call = calls.length;
      let piece = 0;
      await between?.(call, piece);
      for await (const chunk of voice.narrate(text, options)) {
        yield chunk;
        await between?.(call, ++piece);
      }
    },
  };
}

async function bytesOf(outlast: Outlast, taskId: string, name: string): Promise<Buffer> {
  const stream = await outlast.artifacts!.read(taskId, name);
  assert.ok(stream, `artifact ${name}`);
  return Buffer.from(await new Response(stream).arrayBuffer());
}

function engine(t: TestContext): Outlast {
  return makeEngine(t, { leaseMs: 5_000 });
}

test("a book becomes one MP3 per chapter and a whole-book MP3, with progress per chapter and within it", async (t) => {
  const outlast = engine(t);
  const narrator = recordingNarrator();
  defineAudiobook(outlast, { narrator, queue: "tts" });
  await outlast.start();
  const saved = await saveUpload(outlast.store.localDataDir!, book, "fox.txt", { maxBytes: 100_000 });
  const { outcome, task } = await submitBook(outlast, saved, "fox.txt");
  assert.equal(outcome, "created");
  assert.equal(task.queue, "tts");
  // The same book sent again while it is being converted attaches to the same task.
  const attached = await submitBook(outlast, saved, "fox.txt");
  assert.deepEqual([attached.outcome, attached.task.id], ["existing", task.id]);

  const events = await collect(outlast.watch(task.id));
  const final = await outlast.get(task.id);
  assert.equal(final?.state, "succeeded", JSON.stringify(final?.error));
  const result = final.result as AudiobookResult;
  assert.equal(result.title, "The Fox Book");
  assert.equal(final.title, "The Fox Book", "the task's title is the book's");
  assert.equal(result.book, "book.mp3");
  assert.deepEqual(
    result.chapters.map((c) => [c.title, c.artifact]),
    [
      ["Chapter 1: The Den", "chapter-01.mp3"],
      ["CHAPTER II. The River", "chapter-02.mp3"],
      ["Chapter Three", "chapter-03.mp3"],
    ],
  );
  assert.equal(narrator.calls.length, 3);

  const listed = await outlast.artifacts!.list(task.id);
  assert.deepEqual(
    listed.map((a) => [a.name, a.contentType]),
    [
      ["book.mp3", "audio/mpeg"],
      ["chapter-01.mp3", "audio/mpeg"],
      ["chapter-02.mp3", "audio/mpeg"],
      ["chapter-03.mp3", "audio/mpeg"],
    ],
  );
  let frames = 0;
  for (const chapter of result.chapters) {
    const info = readMp3Info(await bytesOf(outlast, task.id, chapter.artifact));
    assert.equal(info.strayBytes, 0);
    assert.ok(info.seconds > 1, `${chapter.artifact}: ${info.seconds} s`);
    assert.ok(Math.abs(info.seconds - chapter.seconds) < 0.2, `${chapter.artifact}: ${info.seconds} s of MP3, ${chapter.seconds} s reported`);
    frames += info.frames;
  }
  const whole = await bytesOf(outlast, task.id, "book.mp3");
  assert.equal(whole.byteLength, result.bytes);
  assert.equal(readMp3Info(whole).frames, frames);
  assert.equal(readMp3Info(whole).strayBytes, 0);

  const progress = events.flatMap((e) => (e.type === "progress" ? [e.progress] : []));
  const chapterReports = progress.filter((p): p is Progress & { data: { chapter: number; withinChapter: number } } => /^Chapter \d of 3: /.test(p.message ?? ""));
  assert.ok(chapterReports.length > 0, "progress names the chapter");
  assert.ok(chapterReports.some((p) => p.data.withinChapter > 0 && p.data.withinChapter < 1), "progress moves within a chapter");
  for (const p of chapterReports) assert.equal(p.current, p.data.chapter);
  const percents = progress.map((p) => p.percent ?? 0);
  assert.deepEqual(percents, [...percents].sort((a, b) => a - b), "percent only rises");
  assert.equal(progress.at(-1)?.percent, 100);
  assert.deepEqual(
    events.flatMap((e) => (e.type === "step" ? [e.name] : [])),
    ["parse", "chapter-1", "chapter-2", "chapter-3", "book"],
  );

  // The same book again returns the finished task at once.
  const again = await submitBook(outlast, saved, "fox.txt");
  assert.equal(again.outcome, "existing");
  assert.equal(again.task.id, task.id);
  assert.equal(narrator.calls.length, 3);
});

test("a conversion that failed after chapter 2 resumes from chapter 3 when the same book is sent again", async (t) => {
  const outlast = engine(t);
  let failed = false;
  const narrator = recordingNarrator((call) => {
    if (call === 3 && !failed) {
      failed = true;
      // An ordinary failure of its last attempt: sending the book again resumes it.
      throw Object.assign(new Error("The speech engine fell over"), { code: "injected" });
    }
  });
  defineAudiobook(outlast, { narrator, maxAttempts: 1 });
  await outlast.start();
  const saved = await saveUpload(outlast.store.localDataDir!, book, "fox.txt", { maxBytes: 100_000 });
  const first = await submitBook(outlast, saved, "fox.txt");
  await collect(outlast.watch(first.task.id));
  const broken = await outlast.get(first.task.id);
  assert.equal(broken?.state, "failed");
  assert.equal(broken.error?.message, "The speech engine fell over");
  assert.deepEqual(
    (await outlast.artifacts!.list(first.task.id)).map((a) => a.name),
    ["chapter-01.mp3", "chapter-02.mp3"],
  );

  const resumed = await submitBook(outlast, saved, "fox.txt");
  assert.equal(resumed.outcome, "resumed");
  assert.equal(resumed.task.id, first.task.id);
  await until(async () => (await outlast.get(first.task.id))?.state === "succeeded", "the resumed task to succeed");
  const texts = narrator.calls.map((text) => text.split("\n")[0]);
  assert.deepEqual(texts, ["Chapter 1: The Den.", "CHAPTER II. The River.", "Chapter Three.", "Chapter Three."]);
  const result = (await outlast.get(first.task.id))!.result as AudiobookResult;
  assert.equal(result.chapters.length, 3);
  assert.deepEqual(
    (await outlast.artifacts!.list(first.task.id)).map((a) => a.name),
    ["book.mp3", "chapter-01.mp3", "chapter-02.mp3", "chapter-03.mp3"],
  );
  const whole = readMp3Info(await bytesOf(outlast, first.task.id, "book.mp3"));
  assert.equal(whole.strayBytes, 0);
  assert.ok(Math.abs(whole.seconds - result.seconds) < 0.5, `${whole.seconds} s of MP3, ${result.seconds} s reported`);
});

test("cancelling in the middle of a chapter ends the task canceled and stops speaking", async (t) => {
  const outlast = engine(t);
  let taskId = "";
  const narrator = recordingNarrator(async (call, piece) => {
    if (call === 2 && piece === 1) await outlast.cancel(taskId);
  });
  defineAudiobook(outlast, { narrator });
  await outlast.start();
  const saved = await saveUpload(outlast.store.localDataDir!, book, "fox.txt", { maxBytes: 100_000 });
  const { task } = await submitBook(outlast, saved, "fox.txt", { owner: "reader-1" });
  taskId = task.id;
  await collect(outlast.watch(task.id));
  assert.equal((await outlast.get(task.id))?.state, "canceled");
  assert.equal(narrator.calls.length, 2);
  assert.deepEqual(
    (await outlast.artifacts!.list(task.id)).map((a) => a.name),
    ["chapter-01.mp3"],
  );
});

test("a submit naming a file outside the uploads folder is refused; a missing or broken book fails without retries", async (t) => {
  const outlast = engine(t);
  defineAudiobook(outlast, { narrator: recordingNarrator() });
  await outlast.start();
  const dataDir = outlast.store.localDataDir!;
  for (const bookPath of ["/etc/passwd", join(dataDir, "uploads", "..", "outlast.db"), join(dataDir, "uploads", "sub", "x.txt"), ""]) {
    await assert.rejects(outlast.submit("audiobook.convert", { bookPath, filename: "x.txt" }), InvalidInputError, bookPath);
  }
  await assert.rejects(outlast.submit("audiobook.convert", { bookPath: join(dataDir, "uploads", "a.txt"), filename: "a.pdf" }), InvalidInputError);

  const missing = await outlast.submit("audiobook.convert", { bookPath: join(dataDir, "uploads", "gone.txt"), filename: "gone.txt" });
  const saved = await saveUpload(dataDir, new TextEncoder().encode("... --- ..."), "dots.txt", { maxBytes: 1_000 });
  const empty = (await submitBook(outlast, saved, "dots.txt")).task;
  for (const [task, code] of [
    [missing, "book_missing"],
    [empty, "empty_book"],
  ] as const) {
    await collect(outlast.watch(task.id));
    const final = await outlast.get(task.id);
    assert.equal(final?.state, "failed");
    assert.equal(final.attempt, 1, "no retry of a book that cannot be read");
    assert.equal(final.error?.code, code);
  }
});

test("text sent as .epub fails, and the same bytes sent as .txt become a new book that succeeds; sent as .epub again it starts over", async (t) => {
  const outlast = engine(t);
  const narrator = recordingNarrator();
  defineAudiobook(outlast, { narrator });
  await outlast.start();
  const dataDir = outlast.store.localDataDir!;
  const asEpub = await saveUpload(dataDir, book, "fox.epub", { maxBytes: 100_000 });
  const wrong = (await submitBook(outlast, asEpub, "fox.epub")).task;
  await collect(outlast.watch(wrong.id));
  const failed = await outlast.get(wrong.id);
  assert.equal(failed?.error?.code, "not_a_book", JSON.stringify(failed?.error));
  assert.equal(failed?.error?.unrecoverable, true, "the error says running it again from its steps cannot help");

  const asText = await saveUpload(dataDir, book, "fox.txt", { maxBytes: 100_000 });
  const fixed = await submitBook(outlast, asText, "fox.txt");
  assert.equal(fixed.outcome, "created", "another format is another book, not a resume of the failed one");
  assert.notEqual(fixed.task.id, wrong.id);
  await collect(outlast.watch(fixed.task.id));
  assert.equal((await outlast.get(fixed.task.id))?.state, "succeeded");

  const again = await submitBook(outlast, asEpub, "fox.epub");
  assert.deepEqual([again.outcome, again.task.id], ["restarted", wrong.id], "an unrecoverable failure starts over rather than resuming");
  await collect(outlast.watch(wrong.id));
  const final = await outlast.get(wrong.id);
  assert.equal(final?.error?.code, "not_a_book", JSON.stringify(final));
});

test("a book file that changed between attempts fails with book_changed instead of mixing two books", async (t) => {
  const outlast = engine(t);
  let failed = false;
  const narrator = recordingNarrator((call) => {
    if (call === 2 && !failed) {
      failed = true;
      throw new Error("Stopped after chapter 1");
    }
  });
  defineAudiobook(outlast, { narrator, maxAttempts: 1 });
  await outlast.start();
  const saved = await saveUpload(outlast.store.localDataDir!, book, "fox.txt", { maxBytes: 100_000 });
  const first = await submitBook(outlast, saved, "fox.txt");
  await collect(outlast.watch(first.task.id));
  assert.equal((await outlast.get(first.task.id))?.state, "failed");

  await writeFile(saved.path, THREE_CHAPTERS.replace("swam across", "paddled over"));
  const resumed = await submitBook(outlast, saved, "fox.txt");
  assert.equal(resumed.outcome, "resumed");
  await until(async () => (await outlast.get(first.task.id))?.state === "failed" && (await outlast.get(first.task.id))?.error?.code === "book_changed", "book_changed");
  assert.equal(narrator.calls.length, 2, "chapter 2 of the changed book was not spoken");
});

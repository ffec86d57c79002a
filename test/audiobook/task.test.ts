import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test, type TestContext } from "node:test";
import {
  CHAPTER_TASK,
  defineAudiobook,
  espeakVoice,
  readMp3Info,
  saveUpload,
  submitBook,
  type AudiobookResult,
  type NarratedChunk,
  type Narrator,
} from "../../examples/audiobook/src/index.js";
import { InvalidInputError, type Outlast, type Task, type TaskEvent } from "../../src/index.js";
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
function recordingNarrator(between?: (call: number, piece: number, signal: AbortSignal | undefined) => void | Promise<void>): Narrator & { calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    async *narrate(text, options): AsyncGenerator<NarratedChunk> {
      calls.push(text);
      const call = calls.length;
      let piece = 0;
      await between?.(call, piece, options?.signal);
      for await (const chunk of voice.narrate(text, options)) {
        yield chunk;
        await between?.(call, ++piece, options?.signal);
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

async function chaptersOf(outlast: Outlast, bookId: string): Promise<Task[]> {
  return (await outlast.children(bookId, { limit: 200 })).tasks;
}

/** Chapters spoken one at a time, in order: the book and its chapters on one queue that runs one task at once (a waiting book holds no slot). */
function oneAtATime(outlast: Outlast): { queue: string } {
  outlast.queue("tts", { concurrency: 1 });
  return { queue: "tts" };
}

test("a book becomes one chapter task per chapter, each saving its MP3 among the book's files, then a whole-book MP3; the book's bar is rolled up from its chapters", async (t) => {
  const outlast = engine(t);
  const narrator = recordingNarrator();
  // Chapters on their own queue, three at once: the book still joins them in order.
  outlast.queue("tts", { concurrency: 3 });
  defineAudiobook(outlast, { narrator, queue: "books", chapterQueue: "tts" });
  const progress: TaskEvent[] = [];
  outlast.on("progress", (event) => progress.push(event));
  await outlast.start();
  const saved = await saveUpload(outlast.store.localDataDir!, book, "fox.txt", { maxBytes: 100_000 });
  const { outcome, task } = await submitBook(outlast, saved, "fox.txt");
  assert.equal(outcome, "created");
  assert.equal(task.queue, "books");
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
  assert.equal((await outlast.getRecord(task.id))?.attempt, 1, "waiting for its chapters cost the book no attempt");

  // One child task per chapter, in order: the book's owner, the chapter queue, the chapter's title; each result is its chapter.
  const chapters = await chaptersOf(outlast, task.id);
  assert.deepEqual(
    chapters.map((c) => [c.name, c.queue, c.owner, c.parentId, c.title, c.state]),
    result.chapters.map((c) => [CHAPTER_TASK, "tts", task.owner, task.id, c.title, "succeeded"]),
  );
  assert.deepEqual(
    chapters.map((c) => c.result),
    result.chapters,
  );
  for (const chapter of chapters) assert.deepEqual(await outlast.artifacts!.list(chapter.id), [], "a chapter's MP3 is kept with its book");
  assert.deepEqual(final.progress.children, { total: 3, queued: 0, running: 0, waiting: 0, succeeded: 3, failed: 0, canceled: 0 });

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
  const parts: Buffer[] = [];
  for (const chapter of result.chapters) {
    const bytes = await bytesOf(outlast, task.id, chapter.artifact);
    parts.push(bytes);
    const info = readMp3Info(bytes);
    assert.equal(info.strayBytes, 0);
    assert.ok(info.seconds > 1, `${chapter.artifact}: ${info.seconds} s`);
    assert.ok(Math.abs(info.seconds - chapter.seconds) < 0.2, `${chapter.artifact}: ${info.seconds} s of MP3, ${chapter.seconds} s reported`);
    frames += info.frames;
  }
  const whole = await bytesOf(outlast, task.id, "book.mp3");
  assert.equal(whole.byteLength, result.bytes);
  assert.ok(whole.equals(Buffer.concat(parts)), "book.mp3 is the chapters in order, though they were spoken at once");
  assert.equal(readMp3Info(whole).frames, frames);
  assert.equal(readMp3Info(whole).strayBytes, 0);

  // Each chapter reports its own progress, moving within it.
  const ids = new Map(chapters.map((c, i) => [c.id, i + 1]));
  const chapterReports = progress.flatMap((e) => (e.type === "progress" && ids.has(e.taskId) ? [{ number: ids.get(e.taskId)!, progress: e.progress }] : []));
  for (const { number, progress: p } of chapterReports) {
    assert.match(p.message ?? "", new RegExp(`^Chapter ${number} of 3: `));
    assert.equal((p.data as { chapter: number }).chapter, number);
  }
  assert.ok(
    chapterReports.some(({ progress: p }) => (p.data as { withinChapter: number }).withinChapter > 0 && (p.data as { withinChapter: number }).withinChapter < 1),
    "progress moves within a chapter",
  );
  // The book's bar: rolled up from its chapters (weighted by length), only rising, with their counts.
  const bookReports = progress.flatMap((e) => (e.type === "progress" && e.taskId === task.id ? [e.progress] : []));
  const percents = bookReports.map((p) => p.percent ?? 0);
  assert.deepEqual(percents, [...percents].sort((a, b) => a - b), "percent only rises");
  assert.ok(
    bookReports.some((p) => p.children?.succeeded === 0 && (p.percent ?? 0) > 0 && (p.percent ?? 0) < 100),
    "the book's bar moves while its first chapters are spoken",
  );
  assert.ok(bookReports.every((p) => p.children?.total === 3), "every report of the book carries its chapters' counts");
  assert.equal(bookReports.at(-1)?.percent, 100);
  assert.deepEqual(
    events.flatMap((e) => (e.type === "step" ? [e.name] : [])),
    ["parse", "book"],
  );

  // The same book again returns the finished task at once.
  const again = await submitBook(outlast, saved, "fox.txt");
  assert.equal(again.outcome, "existing");
  assert.equal(again.task.id, task.id);
  assert.equal(narrator.calls.length, 3);
});

test("a chapter that failed fails its book; the same book sent again resumes it, speaking only the failed chapter again", async (t) => {
  const outlast = engine(t);
  let failed = false;
  const narrator = recordingNarrator((call) => {
    if (call === 3 && !failed) {
      failed = true;
      // An ordinary failure of its last attempt: sending the book again resumes it.
      throw Object.assign(new Error("The speech engine fell over"), { code: "injected" });
    }
  });
  defineAudiobook(outlast, { narrator, maxAttempts: 1, ...oneAtATime(outlast) });
  await outlast.start();
  const saved = await saveUpload(outlast.store.localDataDir!, book, "fox.txt", { maxBytes: 100_000 });
  const first = await submitBook(outlast, saved, "fox.txt");
  await collect(outlast.watch(first.task.id));
  const broken = await outlast.get(first.task.id);
  assert.equal(broken?.state, "failed");
  assert.equal(broken.error?.code, "child_failed");
  assert.equal(broken.error?.message, "Chapter 3 of 3 (Chapter Three) could not be spoken: The speech engine fell over");
  const before = await chaptersOf(outlast, first.task.id);
  assert.deepEqual(
    before.map((c) => [c.state, c.error?.message ?? null]),
    [
      ["succeeded", null],
      ["succeeded", null],
      ["failed", "The speech engine fell over"],
    ],
  );
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
  const after = await chaptersOf(outlast, first.task.id);
  assert.deepEqual(
    after.map((c) => c.id),
    before.map((c) => c.id),
    "the same chapter tasks: none submitted twice",
  );
  assert.deepEqual(
    after.map((c) => [c.state, c.attempt]),
    [
      ["succeeded", 1],
      ["succeeded", 1],
      ["succeeded", 2],
    ],
  );
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

test("cancelling a book in the middle of a chapter cancels it and its chapters, and stops speaking", async (t) => {
  const outlast = engine(t);
  let taskId = "";
  const narrator = recordingNarrator(async (call, piece, signal) => {
    if (call !== 2 || piece !== 1) return;
    await outlast.cancel(taskId);
    // The chapter's worker hears of the cancel at its next heartbeat: hold it until then.
    await new Promise((resolve) => (signal?.aborted ? resolve(null) : signal?.addEventListener("abort", resolve, { once: true })));
  });
  defineAudiobook(outlast, { narrator, ...oneAtATime(outlast) });
  await outlast.start();
  const saved = await saveUpload(outlast.store.localDataDir!, book, "fox.txt", { maxBytes: 100_000 });
  const { task } = await submitBook(outlast, saved, "fox.txt", { owner: "reader-1" });
  taskId = task.id;
  await collect(outlast.watch(task.id));
  assert.equal((await outlast.get(task.id))?.state, "canceled");
  await until(async () => (await chaptersOf(outlast, task.id)).every((c) => c.state !== "running"), "the chapter being spoken to stop");
  assert.deepEqual(
    (await chaptersOf(outlast, task.id)).map((c) => c.state),
    ["succeeded", "canceled", "canceled"],
  );
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

  // A chapter is only ever a book's child: submitted on its own it is refused (bad input) or fails at once.
  const goodBook = await saveUpload(dataDir, book, "fox.txt", { maxBytes: 100_000 });
  const chapter = { bookPath: goodBook.path, filename: "fox.txt", chapter: 1, chapters: 3, title: "Chapter 1: The Den", chars: 10, artifact: "chapter-01.mp3" };
  await assert.rejects(outlast.submit(CHAPTER_TASK, { ...chapter, bookPath: "/etc/passwd" }), InvalidInputError);
  await assert.rejects(outlast.submit(CHAPTER_TASK, { ...chapter, artifact: "../book.mp3" }), InvalidInputError);
  await assert.rejects(outlast.submit(CHAPTER_TASK, { ...chapter, chapter: 4 }), InvalidInputError);
  const stray = await outlast.submit(CHAPTER_TASK, chapter);
  await collect(outlast.watch(stray.id));
  const strayFinal = await outlast.get(stray.id);
  assert.deepEqual([strayFinal?.state, strayFinal?.attempt, strayFinal?.error?.code], ["failed", 1, "not_a_chapter"]);
  assert.deepEqual(await outlast.artifacts!.list(stray.id), []);
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

test("a book file that changed between attempts fails its chapter with book_changed instead of mixing two books", async (t) => {
  const outlast = engine(t);
  let failed = false;
  const narrator = recordingNarrator((call) => {
    if (call === 2 && !failed) {
      failed = true;
      throw new Error("Stopped after chapter 1");
    }
  });
  defineAudiobook(outlast, { narrator, maxAttempts: 1, ...oneAtATime(outlast) });
  await outlast.start();
  const saved = await saveUpload(outlast.store.localDataDir!, book, "fox.txt", { maxBytes: 100_000 });
  const first = await submitBook(outlast, saved, "fox.txt");
  await collect(outlast.watch(first.task.id));
  assert.equal((await outlast.get(first.task.id))?.state, "failed");

  await writeFile(saved.path, THREE_CHAPTERS.replace("swam across", "paddled over"));
  const resumed = await submitBook(outlast, saved, "fox.txt");
  assert.equal(resumed.outcome, "resumed");
  await until(async () => /book file changed/.test((await outlast.get(first.task.id))?.error?.message ?? ""), "the book to fail again");
  const final = await outlast.get(first.task.id);
  assert.equal(final?.state, "failed");
  assert.equal(final.error?.message, "Chapter 2 of 3 (CHAPTER II. The River) could not be spoken: The book file changed since it was first read; upload it again");
  const chapters = await chaptersOf(outlast, first.task.id);
  assert.deepEqual(
    chapters.slice(0, 2).map((c) => [c.state, c.error?.code ?? null]),
    [
      ["succeeded", null],
      ["failed", "book_changed"],
    ],
  );
  // A worker whose slot frees as a chapter ends may already have taken the next one when the book's failure cancels it.
  assert.ok(["canceled", "succeeded"].includes(chapters[2]!.state), chapters[2]!.state);
  assert.equal(narrator.calls.filter((text) => text.includes("paddled over")).length, 0, "chapter 2 of the changed book was not spoken");
  assert.equal(narrator.calls.filter((text) => text.startsWith("Chapter 1")).length, 1, "chapter 1 was spoken once");
});

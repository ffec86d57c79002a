import { readFile, stat } from "node:fs/promises";
import { isAbsolute, relative, resolve } from "node:path";
import type { StandardSchemaV1 } from "@standard-schema/spec";
import { ChildTaskFailedError, OutlastError, UnrecoverableError, type Outlast, type TaskContext } from "outlast";
import type { ChildOutcome, DefinedTask, Jsonified, SubmitOptions } from "outlast";
import { BOOK_EXTENSIONS, extensionOf, parseBook, type Book, type BookLimits } from "./book.js";
import { espeakVoice, type Narrator } from "./speech.js";
import { uploadsDir, type SavedUpload } from "./upload.js";

/** The task's name unless `defineAudiobook` is told another. */
export const AUDIOBOOK_TASK = "audiobook.convert";

/** What a conversion is submitted with. */
export interface AudiobookInput {
  /** The stored upload: a file in `<dataDir>/uploads/` (see `saveUpload`). */
  bookPath: string;
  /** The name the person uploaded, for the title and the file type. */
  filename: string;
}

/** One spoken chapter. */
export interface AudiobookChapter {
  title: string;
  /** Artifact name, e.g. "chapter-03.mp3". */
  artifact: string;
  seconds: number;
  bytes: number;
}

/** What a finished conversion returns. */
export interface AudiobookResult {
  title: string;
  chapters: AudiobookChapter[];
  /** Artifact name of the whole book in one file. */
  book: "book.mp3";
  seconds: number;
  bytes: number;
}

/** What the "parse" step records: titles and sizes, not the text, so step events stay small. */
interface Plan {
  title: string;
  chapters: { title: string; chars: number }[];
}

/** What the book task gives each chapter task (see {@link CHAPTER_TASK}). */
export interface ChapterInput extends AudiobookInput {
  /** 1 for the first chapter. */
  chapter: number;
  /** How many chapters the book has. */
  chapters: number;
  title: string;
  /** The chapter's length in characters when the book was parsed: a book that changed since is refused. */
  chars: number;
  /** Artifact name, e.g. "chapter-03.mp3": saved among the book task's files. */
  artifact: string;
}

/** The chapter task's name unless `defineAudiobook` is told another. */
export const CHAPTER_TASK = "audiobook.chapter";

/** Options of {@link defineAudiobook}. */
export interface AudiobookOptions {
  /** The book task's queue (it reads the book, then joins the spoken chapters). @defaultValue "default" */
  queue?: string;
  /** Where chapters are spoken: its concurrency is how many chapters are spoken at once. @defaultValue the book's `queue` */
  chapterQueue?: string;
  /** @defaultValue "audiobook.convert" */
  name?: string;
  /** @defaultValue "audiobook.chapter" (with another `name`: that name + ".chapter") */
  chapterName?: string;
  /** Folder holding `uploads/`. @defaultValue the store's data folder (beside the SQLite file) */
  dataDir?: string;
  /** What speaks and encodes. @defaultValue espeakVoice() */
  narrator?: Narrator;
  /** Of the book task and of each chapter. @defaultValue 3 */
  maxAttempts?: number;
  /** Longest run of the book task, and longest a chapter may take to speak. */
  timeoutMs?: number;
  limits?: BookLimits;
}

/**
 * Defines the audiobook conversion as a book task with one child task per
 * chapter. The book task (`audiobook.convert`) reads the book in step
 * "parse", then submits one `audiobook.chapter` child per chapter (key
 * `chapter-NN`, weight its length in characters) and waits for them without
 * holding a worker slot; each child speaks its chapter into
 * `chapter-NN.mp3`, saved among the book task's files (so every file of a
 * book is served under the book's id); when all are spoken the book task
 * runs again and joins them into `book.mp3` (step "book"). A failed chapter
 * fails the book and cancels the chapters not spoken yet; a retry or resume of
 * the book runs only those again. Progress: the book's bar is rolled up from
 * its chapters (`progress.children`); a chapter reports `{ percent,
 * message: "Chapter 3 of 12: Title", data: { chapter, withinChapter } }`.
 * @example
 * const audiobook = defineAudiobook(outlast, { queue: "books", chapterQueue: "tts" });
 * const saved = await saveUpload(dataDir, bytes, "moby.epub", { maxBytes: 20 << 20 });
 * const { task } = await submitBook(outlast, saved, "moby.epub", { owner });
 */
export function defineAudiobook(outlast: Outlast, options: AudiobookOptions = {}): DefinedTask<AudiobookInput, AudiobookResult> {
  const dataDir = options.dataDir ?? outlast.store.localDataDir ?? null;
  if (!dataDir) {
    throw new OutlastError("bad_request", "The audiobook needs a data folder for uploads: pass { dataDir } (a PostgreSQL store has none of its own)");
  }
  const uploads = resolve(uploadsDir(dataDir));
  const narrator = options.narrator ?? espeakVoice();
  const limits = options.limits ?? {};
  const name = options.name ?? AUDIOBOOK_TASK;
  const chapterName = options.chapterName ?? (name === AUDIOBOOK_TASK ? CHAPTER_TASK : `${name}.chapter`);
  const books = new BookCache(limits);
  const shared = {
    maxAttempts: options.maxAttempts ?? 3,
    ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
  };
  const chapterQueue = options.chapterQueue ?? options.queue;

  outlast.define<ChapterInput, AudiobookChapter>(chapterName, {
    input: chapterSchema(uploads),
    ...shared,
    ...(chapterQueue === undefined ? {} : { queue: chapterQueue }),
    run: (input, ctx) => speakChapter(outlast, name, input, ctx, narrator, books),
  });
  return outlast.define<AudiobookInput, AudiobookResult>(name, {
    input: inputSchema(uploads),
    ...shared,
    ...(options.queue === undefined ? {} : { queue: options.queue }),
    run: (input, ctx) => convert(outlast, chapterName, input, ctx, books),
  });
}

/**
 * Submits a saved upload with its hash as the idempotency key: the same book
 * again attaches to the running task, returns the finished one, or resumes
 * a failed or cancelled one: only its chapters not spoken yet are spoken.
 */
export function submitBook(
  outlast: Outlast,
  upload: SavedUpload,
  filename: string,
  options: Omit<SubmitOptions, "idempotencyKey"> & { name?: string } = {},
): ReturnType<Outlast["submitWithOutcome"]> {
  const { name, ...submit } = options;
  const input: AudiobookInput = { bookPath: upload.path, filename };
  return outlast.submitWithOutcome(name ?? AUDIOBOOK_TASK, input, { ...submit, idempotencyKey: upload.idempotencyKey });
}

/** `text` cut to `max` UTF-16 units between characters (never half an emoji), or "Untitled" when empty. */
function titleOfAtMost(text: string, max: number): string {
  let out = "";
  for (const char of text) {
    if (out.length + char.length > max) break;
    out += char;
  }
  return out.trim() || "Untitled";
}

/**
 * The last book read, kept while its file is unchanged: the chapters of a
 * book run one after another (often in this process), and each needs only
 * its own text.
 */
class BookCache {
  private last: { key: string; book: Promise<Book> } | null = null;

  constructor(private readonly limits: BookLimits) {}

  async read(path: string, filename: string): Promise<Book> {
    const info = await stat(path).catch((error: unknown) => {
      throw missingBook(error);
    });
    const key = `${path}\0${filename}\0${info.size}\0${info.mtimeMs}`;
    if (this.last?.key !== key) {
      const book = readBook(path).then((bytes) => parseBook(bytes, filename, this.limits));
      this.last = { key, book };
      book.catch(() => this.last?.book === book && (this.last = null));
    }
    return this.last.book;
  }
}

/** The book task: parse, one child per chapter, then the whole-book file. */
async function convert(outlast: Outlast, chapterName: string, input: AudiobookInput, ctx: TaskContext, books: BookCache): Promise<AudiobookResult> {
  const artifacts = outlast.artifacts;
  if (!artifacts) throw new UnrecoverableError("No artifact storage is configured for the MP3 files", { code: "no_artifacts" });

  // Everything before the wait below runs again when the chapters are spoken: the work is in steps.
  const plan = await ctx.step("parse", async (): Promise<Plan> => {
    const parsed = await books.read(input.bookPath, input.filename);
    return { title: parsed.title, chapters: parsed.chapters.map((c) => ({ title: c.title, chars: c.text.length })) };
  });
  // The dashboard lists and searches tasks by title: the book's, not the task's name.
  await ctx.setTitle(titleOfAtMost(plan.title, 200));
  const count = plan.chapters.length;
  const width = Math.max(2, String(count).length);
  const children = plan.chapters.map((planned, index) => {
    const number = String(index + 1).padStart(width, "0");
    const chapter: ChapterInput = {
      ...input,
      chapter: index + 1,
      chapters: count,
      title: planned.title,
      chars: planned.chars,
      artifact: `chapter-${number}.mp3`,
    };
    // Weighed by length, so the book's bar moves as the speaking does; as urgent as their book.
    return {
      key: `chapter-${number}`,
      name: chapterName,
      input: chapter,
      weight: Math.max(1, planned.chars),
      title: titleOfAtMost(planned.title, 200),
      priority: ctx.task.priority,
    };
  });

  let outcomes: ChildOutcome<Jsonified<AudiobookChapter>>[];
  try {
    outcomes = await ctx.runChildren<AudiobookChapter>(children, { failure: "fail-fast" });
  } catch (error) {
    if (error instanceof ChildTaskFailedError) throw await explained(outlast, error, children);
    throw error;
  }
  const chapters: AudiobookChapter[] = outcomes.map((outcome, index) => {
    const spoken = outcome.result;
    if (!spoken) throw new UnrecoverableError(`Chapter ${index + 1} left no result`, { code: "chapter_missing" });
    return spoken;
  });

  // The chapters are all spoken (the rolled-up bar is full): what is left is one file.
  ctx.progress({ percent: 100, current: count, total: count, message: "Joining the chapters into one file" });
  const whole = await ctx.step("book", async () => {
    // MP3 frames stand alone (no bit reservoir, no VBR header), so the chapter files concatenate into one valid file.
    const files = artifacts;
    async function* joined(): AsyncGenerator<Uint8Array> {
      for (const chapter of chapters) {
        ctx.signal.throwIfAborted();
        const stream = await files.read(ctx.task.id, chapter.artifact);
        if (!stream) throw new UnrecoverableError(`The file ${chapter.artifact} of this book is gone`, { code: "chapter_missing" });
        const reader = stream.getReader();
        for (let next = await reader.read(); !next.done; next = await reader.read()) yield next.value;
      }
    }
    const saved = await ctx.saveArtifact("book.mp3", joined(), { contentType: "audio/mpeg" });
    return { bytes: saved.size };
  });
  const seconds = Math.round(chapters.reduce((sum, c) => sum + c.seconds, 0) * 1000) / 1000;
  ctx.progress({ percent: 100, current: count, total: count, message: `Done: ${count} chapters` });
  return { title: plan.title, chapters, book: "book.mp3", seconds, bytes: whole.bytes };
}

/** A chapter that did not succeed fails its book with a message a reader understands (the code stays child_failed). */
async function explained(outlast: Outlast, error: ChildTaskFailedError, children: readonly { key: string; input: ChapterInput }[]): Promise<ChildTaskFailedError> {
  const chapter = children.find((c) => c.key === error.childKey)?.input;
  const child = await outlast.getRecord(error.childId);
  // "Chapter 2 of 3 (The Storm)" rather than "Chapter 2 of 3 (Chapter 2: The Storm)".
  const named = chapter?.title.replace(new RegExp(`^chapter\\s+${chapter.chapter}\\b[.:]?\\s*`, "i"), "").trim();
  const which = chapter ? `Chapter ${chapter.chapter} of ${chapter.chapters}${named ? ` (${named})` : ""}` : "A chapter";
  error.message = child?.state === "canceled" && !child.error ? `${which} was cancelled` : `${which} could not be spoken: ${child?.error?.message ?? "it did not succeed"}`;
  return error;
}

/**
 * A chapter task: speaks its chapter into its MP3 file among the book
 * task's files (found from its own record, never from its input), in one
 * step, so a retried chapter that was already saved is not spoken again.
 */
async function speakChapter(outlast: Outlast, bookName: string, input: ChapterInput, ctx: TaskContext, narrator: Narrator, books: BookCache): Promise<AudiobookChapter> {
  const artifacts = outlast.artifacts;
  if (!artifacts) throw new UnrecoverableError("No artifact storage is configured for the MP3 files", { code: "no_artifacts" });
  const bookId = (await outlast.getRecord(ctx.task.id))?.parentId ?? null;
  const book = bookId === null ? null : await outlast.getRecord(bookId);
  if (!book || book.name !== bookName) {
    throw new UnrecoverableError(`A chapter is spoken as a child of a ${bookName} task: submit the book instead`, { code: "not_a_chapter" });
  }
  const { chapter, chapters, title, chars, artifact } = input;
  const report = (within: number) =>
    ctx.progress({
      percent: 100 * within,
      message: `Chapter ${chapter} of ${chapters}: ${title}`,
      data: { chapter, withinChapter: Math.round(within * 1000) / 1000 },
    });
  return ctx.step("speak", async (): Promise<AudiobookChapter> => {
    report(0);
    const found = (await books.read(input.bookPath, input.filename)).chapters[chapter - 1]?.text;
    if (found === undefined || found.length !== chars) {
      throw new UnrecoverableError("The book file changed since it was first read; upload it again", { code: "book_changed" });
    }
    const text: string = found;
    let seconds = 0;
    async function* audio(): AsyncGenerator<Uint8Array> {
      for await (const piece of narrator.narrate(text, { signal: ctx.signal })) {
        seconds += piece.seconds;
        report(piece.done);
        yield piece.mp3;
      }
    }
    ctx.signal.throwIfAborted();
    const saved = await artifacts.put(book.id, artifact, audio(), "audio/mpeg");
    await ctx.log(`Saved ${artifact} (${saved.size} bytes) among the files of ${book.id}`);
    return { title, artifact, seconds: Math.round(seconds * 1000) / 1000, bytes: saved.size };
  });
}

async function readBook(path: string): Promise<Uint8Array> {
  try {
    return await readFile(path);
  } catch (error) {
    throw missingBook(error);
  }
}

function missingBook(error: unknown): unknown {
  if ((error as NodeJS.ErrnoException).code === "ENOENT") {
    return new UnrecoverableError("The uploaded book is no longer stored; upload it again", { code: "book_missing", cause: error });
  }
  return error;
}

/** Accepts only files inside the uploads folder, so a submit cannot make the task read any other file. */
function inputSchema(uploads: string): StandardSchemaV1<unknown, AudiobookInput> {
  const fail = (message: string, key?: string): StandardSchemaV1.FailureResult => ({ issues: [key ? { message, path: [key] } : { message }] });
  return {
    "~standard": {
      version: 1,
      vendor: "outlast-audiobook",
      validate(value: unknown): StandardSchemaV1.Result<AudiobookInput> {
        if (typeof value !== "object" || value === null) return fail("Expected an object { bookPath, filename }");
        const { bookPath, filename } = value as Record<string, unknown>;
        if (typeof bookPath !== "string" || bookPath.length === 0) return fail("Expected a string", "bookPath");
        if (typeof filename !== "string" || filename.length === 0 || filename.length > 255) return fail("Expected a file name of 1 to 255 characters", "filename");
        const inside = relative(uploads, resolve(bookPath));
        if (!inside || inside.startsWith("..") || isAbsolute(inside) || inside.includes("/") || inside.includes("\\")) {
          return fail("Must be a file in the uploads folder (see saveUpload)", "bookPath");
        }
        if (!(BOOK_EXTENSIONS as readonly string[]).includes(extensionOf(filename))) return fail("Must name a .txt or .epub file", "filename");
        return { value: { bookPath: resolve(bookPath), filename } };
      },
    },
  };
}

/** A chapter's input: a book in the uploads folder, as the book task gives it, and where the chapter is in it. */
function chapterSchema(uploads: string): StandardSchemaV1<unknown, ChapterInput> {
  const book = inputSchema(uploads)["~standard"];
  const fail = (message: string, key: string): StandardSchemaV1.FailureResult => ({ issues: [{ message, path: [key] }] });
  const whole = (n: unknown, min: number): n is number => typeof n === "number" && Number.isSafeInteger(n) && n >= min;
  return {
    "~standard": {
      version: 1,
      vendor: "outlast-audiobook",
      validate(value: unknown): StandardSchemaV1.Result<ChapterInput> {
        const checked = book.validate(value) as StandardSchemaV1.Result<AudiobookInput>;
        if (checked.issues) return checked;
        const { chapter, chapters, title, chars, artifact } = value as Record<string, unknown>;
        if (!whole(chapters, 1)) return fail("Expected a whole number above 0", "chapters");
        if (!whole(chapter, 1) || chapter > chapters) return fail("Expected a chapter number from 1 to chapters", "chapter");
        if (typeof title !== "string" || title.length > 10_000) return fail("Expected a string", "title");
        if (!whole(chars, 0)) return fail("Expected a whole number", "chars");
        if (typeof artifact !== "string" || !/^chapter-\d{2,6}\.mp3$/.test(artifact)) return fail('Expected a file name like "chapter-01.mp3"', "artifact");
        return { value: { ...checked.value, chapter, chapters, title, chars, artifact } };
      },
    },
  };
}

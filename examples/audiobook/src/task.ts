import { readFile } from "node:fs/promises";
import { isAbsolute, relative, resolve } from "node:path";
import type { StandardSchemaV1 } from "@standard-schema/spec";
import { OutlastError, UnrecoverableError, type Outlast, type TaskContext } from "outlast";
import type { DefinedTask, SubmitOptions } from "outlast";
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

/** Options of {@link defineAudiobook}. */
export interface AudiobookOptions {
  /** @defaultValue "default" */
  queue?: string;
  /** @defaultValue "audiobook.convert" */
  name?: string;
  /** Folder holding `uploads/`. @defaultValue the store's data folder (beside the SQLite file) */
  dataDir?: string;
  /** What speaks and encodes. @defaultValue espeakVoice() */
  narrator?: Narrator;
  /** @defaultValue 3 */
  maxAttempts?: number;
  timeoutMs?: number;
  limits?: BookLimits;
}

/**
 * Defines the audiobook conversion: step "parse" reads the book, then one
 * step per chapter speaks it into `chapter-NN.mp3`, then step "book" joins
 * them into `book.mp3`. A retried or resumed task skips the chapters it
 * already spoke. Progress: `{ current: chapter, total: chapters, percent,
 * message: "Chapter 3 of 12: Title", data: { chapter, withinChapter } }`.
 * @example
 * const audiobook = defineAudiobook(outlast, { queue: "tts" });
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

  return outlast.define<AudiobookInput, AudiobookResult>(options.name ?? AUDIOBOOK_TASK, {
    input: inputSchema(uploads),
    maxAttempts: options.maxAttempts ?? 3,
    ...(options.queue === undefined ? {} : { queue: options.queue }),
    ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
    run: (input, ctx) => convert(outlast, input, ctx, narrator, limits),
  });
}

/**
 * Submits a saved upload with its hash as the idempotency key: the same book
 * again attaches to the running task, returns the finished one, or resumes
 * a failed or cancelled one from its last spoken chapter.
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
  return out || "Untitled";
}

async function convert(outlast: Outlast, input: AudiobookInput, ctx: TaskContext, narrator: Narrator, limits: BookLimits): Promise<AudiobookResult> {
  const artifacts = outlast.artifacts;
  if (!artifacts) throw new UnrecoverableError("No artifact storage is configured for the MP3 files", { code: "no_artifacts" });

  let book: Book | null = null;
  const load = async (): Promise<Book> => (book ??= parseBook(await readBook(input.bookPath), input.filename, limits));

  const plan = await ctx.step("parse", async (): Promise<Plan> => {
    const parsed = await load();
    return { title: parsed.title, chapters: parsed.chapters.map((c) => ({ title: c.title, chars: c.text.length })) };
  });
  // The dashboard lists and searches tasks by title: the book's, not the task's name.
  await ctx.setTitle(titleOfAtMost(plan.title, 200));
  const count = plan.chapters.length;
  const totalChars = plan.chapters.reduce((sum, c) => sum + c.chars, 0);
  const width = Math.max(2, String(count).length);
  const chapters: AudiobookChapter[] = [];
  let charsBefore = 0;

  for (const [index, planned] of plan.chapters.entries()) {
    const number = index + 1;
    const artifact = `chapter-${String(number).padStart(width, "0")}.mp3`;
    const report = (within: number) =>
      ctx.progress({
        current: number,
        total: count,
        // The last percent is left for joining the whole-book file.
        percent: (99 * (charsBefore + within * planned.chars)) / totalChars,
        message: `Chapter ${number} of ${count}: ${planned.title}`,
        data: { chapter: number, withinChapter: Math.round(within * 1000) / 1000 },
      });
    report(0);
    const spoken = await ctx.step(`chapter-${number}`, async (): Promise<AudiobookChapter> => {
      const found = (await load()).chapters[index]?.text;
      if (found === undefined || found.length !== planned.chars) {
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
      const saved = await ctx.saveArtifact(artifact, audio(), { contentType: "audio/mpeg" });
      return { title: planned.title, artifact, seconds: Math.round(seconds * 1000) / 1000, bytes: saved.size };
    });
    chapters.push(spoken);
    charsBefore += planned.chars;
  }

  ctx.progress({ current: count, total: count, percent: 99, message: "Joining the chapters into one file", data: { chapter: count, withinChapter: 1 } });
  const whole = await ctx.step("book", async () => {
    // MP3 frames stand alone (no bit reservoir, no VBR header), so the chapter files concatenate into one valid file.
    const files = artifacts;
    async function* joined(): AsyncGenerator<Uint8Array> {
      for (const chapter of chapters) {
        ctx.signal.throwIfAborted();
        const stream = await files.read(ctx.task.id, chapter.artifact);
        if (!stream) throw new UnrecoverableError(`The file ${chapter.artifact} of this task is gone`, { code: "chapter_missing" });
        const reader = stream.getReader();
        for (let next = await reader.read(); !next.done; next = await reader.read()) yield next.value;
      }
    }
    const saved = await ctx.saveArtifact("book.mp3", joined(), { contentType: "audio/mpeg" });
    return { bytes: saved.size };
  });
  const seconds = Math.round(chapters.reduce((sum, c) => sum + c.seconds, 0) * 1000) / 1000;
  ctx.progress({ current: count, total: count, percent: 100, message: `Done: ${count} chapters`, data: { chapter: count, withinChapter: 1 } });
  return { title: plan.title, chapters, book: "book.mp3", seconds, bytes: whole.bytes };
}

async function readBook(path: string): Promise<Uint8Array> {
  try {
    return await readFile(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") {
      throw new UnrecoverableError("The uploaded book is no longer stored; upload it again", { code: "book_missing", cause: error });
    }
    throw error;
  }
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

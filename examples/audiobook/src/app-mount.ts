import type { Outlast } from "outlast";
import { audiobookApp } from "./app.js";
import { AUDIOBOOK_TASK, defineAudiobook } from "./task.js";
import { sweepUploads } from "./upload.js";

/** The scheduled task that deletes uploads no task needs any more (see sweepUploads). */
export const SWEEP_TASK = "audiobook.sweep-uploads";

/** Options of {@link mountAudiobook}. */
export interface MountAudiobookOptions {
  /** Largest book accepted. @defaultValue 20 MiB */
  maxUploadBytes?: number;
  /** Where chapters are spoken. @defaultValue "tts" */
  queue?: string;
  /** Chapters spoken at once (speech is CPU-heavy). @defaultValue 1 */
  concurrency?: number;
  /**
   * Where the book tasks run: they read a book, wait for its chapters without
   * a slot, and join them. Apart from the chapters, so a book whose chapters
   * are spoken is joined at once, not behind the chapters of other books.
   * @defaultValue "audiobook"
   */
  bookQueue?: string;
}

/**
 * What `outlast serve` does to offer the app at `/`: defines the queue and
 * the tasks (before the workers start), schedules the upload sweep, and returns the hook that puts the
 * page in front of the API. Null when the store has no data folder of its
 * own (PostgreSQL), as uploads and MP3 files need one.
 * @example
 * const app = mountAudiobook(outlast);
 * await outlast.start();
 * await serve(outlast, { homePage: null, anonymousSessions: true, ...(app ? { app } : {}) });
 */
export function mountAudiobook(
  outlast: Outlast,
  options: MountAudiobookOptions = {},
): ((api: (request: Request) => Promise<Response>) => (request: Request) => Promise<Response | null>) | null {
  const dataDir = outlast.store.localDataDir;
  if (!dataDir || outlast.taskNames.includes(AUDIOBOOK_TASK)) return null;
  const queue = options.queue ?? "tts";
  outlast.queue(queue, { concurrency: options.concurrency ?? 1 });
  defineAudiobook(outlast, { queue: options.bookQueue ?? "audiobook", chapterQueue: queue, dataDir });
  // Uploads no task can read again are deleted every ten minutes, on the default queue so a long book never holds it up.
  outlast.define(SWEEP_TASK, { run: async () => ({ removed: await sweepUploads(outlast, dataDir, [AUDIOBOOK_TASK]) }) });
  outlast.schedule(SWEEP_TASK, "*/10 * * * *", SWEEP_TASK, {}, { owner: "system" });
  return (api) => audiobookApp({ outlast, api, dataDir, ...(options.maxUploadBytes === undefined ? {} : { maxUploadBytes: options.maxUploadBytes }) });
}

import type { Outlast } from "../../../src/index.js";
import { audiobookApp } from "./app.js";
import { AUDIOBOOK_TASK, defineAudiobook } from "./task.js";

/** Options of {@link mountAudiobook}. */
export interface MountAudiobookOptions {
  /** Largest book accepted. @defaultValue 20 MiB */
  maxUploadBytes?: number;
  /** @defaultValue "tts" */
  queue?: string;
  /** Books spoken at once (speech is CPU-heavy). @defaultValue 1 */
  concurrency?: number;
}

/**
 * What `outlast serve` does to offer the app at `/`: defines the queue and
 * the task (before the workers start), and returns the hook that puts the
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
  defineAudiobook(outlast, { queue, dataDir });
  return (api) => audiobookApp({ outlast, api, dataDir, ...(options.maxUploadBytes === undefined ? {} : { maxUploadBytes: options.maxUploadBytes }) });
}

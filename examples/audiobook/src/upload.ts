import { createHash } from "node:crypto";
import { mkdir, readdir, rename, rm, stat, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { OutlastError, type Outlast } from "outlast";
import { BOOK_EXTENSIONS, extensionOf } from "./book.js";

/** An uploaded book, stored under its hash. */
export interface SavedUpload {
  /** Absolute path of the stored file: `<dataDir>/uploads/<sha256>.<ext>`. */
  path: string;
  /** Hex SHA-256 of the bytes. */
  sha256: string;
  /**
   * The submit's idempotency key, `sha256:<hex><ext>`: what decides the
   * result — the bytes and the format read from the name. The same bytes
   * under another format are another book (plain text saved as `.epub`
   * fails; renamed `.txt` it is read as text).
   */
  idempotencyKey: string;
  size: number;
  /** ".txt" or ".epub". */
  extension: string;
  /** Whether this call wrote the file (false: the same bytes were there already, maybe for another task). */
  created: boolean;
}

/** Where uploads are kept under a data folder. */
export function uploadsDir(dataDir: string): string {
  return join(dataDir, "uploads");
}

/**
 * Stores an uploaded book under `<dataDir>/uploads/<sha256>.<ext>`, written to
 * a temporary file and renamed into place, so a reader never sees half a
 * book. The same bytes always land at the same path (and are written once).
 * Throws OutlastError `payload_too_large` over `maxBytes`, `bad_request` for
 * an empty file or a name that is not .txt or .epub.
 * @example const saved = await saveUpload(outlast.store.localDataDir!, bytes, "moby.epub", { maxBytes: 20 << 20 });
 */
export async function saveUpload(dataDir: string, bytes: Uint8Array, filename: string, options: { maxBytes: number }): Promise<SavedUpload> {
  if (bytes.byteLength > options.maxBytes) {
    throw new OutlastError("payload_too_large", `The book is ${formatBytes(bytes.byteLength)}; the limit is ${formatBytes(options.maxBytes)}`, {
      details: { size: bytes.byteLength, maxBytes: options.maxBytes },
    });
  }
  const extension = extensionOf(String(filename));
  if (!(BOOK_EXTENSIONS as readonly string[]).includes(extension)) {
    throw new OutlastError("bad_request", `Upload a .txt or .epub book; ${JSON.stringify(String(filename).slice(0, 200))} is neither`);
  }
  if (bytes.byteLength === 0) throw new OutlastError("bad_request", "The uploaded file is empty");

  const sha256 = createHash("sha256").update(bytes).digest("hex");
  const folder = uploadsDir(dataDir);
  const path = join(folder, `${sha256}${extension}`);
  const saved: SavedUpload = { path, sha256, idempotencyKey: `sha256:${sha256}${extension}`, size: bytes.byteLength, extension, created: false };
  const existing = await stat(path).catch(() => null);
  if (existing?.size === bytes.byteLength) return saved;
  saved.created = true;

  await mkdir(folder, { recursive: true });
  const temp = join(folder, `.${sha256}.${process.pid}.${Date.now()}.${Math.random().toString(36).slice(2)}.tmp`);
  try {
    await writeFile(temp, bytes, { flush: true });
    await rename(temp, path);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
  return saved;
}

function formatBytes(n: number): string {
  if (n >= 1024 * 1024) return `${(n / 1024 / 1024).toFixed(1)} MiB`;
  if (n >= 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${n} bytes`;
}

/** How long an upload is kept before any task names it: the time between saving it and submitting. */
const UNCLAIMED_GRACE_MS = 10 * 60_000;

/**
 * Deletes uploads no task can need again: those whose every task succeeded
 * (submitting the same book again returns the finished task) or whose
 * tasks are gone (retention), once older than the grace period. A book
 * still queued, running, failed or canceled is kept: a resume reads it
 * again. Half-written temporary files older than the grace period go too.
 * `names`: the task names whose input's `bookPath` points into the folder.
 * Returns how many files it removed.
 */
export async function sweepUploads(outlast: Outlast, dataDir: string, names: readonly string[], now = Date.now()): Promise<number> {
  const folder = uploadsDir(dataDir);
  const files = await readdir(folder).catch(() => [] as string[]);
  if (files.length === 0) return 0;
  const needed = new Set<string>();
  for (const name of names) {
    for (let cursor: string | undefined = undefined; ; ) {
      const page: Awaited<ReturnType<Outlast["store"]["listTasks"]>> = await outlast.store.listTasks({
        name,
        limit: 200,
        ...(cursor === undefined ? {} : { cursor }),
      });
      for (const task of page.tasks) {
        const path = (task.input as { bookPath?: unknown } | null)?.bookPath;
        if (task.state !== "succeeded" && typeof path === "string") needed.add(resolve(path));
      }
      if (!page.nextCursor) break;
      cursor = page.nextCursor;
    }
  }
  let removed = 0;
  for (const file of files) {
    const path = join(folder, file);
    if (needed.has(resolve(path))) continue;
    const info = await stat(path).catch(() => null);
    if (!info?.isFile() || now - info.mtimeMs < UNCLAIMED_GRACE_MS) continue;
    await rm(path, { force: true });
    removed++;
  }
  return removed;
}

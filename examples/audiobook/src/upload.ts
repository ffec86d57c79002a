import { createHash } from "node:crypto";
import { mkdir, rename, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { OutlastError } from "../../../src/index.js";
import { BOOK_EXTENSIONS, extensionOf } from "./book.js";

/** An uploaded book, stored under its hash. */
export interface SavedUpload {
  /** Absolute path of the stored file: `<dataDir>/uploads/<sha256>.<ext>`. */
  path: string;
  /** Hex SHA-256 of the bytes. */
  sha256: string;
  /** The submit's idempotency key: `sha256:<hex>`. */
  idempotencyKey: string;
  size: number;
  /** ".txt" or ".epub". */
  extension: string;
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
  const saved: SavedUpload = { path, sha256, idempotencyKey: `sha256:${sha256}`, size: bytes.byteLength, extension };
  const existing = await stat(path).catch(() => null);
  if (existing?.size === bytes.byteLength) return saved;

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

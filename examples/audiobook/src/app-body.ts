import { OutlastError } from "outlast";

/**
 * Reads a request body of at most `maxBytes`, refusing early: by its
 * Content-Length when it says too much, else as soon as the bytes read pass
 * the limit, so an oversized upload is never held in memory whole.
 */
export async function readLimited(request: Request, maxBytes: number): Promise<Uint8Array> {
  const tooLarge = (size: number | null) =>
    new OutlastError("payload_too_large", `The book is ${size === null ? "larger than the limit" : formatBytes(size)}; the limit is ${formatBytes(maxBytes)}`, {
      details: { maxBytes, ...(size === null ? {} : { size }) },
    });
  const declared = request.headers.get("content-length");
  if (declared !== null && /^\d+$/.test(declared) && Number(declared) > maxBytes) {
    await request.body?.cancel().catch(() => {});
    throw tooLarge(Number(declared));
  }
  if (!request.body) return new Uint8Array(0);
  const reader = request.body.getReader();
  const parts: Uint8Array[] = [];
  let total = 0;
  for (let next = await reader.read(); !next.done; next = await reader.read()) {
    total += next.value.byteLength;
    if (total > maxBytes) {
      await reader.cancel().catch(() => {});
      throw tooLarge(null);
    }
    parts.push(next.value);
  }
  const bytes = new Uint8Array(total);
  let at = 0;
  for (const part of parts) {
    bytes.set(part, at);
    at += part.byteLength;
  }
  return bytes;
}

/** "20 MiB", "512 KiB": for messages people read. */
export function formatBytes(n: number): string {
  if (n >= 1024 * 1024) return `${Math.round((n / 1024 / 1024) * 10) / 10} MiB`;
  if (n >= 1024) return `${Math.round((n / 1024) * 10) / 10} KiB`;
  return `${n} bytes`;
}

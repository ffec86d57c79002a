import { createHash } from "node:crypto";

/**
 * A SHA-256 hex key for bytes or a stream of them: submit a file with its
 * hash as `idempotencyKey` and uploading it again attaches to (or resumes)
 * the same task instead of starting over.
 * @example const key = await idempotencyKeyOf(fs.createReadStream("book.epub"));
 */
export async function idempotencyKeyOf(
  data: string | Uint8Array | ArrayBuffer | AsyncIterable<Uint8Array | string> | ReadableStream<Uint8Array>,
): Promise<string> {
  const hash = createHash("sha256");
  if (typeof data === "string" || data instanceof Uint8Array) hash.update(data);
  else if (data instanceof ArrayBuffer) hash.update(new Uint8Array(data));
  else if (typeof (data as ReadableStream<Uint8Array>).getReader === "function") {
    const reader = (data as ReadableStream<Uint8Array>).getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      hash.update(value);
    }
  } else {
    for await (const chunk of data as AsyncIterable<Uint8Array | string>) hash.update(chunk);
  }
  return `sha256:${hash.digest("hex")}`;
}

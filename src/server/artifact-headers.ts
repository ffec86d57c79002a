import { OutlastError } from "../core/errors.js";
import { isStorableText } from "../core/text.js";

/*
 * Artifacts are served from the API's own origin, so a task that saved HTML
 * or SVG (or a file a user uploaded and a task passed through) would run as
 * a page of that origin, with its cookie. Every artifact is therefore
 * sandboxed and never sniffed, and only kinds a browser shows without
 * running anything are shown inline; the rest are downloaded.
 */

/** A unique origin and nothing loaded: an artifact opened in a tab can run nothing. */
export const ARTIFACT_CSP = "sandbox; default-src 'none'";

const MEDIA_TYPE = /^[a-z0-9][a-z0-9!#$&^_.+-]{0,126}\/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}$/;

/**
 * The Content-Type to send: the saved one when it is a media type (with its
 * parameters), else `application/octet-stream` — a task may have saved any text.
 */
export function servedContentType(saved: string): string {
  const essence = saved.split(";", 1)[0]!.trim().toLowerCase();
  return MEDIA_TYPE.test(essence) && /^[\t\x20-\x7e]*$/.test(saved) ? saved : "application/octet-stream";
}

/** Shown in the page: audio, video, images but SVG (it is a document that runs script), plain text and PDF. */
export function isInlineSafe(contentType: string): boolean {
  const essence = contentType.split(";", 1)[0]!.trim().toLowerCase();
  if (essence === "image/svg+xml") return false;
  return /^(audio|video|image)\//.test(essence) || essence === "text/plain" || essence === "application/pdf";
}

/** `?filename=`: the name the browser saves the file under (the page's `download="…"` is overridden by this header). */
export function checkDownloadName(filename: string): string {
  // Letters of any script are fine; separators and control characters would make a path or break the header.
  if (filename.length === 0 || filename.length > 255 || /[/\\\p{Cc}]/u.test(filename) || !isStorableText(filename)) {
    throw new OutlastError("bad_request", "Query parameter filename must be 1 to 255 characters, without slashes, backslashes or control characters", {
      details: { field: "filename" },
    });
  }
  return filename;
}

/**
 * `inline` or `attachment` with the file's name, RFC 6266: an ASCII
 * `filename` for old clients and the exact name in `filename*` (RFC 8187).
 */
export function contentDisposition(contentType: string, filename: string): string {
  const kind = isInlineSafe(contentType) ? "inline" : "attachment";
  const ascii = filename.replace(/[^\x20-\x7e]|["\\%]/gu, "_");
  return `${kind}; filename="${ascii}"; filename*=UTF-8''${encodeAttrValue(filename)}`;
}

/** RFC 8187's attr-char: encodeURIComponent leaves `'()*` as they are, which it may not. */
function encodeAttrValue(text: string): string {
  return encodeURIComponent(text).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

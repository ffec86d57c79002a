import { unzipSync, type Unzipped } from "fflate";
import { UnrecoverableError } from "outlast";
import type { Book, Chapter } from "./book.js";
import { decodeEntities, findTags, innerOf, textOf, xhtmlToText } from "./markup.js";

/** Limits that keep a hostile EPUB (a zip bomb, a million tiny files) from exhausting memory. */
export interface EpubLimits {
  /** Most bytes all wanted entries may inflate to. */
  maxUnzippedBytes: number;
}

/**
 * Reads an EPUB (2 or 3): the package document's spine gives the order,
 * the EPUB 3 nav document or the EPUB 2 NCX gives chapter titles, and a
 * spine item without one is named by its first heading.
 */
export function parseEpub(bytes: Uint8Array, fallbackTitle: string, limits: EpubLimits): Book {
  const files = unzip(bytes, limits);
  const read = (path: string): string | null => {
    const data = files[path];
    return data ? new TextDecoder("utf-8").decode(data) : null;
  };

  const container = read("META-INF/container.xml");
  const rootfile = container ? findTags(container, "rootfile")[0]?.attributes.get("full-path") : undefined;
  const opfPath = rootfile ?? Object.keys(files).find((name) => name.toLowerCase().endsWith(".opf"));
  const opf = opfPath ? read(opfPath) : null;
  if (!opfPath || !opf) throw notABook("it has no package document (META-INF/container.xml names none)");

  const manifest = new Map<string, { href: string; mediaType: string; properties: string }>();
  for (const item of findTags(opf, "item")) {
    const id = item.attributes.get("id");
    const href = item.attributes.get("href");
    if (!id || !href) continue;
    manifest.set(id, {
      href: resolvePath(opfPath, href),
      mediaType: item.attributes.get("media-type") ?? "",
      properties: item.attributes.get("properties") ?? "",
    });
  }

  const titleTag = findTags(opf, "title")[0];
  const title = (titleTag ? textOf(innerOf(opf, titleTag)) : "") || fallbackTitle;

  const navItem = [...manifest.values()].find((item) => item.properties.split(/\s+/).includes("nav"));
  const spineTag = findTags(opf, "spine")[0];
  const ncxItem = manifest.get(spineTag?.attributes.get("toc") ?? "") ?? [...manifest.values()].find((i) => i.mediaType === "application/x-dtbncx+xml");
  const tocTitles = navItem ? navTitles(read(navItem.href) ?? "", navItem.href) : new Map<string, string>();
  if (tocTitles.size === 0 && ncxItem) for (const [k, v] of ncxTitles(read(ncxItem.href) ?? "", ncxItem.href)) tocTitles.set(k, v);

  const chapters: Chapter[] = [];
  for (const ref of findTags(opf, "itemref")) {
    if (ref.attributes.get("linear") === "no") continue;
    const item = manifest.get(ref.attributes.get("idref") ?? "");
    if (!item || item === navItem || !/html/i.test(item.mediaType)) continue;
    const xhtml = read(item.href);
    if (xhtml === null) continue;
    const text = xhtmlToText(xhtml);
    if (text.length === 0) continue;
    chapters.push({ title: tocTitles.get(item.href) ?? headingOf(xhtml) ?? `Section ${chapters.length + 1}`, text });
  }
  return { title, chapters };
}

function unzip(bytes: Uint8Array, limits: EpubLimits): Unzipped {
  let total = 0;
  let tooBig = false;
  let files: Unzipped;
  try {
    files = unzipSync(bytes, {
      filter(file) {
        // Only text parts are read; images and fonts are never inflated.
        if (!/\.(x?html?|xml|opf|ncx)$/i.test(file.name)) return false;
        total += file.originalSize;
        if (total > limits.maxUnzippedBytes) tooBig = true;
        return !tooBig;
      },
    });
  } catch (error) {
    throw notABook(`it is not a readable zip file (${(error as Error).message})`, error);
  }
  if (tooBig) {
    throw new UnrecoverableError(`The EPUB's text unpacks to more than ${limits.maxUnzippedBytes} bytes; this example's limit`, { code: "book_too_large" });
  }
  return files;
}

/** Titles from an EPUB 3 nav document's table of contents, keyed by content path (first link to a file wins). */
function navTitles(nav: string, navPath: string): Map<string, string> {
  const titles = new Map<string, string>();
  const toc = findTags(nav, "nav").find((tag) => (tag.attributes.get("type") ?? "").split(/\s+/).includes("toc")) ?? findTags(nav, "nav")[0];
  const markup = toc ? innerOf(nav, toc) : "";
  for (const link of findTags(markup, "a")) {
    const href = link.attributes.get("href");
    const label = textOf(innerOf(markup, link));
    if (!href || !label) continue;
    const path = resolvePath(navPath, href.split("#")[0] ?? "");
    if (!titles.has(path)) titles.set(path, label);
  }
  return titles;
}

/** Titles from an EPUB 2 NCX, keyed by content path (first navPoint to a file wins). */
function ncxTitles(ncx: string, ncxPath: string): Map<string, string> {
  const titles = new Map<string, string>();
  for (const point of findTags(ncx, "navPoint")) {
    const inner = innerOf(ncx, point);
    const label = findTags(inner, "text")[0];
    const content = findTags(inner, "content")[0]?.attributes.get("src");
    if (!label || !content) continue;
    const path = resolvePath(ncxPath, content.split("#")[0] ?? "");
    const text = textOf(innerOf(inner, label));
    if (text && !titles.has(path)) titles.set(path, text);
  }
  return titles;
}

function headingOf(xhtml: string): string | undefined {
  for (const heading of findTags(xhtml, "h1", "h2", "h3")) {
    const text = textOf(innerOf(xhtml, heading));
    if (text) return text;
  }
  const title = findTags(xhtml, "title")[0];
  const text = title ? textOf(innerOf(xhtml, title)) : "";
  return text || undefined;
}

/** `href` (URL-encoded, relative to the file `from`) as a zip entry path. */
export function resolvePath(from: string, href: string): string {
  let decoded: string;
  try {
    decoded = decodeURIComponent(decodeEntities(href));
  } catch {
    decoded = href;
  }
  const parts = from.split("/").slice(0, -1);
  for (const part of decoded.split("/")) {
    if (part === "..") parts.pop();
    else if (part !== "." && part !== "") parts.push(part);
  }
  return parts.join("/");
}

function notABook(why: string, cause?: unknown): UnrecoverableError {
  return new UnrecoverableError(`This file is not a readable EPUB: ${why}`, cause === undefined ? { code: "not_a_book" } : { code: "not_a_book", cause });
}

import { UnrecoverableError } from "outlast";
import { parseEpub } from "./epub.js";

/** One chapter: its title and the text to speak (headings included, as a listener would hear them). */
export interface Chapter {
  title: string;
  text: string;
}

export interface Book {
  title: string;
  chapters: Chapter[];
}

/** Limits of {@link parseBook}. */
export interface BookLimits {
  /** Largest file accepted. @defaultValue 50 MiB */
  maxBytes?: number;
  /** Most characters of text a book may hold. @defaultValue 5,000,000 (about 900,000 words) */
  maxChars?: number;
  /** Size of the parts a text with no chapter headings is cut into. @defaultValue 2,000 words */
  partWords?: number;
}

const DEFAULTS = { maxBytes: 50 * 1024 * 1024, maxChars: 5_000_000, partWords: 2_000 } as const;

/** The file types a book may have. */
export const BOOK_EXTENSIONS = [".txt", ".epub"] as const;

/**
 * Reads a .txt or .epub book into chapters.
 * Throws UnrecoverableError with code `not_a_book`, `empty_book` or `book_too_large`.
 * @example const { title, chapters } = parseBook(await readFile("moby.epub"), "moby.epub");
 */
export function parseBook(bytes: Uint8Array, filename: string, limits: BookLimits = {}): Book {
  const maxBytes = limits.maxBytes ?? DEFAULTS.maxBytes;
  const maxChars = limits.maxChars ?? DEFAULTS.maxChars;
  if (bytes.byteLength > maxBytes) {
    throw new UnrecoverableError(`The book is ${bytes.byteLength} bytes; the limit is ${maxBytes}`, { code: "book_too_large" });
  }
  if (bytes.byteLength === 0) throw new UnrecoverableError("The book file is empty", { code: "empty_book" });
  const extension = extensionOf(filename);
  const fallbackTitle = titleFromFilename(filename);
  let book: Book;
  if (extension === ".epub") {
    if (bytes[0] !== 0x50 || bytes[1] !== 0x4b) throw new UnrecoverableError("This file is not an EPUB: it does not start like a zip file", { code: "not_a_book" });
    book = parseEpub(bytes, fallbackTitle, { maxUnzippedBytes: maxChars * 4 });
  } else if (extension === ".txt") {
    book = parseText(decodeText(bytes), fallbackTitle, limits.partWords ?? DEFAULTS.partWords);
  } else {
    throw new UnrecoverableError(`Only ${BOOK_EXTENSIONS.join(" and ")} books can be read, not ${JSON.stringify(filename)}`, { code: "not_a_book" });
  }
  const chars = book.chapters.reduce((sum, chapter) => sum + chapter.text.length, 0);
  if (chars > maxChars) {
    throw new UnrecoverableError(`The book has ${chars} characters of text; the limit is ${maxChars}`, { code: "book_too_large" });
  }
  if (book.chapters.length === 0 || !/[\p{L}\p{N}]/u.test(book.chapters.map((c) => c.text).join(" "))) {
    throw new UnrecoverableError("The book has no text to speak", { code: "empty_book" });
  }
  return book;
}

/** The lower-case extension with its dot, or "" when there is none. */
export function extensionOf(filename: string): string {
  const match = /\.[A-Za-z0-9]{1,10}$/.exec(filename.trim());
  return match ? match[0].toLowerCase() : "";
}

function titleFromFilename(filename: string): string {
  const base = filename.split(/[\\/]/).pop() ?? filename;
  return base.replace(/\.[A-Za-z0-9]{1,10}$/, "").replace(/[_]+/g, " ").trim() || "Untitled";
}

/** UTF-8 (with or without BOM), UTF-16 with BOM, else Windows-1252; binary files are refused. */
function decodeText(bytes: Uint8Array): string {
  if (bytes[0] === 0xff && bytes[1] === 0xfe) return new TextDecoder("utf-16le").decode(bytes.subarray(2));
  if (bytes[0] === 0xfe && bytes[1] === 0xff) return new TextDecoder("utf-16be").decode(bytes.subarray(2));
  if (bytes.subarray(0, 8192).includes(0)) {
    throw new UnrecoverableError("This file is not a text book: it holds binary data", { code: "not_a_book" });
  }
  try {
    return new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(bytes);
  } catch {
    return new TextDecoder("windows-1252").decode(bytes);
  }
}

// "Chapter 12", "CHAPTER XII. The Storm", "Chapter 3: Into the Woods", "Part Two", "Book III", "Prologue", "# A heading".
// A heading stands alone after a blank line, and what follows its number is punctuation or a capitalised title,
// so that a sentence like "Part two of the plan was simple." is not taken for one.
const NUMBER = String.raw`(?:\d{1,4}|[IVXLCDM]{1,8}|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|fifteen|sixteen|seventeen|eighteen|nineteen|twenty|first|second|third|fourth|fifth|sixth|seventh|eighth|ninth|tenth)`;
const NUMBERED = new RegExp(String.raw`^(?:chapter|part|book)\s+${NUMBER}(?=$|[\s.:\u2014\u2013-])`, "i");
const NAMED = /^(?:prologue|epilogue|preface|foreword|introduction|afterword)(?=$|[\s.:\u2014\u2013-])/i;
const TITLE_AFTER = /^(?:[.:\u2014\u2013-]?\s*(?:\p{Lu}|\d|["'\u2018\u201c]).{0,80})?$/u;

function isHeading(lines: readonly string[], index: number): boolean {
  const line = (lines[index] ?? "").trim();
  if (line.length === 0 || line.length > 100) return false;
  if (index > 0 && (lines[index - 1] ?? "").trim() !== "") return false;
  if (/^#{1,3}\s+\S/.test(line)) return true;
  const match = NUMBERED.exec(line) ?? NAMED.exec(line);
  if (!match) return false;
  const rest = line.slice(match[0].length);
  return TITLE_AFTER.test(rest.trim());
}

/** Splits plain text on chapter headings, else on scene breaks, else into parts of about `partWords` words. */
function parseText(raw: string, fallbackTitle: string, partWords: number): Book {
  const text = raw.replace(/^\uFEFF/, "").replace(/\r\n?/g, "\n").trim();
  const lines = text.split("\n");
  const headingLines = lines.flatMap((_line, index) => (isHeading(lines, index) ? [index] : []));

  const firstLine = lines[0]?.trim() ?? "";
  const title = firstLine && firstLine.length <= 100 && !isHeading(lines, 0) && (lines[1] ?? "").trim() === "" ? firstLine : fallbackTitle;

  if (headingLines.length > 0) {
    const chapters: Chapter[] = [];
    const opening = lines.slice(0, headingLines[0]).join("\n").trim();
    // The opening is kept only when it is more than the title line.
    if (opening && opening !== title) chapters.push({ title: "Opening", text: opening });
    headingLines.forEach((start, i) => {
      const heading = (lines[start] ?? "").trim().replace(/^#+\s*/, "");
      const body = lines.slice(start + 1, headingLines[i + 1]).join("\n").trim();
      // A heading with nothing under it is a table-of-contents line.
      if (body) chapters.push({ title: heading, text: `${heading}${/[.!?:]$/.test(heading) ? "" : "."}\n\n${body}` });
    });
    if (chapters.length > 0) return { title, chapters };
  }

  const parts = text.split(/\n[ \t]*\n[ \t]*\n+|\n[ \t]*(?:\*[ \t]*){3,}\n|\n[ \t]*(?:-[ \t]*){3,}\n/).map((part) => part.trim()).filter(Boolean);
  if (parts.length >= 2 && parts.length <= 500) {
    return { title, chapters: parts.map((part, i) => ({ title: `Part ${i + 1}`, text: part })) };
  }

  return { title, chapters: fixedParts(text, partWords).map((part, i) => ({ title: `Part ${i + 1}`, text: part })) };
}

/** Cuts text into pieces of about `words` words, at paragraph ends where possible, else at sentence ends. */
function fixedParts(text: string, words: number): string[] {
  const paragraphs = text.split(/\n\s*\n/).flatMap((p) => (wordCount(p) > words ? p.split(/(?<=[.!?…]["'’”)]?)\s+/) : [p]));
  const parts: string[] = [];
  let current: string[] = [];
  let count = 0;
  for (const paragraph of paragraphs) {
    const n = wordCount(paragraph);
    if (count > 0 && count + n > words) {
      parts.push(current.join("\n\n"));
      current = [];
      count = 0;
    }
    current.push(paragraph.trim());
    count += n;
  }
  if (current.length > 0) parts.push(current.join("\n\n"));
  return parts.filter((part) => part.length > 0);
}

function wordCount(text: string): number {
  return text.split(/\s+/).filter(Boolean).length;
}

import assert from "node:assert/strict";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { strToU8, zipSync } from "fflate";
import { parseBook, saveUpload } from "../../examples/audiobook/src/index.js";
import { OutlastError, UnrecoverableError } from "../../src/index.js";
import { guardLeaks } from "../support/leaks.js";
import { tempDir } from "../support/temp.js";
import { THREE_CHAPTERS, tinyEpub } from "./fixtures.js";

guardLeaks();

const encode = (text: string) => new TextEncoder().encode(text);

function rejectsWith(code: string) {
  return (error: unknown) => {
    assert.ok(error instanceof UnrecoverableError, `expected UnrecoverableError, got ${String(error)}`);
    assert.equal(error.code, code);
    return true;
  };
}

test("a .txt book is split on its chapter headings, the title taken from its first line", () => {
  const book = parseBook(encode(THREE_CHAPTERS), "fox.txt");
  assert.equal(book.title, "The Fox Book");
  assert.deepEqual(
    book.chapters.map((c) => c.title),
    ["Chapter 1: The Den", "CHAPTER II. The River", "Chapter Three"],
  );
  assert.equal(book.chapters[0]!.text, "Chapter 1: The Den.\n\nA fox lived in a den. It was warm.");
  assert.equal(book.chapters[1]!.text, "CHAPTER II. The River.\n\nThe fox swam across the river.");
  assert.match(book.chapters[2]!.text, /went home\.$/);
});

test("a sentence that starts like a heading is not one; Windows line ends and a BOM are read", () => {
  const text = "\uFEFFChapter 1\r\n\r\nPart two of the plan was simple.\r\n\r\nChapter 2\r\n\r\nIt worked.\r\n";
  const book = parseBook(encode(text), "plan_notes.txt");
  assert.equal(book.title, "plan notes");
  assert.deepEqual(
    book.chapters.map((c) => [c.title, c.text]),
    [
      ["Chapter 1", "Chapter 1.\n\nPart two of the plan was simple."],
      ["Chapter 2", "Chapter 2.\n\nIt worked."],
    ],
  );
});

test("markdown headings split a text; an opening before the first heading is kept", () => {
  const book = parseBook(encode("Notes\n\nSome words first.\n\n# One\n\nAlpha.\n\n## Two\n\nBeta."), "notes.txt");
  assert.deepEqual(
    book.chapters.map((c) => c.title),
    ["Opening", "One", "Two"],
  );
  assert.equal(book.chapters[0]!.text, "Notes\n\nSome words first.");
});

test("without headings a text splits at double blank lines, else into parts of about N words", () => {
  const parted = parseBook(encode("First part here.\n\n\nSecond part here.\n\n\n\nThird."), "parts.txt");
  assert.deepEqual(
    parted.chapters.map((c) => [c.title, c.text]),
    [
      ["Part 1", "First part here."],
      ["Part 2", "Second part here."],
      ["Part 3", "Third."],
    ],
  );
  const sentence = "One two three four five six seven eight nine ten. ";
  const long = Array.from({ length: 6 }, () => sentence.repeat(3).trim()).join("\n\n");
  const fixed = parseBook(encode(long), "long.txt", { partWords: 70 });
  assert.equal(fixed.chapters.length, 3);
  for (const chapter of fixed.chapters) assert.equal(chapter.text.split(/\s+/).length, 60);
});

test("an EPUB 3 is read in spine order with titles from its nav; image-only and non-linear items are skipped", () => {
  const book = parseBook(tinyEpub(), "ignored-name.epub");
  assert.equal(book.title, "A Tiny Tale");
  assert.deepEqual(
    book.chapters.map((c) => c.title),
    ["The Beginning", "The Middle & More", "Ending"],
  );
  assert.equal(book.chapters[0]!.text, "Once upon a time — there was a fox.\n\nIt was quick.");
  assert.equal(book.chapters[2]!.text, "Ending\n\nAnd then it slept.");
});

test("an EPUB 2 takes its titles from the NCX", () => {
  const book = parseBook(tinyEpub({ ncx: true }), "tale.epub");
  assert.deepEqual(
    book.chapters.map((c) => c.title),
    ["From the NCX", "The Middle & More (NCX)", "Ending (NCX)"],
  );
});

test("files that are not books, empty ones and too large ones fail with a code", () => {
  assert.throws(() => parseBook(encode("hello"), "book.pdf"), rejectsWith("not_a_book"));
  assert.throws(() => parseBook(new Uint8Array(0), "book.txt"), rejectsWith("empty_book"));
  assert.throws(() => parseBook(encode("  \n\n ... \n"), "book.txt"), rejectsWith("empty_book"));
  assert.throws(() => parseBook(new Uint8Array([1, 2, 0, 4]), "book.txt"), rejectsWith("not_a_book"));
  assert.throws(() => parseBook(encode("not a zip at all"), "book.epub"), rejectsWith("not_a_book"));
  assert.throws(() => parseBook(zipSync({ "readme.txt": strToU8("hi") }), "book.epub"), rejectsWith("not_a_book"));
  assert.throws(() => parseBook(encode("x".repeat(100)), "book.txt", { maxBytes: 99 }), rejectsWith("book_too_large"));
  assert.throws(() => parseBook(encode("word ".repeat(100)), "book.txt", { maxChars: 50 }), rejectsWith("book_too_large"));
  // A zip bomb is refused by the sizes its entries claim, before they are inflated.
  const bomb = zipSync({ "META-INF/container.xml": new Uint8Array(200_000) }, { level: 9 });
  assert.ok(bomb.byteLength < 2_000);
  assert.throws(() => parseBook(bomb, "bomb.epub", { maxChars: 10_000 }), rejectsWith("book_too_large"));
});

test("an upload is stored once under its hash, atomically; bad ones are refused with a code", async (t) => {
  const dataDir = tempDir(t, "audiobook-upload");
  const bytes = encode(THREE_CHAPTERS);
  const first = await saveUpload(dataDir, bytes, "Fox.TXT", { maxBytes: 10_000 });
  assert.match(first.sha256, /^[0-9a-f]{64}$/);
  assert.equal(first.idempotencyKey, `sha256:${first.sha256}.txt`, "the key covers the bytes and the format");
  assert.equal(first.path, join(dataDir, "uploads", `${first.sha256}.txt`));
  assert.equal(first.size, bytes.byteLength);
  assert.deepEqual(await readFile(first.path), Buffer.from(bytes));
  const again = await saveUpload(dataDir, bytes, "other-name.txt", { maxBytes: 10_000 });
  assert.deepEqual({ ...again, created: true }, first);
  assert.equal(again.created, false, "the same bytes were there already");
  assert.deepEqual(await readdir(join(dataDir, "uploads")), [`${first.sha256}.txt`]);

  const code = (expected: string) => (error: unknown) => error instanceof OutlastError && error.code === expected;
  await assert.rejects(saveUpload(dataDir, bytes, "fox.txt", { maxBytes: 10 }), (error: unknown) => {
    assert.ok(code("payload_too_large")(error));
    assert.match((error as Error).message, /limit is 10 bytes/);
    return true;
  });
  await assert.rejects(saveUpload(dataDir, bytes, "fox.pdf", { maxBytes: 10_000 }), code("bad_request"));
  await assert.rejects(saveUpload(dataDir, new Uint8Array(0), "fox.txt", { maxBytes: 10_000 }), code("bad_request"));
});

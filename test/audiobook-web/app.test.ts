import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { test } from "node:test";
import type { Page } from "playwright-core";
import { readMp3Info } from "../../examples/audiobook/src/index.js";
import { guardLeaks } from "../support/leaks.js";
import { launchBrowser, screenshot as save } from "../support/browser.js";

const screenshot = (page: Parameters<typeof save>[0], name: string) => save(page, name, "audiobook");
import { LIGHTHOUSE, SECOND_BOOK, THIRD_BOOK } from "./fixtures.js";
import { HeldNarrator, startApp } from "./server.js";

guardLeaks();

const book = { name: "lighthouse.txt", mimeType: "text/plain", buffer: Buffer.from(LIGHTHOUSE) };
const card = (page: Page) => page.locator("li.book");
/** The book's own bar (its chapters' bars come after it, one each). */
const bar = (page: Page) => page.locator('li.book .book-bar[role="progressbar"]');

async function barValue(page: Page): Promise<number> {
  return Number(await bar(page).first().getAttribute("aria-valuenow"));
}

test("upload a book, watch the bar move, reload mid-way and see it carry on, download the chapters; other browsers see nothing; the same book is not redone", async (t) => {
  const narrator = new HeldNarrator();
  const start = narrator.hold(1, 0);
  const middle = narrator.hold(2, 1);
  const late = narrator.hold(3, 1);
  const { url, outlast } = await startApp(t, { narrator });
  t.after(() => narrator.releaseAll());
  const chromium = await launchBrowser(t);
  const { page } = await chromium.context();

  await page.goto(url);
  await page.getByText("No books yet").waitFor();
  await screenshot(page, "01-empty");

  // Upload: the card and its bar appear at once, at the start of chapter 1.
  await page.locator('input[type="file"]').setInputFiles(book);
  await start.reached;
  await card(page).getByText("Chapter 1 of 3: The Lamp").waitFor();
  await page.locator(".notice").getByText("Uploaded. It is spoken chapter by chapter below.").waitFor();
  assert.equal(await card(page).locator(".book-notice").isVisible(), false, "a new book has no note about resuming or attaching");
  const first = await barValue(page);
  assert.equal(await bar(page).getAttribute("aria-valuemin"), "0");
  assert.equal(await bar(page).getAttribute("aria-valuemax"), "100");
  const taskId = await card(page).getAttribute("data-task-id");
  assert.ok(taskId);

  // The bar moves: on into chapter 2, part of it spoken.
  start.release();
  await middle.reached;
  await card(page).getByText(/^Chapter 2 of 3/).waitFor();
  await page.waitForFunction((before) => Number(document.querySelector('.book-bar[role="progressbar"]')?.getAttribute("aria-valuenow")) > before, first);
  await card(page).getByText(/[1-9]\d*% of this chapter spoken/).waitFor();
  const middleValue = await barValue(page);
  assert.ok(middleValue > first, `the bar moved from ${first} to ${middleValue}`);
  await screenshot(page, "02-converting");

  // A reload shows the same bar again at once, then it carries on.
  await page.reload();
  await bar(page).waitFor({ timeout: 3000 });
  assert.equal(await card(page).getAttribute("data-task-id"), taskId);
  assert.equal(await barValue(page), middleValue, "after the reload the bar is back where it was");
  await card(page).getByText(/^Chapter 2 of 3/).waitFor({ timeout: 3000 });
  await card(page).getByRole("heading", { name: "The Lighthouse Keeper" }).waitFor({ timeout: 3000 });
  await screenshot(page, "03-after-reload");
  middle.release();
  await late.reached;
  await card(page).getByText(/^Chapter 3 of 3/).waitFor();
  assert.ok((await barValue(page)) > middleValue, "the bar carries on after the reload");
  late.release();

  // Finished: a player, the whole book and every chapter to download.
  await card(page).locator(".badge", { hasText: "Ready" }).waitFor({ timeout: 30_000 });
  await card(page).getByRole("heading", { name: "The Lighthouse Keeper" }).waitFor();
  const links = card(page).locator("a[download]");
  const hrefs = await links.evaluateAll((as) => as.map((a) => a.getAttribute("href")));
  assert.deepEqual(hrefs, [
    `/api/v1/tasks/${taskId}/artifacts/book.mp3?filename=the-lighthouse-keeper.mp3`,
    `/api/v1/tasks/${taskId}/artifacts/chapter-01.mp3?filename=the-lighthouse-keeper-chapter-01.mp3`,
    `/api/v1/tasks/${taskId}/artifacts/chapter-02.mp3?filename=the-lighthouse-keeper-chapter-02.mp3`,
    `/api/v1/tasks/${taskId}/artifacts/chapter-03.mp3?filename=the-lighthouse-keeper-chapter-03.mp3`,
  ]);
  assert.equal(await card(page).locator("audio[controls]").count(), 1);
  await screenshot(page, "04-finished");

  // A chapter fetched with the page's own credentials (its session cookie) is MP3.
  const chapter = await page.evaluate(async (href) => {
    const response = await fetch(href);
    return { status: response.status, type: response.headers.get("content-type"), bytes: [...new Uint8Array(await response.arrayBuffer())] };
  }, hrefs[2]!);
  assert.equal(chapter.status, 200);
  assert.equal(chapter.type, "audio/mpeg");
  assert.equal(chapter.bytes[0], 0xff, "MP3 frame sync");
  assert.equal((chapter.bytes[1] ?? 0) & 0xe0, 0xe0, "MP3 frame sync");
  // And a click on the whole-book link downloads a playable file.
  const [download] = await Promise.all([page.waitForEvent("download"), card(page).locator("a.download-book").click()]);
  assert.equal(download.suggestedFilename(), "the-lighthouse-keeper.mp3", "saved under the name the page chose");
  const whole = readMp3Info(await readFile(await download.path()));
  assert.ok(whole.frames > 0 && whole.seconds > 1, `book.mp3 has ${whole.frames} frames`);

  // Another browser sees none of it, and the API says the task does not exist for it.
  const other = await chromium.context();
  await other.page.goto(url);
  await other.page.getByText("No books yet").waitFor();
  assert.equal(await card(other.page).count(), 0);
  const peek = await other.page.evaluate(async (id) => {
    const read = await fetch(`/api/v1/tasks/${id}`);
    const file = await fetch(`/api/v1/tasks/${id}/artifacts/book.mp3`);
    const mine = (await (await fetch("/api/v1/tasks")).json()) as { tasks: unknown[] };
    return { read: read.status, file: file.status, mine: mine.tasks.length };
  }, taskId);
  assert.deepEqual(peek, { read: 404, file: 404, mine: 0 });
  await screenshot(other.page, "05-other-browser");

  // The same book again: the finished task comes back at once; nothing is spoken again.
  assert.equal(narrator.calls.length, 3);
  await page.locator('input[type="file"]').setInputFiles(book);
  await page.getByRole("status").getByText("Already converted").first().waitFor();
  assert.equal(await card(page).count(), 1);
  assert.equal(await card(page).getAttribute("data-task-id"), taskId);
  await card(page).locator(".book-notice", { hasText: "Already converted" }).waitFor();
  assert.equal(narrator.calls.length, 3, "no chapter was spoken again");
  const record = await outlast.getRecord(taskId);
  assert.equal(record?.attempt, 1);
  await screenshot(page, "06-same-book-again");

  // A second book, held mid-way: the picture of the app for the README (test-artifacts/audiobook/readme.png).
  const second = narrator.hold(5, 1);
  await page.locator('input[type="file"]').setInputFiles({ name: "the-storm-at-sea.txt", mimeType: "text/plain", buffer: Buffer.from(SECOND_BOOK) });
  await second.reached;
  await card(page).first().getByText(/^Chapter 2 of 3/).waitFor();
  await card(page).first().getByText(/[1-9]\d*% of this chapter spoken/).waitFor();
  // Issue #12: a running book says how long it has left.
  await card(page).first().getByText(/% of this chapter spoken · done in /).waitFor();
  assert.equal(await card(page).count(), 2);
  assert.equal(await card(page).first().locator(".book-notice").isVisible(), false);

  // A third book waits its turn (one chapter is spoken at a time; its first is behind the second book's last): its place in line and an estimate show.
  await page.locator('input[type="file"]').setInputFiles({ name: "the-fox.txt", mimeType: "text/plain", buffer: Buffer.from(THIRD_BOOK) });
  const waiting = card(page).first();
  await waiting.locator(".badge", { hasText: "Waiting" }).waitFor();
  await waiting.getByText("2nd in line · done in").waitFor();
  assert.equal(await waiting.locator('.book-bar[role="progressbar"]').getAttribute("aria-valuenow"), "0");
  await waiting.locator(".chapter-row").nth(1).getByText("Waiting · 3rd in line").waitFor();
  assert.equal(await card(page).count(), 3);
  await page.waitForTimeout(600); // let the bar's transition end, for the picture
  await screenshot(page, "readme");

  // Cancel the waiting one: it stops at once and offers to try again.
  await waiting.getByRole("button", { name: "Cancel The fox" }).click();
  await waiting.locator(".badge", { hasText: "Cancelled" }).waitFor();
  await waiting.getByRole("button", { name: /Try again/ }).waitFor();
  assert.equal((await outlast.get((await waiting.getAttribute("data-task-id")) ?? ""))?.state, "canceled");
});

test("refused uploads get a clear error; a failed book uploaded again resumes from its chapter without speaking the others again", async (t) => {
  const narrator = new HeldNarrator();
  narrator.failAt = { call: 2, piece: 1 };
  const { url, outlast } = await startApp(t, { narrator, maxUploadBytes: 4096, maxAttempts: 1 });
  t.after(() => narrator.releaseAll());
  const chromium = await launchBrowser(t);
  const { page } = await chromium.context();
  await page.goto(url);
  await page.getByText("up to 4 KiB").waitFor();
  const alert = page.locator(".upload-error");

  // In the page: a file of the wrong type, and one over the limit, never leave it.
  await page.locator('input[type="file"]').setInputFiles({ name: "notes.pdf", mimeType: "application/pdf", buffer: Buffer.from("%PDF-1.4") });
  await alert.getByText("“notes.pdf” is not a .txt or .epub file").waitFor();
  assert.equal(await alert.getAttribute("role"), "alert");
  await screenshot(page, "07-wrong-type");
  await page.locator('input[type="file"]').setInputFiles({ name: "huge.txt", mimeType: "text/plain", buffer: Buffer.alloc(5000, "a") });
  await alert.getByText("“huge.txt” is 4.9 KiB; books up to 4 KiB are accepted.").waitFor();
  await screenshot(page, "08-too-large");
  assert.equal(await card(page).count(), 0);

  // The server refuses them too, in the API's error shape: by Content-Length, and while reading a body of unknown length.
  const session = (await (await fetch(`${url}/api/v1/session`, { method: "POST" })).json()) as { token: string };
  const auth = { authorization: `Bearer ${session.token}` };
  const big = new Uint8Array(5000).fill(97);
  const declared = await fetch(`${url}/app/upload?filename=huge.txt`, { method: "POST", headers: auth, body: big });
  assert.equal(declared.status, 413);
  assert.deepEqual(((await declared.json()) as { error: { code: string } }).error.code, "payload_too_large");
  const streamed = await fetch(`${url}/app/upload?filename=huge.txt`, {
    method: "POST",
    headers: auth,
    body: new ReadableStream({
      start(controller) {
        for (let i = 0; i < 5; i++) controller.enqueue(big.subarray(0, 1000));
        controller.close();
      },
    }),
    duplex: "half",
  } as RequestInit);
  assert.equal(streamed.status, 413);
  const refused = (await streamed.json()) as { error: { code: string; message: string } };
  assert.equal(refused.error.code, "payload_too_large");
  assert.match(refused.error.message, /the limit is 4 KiB/);
  const wrongType = await fetch(`${url}/app/upload?filename=notes.pdf`, { method: "POST", headers: auth, body: "%PDF" });
  assert.equal(wrongType.status, 400);
  const stranger = await fetch(`${url}/app/upload?filename=book.txt`, { method: "POST", body: LIGHTHOUSE });
  assert.equal(stranger.status, 401, "no credentials, no upload");
  assert.equal(((await stranger.json()) as { error: { code: string } }).error.code, "unauthorized");

  // A book that fails in chapter 2 shows the error and offers to resume from there.
  await page.locator('input[type="file"]').setInputFiles(book);
  await card(page).locator(".badge", { hasText: "Failed" }).waitFor({ timeout: 30_000 });
  await card(page).getByText("The narrator stumbled").waitFor();
  await card(page).getByRole("button", { name: /Resume from chapter 2/ }).waitFor();
  assert.equal(await card(page).locator(".book-notice").isVisible(), false);
  const taskId = await card(page).getAttribute("data-task-id");
  assert.ok(taskId);
  await screenshot(page, "09-failed");

  // Uploading the same book again resumes it: same task, chapter 1 not spoken again.
  await page.locator('input[type="file"]').setInputFiles(book);
  await page.locator(".notice").getByText("Resumed from chapter 2").waitFor();
  await card(page).locator(".badge", { hasText: "Ready" }).waitFor({ timeout: 30_000 });
  assert.equal(await card(page).count(), 1);
  assert.equal(await card(page).getAttribute("data-task-id"), taskId);
  assert.equal(await card(page).locator("a[download]").count(), 4);
  const spoken = (words: string) => narrator.calls.filter((text) => text.includes(words)).length;
  assert.equal(spoken("Every evening the keeper"), 1, "chapter 1 was spoken once");
  assert.equal(spoken("One night the wind rose"), 2, "chapter 2 failed, then was spoken again");
  // Chapter 3 may have started as chapter 2 failed (its slot free at once), and been cancelled with the book.
  assert.ok(spoken("By dawn the sea") >= 1, "chapter 3 was spoken");
  assert.equal((await outlast.getRecord(taskId))?.attempt, 2);
  await screenshot(page, "10-resumed");
});

/** Each chapter row of the first card: its title, what it says, and its bar's value. */
async function chapterRows(page: Page): Promise<{ name: string; status: string; value: number; label: string | null }[]> {
  return card(page)
    .first()
    .locator(".chapter-row")
    .evaluateAll((rows) =>
      rows.map((row) => {
        const bar = row.querySelector('[role="progressbar"]');
        return {
          name: row.querySelector(".chapter-name")?.textContent ?? "",
          status: row.querySelector(".chapter-status")?.textContent ?? "",
          value: Number(bar?.getAttribute("aria-valuenow")),
          label: bar?.getAttribute("aria-label") ?? null,
        };
      }),
    );
}

test("a book shows one bar per chapter (each a task of its own) under the book's rolled-up bar; after a reload mid-way all come back", async (t) => {
  const narrator = new HeldNarrator();
  const middle = narrator.hold(2, 1);
  const { url, outlast } = await startApp(t, { narrator });
  t.after(() => narrator.releaseAll());
  const chromium = await launchBrowser(t);
  const { page } = await chromium.context();
  await page.goto(url);
  await page.getByText("No books yet").waitFor();

  await page.locator('input[type="file"]').setInputFiles(book);
  await middle.reached;
  const taskId = (await card(page).getAttribute("data-task-id"))!;
  // Chapter 1 spoken, chapter 2 part-way, chapter 3 in line; the book's bar between.
  await card(page).locator(".chapter-row.state-succeeded").getByText(/^Spoken · \d+:\d\d$/).waitFor();
  await card(page).locator(".chapter-row.state-running").getByText(/^Speaking · [1-9]\d*%$/).waitFor();
  // Its place in line is read again as the chapters ahead of it start.
  await card(page).locator(".chapter-row.state-queued").getByText("Waiting · Next in line").waitFor();
  await card(page).getByText("1 of 3 chapters spoken · 1 speaking").waitFor();
  const before = await chapterRows(page);
  assert.deepEqual(
    before.map((row) => [row.name, row.label]),
    [
      ["Chapter 1: The Lamp", "Chapter 1 of 3: Chapter 1: The Lamp"],
      ["Chapter 2: The Storm", "Chapter 2 of 3: Chapter 2: The Storm"],
      ["Chapter 3: Morning", "Chapter 3 of 3: Chapter 3: Morning"],
    ],
  );
  assert.equal(before[0]!.value, 100);
  assert.ok(before[1]!.value > 0 && before[1]!.value < 100, `chapter 2 at ${before[1]!.value}%`);
  assert.equal(before[2]!.value, 0);
  const bookValue = await barValue(page);
  assert.ok(bookValue > 0 && bookValue < 100, `the book at ${bookValue}%`);
  // What the page shows is what the API says: the book's rolled-up bar and its chapters, in order.
  const children = (await outlast.children(taskId)).tasks;
  assert.deepEqual(
    children.map((c) => [c.state, Math.floor(c.state === "succeeded" ? 100 : (c.progress.percent ?? 0))]),
    before.map((row, i) => [["succeeded", "running", "queued"][i], row.value]),
  );
  assert.equal(Math.floor((await outlast.get(taskId))!.progress.percent ?? -1), bookValue);
  await card(page).getByText(/^Chapter 2 of 3: The Storm$/).waitFor();
  await screenshot(page, "11-chapter-bars");

  // A reload brings every bar back where it was, the book's and each chapter's, with what each says.
  await page.reload();
  await bar(page).waitFor({ timeout: 3000 });
  await page.waitForFunction((n) => document.querySelectorAll("li.book .chapter-row").length === n, before.length, { timeout: 3000 });
  assert.equal(await card(page).getAttribute("data-task-id"), taskId);
  assert.equal(await barValue(page), bookValue);
  assert.deepEqual(await chapterRows(page), before);
  await card(page).getByText("1 of 3 chapters spoken · 1 speaking").waitFor({ timeout: 3000 });
  await card(page).getByText(/^Chapter 2 of 3: The Storm$/).waitFor({ timeout: 3000 });
  await screenshot(page, "12-chapter-bars-after-reload");

  // And they carry on live: chapter 2 and 3 are spoken, the book is joined and ready.
  middle.release();
  await page.waitForFunction(() => document.querySelector('li.book .chapter-row[data-chapter="2"]')?.classList.contains("state-succeeded"));
  assert.equal((await chapterRows(page))[1]!.value, 100);
  await card(page).locator(".badge", { hasText: "Ready" }).waitFor({ timeout: 30_000 });
  assert.equal(await card(page).locator(".book-chapters").isVisible(), false, "a ready book lists its chapters as downloads");
  assert.equal(await card(page).locator("ol.chapters a[download]").count(), 3);
});

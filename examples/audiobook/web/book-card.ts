import type { Task } from "outlast/client";
import { fill, h } from "./dom.js";
import { formatBytes, formatDuration, formatEta, formatPosition, slug } from "./format.js";

/** What the page knows of one book. */
export interface Book {
  task: Task;
  /** The name it was uploaded under, when known. */
  filename: string | null;
  /** The book's own title, once it has been read. */
  title: string | null;
  /** A short note from the last upload or retry ("Already converted"), shown on the card. */
  notice: string | null;
  /** Its chapters: the book task's children, in order, once read (`GET /api/v1/tasks/:id/children`). */
  chapters: Task[] | null;
}

export interface CardActions {
  cancel(id: string): void;
  retry(id: string): void;
}

/** The finished task's result (examples/audiobook/src/task.ts, AudiobookResult). */
interface Result {
  title: string;
  chapters: { title: string; artifact: string; seconds: number; bytes: number }[];
  book: string;
  seconds: number;
  bytes: number;
}

type Counts = NonNullable<Task["progress"]["children"]>;

/** What the card says a book is doing: a book waiting for chapters none of which has started is still waiting. */
type Shown = "queued" | "running" | "succeeded" | "failed" | "canceled";

const STATE_LABEL: Record<Shown, string> = {
  queued: "Waiting",
  running: "Converting",
  succeeded: "Ready",
  failed: "Failed",
  canceled: "Cancelled",
};

const CHAPTER_LABEL: Record<Task["state"], string> = {
  queued: "Waiting",
  running: "Speaking",
  waiting: "Waiting",
  succeeded: "Spoken",
  failed: "Failed",
  canceled: "Cancelled",
};

/**
 * One book's card: the book's bar (rolled up from its chapters) and one bar
 * per chapter. Its parts are made once; an update rewrites texts and the
 * bars, and rebuilds buttons and downloads only when the state or name
 * changes (so a playing player is never replaced).
 */
export class BookCard {
  readonly el: HTMLLIElement;
  private readonly title = h("h3", { className: "book-title" });
  private readonly file = h("p", { className: "book-file" });
  private readonly badge = h("span", { className: "badge" });
  private readonly notice = h("p", { className: "book-notice", role: "status" });
  private readonly fillEl = h("div", { className: "bar-fill" });
  private readonly bar = h("div", { className: "bar book-bar", role: "progressbar", "aria-valuemin": 0, "aria-valuemax": 100, "aria-valuenow": 0 }, this.fillEl);
  private readonly chapter = h("span", { className: "book-chapter" });
  private readonly percent = h("span", { className: "book-percent" });
  private readonly line = h("div", { className: "book-line" }, this.chapter, this.percent);
  private readonly detail = h("p", { className: "book-detail" });
  private readonly chapterCount = h("p", { className: "chapter-count" });
  private readonly chapterList = h("ol", { className: "chapter-bars" });
  private readonly chapterPart = h("div", { className: "book-chapters" }, this.chapterCount, this.chapterList);
  private readonly rows = new Map<string, ChapterRow>();
  private readonly actions = h("div", { className: "book-actions" });
  private readonly result = h("div", { className: "book-result" });
  private shape = "";

  constructor(
    readonly id: string,
    private readonly on: CardActions,
  ) {
    this.el = h(
      "li",
      { className: "book", "data-task-id": id },
      h("div", { className: "book-head" }, h("div", { className: "book-names" }, this.title, this.file), this.badge),
      this.notice,
      this.bar,
      this.line,
      this.detail,
      this.chapterPart,
      this.actions,
      this.result,
    );
  }

  update(book: Book): void {
    const { task } = book;
    const result = task.state === "succeeded" ? asResult(task.result) : null;
    const name = result?.title ?? book.title ?? task.title ?? titleFromFile(book.filename) ?? "Untitled book";
    const shown = shownState(task);
    this.el.className = `book state-${shown}`;
    this.el.setAttribute("aria-label", name);
    this.title.textContent = name;
    this.file.textContent = book.filename ?? "";
    this.file.hidden = !book.filename || book.filename === name;
    this.badge.textContent = STATE_LABEL[shown];
    this.badge.className = `badge badge-${shown}`;
    this.notice.textContent = book.notice ?? "";
    this.notice.hidden = !book.notice;

    const progress = task.progress;
    const percent = task.state === "succeeded" ? 100 : clampPercent(progress.percent);
    const whole = Math.floor(percent);
    this.bar.setAttribute("aria-valuenow", String(whole));
    this.bar.setAttribute("aria-label", `Progress of ${name}`);
    const line = chapterLine(book);
    this.bar.setAttribute("aria-valuetext", `${whole}%${line ? `: ${line}` : ""}`);
    this.fillEl.style.width = `${percent}%`;
    this.bar.hidden = task.state === "succeeded";
    this.percent.textContent = `${whole}%`;
    this.chapter.textContent = line;
    this.line.hidden = task.state === "succeeded";
    const detail = detailLine(book);
    this.detail.textContent = detail;
    this.detail.hidden = detail === "";
    this.detail.className = task.state === "failed" ? "book-detail book-error" : "book-detail";
    this.updateChapters(book, name);

    const from = resumeFrom(book);
    const shape = `${task.state}:${task.attempt}:${name}:${from}`;
    if (shape === this.shape) return;
    this.shape = shape;
    fill(this.actions, ...this.buttons(task, name, from));
    this.actions.hidden = this.actions.childElementCount === 0;
    fill(this.result, result ? downloads(task.id, result) : null);
    this.result.hidden = !result;
  }

  /** One row per chapter, made once and updated in place; gone once the book is ready (its downloads list the chapters). */
  private updateChapters(book: Book, name: string): void {
    const chapters = book.chapters ?? [];
    const counts = countsOf(book);
    this.chapterPart.hidden = book.task.state === "succeeded" || (chapters.length === 0 && counts === null);
    if (this.chapterPart.hidden) return;
    this.chapterCount.textContent = counts ? countLine(counts) : "";
    this.chapterList.setAttribute("aria-label", `Chapters of ${name}`);
    for (const [index, chapter] of chapters.entries()) {
      let row = this.rows.get(chapter.id);
      if (!row) {
        row = new ChapterRow(chapter.id);
        this.rows.set(chapter.id, row);
      }
      // In submit order; appending an element already in place moves nothing.
      if (this.chapterList.children[index] !== row.el) this.chapterList.insertBefore(row.el, this.chapterList.children[index] ?? null);
      row.update(chapter, index + 1, chapters.length);
    }
  }

  private buttons(task: Task, name: string, from: number | null): HTMLButtonElement[] {
    if (task.state === "queued" || task.state === "running" || task.state === "waiting") {
      return [h("button", { type: "button", className: "quiet", "aria-label": `Cancel ${name}`, onclick: () => this.on.cancel(task.id) }, "Cancel")];
    }
    if (task.state === "failed" || task.state === "canceled") {
      const label = from !== null && from > 1 ? `Resume from chapter ${from}` : "Try again";
      return [h("button", { type: "button", "aria-label": `${label}: ${name}`, onclick: () => this.on.retry(task.id) }, label)];
    }
    return [];
  }
}

/** One chapter of a book: its title, where it is, and its own bar. */
class ChapterRow {
  readonly el: HTMLLIElement;
  private readonly name = h("span", { className: "chapter-name" });
  private readonly status = h("span", { className: "chapter-status" });
  private readonly fillEl = h("div", { className: "bar-fill" });
  private readonly bar = h("div", { className: "bar chapter-bar", role: "progressbar", "aria-valuemin": 0, "aria-valuemax": 100, "aria-valuenow": 0 }, this.fillEl);

  constructor(id: string) {
    this.el = h("li", { className: "chapter-row", "data-task-id": id }, h("div", { className: "chapter-head" }, this.name, this.status), this.bar);
  }

  update(chapter: Task, number: number, of: number): void {
    const title = chapter.title ?? `Chapter ${number}`;
    const percent = chapter.state === "succeeded" ? 100 : clampPercent(chapter.progress.percent);
    const whole = Math.floor(percent);
    const status = chapterStatus(chapter, whole);
    this.el.className = `chapter-row state-${chapter.state}`;
    this.el.dataset.chapter = String(number);
    this.name.textContent = title;
    this.status.textContent = status;
    this.bar.setAttribute("aria-label", `Chapter ${number} of ${of}: ${title}`);
    this.bar.setAttribute("aria-valuenow", String(whole));
    this.bar.setAttribute("aria-valuetext", `${whole}%: ${status}`);
    this.fillEl.style.width = `${percent}%`;
  }
}

function chapterStatus(chapter: Task, percent: number): string {
  switch (chapter.state) {
    case "running":
      return `Speaking · ${percent}%`;
    case "succeeded": {
      const seconds = (chapter.result as { seconds?: unknown } | null)?.seconds;
      return typeof seconds === "number" ? `Spoken · ${formatDuration(seconds)}` : "Spoken";
    }
    case "queued":
      return chapter.position !== null ? `Waiting · ${formatPosition(chapter.position)}` : "Waiting";
    default:
      return CHAPTER_LABEL[chapter.state];
  }
}

/** "1 of 3 chapters spoken · 1 speaking · 1 failed". */
function countLine(counts: Counts): string {
  const parts = [`${counts.succeeded} of ${counts.total} chapter${counts.total === 1 ? "" : "s"} spoken`];
  if (counts.running > 0) parts.push(`${counts.running} speaking`);
  if (counts.failed > 0) parts.push(`${counts.failed} failed`);
  if (counts.canceled > 0) parts.push(`${counts.canceled} cancelled`);
  return parts.join(" · ");
}

/** The chapters' counts: the book's rolled-up ones, or (for a book whose progress has none yet) its chapters'. */
function countsOf(book: Book): Counts | null {
  const rolled = book.task.progress.children;
  // The chapters as read and streamed are the freshest (an ended book's own counts stay as they were when it ended).
  const fresh = book.chapters !== null && book.chapters.length > 0 && book.chapters.length >= (rolled?.total ?? 0);
  if (!fresh && rolled && rolled.total > 0) return rolled;
  if (!book.chapters || book.chapters.length === 0) return null;
  const counts: Counts = { total: book.chapters.length, queued: 0, running: 0, waiting: 0, succeeded: 0, failed: 0, canceled: 0 };
  for (const chapter of book.chapters) counts[chapter.state]++;
  return counts;
}

function shownState(task: Task): Shown {
  if (task.state !== "waiting" && task.state !== "queued") return task.state;
  const c = task.progress.children;
  // Waiting for its chapters (or in line to join them): converting once one has started, else still in line.
  return c && c.total > c.queued + c.waiting ? "running" : "queued";
}

/** The first chapter not spoken yet, where a retry or resume goes on; null when nothing is known of the chapters. */
function resumeFrom(book: Book): number | null {
  if (book.chapters && book.chapters.length > 0) {
    const index = book.chapters.findIndex((c) => c.state !== "succeeded");
    return index === -1 ? book.chapters.length : index + 1;
  }
  const c = book.task.progress.children;
  return c && c.total > 0 ? Math.min(c.succeeded + 1, c.total) : null;
}

function speaking(book: Book): Task | null {
  return book.chapters?.find((c) => c.state === "running") ?? null;
}

function chapterLine(book: Book): string {
  const { task } = book;
  const { progress } = task;
  if (task.state === "succeeded") return "";
  if (task.state === "failed" || task.state === "canceled") {
    const counts = countsOf(book);
    const at = resumeFrom(book);
    if (!counts || at === null) return "";
    return `${task.state === "failed" ? "Stopped" : "Cancelled"} at chapter ${at} of ${counts.total}`;
  }
  const now = speaking(book);
  if (now) return withoutRepeat(now.progress.message ?? `Chapter ${book.chapters!.indexOf(now) + 1} of ${book.chapters!.length}: ${now.title ?? ""}`);
  if (task.state === "running") return progress.message ? withoutRepeat(progress.message) : "Reading the book…";
  const counts = countsOf(book);
  if (counts && counts.total > 0) {
    const ended = counts.succeeded + counts.failed + counts.canceled;
    if (ended === counts.total) return "Joining the chapters into one file";
    if (counts.running > 0) return "Speaking…";
    const next = resumeFrom(book);
    if (ended > 0 && next !== null) return `Waiting to go on: chapter ${next} of ${counts.total}`;
    return "Waiting for the narrator";
  }
  if (task.attempt > 0 && progress.message) return `Waiting to go on: ${withoutRepeat(progress.message)}`;
  return "Waiting for the narrator";
}

/** "Chapter 2 of 3: Chapter 2: The Storm" reads better as "Chapter 2 of 3: The Storm". */
function withoutRepeat(message: string): string {
  return message.replace(/^(Chapter (\d+) of \d+: )Chapter \2\b[.:]?\s*(?=\S)/i, "$1");
}

function detailLine(book: Book): string {
  const { task } = book;
  switch (task.state) {
    case "queued":
    case "running":
    case "waiting": {
      const now = speaking(book);
      const parts: string[] = [];
      if (now) {
        const within = withinChapter(now.progress.data) ?? clampPercent(now.progress.percent) / 100;
        parts.push(`${Math.floor(within * 100)}% of this chapter spoken`);
      } else if (shownState(task) === "queued") {
        const position = task.state === "queued" ? task.position : (book.chapters?.find((c) => c.state === "queued")?.position ?? null);
        if (position !== null) parts.push(formatPosition(position));
      }
      const left = timeLeftMs(book);
      if (left !== null) parts.push(`done in ${formatEta(left)}`);
      return parts.join(" · ");
    }
    case "failed":
      return task.error?.message ?? "The conversion failed";
    case "canceled":
      return "Stopped. Chapters already spoken are kept.";
    case "succeeded":
      return "";
  }
}

/**
 * How long until the book is done: when its last chapter ends (its place in
 * line and the queue's pace say so, or its own time left), else its bar's pace so far.
 */
function timeLeftMs(book: Book): number | null {
  const { task } = book;
  if (task.state === "queued" && !book.chapters?.length) return task.etaMs;
  if (task.state === "running" && task.remainingMs !== null && !speaking(book)) return task.remainingMs;
  const last = book.chapters?.filter((c) => c.state === "queued" || c.state === "running").at(-1);
  const byChapters = last ? (last.state === "queued" ? last.etaMs : last.remainingMs) : null;
  if (byChapters !== null) return byChapters;
  const percent = clampPercent(task.progress.percent);
  const since = task.startedAt === null ? null : Date.now() - Date.parse(task.startedAt);
  if (since === null || percent <= 0 || percent >= 100 || !Number.isFinite(since)) return null;
  return Math.round((since / percent) * (100 - percent));
}

function withinChapter(data: unknown): number | null {
  if (typeof data !== "object" || data === null) return null;
  const value = (data as { withinChapter?: unknown }).withinChapter;
  return typeof value === "number" && Number.isFinite(value) ? Math.max(0, Math.min(1, value)) : null;
}

function clampPercent(value: unknown): number {
  return typeof value === "number" && Number.isFinite(value) ? Math.max(0, Math.min(100, value)) : 0;
}

function downloads(id: string, result: Result): HTMLElement {
  const base = `/api/v1/tasks/${encodeURIComponent(id)}/artifacts/`;
  const prefix = slug(result.title);
  const whole = base + encodeURIComponent(result.book);
  // The server's Content-Disposition names the file, over the link's `download`; ?filename= makes it this name.
  const saveAs = (artifact: string, filename: string) => `${base}${encodeURIComponent(artifact)}?filename=${encodeURIComponent(filename)}`;
  return h(
    "div",
    { className: "downloads" },
    h(
      "p",
      { className: "book-summary" },
      `${result.chapters.length} chapter${result.chapters.length === 1 ? "" : "s"} · ${formatDuration(result.seconds)} · ${formatBytes(result.bytes)}`,
    ),
    h("audio", { controls: true, preload: "metadata", src: whole, "aria-label": `Listen to ${result.title}` }),
    h(
      "a",
      { className: "download-book", href: saveAs(result.book, `${prefix}.mp3`), download: `${prefix}.mp3` },
      "Download the whole book",
      h("span", { className: "muted" }, ` (MP3, ${formatBytes(result.bytes)})`),
    ),
    h(
      "ol",
      { className: "chapters", "aria-label": `Chapters of ${result.title}` },
      ...result.chapters.map((chapter, i) =>
        h(
          "li",
          {},
          h("a", { href: saveAs(chapter.artifact, `${prefix}-${chapter.artifact}`), download: `${prefix}-${chapter.artifact}` }, chapter.title || `Chapter ${i + 1}`),
          h("span", { className: "muted" }, ` ${formatDuration(chapter.seconds)}`),
        ),
      ),
    ),
  );
}

function asResult(value: unknown): Result | null {
  if (typeof value !== "object" || value === null) return null;
  const r = value as Partial<Result>;
  if (typeof r.title !== "string" || !Array.isArray(r.chapters) || typeof r.book !== "string") return null;
  return { title: r.title, chapters: r.chapters, book: r.book, seconds: Number(r.seconds) || 0, bytes: Number(r.bytes) || 0 };
}

function titleFromFile(filename: string | null): string | null {
  if (!filename) return null;
  const name = filename.replace(/\.(txt|epub)$/i, "").replace(/[-_]+/g, " ").trim();
  return name ? name.charAt(0).toUpperCase() + name.slice(1) : null;
}

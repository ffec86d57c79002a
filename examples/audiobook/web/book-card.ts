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

const STATE_LABEL: Record<Task["state"], string> = {
  queued: "Waiting",
  running: "Converting",
  succeeded: "Ready",
  failed: "Failed",
  canceled: "Cancelled",
};

/**
 * One book's card. Its parts are made once; an update rewrites texts and the
 * bar, and rebuilds buttons and downloads only when the state or name changes (so a
 * playing player is never replaced).
 */
export class BookCard {
  readonly el: HTMLLIElement;
  private readonly title = h("h3", { className: "book-title" });
  private readonly file = h("p", { className: "book-file" });
  private readonly badge = h("span", { className: "badge" });
  private readonly notice = h("p", { className: "book-notice", role: "status" });
  private readonly fillEl = h("div", { className: "bar-fill" });
  private readonly bar = h("div", { className: "bar", role: "progressbar", "aria-valuemin": 0, "aria-valuemax": 100, "aria-valuenow": 0 }, this.fillEl);
  private readonly chapter = h("span", { className: "book-chapter" });
  private readonly percent = h("span", { className: "book-percent" });
  private readonly line = h("div", { className: "book-line" }, this.chapter, this.percent);
  private readonly detail = h("p", { className: "book-detail" });
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
      this.actions,
      this.result,
    );
  }

  update(book: Book): void {
    const { task } = book;
    const result = task.state === "succeeded" ? asResult(task.result) : null;
    const name = result?.title ?? book.title ?? titleFromFile(book.filename) ?? "Untitled book";
    this.el.className = `book state-${task.state}`;
    this.el.setAttribute("aria-label", name);
    this.title.textContent = name;
    this.file.textContent = book.filename ?? "";
    this.file.hidden = !book.filename || book.filename === name;
    this.badge.textContent = STATE_LABEL[task.state];
    this.badge.className = `badge badge-${task.state}`;
    this.notice.textContent = book.notice ?? "";
    this.notice.hidden = !book.notice;

    const progress = task.progress;
    const percent = task.state === "succeeded" ? 100 : Math.max(0, Math.min(100, progress.percent ?? 0));
    const shown = Math.floor(percent);
    this.bar.setAttribute("aria-valuenow", String(shown));
    this.bar.setAttribute("aria-label", `Progress of ${name}`);
    this.bar.setAttribute("aria-valuetext", `${shown}%${progress.message ? `: ${progress.message}` : ""}`);
    this.fillEl.style.width = `${percent}%`;
    this.bar.hidden = task.state === "succeeded";
    this.percent.textContent = `${shown}%`;
    this.chapter.textContent = chapterLine(task);
    this.line.hidden = task.state === "succeeded";
    const detail = detailLine(task);
    this.detail.textContent = detail;
    this.detail.hidden = detail === "";
    this.detail.className = task.state === "failed" ? "book-detail book-error" : "book-detail";

    const shape = `${task.state}:${task.attempt}:${name}`;
    if (shape === this.shape) return;
    this.shape = shape;
    fill(this.actions, ...this.buttons(task, name));
    this.actions.hidden = this.actions.childElementCount === 0;
    fill(this.result, result ? downloads(task.id, result) : null);
    this.result.hidden = !result;
  }

  private buttons(task: Task, name: string): HTMLButtonElement[] {
    if (task.state === "queued" || task.state === "running") {
      return [h("button", { type: "button", className: "quiet", "aria-label": `Cancel ${name}`, onclick: () => this.on.cancel(task.id) }, "Cancel")];
    }
    if (task.state === "failed" || task.state === "canceled") {
      const from = task.progress.current;
      const label = from && from > 1 ? `Resume from chapter ${from}` : "Try again";
      return [h("button", { type: "button", "aria-label": `${label}: ${name}`, onclick: () => this.on.retry(task.id) }, label)];
    }
    return [];
  }
}

function chapterLine(task: Task): string {
  const { progress } = task;
  if (task.state === "queued") {
    if (task.attempt > 0 && progress.message) return `Waiting to go on: ${withoutRepeat(progress.message)}`;
    return "Waiting for the narrator";
  }
  if (progress.message) return withoutRepeat(progress.message);
  return task.state === "running" ? "Reading the book…" : "";
}

/** "Chapter 2 of 3: Chapter 2: The Storm" reads better as "Chapter 2 of 3: The Storm". */
function withoutRepeat(message: string): string {
  return message.replace(/^(Chapter (\d+) of \d+: )Chapter \2\b[.:]?\s*(?=\S)/i, "$1");
}

function detailLine(task: Task): string {
  const { progress } = task;
  switch (task.state) {
    case "queued": {
      const parts: string[] = [];
      if (task.position !== null) parts.push(formatPosition(task.position));
      if (task.etaMs !== null) parts.push(`done in ${formatEta(task.etaMs)}`);
      return parts.join(" · ");
    }
    case "running": {
      const within = withinChapter(progress.data);
      const parts: string[] = [];
      if (within !== null) parts.push(`${Math.floor(within * 100)}% of this chapter spoken`);
      if (task.remainingMs !== null) parts.push(`done in ${formatEta(task.remainingMs)}`);
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

function withinChapter(data: unknown): number | null {
  if (typeof data !== "object" || data === null) return null;
  const value = (data as { withinChapter?: unknown }).withinChapter;
  return typeof value === "number" && Number.isFinite(value) ? Math.max(0, Math.min(1, value)) : null;
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

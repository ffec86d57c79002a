import "./styles.css";
import { newerCopy, OutlastClient, type ConnectionState, type ConnectionView, type Task } from "outlast/client";
import { BookCard, type Book } from "./book-card.js";
import { h } from "./dom.js";
import { formatBytes } from "./format.js";

const TASK_NAME = "audiobook.convert";
/** A book's chapters read a page at a time (the API's largest page). */
const CHAPTER_PAGE = 200;
const BOOK_FILE = /\.(txt|epub)$/i;
/** How often the page reads the estimates of its waiting and running books again. */
const ESTIMATE_REFRESH_MS = 5000;

const root = document.getElementById("app");
if (!root) throw new Error("The page has no #app element");
const maxBytes = Number(root.dataset.maxUploadBytes) || 20 * 1024 * 1024;

// The session cookie is the credential; the page keeps no token of its own.
const client = new OutlastClient({ baseUrl: "", storage: null });
const books = new Map<string, Book>();
const cards = new Map<string, BookCard>();

// --- the page's parts ---

const input = h("input", { type: "file", className: "file-input", accept: ".txt,.epub,text/plain,application/epub+zip", "aria-describedby": "upload-hint" });
const drop = h(
  "label",
  { className: "drop" },
  input,
  h("span", { className: "drop-title" }, "Choose a book"),
  h("span", { className: "drop-or" }, " or drop it here"),
  h("span", { className: "drop-hint", id: "upload-hint" }, `.txt or .epub, up to ${formatBytes(maxBytes)}`),
);
const notice = h("p", { className: "notice", role: "status", "aria-live": "polite" });
const uploadError = h("p", { className: "upload-error", role: "alert" });
const list = h("ul", { className: "books", "aria-labelledby": "books-heading" });
const empty = h("p", { className: "empty" }, "No books yet. Choose one above: each chapter becomes an MP3 file you can play here or download.");
const live = h("span", { className: "live", role: "status", "aria-label": "Connection" });

root.append(
  h("section", { className: "upload", "aria-label": "Add a book" }, drop, notice, uploadError),
  h("section", { className: "library" }, h("div", { className: "library-head" }, h("h2", { id: "books-heading" }, "Your books"), live), empty, list),
  h("footer", { className: "foot" }, "Books you upload are seen only from this browser. Uploading the same book again never converts it twice."),
);

// --- books on the page ---

/**
 * Takes the newer copy of a task read from the server: a list answer may be
 * older than what the stream already said, but its estimates are the latest.
 */
function upsert(task: Task, filename?: string | null, note?: string | null, title?: string | null): void {
  if (task.name !== TASK_NAME) return;
  const known = books.get(task.id);
  const book: Book = {
    task: known ? newerCopy(known.task, task) : task,
    filename: filename ?? known?.filename ?? null,
    title: title ?? known?.title ?? null,
    notice: note === undefined ? (known?.notice ?? null) : note,
    chapters: known?.chapters ?? null,
  };
  // A note about the last upload is stale once the book fails or is stopped again.
  if (note === undefined && known && known.task.state !== book.task.state && (book.task.state === "failed" || book.task.state === "canceled")) book.notice = null;
  books.set(task.id, book);
  let card = cards.get(task.id);
  if (!card) {
    card = new BookCard(task.id, { cancel, retry });
    cards.set(task.id, card);
    place(card, task);
  }
  card.update(book);
  empty.hidden = books.size > 0;
  // Chapters are submitted after the book was read: its title is known from then on.
  const counts = book.task.progress.children;
  if (!book.title && counts && counts.total > 0 && !askedTitle.has(task.id)) {
    askedTitle.add(task.id);
    refreshList();
  }
  // Chapters the page has not read yet (a new book's, or all of them after a reload): read them.
  if (counts && counts.total > (book.chapters?.length ?? 0) && book.task.state !== "succeeded") loadChapters(task.id);
}

/** A chapter from the stream: its book's card shows it (a chapter the page does not know yet is read with the others). */
function upsertChapter(task: Task): void {
  const book = task.parentId === null ? undefined : books.get(task.parentId);
  if (!book) return;
  const index = book.chapters?.findIndex((c) => c.id === task.id) ?? -1;
  if (index === -1 || !book.chapters) {
    loadChapters(book.task.id);
    return;
  }
  const chapters = [...book.chapters];
  const before = chapters[index]!;
  chapters[index] = newerCopy(task, before);
  show({ ...book, chapters });
  // A chapter that starts or ends moves the others' places in line and estimates, which only a read tells.
  if (before.state !== task.state) loadChapters(book.task.id);
}

function show(book: Book): void {
  books.set(book.task.id, book);
  cards.get(book.task.id)?.update(book);
}

const reading = new Map<string, Promise<void>>();
const readAgain = new Set<string>();

/**
 * Reads a book's chapters, every page, and shows them; asked again while a
 * read is under way, it reads once more after it.
 */
function loadChapters(id: string): void {
  if (reading.has(id)) {
    readAgain.add(id);
    return;
  }
  const read = (async () => {
    const chapters: Task[] = [];
    let cursor: string | undefined;
    do {
      const page = await client.children(id, { limit: CHAPTER_PAGE, ...(cursor === undefined ? {} : { cursor }) });
      chapters.push(...page.tasks);
      cursor = page.nextCursor ?? undefined;
    } while (cursor !== undefined);
    const book = books.get(id);
    if (!book) return;
    // A read may be older than what the stream already said of a chapter: the newer copy wins, with the read's estimates.
    const known = new Map((book.chapters ?? []).map((c) => [c.id, c]));
    show({ ...book, chapters: chapters.map((c) => (known.has(c.id) ? newerCopy(known.get(c.id)!, c) : c)) });
  })()
    .catch(() => {})
    .finally(() => {
      reading.delete(id);
      if (readAgain.delete(id)) loadChapters(id);
    });
  reading.set(id, read);
}

const askedTitle = new Set<string>();

/** Newest first; a new card is inserted in place, so existing ones (and a playing player) never move. */
function place(card: BookCard, task: Task): void {
  for (const other of list.children) {
    const id = (other as HTMLElement).dataset.taskId;
    const created = id ? books.get(id)?.task.createdAt : undefined;
    if (created !== undefined && created < task.createdAt) {
      list.insertBefore(card.el, other);
      return;
    }
  }
  list.append(card.el);
}

let naming: Promise<void> | null = null;
/** Reads the list again soon, for names the stream does not carry: a book's file name and title. */
function refreshList(): void {
  naming ??= new Promise<void>((resolve) => setTimeout(resolve, 300))
    .then(loadBooks)
    .catch(() => {})
    .finally(() => (naming = null));
}

async function loadBooks(): Promise<void> {
  let response = await fetch("/app/books", { headers: { accept: "application/json" } });
  if (response.status === 401) {
    // A new browser: ask for an owner of its own (an HttpOnly cookie), then list again.
    await client.session();
    response = await fetch("/app/books", { headers: { accept: "application/json" } });
  }
  if (!response.ok) throw new Error(await errorMessage(response));
  const listing = (await response.json()) as { tasks: Task[]; filenames: Record<string, string>; titles: Record<string, string> };
  for (const task of [...listing.tasks].reverse()) upsert(task, listing.filenames[task.id] ?? null, undefined, listing.titles[task.id] ?? null);
}

// --- actions ---

async function upload(file: File): Promise<void> {
  showError("");
  if (!BOOK_FILE.test(file.name)) return showError(`“${file.name}” is not a .txt or .epub file. Choose a plain-text or EPUB book.`);
  if (file.size > maxBytes) return showError(`“${file.name}” is ${formatBytes(file.size)}; books up to ${formatBytes(maxBytes)} are accepted.`);
  if (file.size === 0) return showError(`“${file.name}” is empty.`);
  setNotice(`Uploading “${file.name}”…`, 0);
  // What each book was before this upload: the stream may report the submitted task before the answer arrives.
  const before = new Map([...books].map(([id, b]) => [id, b.task.state]));
  drop.classList.add("busy");
  input.disabled = true;
  try {
    const send = () =>
      fetch(`/app/upload?filename=${encodeURIComponent(file.name)}`, {
        method: "POST",
        body: file,
        headers: { "content-type": "application/octet-stream" },
      });
    let response = await send();
    if (response.status === 401) {
      await client.session();
      response = await send();
    }
    if (!response.ok) {
      setNotice("");
      return showError(await errorMessage(response));
    }
    const { task } = (await response.json()) as { task: Task };
    const note = outcomeNote(response.status, task, before.get(task.id) ?? null);
    upsert(task, file.name, note.card);
    setNotice(note.page);
    highlight(task.id);
  } catch {
    setNotice("");
    showError("The upload did not reach the server. Check the connection and try again.");
  } finally {
    drop.classList.remove("busy");
    input.disabled = false;
    input.value = "";
  }
}

/** What submitting told: new, attached to a running one, already done, or resumed. */
function outcomeNote(status: number, task: Task, before: Task["state"] | null): { page: string; card: string | null } {
  if (status === 200 && task.state === "succeeded") return { page: "Already converted: this book was done before, so here it is.", card: "Already converted" };
  if (status === 200) return { page: "This book is already being converted: showing its progress.", card: "Already converting: attached to it" };
  // 202 is a new task (attempt 0), or a failed or cancelled one resumed (same id, its spoken chapters kept).
  if (before === "failed" || before === "canceled" || task.attempt > 0) {
    const from = firstUnspoken(task);
    const text = from !== null && from > 1 ? `Resumed from chapter ${from}` : "Resumed where it stopped";
    return { page: `${text}: the chapters already spoken are kept.`, card: text };
  }
  return { page: "Uploaded. It is spoken chapter by chapter below.", card: null };
}

function cancel(id: string): void {
  client.cancel(id).then(
    (task) => upsert(task),
    (error: unknown) => showError(messageOf(error)),
  );
}

function retry(id: string): void {
  client.retry(id).then(
    (task) => {
      const from = firstUnspoken(task);
      upsert(task, undefined, from !== null && from > 1 ? `Resumed from chapter ${from}` : "Trying again");
    },
    (error: unknown) => showError(messageOf(error)),
  );
}

/** Where a resumed book goes on: its first chapter not spoken yet (chapters are spoken in order). */
function firstUnspoken(task: Task): number | null {
  const chapters = books.get(task.id)?.chapters;
  if (chapters && chapters.length > 0) {
    const index = chapters.findIndex((c) => c.state !== "succeeded");
    return index === -1 ? null : index + 1;
  }
  const counts = task.progress.children;
  return counts && counts.total > counts.succeeded ? counts.succeeded + 1 : null;
}

function highlight(id: string): void {
  const el = cards.get(id)?.el;
  if (!el) return;
  el.scrollIntoView({ block: "nearest", behavior: "smooth" });
  el.classList.remove("flash");
  void el.offsetWidth;
  el.classList.add("flash");
}

// --- messages ---

let noticeTimer: ReturnType<typeof setTimeout> | undefined;
/** A short-lived line under the upload box (kept while `keepMs` is 0); the card keeps its own note. */
function setNotice(text: string, keepMs = 12_000): void {
  clearTimeout(noticeTimer);
  notice.textContent = text;
  notice.hidden = text === "";
  if (text !== "" && keepMs > 0) noticeTimer = setTimeout(() => setNotice(""), keepMs);
}

function showError(text: string): void {
  uploadError.textContent = text;
  uploadError.hidden = text === "";
}

async function errorMessage(response: Response): Promise<string> {
  const body = (await response.json().catch(() => null)) as { error?: { message?: unknown } } | null;
  const message = body?.error?.message;
  if (typeof message === "string" && message) return message;
  return `The server answered ${response.status} ${response.statusText}`.trim();
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

const LIVE_LABEL: Record<ConnectionState, string> = {
  idle: "",
  connecting: "Connecting…",
  open: "Live",
  backoff: "Reconnecting…",
  refreshing: "Reconnecting…",
  pruning: "Reconnecting…",
  failed: "Not connected",
  closed: "",
};

function showConnection({ state, lost }: ConnectionView): void {
  // Lost holds across the retries, so the words do not flicker between "Connecting" and "Reconnecting".
  live.textContent = lost ? "Connection lost — reconnecting…" : (LIVE_LABEL[state] ?? "");
  live.dataset.state = state;
  live.dataset.lost = String(lost);
}

// --- wiring ---

input.addEventListener("change", () => {
  const file = input.files?.[0];
  if (file) void upload(file);
});
for (const type of ["dragenter", "dragover"]) {
  drop.addEventListener(type, (event) => {
    event.preventDefault();
    drop.classList.add("over");
  });
}
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (event) => {
  event.preventDefault();
  drop.classList.remove("over");
  const file = event.dataTransfer?.files[0];
  if (file) void upload(file);
});

// Position and time left change with no event (time passes, chapters ahead end): read unfinished books and their chapters now and then.
setInterval(() => {
  for (const { task, chapters } of books.values()) {
    if (task.state === "queued" || task.state === "running") client.get(task.id).then((t) => upsert(t), () => {});
    if (chapters?.some((c) => c.state === "queued" || c.state === "running")) loadChapters(task.id);
  }
}, ESTIMATE_REFRESH_MS);

client.onConnectionChange(showConnection);
setNotice("");
showError("");
empty.hidden = true;
loadBooks()
  .catch((error: unknown) => showError(`Your books could not be loaded: ${messageOf(error)}`))
  .finally(() => {
    empty.hidden = books.size > 0;
    client.watchMine({
      onTask: (task) => {
        if (task.parentId !== null && books.has(task.parentId)) return upsertChapter(task);
        if (task.name === TASK_NAME && !books.has(task.id)) refreshList();
        // Events carry no estimates: the last read's stay until the next read.
        const known = books.get(task.id)?.task;
        upsert(known ? newerCopy(task, known) : task);
      },
    });
  });

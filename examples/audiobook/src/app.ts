import { rm } from "node:fs/promises";
import { OutlastError, isOutlastError, type Outlast, type Task } from "outlast";
import { STATUS_OF } from "outlast/server";
import { readLimited } from "./app-body.js";
import { appAssets, appHtml, type AppAssets } from "./app-assets.js";
import { BOOK_EXTENSIONS, extensionOf } from "./book.js";
import { AUDIOBOOK_TASK } from "./task.js";
import { saveUpload } from "./upload.js";

/** Options of {@link audiobookApp}. */
export interface AudiobookAppOptions {
  outlast: Outlast;
  /** The Outlast HTTP API (`createHandler(outlast, …)`): every upload is checked and submitted through it, as the caller. */
  api: (request: Request) => Promise<Response>;
  /** Folder holding `uploads/`; the same one `defineAudiobook` was given. */
  dataDir: string;
  /** Largest book accepted. @defaultValue 20 MiB */
  maxUploadBytes?: number;
  /** The task's name, as given to `defineAudiobook`. @defaultValue "audiobook.convert" */
  taskName?: string;
}

/** The caller's books as `GET /app/books` lists them: the API's tasks, with the file names and titles the API does not show. */
export interface BookListing {
  tasks: Task[];
  nextCursor: string | null;
  /** Uploaded file name by task id. */
  filenames: Record<string, string>;
  /** The book's own title by task id, once its "parse" step has read it. */
  titles: Record<string, string>;
}

/** Headers that say who the caller is; the API decides what they may do. */
const CALLER_HEADERS = ["authorization", "cookie", "origin", "sec-fetch-site"] as const;

/**
 * The audiobook web app: the page at `/`, its script and stylesheet under
 * `/app/`, `GET /app/books` (the caller's books with their file names) and
 * `POST /app/upload?filename=NAME` (the raw file as the body). It adds no
 * auth of its own: every request is checked and submitted by calling the
 * API with the caller's own credentials, so ownership, limits and errors are
 * exactly the API's. Answers null for any other request.
 * @example
 * const api = createHandler(outlast, { homePage: null, anonymousSessions: true });
 * const app = audiobookApp({ outlast, api, dataDir: outlast.store.localDataDir! });
 * const fetch = async (request: Request) => (await app(request)) ?? api(request);
 */
export function audiobookApp(options: AudiobookAppOptions): (request: Request) => Promise<Response | null> {
  const maxUploadBytes = options.maxUploadBytes ?? 20 * 1024 * 1024;
  const taskName = options.taskName ?? AUDIOBOOK_TASK;
  const { api, dataDir, outlast } = options;

  const upload = async (request: Request): Promise<Response> => {
    const checked = await api(asCaller(request, "GET", "/api/v1/tasks?limit=1"));
    if (!checked.ok) return checked;
    await checked.body?.cancel();
    const filename = new URL(request.url).searchParams.get("filename") ?? "";
    if (filename.length === 0 || filename.length > 255) {
      throw new OutlastError("bad_request", "Send the book's file name as ?filename=NAME (1 to 255 characters)");
    }
    if (!(BOOK_EXTENSIONS as readonly string[]).includes(extensionOf(filename))) {
      throw new OutlastError("bad_request", `Only .txt and .epub books can be read; "${filename.slice(0, 100)}" is neither`);
    }
    const bytes = await readLimited(request, maxUploadBytes);
    const saved = await saveUpload(dataDir, bytes, filename, { maxBytes: maxUploadBytes });
    const body = JSON.stringify({ name: taskName, input: { bookPath: saved.path, filename }, idempotencyKey: saved.idempotencyKey });
    inFlight.set(saved.path, (inFlight.get(saved.path) ?? 0) + 1);
    let accepted = false;
    try {
      const answer = await api(asCaller(request, "POST", "/api/v1/tasks", body));
      accepted = answer.ok;
      if (accepted) remember(acceptedPaths, saved.path);
      return answer;
    } finally {
      const left = inFlight.get(saved.path)! - 1;
      if (left === 0) inFlight.delete(saved.path);
      else inFlight.set(saved.path, left);
      // A refused book goes with the refusal, not at the next sweep, unless it was there before (another
      // task reads the same bytes), the same book is being submitted by another request right now, or
      // another request's submit of it was accepted meanwhile (another owner's task reads it).
      if (!accepted && saved.created && left === 0 && !acceptedPaths.has(saved.path)) await rm(saved.path, { force: true });
    }
  };
  /** Uploads between saving and the API's answer, by path. */
  const inFlight = new Map<string, number>();
  /** Books some task of this process's API accepted: a later refusal of the same bytes keeps them. */
  const acceptedPaths = new Set<string>();

  const books = async (request: Request): Promise<Response> => {
    const listed = await api(asCaller(request, "GET", `/api/v1/tasks?name=${encodeURIComponent(taskName)}&limit=100`));
    if (!listed.ok) return listed;
    const page = (await listed.json()) as Pick<BookListing, "tasks" | "nextCursor">;
    const filenames: Record<string, string> = {};
    const titles: Record<string, string> = {};
    // Only tasks the API just listed for this caller are looked up.
    for (const task of page.tasks) {
      const input = (await outlast.getRecord(task.id))?.input as { filename?: unknown } | undefined;
      if (typeof input?.filename === "string") filenames[task.id] = input.filename;
      const plan = (await outlast.store.getSteps(task.id)).get("parse") as { title?: unknown } | undefined;
      if (typeof plan?.title === "string" && plan.title) titles[task.id] = plan.title;
    }
    return json(200, { ...page, filenames, titles } satisfies BookListing, { "cache-control": "no-store" });
  };

  return async (request) => {
    const { pathname } = new URL(request.url);
    const method = request.method;
    try {
      if (pathname === "/" && (method === "GET" || method === "HEAD")) {
        const a = await assets();
        return new Response(method === "HEAD" ? null : appHtml(a.version, maxUploadBytes), { status: 200, headers: pageHeaders() });
      }
      if (pathname === "/app/app.js" && method === "GET") return file(request, await assets(), "js");
      if (pathname === "/app/app.css" && method === "GET") return file(request, await assets(), "css");
      if (pathname === "/app/books" && method === "GET") return await books(request);
      if (pathname === "/app/upload" && method === "POST") return await upload(request);
      return null;
    } catch (error) {
      return errorAnswer(error);
    }
  };
}

async function assets(): Promise<AppAssets> {
  try {
    return await appAssets();
  } catch (error) {
    throw new OutlastError("internal", "The audiobook page could not be built; see the server log", { cause: error });
  }
}

/** A request to the API carrying the caller's credentials (and origin, so cookie writes keep their CSRF check). */
function asCaller(request: Request, method: string, path: string, body?: string): Request {
  const headers = new Headers();
  for (const name of CALLER_HEADERS) {
    const value = request.headers.get(name);
    if (value !== null) headers.set(name, value);
  }
  if (body !== undefined) headers.set("content-type", "application/json");
  return new Request(new URL(path, request.url), body === undefined ? { method, headers } : { method, headers, body });
}

function file(request: Request, a: AppAssets, kind: "js" | "css"): Response {
  const headers = {
    "content-type": kind === "js" ? "text/javascript; charset=utf-8" : "text/css; charset=utf-8",
    "cache-control": "no-cache",
    etag: `"${a.version}"`,
    "x-content-type-options": "nosniff",
  };
  if (request.headers.get("if-none-match") === headers.etag) return new Response(null, { status: 304, headers });
  return new Response(a[kind], { status: 200, headers });
}

function pageHeaders(): Record<string, string> {
  return {
    "content-type": "text/html; charset=utf-8",
    "cache-control": "no-cache",
    // Everything comes from here: no CDN, no inline script. media-src for the players, blob: for nothing.
    "content-security-policy": "default-src 'self'; style-src 'self'; img-src 'self' data:; media-src 'self'; base-uri 'none'; frame-ancestors 'none'; form-action 'none'",
    "x-content-type-options": "nosniff",
  };
}

function errorAnswer(error: unknown): Response {
  if (!isOutlastError(error) || error.code === "internal") {
    if (isOutlastError(error)) console.error(error.cause ?? error);
    else console.error(error);
    return json(500, { error: { code: "internal", message: "Something went wrong on the server; it has been logged" } });
  }
  const body: { error: { code: string; message: string; details?: unknown } } = { error: { code: error.code, message: error.message } };
  if (error.details !== undefined) body.error.details = error.details;
  const status = STATUS_OF[error.code] ?? 500;
  // As the API does: the rest of a refused upload may still be coming, so this connection ends with the answer.
  return json(status, body, status === 413 ? { connection: "close" } : {});
}

function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json; charset=utf-8", ...headers } });
}

/** Most accepted books remembered; the oldest is forgotten first (the sweep still keeps a book a task reads). */
const MAX_REMEMBERED = 10_000;

function remember(paths: Set<string>, path: string): void {
  paths.delete(path);
  paths.add(path);
  if (paths.size > MAX_REMEMBERED) paths.delete(paths.values().next().value!);
}

import { OutlastError } from "../core/errors.js";
import { checkArtifactName } from "../engine/artifacts.js";
import type { Outlast } from "../engine/outlast.js";
import { ARTIFACT_CSP, checkDownloadName, contentDisposition, servedContentType } from "./artifact-headers.js";
import { errorResponse } from "./errors.js";

/**
 * A task's file as an HTTP answer: the whole file, or one byte range
 * (`Range: bytes=a-b`, `a-`, `-n`) with 206, so players can seek and
 * downloads can resume; sandboxed, and downloaded unless it is a kind
 * shown inline safely (artifact-headers.ts), under `filename` when given.
 */
export async function artifactResponse(
  outlast: Outlast,
  taskId: string,
  name: string,
  request: { range: string | undefined; filename: string | undefined },
): Promise<Response> {
  const rangeHeader = request.range;
  const filename = request.filename === undefined ? name : checkDownloadName(request.filename);
  const notFound = () => new OutlastError("not_found", `Task ${taskId} has no artifact named "${name.slice(0, 200)}"`);
  if (!outlast.artifacts) throw notFound();
  try {
    checkArtifactName(name);
  } catch {
    throw notFound();
  }
  const info = await outlast.artifacts.info(taskId, name);
  if (!info) throw notFound();
  const contentType = servedContentType(info.contentType);
  const headers = new Headers({
    "content-type": contentType,
    "accept-ranges": "bytes",
    "cache-control": "private, max-age=3600",
    "content-disposition": contentDisposition(contentType, filename),
    "content-security-policy": ARTIFACT_CSP,
    "x-content-type-options": "nosniff",
  });
  const range = rangeHeader === undefined ? null : parseRange(rangeHeader, info.size);
  if (range === "unsatisfiable") {
    const { response } = errorResponse(
      new OutlastError("range_not_satisfiable", `Range "${rangeHeader!.slice(0, 100)}" is outside the file's ${info.size} bytes`, {
        details: { size: info.size },
      }),
    );
    response.headers.set("content-range", `bytes */${info.size}`);
    return response;
  }
  if (info.size === 0) {
    headers.set("content-length", "0");
    return new Response(null, { status: 200, headers });
  }
  const body = await outlast.artifacts.read(taskId, name, range ?? undefined);
  if (!body) throw notFound();
  if (range) {
    headers.set("content-range", `bytes ${range.start}-${range.end}/${info.size}`);
    headers.set("content-length", String(range.end - range.start + 1));
    return new Response(body, { status: 206, headers });
  }
  headers.set("content-length", String(info.size));
  return new Response(body, { status: 200, headers });
}

/** One byte range, clipped to the file; null to send it whole (absent, or several ranges); "unsatisfiable" for 416. */
export function parseRange(header: string, size: number): { start: number; end: number } | null | "unsatisfiable" {
  const match = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!match) return header.trim().startsWith("bytes=") && header.includes(",") ? null : "unsatisfiable";
  const [, from, to] = match;
  if (from === "" && to === "") return "unsatisfiable";
  if (from === "") {
    const suffix = Number(to);
    if (suffix === 0) return "unsatisfiable";
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(from);
  const end = to === "" ? size - 1 : Math.min(Number(to), size - 1);
  if (start >= size || start > end) return "unsatisfiable";
  return { start, end };
}

import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { OutlastError } from "../core/errors.js";
import type { ServerContext } from "./context.js";
import { defineRoute, type Route } from "./route.js";

/** The dashboard's script and stylesheet, with a content hash for ETags. */
export interface PageBundle {
  js: string;
  css: string;
  version: string;
}

// `npm run build` writes the bundle to dist/dashboard/. The same relative path
// reaches it from dist/server/ (the package) and from src/server/ (this repository).
const BUNDLE_DIR = new URL("../../dist/dashboard/", import.meta.url);
let cached: Promise<PageBundle> | null = null;

/** The pre-built dashboard, read once per process. */
export function dashboardAssets(): Promise<PageBundle> {
  cached ??= readBundle();
  // A missing bundle (a checkout before `npm run build`) is looked for again on the next request.
  cached.catch(() => (cached = null));
  return cached;
}

async function readBundle(): Promise<PageBundle> {
  const [js, css] = await Promise.all([readFile(new URL("app.js", BUNDLE_DIR), "utf8"), readFile(new URL("app.css", BUNDLE_DIR), "utf8")]);
  const version = createHash("sha256").update(js).update(css).digest("base64url").slice(0, 16);
  return { js, css, version };
}

/** The page shell; the script reads the admin key from `#key=` or asks for it. */
export function dashboardHtml(version: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>Outlast dashboard</title>
<link rel="stylesheet" href="dashboard/app.css?v=${version}">
</head>
<body>
<div id="app"></div>
<script type="module" src="dashboard/app.js?v=${version}"></script>
</body>
</html>
`;
}

/** The bundle, or an error that says what is missing (logged once per request). */
async function load(ctx: ServerContext): Promise<PageBundle> {
  try {
    return await dashboardAssets();
  } catch (error) {
    ctx.log.error({ err: error }, "the dashboard's files (dist/dashboard) are missing; run npm run build");
    throw new OutlastError("internal", "The dashboard's files are missing from this installation; see the server log");
  }
}

function fileHeaders(type: string, version: string): Record<string, string> {
  return { "content-type": type, "cache-control": "no-cache", etag: `"${version}"`, "x-content-type-options": "nosniff" };
}

function fileRoute(file: "app.js" | "app.css", type: string, pick: (a: PageBundle) => string): Route {
  return defineRoute({
    method: "get",
    path: `/dashboard/${file}`,
    id: file === "app.js" ? "dashboardScript" : "dashboardStyles",
    tag: "dashboard",
    summary: `The dashboard's ${file === "app.js" ? "script" : "stylesheet"}`,
    auth: "none",
    headers: { "If-None-Match": "The ETag of the copy the browser holds (304 when it is current)" },
    responses: { "200": { description: "The file", contentType: type.split(";")[0]! }, "304": { description: "Not changed since the ETag sent in If-None-Match" } },
    async handle(c, ctx) {
      const a = await load(ctx);
      if (c.req.header("if-none-match") === `"${a.version}"`) return new Response(null, { status: 304, headers: fileHeaders(type, a.version) });
      return new Response(pick(a), { status: 200, headers: fileHeaders(type, a.version) });
    },
  });
}

/** `/dashboard` and its two files. The page holds no data: every call it makes needs the admin key. */
export const dashboardRoutes: readonly Route[] = [
  defineRoute({
    method: "get",
    path: "/dashboard",
    id: "dashboard",
    tag: "dashboard",
    summary: "The dashboard page (`#key=ADMIN_KEY` signs in)",
    auth: "none",
    responses: { "200": { description: "The page", contentType: "text/html" } },
    async handle(_c, ctx) {
      const a = await load(ctx);
      return new Response(dashboardHtml(a.version), {
        status: 200,
        headers: {
          "content-type": "text/html; charset=utf-8",
          "cache-control": "no-cache",
          // Everything is served from here: no CDN, no inline script.
          "content-security-policy": "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; base-uri 'none'; frame-ancestors 'none'",
          "x-content-type-options": "nosniff",
        },
      });
    },
  }),
  fileRoute("app.js", "text/javascript; charset=utf-8", (a) => a.js),
  fileRoute("app.css", "text/css; charset=utf-8", (a) => a.css),
];

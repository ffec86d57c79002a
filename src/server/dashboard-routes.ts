import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import type { Hono } from "hono";
import { OutlastError } from "../core/errors.js";
import type { ServerContext } from "./context.js";

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

/** `/dashboard` and its two files. The page holds no data: every call it makes needs the admin key. */
export function dashboardRoutes(app: Hono, ctx: ServerContext): void {
  const load = async () => {
    try {
      return await dashboardAssets();
    } catch (error) {
      ctx.log.error({ err: error }, "the dashboard's files (dist/dashboard) are missing; run npm run build");
      throw new OutlastError("internal", "The dashboard's files are missing from this installation; see the server log");
    }
  };
  const headers = (type: string, version: string) => ({
    "content-type": type,
    "cache-control": "no-cache",
    etag: `"${version}"`,
    "x-content-type-options": "nosniff",
  });
  const serveFile = (type: string, pick: (a: PageBundle) => string) => async (c: { req: { header(name: string): string | undefined } }) => {
    const a = await load();
    if (c.req.header("if-none-match") === `"${a.version}"`) return new Response(null, { status: 304, headers: headers(type, a.version) });
    return new Response(pick(a), { status: 200, headers: headers(type, a.version) });
  };

  app.get("/dashboard", async () => {
    const a = await load();
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
  });
  app.get("/dashboard/app.js", serveFile("text/javascript; charset=utf-8", (a) => a.js));
  app.get("/dashboard/app.css", serveFile("text/css; charset=utf-8", (a) => a.css));
}

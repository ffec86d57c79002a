import { createHash } from "node:crypto";
import { fileURLToPath } from "node:url";

/** The page's bundle: one script and one stylesheet, with a content hash for ETags. */
export interface AppAssets {
  js: string;
  css: string;
  version: string;
}

let assets: Promise<AppAssets> | null = null;

/**
 * Bundles `web/main.ts` with esbuild on first use and keeps it for the life
 * of the process, so `npm start` needs no build step.
 */
export function appAssets(): Promise<AppAssets> {
  if (!assets) {
    assets = buildAssets();
    // A failed build (a syntax error while editing) is tried again on the next request.
    assets.catch(() => (assets = null));
  }
  return assets;
}

async function buildAssets(): Promise<AppAssets> {
  // Loaded on demand: a process that never serves the page never starts esbuild.
  const { build } = await import("esbuild");
  const result = await build({
    entryPoints: [fileURLToPath(new URL("../web/main.ts", import.meta.url))],
    bundle: true,
    write: false,
    outdir: "audiobook-out",
    entryNames: "app",
    format: "esm",
    target: ["es2020", "chrome100", "firefox100", "safari15"],
    platform: "browser",
    minify: true,
    logLevel: "silent",
    legalComments: "none",
  });
  const js = result.outputFiles.find((f) => f.path.endsWith(".js"))?.text ?? "";
  const css = result.outputFiles.find((f) => f.path.endsWith(".css"))?.text ?? "";
  const version = createHash("sha256").update(js).update(css).digest("base64url").slice(0, 16);
  return { js, css, version };
}

/** The page shell; everything else is drawn by the script. */
export function appHtml(version: string, maxUploadBytes: number): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>Audiobook — Outlast</title>
<link rel="stylesheet" href="/app/app.css?v=${version}">
</head>
<body>
<main id="app" data-max-upload-bytes="${maxUploadBytes}">
<header class="top">
<h1>Audiobook</h1>
<p class="lead">Turn a <b>.txt</b> or <b>.epub</b> book into spoken MP3 chapters. The voice is eSpeak&nbsp;NG, running on this server: nothing leaves it.</p>
</header>
<noscript><p class="error">This page needs JavaScript.</p></noscript>
</main>
<script type="module" src="/app/app.js?v=${version}"></script>
</body>
</html>
`;
}

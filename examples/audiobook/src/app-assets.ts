import { pageBundle, type PageBundle } from "./page-bundle.js";

export type AppAssets = PageBundle;

/** The page's script and stylesheet, bundled on first use. */
export function appAssets(): Promise<AppAssets> {
  return pageBundle(new URL("../web/main.ts", import.meta.url));
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

import { createHash } from "node:crypto";
import { fileURLToPath } from "node:url";

/** A page's bundle: one script and one stylesheet, with a content hash for ETags. */
export interface PageBundle {
  js: string;
  css: string;
  version: string;
}

const bundles = new Map<string, Promise<PageBundle>>();

/**
 * Bundles a browser entry point with esbuild on first use and keeps it for
 * the life of the process, so `npm start` needs no build step. Used by the
 * dashboard and the example app.
 */
export function pageBundle(entry: URL, options: { jsxImportSource?: string } = {}): Promise<PageBundle> {
  const key = `${entry.href}\0${options.jsxImportSource ?? ""}`;
  let bundle = bundles.get(key);
  if (!bundle) {
    bundle = build(entry, options);
    bundles.set(key, bundle);
    // A failed build (a syntax error while editing) is tried again on the next request.
    bundle.catch(() => bundles.delete(key));
  }
  return bundle;
}

async function build(entry: URL, options: { jsxImportSource?: string }): Promise<PageBundle> {
  // Loaded on demand: a process that never serves a page never starts esbuild.
  const esbuild = await import("esbuild");
  const result = await esbuild.build({
    entryPoints: [fileURLToPath(entry)],
    bundle: true,
    write: false,
    outdir: "page-out",
    entryNames: "app",
    format: "esm",
    target: ["es2020", "chrome100", "firefox100", "safari15"],
    platform: "browser",
    minify: true,
    ...(options.jsxImportSource ? { jsx: "automatic" as const, jsxImportSource: options.jsxImportSource } : {}),
    define: { "process.env.NODE_ENV": '"production"' },
    logLevel: "silent",
    legalComments: "none",
  });
  const js = result.outputFiles.find((f) => f.path.endsWith(".js"))?.text ?? "";
  const css = result.outputFiles.find((f) => f.path.endsWith(".css"))?.text ?? "";
  const version = createHash("sha256").update(js).update(css).digest("base64url").slice(0, 16);
  return { js, css, version };
}

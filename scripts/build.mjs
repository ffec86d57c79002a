#!/usr/bin/env node
// `npm run build`: emits dist/ — the library, CLI and worker-thread entry as
// JavaScript with declarations and source maps (tsc), the dashboard as one
// pre-built script and stylesheet (esbuild), and the browser client package
// in packages/client, and dist/openapi.json (the HTTP API's OpenAPI document,
// made from the server's route table). Nothing is compiled at run time.
// Usage: node scripts/build.mjs [--dashboard-only]
import { spawnSync } from "node:child_process";
import { chmodSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { build } from "esbuild";

const root = new URL("..", import.meta.url).pathname;
const dashboardOnly = process.argv.includes("--dashboard-only");

function run(command, args, cwd = root) {
  const result = spawnSync(command, args, { cwd, stdio: "inherit" });
  if (result.status !== 0) {
    console.error(`build: ${command} ${args.join(" ")} failed`);
    process.exit(result.status ?? 1);
  }
}

function tsc(project) {
  run(process.execPath, [join(root, "node_modules/typescript/bin/tsc"), "-p", project]);
}

async function buildDashboard() {
  const outdir = join(root, "dist/dashboard");
  rmSync(outdir, { recursive: true, force: true });
  await build({
    entryPoints: [join(root, "src/dashboard/main.tsx")],
    bundle: true,
    outdir,
    entryNames: "app",
    format: "esm",
    target: ["es2020", "chrome100", "firefox100", "safari15"],
    platform: "browser",
    minify: true,
    jsx: "automatic",
    jsxImportSource: "preact",
    define: { "process.env.NODE_ENV": '"production"' },
    logLevel: "warning",
    legalComments: "none",
  });
}

if (dashboardOnly) {
  await buildDashboard();
  process.exit(0);
}

rmSync(join(root, "dist"), { recursive: true, force: true });
tsc("tsconfig.build.json");
chmodSync(join(root, "dist/cli/main.js"), 0o755);
await buildDashboard();
// From the compiled route table, so the shipped document is the one the server answers at /api/v1/openapi.json.
const { apiDocument } = await import(join(root, "dist/server/routes.js"));
writeFileSync(join(root, "dist/openapi.json"), `${JSON.stringify(apiDocument(), null, 2)}\n`);

const client = join(root, "packages/client");
rmSync(join(client, "dist"), { recursive: true, force: true });
tsc("packages/client/tsconfig.build.json");

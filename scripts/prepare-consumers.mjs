#!/usr/bin/env node
// Installs the consumer apps of test/consumers the way a user's app gets
// Outlast: `npm ci` for each app's own dependencies (one workspace, so once
// per run), then the packed tarballs with `npm install`. The copy lives
// outside the repository, so nothing resolves through this checkout's
// node_modules. The README's recipes are written into the apps: the tests
// run the code the README shows.
// Usage: node scripts/prepare-consumers.mjs PACK_DIR   (prints the apps' folder as its last line)
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";

const root = new URL("..", import.meta.url).pathname;
const packDir = process.argv[2];
if (!packDir) {
  console.error("usage: prepare-consumers.mjs PACK_DIR");
  process.exit(2);
}
const source = join(root, "test/consumers");
const tarballs = readdirSync(packDir).filter((f) => f.endsWith(".tgz")).sort().map((f) => join(packDir, f));
if (tarballs.length !== 2) {
  console.error(`prepare-consumers: expected the outlast and @outlast/client tarballs in ${packDir}, found ${tarballs.length}`);
  process.exit(1);
}

function run(command, args, cwd) {
  const started = Date.now();
  const result = spawnSync(command, args, { cwd, stdio: ["ignore", "inherit", "inherit"], env: { ...process.env, npm_config_audit: "false", npm_config_fund: "false", npm_config_update_notifier: "false" } });
  if (result.status !== 0) {
    console.error(`prepare-consumers: ${command} ${args.join(" ")} failed in ${cwd}`);
    process.exit(result.status ?? 1);
  }
  return (Date.now() - started) / 1000;
}

// Same lock file and same tarballs: the install of an earlier run is reused.
const hash = createHash("sha256").update(readFileSync(join(source, "package-lock.json")));
for (const tarball of tarballs) hash.update(readFileSync(tarball));
for (const app of readdirSync(source)) if (existsSync(join(source, app, "package.json"))) hash.update(readFileSync(join(source, app, "package.json")));
const key = hash.digest("hex").slice(0, 16);
const target = join(tmpdir(), `outlast-consumers-${key}`);

if (!existsSync(join(target, ".installed"))) {
  // Installs of other tarballs, unused for a day: gone (a run going on beside this one keeps its own).
  for (const old of readdirSync(tmpdir())) {
    const path = join(tmpdir(), old);
    if (old.startsWith("outlast-consumers-") && Date.now() - statSync(path).mtimeMs > 24 * 3600_000) rmSync(path, { recursive: true, force: true });
  }
  mkdirSync(target, { recursive: true });
  cpSync(source, target, { recursive: true, filter: (path) => !path.includes("node_modules") });
  const ci = run("npm", ["ci"], target);
  const own = run("npm", ["install", "--no-save", ...tarballs], target);
  writeFileSync(join(target, ".installed"), JSON.stringify({ ciSeconds: ci, tarballSeconds: own, tarballs }, null, 2));
  console.log(`consumer apps installed in ${target}: npm ci ${ci.toFixed(1)} s, the tarballs ${own.toFixed(1)} s`);
}

// The recipes: every fenced block after a `<!-- recipe: PATH [PATH…] -->` line of the README.
const readme = readFileSync(join(root, "README.md"), "utf8");
const recipe = /<!-- recipe: ([^>]+?) -->\s*\n```[a-z]*\n([\s\S]*?)\n```/g;
let count = 0;
for (const [, paths, code] of readme.matchAll(recipe)) {
  for (const path of paths.trim().split(/\s+/)) {
    mkdirSync(dirname(join(target, path)), { recursive: true });
    writeFileSync(join(target, path), `${code}\n`);
    count++;
  }
}
if (count === 0) {
  console.error("prepare-consumers: the README has no recipes");
  process.exit(1);
}
console.log(target);

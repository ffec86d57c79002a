#!/usr/bin/env node
// `npm test`: the checks CI runs, in order — type check (tsc, strict), build
// (dist/), package checks on the packed tarballs (publint, Are the Types
// Wrong) — then every *.test.ts under src/ and test/ with node's test runner
// (tsx for TypeScript), two files at a time: the machines have two cores.
// The consumer suites (test/consumers) install the packed tarballs.
// Usage: npm test [-- path-filter ...]
//   OUTLAST_SKIP_CHECKS=1 skips the type check and the package checks (the build still runs).
import { spawn, spawnSync } from "node:child_process";
import { mkdirSync, readdirSync, rmSync, statSync } from "node:fs";
import { join, relative } from "node:path";

const root = new URL("..", import.meta.url).pathname;
const filters = process.argv.slice(2);

function find(dir) {
  const out = [];
  for (const entry of readdirSync(dir)) {
    if (entry === "node_modules" || entry.startsWith(".")) continue;
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) out.push(...find(path));
    else if (entry.endsWith(".test.ts")) out.push(relative(root, path));
  }
  return out;
}

function step(label, command, args) {
  const started = Date.now();
  console.log(`# ${label}`);
  const result = spawnSync(command, args, { cwd: root, stdio: "inherit" });
  if (result.status !== 0) {
    console.error(`# ${label}: failed`);
    process.exit(result.status ?? 1);
  }
  console.log(`# ${label}: ok (${((Date.now() - started) / 1000).toFixed(1)} s)`);
}

const files = ["src", "test"].flatMap((d) => find(join(root, d))).filter((f) => filters.length === 0 || filters.some((p) => f.includes(p)));
if (files.length === 0) {
  console.error("no test files matched");
  process.exit(1);
}

const checks = process.env.OUTLAST_SKIP_CHECKS !== "1";
if (checks) step("type check (tsc --noEmit)", process.execPath, [join(root, "node_modules/typescript/bin/tsc"), "--noEmit", "-p", root]);
step("build (npm run build)", process.execPath, [join(root, "scripts/build.mjs")]);
const packDir = join(root, "node_modules/.cache/outlast-pack");
rmSync(packDir, { recursive: true, force: true });
mkdirSync(packDir, { recursive: true });
if (checks) step("package checks (publint, attw)", process.execPath, [join(root, "scripts/check-package.mjs"), "--out", packDir]);

const env = { ...process.env, OUTLAST_TEST_PACK_DIR: packDir };
if (files.some((f) => f.startsWith("test/package/"))) {
  if (!checks) step("pack the tarballs", process.execPath, [join(root, "scripts/check-package.mjs"), "--out", packDir]);
  console.log("# consumer apps (npm ci, then the tarballs)");
  const started = Date.now();
  const prepared = spawnSync(process.execPath, [join(root, "scripts/prepare-consumers.mjs"), packDir], { cwd: root, encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] });
  if (prepared.status !== 0) {
    process.stdout.write(prepared.stdout ?? "");
    console.error("# consumer apps: failed");
    process.exit(prepared.status ?? 1);
  }
  const lines = prepared.stdout.trim().split("\n");
  for (const line of lines.slice(0, -1)) console.log(`# ${line}`);
  env.OUTLAST_TEST_CONSUMERS_DIR = lines.at(-1);
  console.log(`# consumer apps: ok (${((Date.now() - started) / 1000).toFixed(1)} s)`);
}

const concurrency = process.env.OUTLAST_TEST_CONCURRENCY ?? "2";
const child = spawn(
  process.execPath,
  ["--import", "tsx", "--test", `--test-concurrency=${concurrency}`, "--test-timeout=300000", ...files],
  { cwd: root, stdio: "inherit", env },
);
child.on("exit", (code, signal) => process.exit(code ?? (signal ? 1 : 0)));

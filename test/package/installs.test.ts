// What `npm install` brings into a fresh project: the server package with
// SQLite and no build tools or optional drivers, and the browser client
// with nothing at all. The figures are printed for the notes.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { guardLeaks } from "../support/leaks.js";
import { tempDir } from "../support/temp.js";
import { consumerApps } from "./support.js";

guardLeaks();

function npmInstall(cwd: string, specs: string[]): number {
  const started = Date.now();
  const result = spawnSync("npm", ["install", "--no-audit", "--no-fund", ...specs], { cwd, encoding: "utf8" });
  assert.equal(result.status, 0, result.stderr);
  return (Date.now() - started) / 1000;
}

function packages(cwd: string): string[] {
  const dir = join(cwd, "node_modules");
  return readdirSync(dir)
    .filter((name) => !name.startsWith("."))
    .flatMap((name) => (name.startsWith("@") ? readdirSync(join(dir, name)).map((sub) => `${name}/${sub}`) : [name]));
}

function bytes(path: string): number {
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.size;
  return readdirSync(path).reduce((sum, name) => sum + bytes(join(path, name)), 0);
}

const project = (t: Parameters<typeof tempDir>[0]) => {
  const cwd = tempDir(t, "outlast-fresh");
  writeFileSync(join(cwd, "package.json"), JSON.stringify({ name: "fresh", private: true, type: "module", allowScripts: { "better-sqlite3": true } }));
  return cwd;
};
const tarball = (name: string) => {
  const { packDir } = consumerApps();
  return join(packDir, readdirSync(packDir).find((f) => f.startsWith(name) && f.endsWith(".tgz"))!);
};

test("npm install outlast in a fresh project: SQLite works, and no pg, esbuild, Preact or uPlot comes along", async (t) => {
  const cwd = project(t);
  const seconds = npmInstall(cwd, [tarball("outlast-0")]);
  const installed = packages(cwd);
  for (const absent of ["pg", "esbuild", "preact", "uplot", "react", "tsx", "typescript"]) assert.ok(!installed.includes(absent), `${absent} was installed`);
  for (const present of ["outlast", "better-sqlite3", "hono", "zod"]) assert.ok(installed.includes(present), `${present} is missing`);
  const run = spawnSync(process.execPath, ["--input-type=module", "-e", 'import { sqliteStore } from "outlast/sqlite"; const s = sqliteStore({ path: ":memory:" }); console.log(typeof s.submit); await s.close();'], { cwd, encoding: "utf8" });
  assert.equal(run.stdout.trim(), "function", run.stderr);
  const size = bytes(join(cwd, "node_modules"));
  const withPg = npmInstall(cwd, ["pg@^8"]);
  t.diagnostic(`npm install outlast: ${seconds.toFixed(1)} s, ${installed.length} packages, ${(size / 1024 / 1024).toFixed(1)} MiB; then npm install pg: ${withPg.toFixed(1)} s`);
});

test("npm install @outlast/client in a fresh front end brings no dependency at all", async (t) => {
  const cwd = project(t);
  const seconds = npmInstall(cwd, [tarball("outlast-client-0")]);
  assert.deepEqual(packages(cwd), ["@outlast/client"]);
  const size = bytes(join(cwd, "node_modules"));
  t.diagnostic(`npm install @outlast/client: ${seconds.toFixed(1)} s, 1 package, ${(size / 1024).toFixed(0)} KiB on disk`);
});

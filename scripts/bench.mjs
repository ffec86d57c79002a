#!/usr/bin/env node
// `npm run bench [-- --quick] [-- --only sqlite,progress,bullmq,postgres]`
// Installs the bench's own dependencies (the peer systems) when missing, then
// runs bench/run.ts with tsx. See bench/README.md.
import { spawn, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";

const root = new URL("..", import.meta.url).pathname;
const bench = join(root, "bench");
const npm = process.platform === "win32" ? "npm.cmd" : "npm";

function npmRun(command) {
  console.error(`bench: installing the bench's dependencies (npm ${command} --prefix bench)…`);
  return spawnSync(npm, [command, "--prefix", bench, "--no-audit", "--no-fund"], { cwd: root, stdio: "inherit" }).status === 0;
}

if (!existsSync(join(bench, "node_modules", ".package-lock.json"))) {
  // `npm ci` refuses a lockfile made where a registry mirror lacks other
  // platforms' optional packages; `npm install` then installs the same tree.
  const ok = (existsSync(join(bench, "package-lock.json")) && npmRun("ci")) || npmRun("install");
  if (!ok) {
    console.error("bench: could not install the bench's dependencies");
    process.exit(1);
  }
}

const child = spawn(process.execPath, ["--import", "tsx", join(bench, "run.ts"), ...process.argv.slice(2)], { cwd: root, stdio: "inherit" });
const forward = (signal) => child.kill(signal);
process.on("SIGINT", forward);
process.on("SIGTERM", forward);
child.on("exit", (code, signal) => process.exit(code ?? (signal ? 1 : 0)));

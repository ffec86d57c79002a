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

if (!existsSync(join(bench, "node_modules", ".package-lock.json"))) {
  const command = existsSync(join(bench, "package-lock.json")) ? "ci" : "install";
  console.error(`bench: installing the bench's dependencies (npm ${command} --prefix bench)…`);
  const install = spawnSync(npm, [command, "--prefix", bench, "--no-audit", "--no-fund"], { cwd: root, stdio: "inherit" });
  if (install.status !== 0) {
    console.error(`bench: npm ${command} --prefix bench failed`);
    process.exit(install.status ?? 1);
  }
}

const child = spawn(process.execPath, ["--import", "tsx", join(bench, "run.ts"), ...process.argv.slice(2)], { cwd: root, stdio: "inherit" });
const forward = (signal) => child.kill(signal);
process.on("SIGINT", forward);
process.on("SIGTERM", forward);
child.on("exit", (code, signal) => process.exit(code ?? (signal ? 1 : 0)));

#!/usr/bin/env node
// `npm run bench [-- --quick] [-- --only sqlite,progress,bullmq,postgres,python,steps,fleet,history,streams]`
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
  // The peers' versions are pinned in bench/package.json and its lock file:
  // `npm ci` installs exactly those, or the bench does not run.
  if (!npmRun("ci")) {
    console.error("bench: `npm ci --prefix bench` failed: the lock file must match bench/package.json (regenerate it with `npm install --package-lock-only --prefix bench`)");
    process.exit(1);
  }
}

// "streams" is the HTTP fan-out bench (bench/fanout/run.ts); every other section is bench/run.ts's.
const args = process.argv.slice(2);
const onlyAt = args.findIndex((a) => a === "--only" || a.startsWith("--only="));
const only = onlyAt < 0 ? null : (args[onlyAt].includes("=") ? args[onlyAt].split("=")[1] : args[onlyAt + 1] ?? "").split(",").filter(Boolean);
const streams = only === null || only.includes("streams");
const rest = only?.filter((s) => s !== "streams") ?? null;
const runArgs = rest === null ? args : rest.length === 0 ? null : [...args.slice(0, onlyAt), `--only=${rest.join(",")}`, ...args.slice(onlyAt + (args[onlyAt].includes("=") ? 1 : 2))];

function run(script, scriptArgs) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ["--import", "tsx", join(bench, script), ...scriptArgs], { cwd: root, stdio: "inherit" });
    const forward = (signal) => child.kill(signal);
    process.on("SIGINT", forward);
    process.on("SIGTERM", forward);
    child.on("exit", (code, signal) => {
      process.off("SIGINT", forward);
      process.off("SIGTERM", forward);
      resolve(code ?? (signal ? 1 : 0));
    });
  });
}

let code = 0;
if (runArgs !== null) code = await run("run.ts", runArgs);
if (code === 0 && streams) code = await run("fanout/run.ts", args.includes("--quick") ? ["--quick"] : []);
process.exit(code);

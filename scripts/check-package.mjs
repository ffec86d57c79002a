#!/usr/bin/env node
// Packs outlast and @outlast/client (already built) and checks the tarballs as
// a user's tools would see them: publint (package.json against the files) and
// Are the Types Wrong (types for every entry point, ESM resolution).
// Usage: node scripts/check-package.mjs [--out DIR]   (prints the tarballs' paths)
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const root = new URL("..", import.meta.url).pathname;
const outIndex = process.argv.indexOf("--out");
const out = outIndex > 0 ? process.argv[outIndex + 1] : mkdtempSync(join(tmpdir(), "outlast-pack-"));
mkdirSync(out, { recursive: true });

function run(command, args, cwd = root) {
  const result = spawnSync(command, args, { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] });
  if (result.status !== 0) {
    process.stdout.write(result.stdout ?? "");
    console.error(`check-package: ${command} ${args.join(" ")} failed`);
    process.exit(result.status ?? 1);
  }
  return result.stdout;
}

const bin = (name) => join(root, "node_modules/.bin", name);
const tarballs = [];
for (const dir of [root, join(root, "packages/client")]) {
  const [info] = JSON.parse(run("npm", ["pack", "--ignore-scripts", "--json", "--pack-destination", out], dir));
  const tarball = join(out, info.filename);
  console.log(`packed ${info.name}@${info.version}: ${info.entryCount} files, ${(info.size / 1024).toFixed(1)} KiB (${(info.unpackedSize / 1024).toFixed(1)} KiB unpacked)`);
  const shipped = info.files.map((f) => f.path);
  const stray = shipped.filter((p) => /^(test|src|bench|scripts|examples)\//.test(p) || /\.test\.|\/contract\//.test(p));
  if (stray.length > 0) {
    console.error(`check-package: ${info.name} ships files it must not: ${stray.join(", ")}`);
    process.exit(1);
  }
  if (info.name === "outlast" && !shipped.includes("dist/openapi.json")) {
    console.error("check-package: outlast ships no dist/openapi.json (exports \"./openapi.json\"): build with node scripts/build.mjs first");
    process.exit(1);
  }
  process.stdout.write(run(bin("publint"), ["run", "--strict", tarball]));
  // ESM only: CommonJS callers use require(esm) on Node >= 20.19, which this version of attw does not model.
  process.stdout.write(run(bin("attw"), ["--profile", "esm-only", "--format", "table-flipped", "--no-emoji", "--no-color", tarball]));
  tarballs.push(tarball);
}
console.log(`tarballs: ${tarballs.join(" ")}`);

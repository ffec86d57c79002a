import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { guardLeaks } from "../support/leaks.js";
import { PG_URL } from "../support/pg.js";

guardLeaks();

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const CLI = join(ROOT, "dist/cli/main.js");

// The Python package's own unittest suite (clients/python/tests: the client and the worker) against real `outlast serve`
// processes on SQLite and PostgreSQL; counted here so `npm test` fails when it fails.
test("the Python client's unittest suite passes against a real outlast serve (SQLite and PostgreSQL)", async (t) => {
  assert.ok(existsSync(CLI), `No built CLI at ${CLI}: run node scripts/build.mjs first (npm test builds before the tests)`);
  const child = spawn("python3", ["-m", "unittest", "discover", "-s", "clients/python/tests", "-v"], {
    cwd: ROOT,
    env: { ...process.env, OUTLAST_CLI: CLI, OUTLAST_NODE: process.execPath, OUTLAST_TEST_PG_URL: PG_URL, PYTHONDONTWRITEBYTECODE: "1" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
  const exited = new Promise<number | null>((resolve) => child.once("close", (code) => resolve(code)));
  // Generous: the suite (the client and the worker) takes about 35 s on a quiet machine; a hung one is killed, not waited for.
  const timer = setTimeout(() => child.kill("SIGKILL"), 150_000);
  t.after(async () => {
    clearTimeout(timer);
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    await exited;
  });
  const code = await exited;
  assert.equal(code, 0, `python3 -m unittest failed:\n${output}`);
  const ran = /^Ran (\d+) tests?/m.exec(output);
  assert.ok(ran && Number(ran[1]) >= 30, `expected the whole suite to run:\n${output}`);
  assert.match(output, /^OK/m);
});

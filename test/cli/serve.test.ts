import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { join } from "node:path";
import { guardLeaks } from "../support/leaks.js";
import { tempDir } from "../support/temp.js";
import { SseReader } from "../server/sse-reader.js";

guardLeaks();

const root = new URL("../..", import.meta.url).pathname;

test("outlast serve runs the API with demo.count; failAt fails the first attempt and the retry skips counted steps; SIGTERM stops it cleanly", async (t) => {
  const db = join(tempDir(t), "serve.db");
  const child = spawn(process.execPath, ["--import", "tsx", "src/cli/main.ts", "serve", "--port", "0", "--db", db, "--concurrency", "2"], {
    cwd: root,
    env: { ...process.env, OUTLAST_ADMIN_KEY: "", OUTLAST_LOG_LEVEL: "warn" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  t.after(async () => {
    if (child.exitCode === null) child.kill("SIGKILL");
    await exited;
  });
  let out = "";
  child.stdout.on("data", (chunk: Buffer) => (out += chunk.toString()));
  child.stderr.on("data", (chunk: Buffer) => (out += chunk.toString()));
  const end = Date.now() + 20_000;
  while (!/admin key\s+(\S+)/.test(out)) {
    if (Date.now() > end || child.exitCode !== null) assert.fail(`serve did not start:\n${out}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const base = /running on (http:\/\/\S+)/.exec(out)![1]!;
  const key = /admin key\s+(\S+)/.exec(out)![1]!;
  const auth = { authorization: `Bearer ${key}` };

  const res = await fetch(`${base}/api/v1/tasks`, {
    method: "POST",
    headers: { ...auth, "content-type": "application/json" },
    body: JSON.stringify({ name: "demo.count", input: { to: 6, everyMs: 1, failAt: 4 } }),
  });
  assert.equal(res.status, 202);
  const { task } = (await res.json()) as { task: { id: string } };
  const reader = new SseReader(await fetch(`${base}/api/v1/tasks/${task.id}/events`, { headers: auth }));
  const states: string[] = [];
  let result: unknown;
  for (let e = await reader.next(); e; e = await reader.next()) {
    if (e.event === "state") states.push(e.data.state as string);
    if (e.data.result) result = e.data.result;
  }
  assert.equal(states.at(-1), "succeeded", states.join(","));
  // Steps 1-3 ran on the failed first attempt; the second ran only 4-6.
  assert.deepEqual(result, { counted: 6, ranSteps: 3 });

  const session = await fetch(`${base}/api/v1/session`, { method: "POST" });
  assert.equal(session.status, 200, "anonymous sessions are on by default");

  child.kill("SIGTERM");
  assert.equal(await exited, 0);
});

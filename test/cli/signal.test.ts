import assert from "node:assert/strict";
import { test } from "node:test";
import { guardLeaks } from "../support/leaks.js";
import { tempDbPath } from "../support/temp.js";
import { ADMIN_KEY, runCli, startCli, TASKS_FIXTURE } from "./cli.js";

guardLeaks();

test("outlast signal delivers to a waiting task; a bad payload and a finished task exit 1 with the server's message", async (t) => {
  const db = tempDbPath(t);
  const serve = await startCli(t, ["serve", "--port", "0", "--db", db, "--tasks", TASKS_FIXTURE], /running on (http:\/\/\S+)/);
  const http = ["--url", serve.ready[1]!, "--token", ADMIN_KEY];
  const submitted = await runCli(["submit", "cli.approve", "--json", ...http]);
  assert.equal(submitted.code, 0, submitted.stderr);
  const id = (JSON.parse(submitted.stdout) as { task: { id: string } }).task.id;
  for (let i = 0; i < 100; i++) {
    const waiting = await runCli(["tasks", "--state", "waiting", "--json", ...http]);
    if ((JSON.parse(waiting.stdout) as { tasks: { id: string }[] }).tasks.some((task) => task.id === id)) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const bad = await runCli(["signal", id, "approved", "--payload", '{"by": 7}', ...http]);
  assert.equal(bad.code, 1, bad.stderr);
  assert.match(bad.stderr, /by/);
  const sent = await runCli(["signal", id, "approved", "--payload", '{"by": "ana"}', ...http]);
  assert.equal(sent.code, 0, sent.stderr);
  assert.match(sent.stdout, new RegExp(`^delivered: ${id} runs on`));
  const watched = await runCli(["watch", id, ...http]);
  assert.equal(watched.code, 0, watched.stderr);
  assert.deepEqual(JSON.parse(watched.stdout.trim().split("\n").at(-1)!), { by: "ana" });
  const late = await runCli(["signal", id, "approved", ...http]);
  assert.equal(late.code, 1);
  assert.match(late.stderr, /already succeeded/);
});

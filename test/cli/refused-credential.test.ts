import { test } from "node:test";
import assert from "node:assert/strict";
import { guardLeaks } from "../support/leaks.js";
import { tempDbPath } from "../support/temp.js";
import { ADMIN_KEY, runCli, startApiOnly, startCli, TASKS_FIXTURE } from "./cli.js";

guardLeaks();

test("watch exits 4, not 1 (task failed), when the server restarts with another admin key while the task is unfinished", async (t) => {
  const db = tempDbPath(t);
  const first = await startApiOnly(t, db);
  const port = new URL(first.url).port;
  const http = ["--url", first.url, "--token", ADMIN_KEY];
  // No worker: the task stays queued for the whole test.
  const id = (await runCli(["submit", "cli.add", "--input", '{"a":1,"b":1}', ...http])).stdout.trim();
  assert.match(id, /^tsk_/);
  const watch = await startCli(t, ["watch", id, ...http], /^progress .*queued/m);

  first.child.process.kill("SIGKILL");
  await first.child.exited;
  await startCli(t, ["serve", "--port", port, "--db", db, "--tasks", TASKS_FIXTURE, "--no-workers"], /running on (http:\/\/\S+)/, {
    OUTLAST_ADMIN_KEY: "another-admin-key-after-the-restart",
  });

  assert.equal(await watch.exited, 4, watch.output());
  assert.match(watch.output(), /pass --token, or set OUTLAST_TOKEN or OUTLAST_ADMIN_KEY/);
  const state = JSON.parse((await runCli(["tasks", "--json", "--url", first.url, "--token", "another-admin-key-after-the-restart"])).stdout) as { tasks: { id: string; state: string }[] };
  assert.deepEqual(state.tasks.map((x) => [x.id, x.state]), [[id, "queued"]], "the task itself did not fail");
});

test("a refused credential exits 4 from every HTTP command: submit, watch, tasks and queue", async (t) => {
  const db = tempDbPath(t);
  const { url } = await startApiOnly(t, db);
  const id = (await runCli(["submit", "cli.add", "--input", '{"a":1,"b":1}', "--url", url, "--token", ADMIN_KEY])).stdout.trim();
  const wrong = ["--url", url, "--token", "not-the-admin-key-of-this-server"];
  for (const args of [["submit", "cli.add", "--input", '{"a":1,"b":1}'], ["watch", id], ["tasks"], ["queue", "list"]]) {
    const result = await runCli([...args, ...wrong]);
    assert.equal(result.code, 4, `${args.join(" ")}: ${result.stderr}`);
  }
  // An owner token is valid but may not do admin work: 403, the same exit code.
  const minted = await fetch(`${url}/api/v1/tokens`, {
    method: "POST",
    headers: { authorization: `Bearer ${ADMIN_KEY}`, "content-type": "application/json" },
    body: JSON.stringify({ owner: "ada" }),
  });
  const { token } = (await minted.json()) as { token: string };
  const forbidden = await runCli(["queue", "list", "--url", url, "--token", token]);
  assert.equal(forbidden.code, 4, forbidden.stderr);
});

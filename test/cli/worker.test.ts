import { test } from "node:test";
import assert from "node:assert/strict";
import { guardLeaks } from "../support/leaks.js";
import { tempDbPath } from "../support/temp.js";
import { ADMIN_KEY, runCli, runCliInTerminal, startApiOnly, startCli, startWorker, TASKS_FIXTURE } from "./cli.js";

guardLeaks();

test("serve --no-workers plus a worker process on the same SQLite file: submit, watch, tasks; SIGTERM stops the worker with exit 0", async (t) => {
  const db = tempDbPath(t);
  const { url, child: api } = await startApiOnly(t, db);
  assert.match(api.stdout(), /workers\s+none here \(--no-workers\)/);
  assert.match(api.stdout(), /it runs once an `outlast worker` process on this database defines the task/);
  const worker = await startWorker(t, db, ["--concurrency", "2", "--grace-ms", "5000"]);
  assert.match(worker.ready[0], /^worker wrk_\S+ ready: cli\.add, cli\.approve, cli\.fail, cli\.side on queues default, side \(/);
  const http = ["--url", url, "--token", ADMIN_KEY];

  // Submit and watch: the worker process, not the server, runs the task.
  const ok = await runCli(["submit", "cli.add", "--input", '{"a":2,"b":3,"steps":4,"everyMs":40}', "--owner", "ada", "--watch", ...http]);
  assert.equal(ok.code, 0, ok.stderr);
  const lines = ok.stdout.trim().split("\n");
  const id = lines[0]!;
  assert.match(id, /^tsk_/);
  assert.deepEqual(JSON.parse(lines.at(-1)!), { sum: 5, pid: worker.process.pid });
  // Not a terminal: plain progress lines, the last one complete.
  const progress = lines.filter((l) => l.startsWith("progress "));
  assert.ok(progress.length >= 1, ok.stdout);
  assert.ok(progress.some((l) => /^progress 100%  4\/4  step 4  (running|succeeded)$/.test(l)), ok.stdout);

  // watch on a finished task answers at once with the same result.
  const again = await runCli(["watch", id, ...http]);
  assert.equal(again.code, 0, again.stderr);
  assert.deepEqual(JSON.parse(again.stdout.trim().split("\n").at(-1)!), { sum: 5, pid: worker.process.pid });

  // A failing task: watch exits 1 and prints the error on stderr.
  const submitted = await runCli(["submit", "cli.fail", "--json", ...http]);
  assert.equal(submitted.code, 0, submitted.stderr);
  const body = JSON.parse(submitted.stdout) as { task: { id: string; name: string; state: string }; token: string };
  assert.equal(body.task.name, "cli.fail");
  assert.match(body.token, /\S/);
  const failed = await runCli(["watch", body.task.id, ...http]);
  assert.equal(failed.code, 1, failed.stderr);
  assert.match(failed.stderr, new RegExp(`task ${body.task.id} failed: cli\\.fail fails on purpose`));

  // The server refuses input it cannot take: exit 1 with its message.
  const refused = await runCli(["submit", "no.such.task", ...http]);
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /no\.such\.task/);
  const noToken = await runCli(["tasks", "--url", url], { env: { OUTLAST_ADMIN_KEY: "" } });
  assert.equal(noToken.code, 4, "a refused credential has its own exit code");
  assert.match(noToken.stderr, /pass --token, or set OUTLAST_TOKEN or OUTLAST_ADMIN_KEY/);

  // The table and its filters.
  const table = await runCli(["tasks", ...http]);
  assert.equal(table.code, 0, table.stderr);
  const rows = table.stdout.trim().split("\n");
  assert.match(rows[0]!, /^ID\s+NAME\s+STATE\s+PROGRESS\s+ATTEMPT\s+CREATED$/);
  assert.equal(rows.length, 3, table.stdout);
  assert.match(rows[1]!, new RegExp(`^${body.task.id}\\s+cli\\.fail\\s+failed\\s+-\\s+1/1\\s+\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\dZ$`));
  assert.match(rows[2]!, new RegExp(`^${id}\\s+cli\\.add\\s+succeeded\\s+100%\\s+1/3\\s+`));

  const onlyFailed = await runCli(["tasks", "--state", "failed", "--json", ...http]);
  assert.deepEqual((JSON.parse(onlyFailed.stdout) as { tasks: { id: string }[] }).tasks.map((x) => x.id), [body.task.id]);
  const byName = await runCli(["tasks", "--name", "cli.add", "--json", ...http]);
  assert.deepEqual((JSON.parse(byName.stdout) as { tasks: { id: string }[] }).tasks.map((x) => x.id), [id]);
  const byOwner = await runCli(["tasks", "--owner", "ada", "--json", ...http]);
  assert.deepEqual((JSON.parse(byOwner.stdout) as { tasks: { id: string }[] }).tasks.map((x) => x.id), [id]);

  // Pages: one per request; --all follows nextCursor to the end.
  const firstPage = await runCli(["tasks", "--limit", "1", "--json", ...http]);
  const page = JSON.parse(firstPage.stdout) as { tasks: { id: string }[]; nextCursor: string | null };
  assert.deepEqual(page.tasks.map((x) => x.id), [body.task.id]);
  assert.notEqual(page.nextCursor, null);
  const everything = await runCli(["tasks", "--limit", "1", "--all", "--json", ...http]);
  const all = JSON.parse(everything.stdout) as { tasks: { id: string }[]; nextCursor: string | null };
  assert.deepEqual(all.tasks.map((x) => x.id), [body.task.id, id]);
  assert.equal(all.nextCursor, null);
  const shortTable = await runCli(["tasks", "--limit", "1", ...http]);
  assert.match(shortTable.stderr, /more tasks: --all lists every page/);

  // On a terminal: one line redrawn with \r, a bar, and the result after it.
  const tty = await runCliInTerminal(["submit", "cli.add", "--input", '{"a":1,"b":2,"steps":5,"everyMs":200}', "--watch", ...http]);
  assert.equal(tty.code, 0, tty.stdout + tty.stderr);
  assert.doesNotMatch(tty.stdout, /^progress /m, "plain lines are for pipes");
  const frames = tty.stdout.split("\r\x1b[K").slice(1);
  assert.match(frames[0]!, /^\[-{24}\] (queued|running)/, JSON.stringify(tty.stdout));
  assert.ok(frames.length >= 2, JSON.stringify(tty.stdout));
  assert.match(frames.at(-1)!, /^\[#{24}\] 100%  5\/5  step 5  succeeded\r?\n\{"sum":3,"pid":\d+\}\r?\n$/);

  worker.process.kill("SIGTERM");
  assert.equal(await worker.exited, 0, worker.output());
});

test("worker --queues runs only the named queues; tasks of the others wait for another worker", async (t) => {
  const db = tempDbPath(t);
  const { url } = await startApiOnly(t, db);
  const http = ["--url", url, "--token", ADMIN_KEY];
  const sideOnly = await startWorker(t, db, ["--queues", "side"]);
  assert.match(sideOnly.ready[0], /ready: cli\.side on queue side \(/);

  const add = (await runCli(["submit", "cli.add", "--input", '{"a":1,"b":1,"steps":1,"everyMs":1}', ...http])).stdout.trim();
  const side = await runCli(["submit", "cli.side", "--watch", ...http]);
  assert.equal(side.code, 0, side.stderr);
  assert.deepEqual(JSON.parse(side.stdout.trim().split("\n").at(-1)!), { side: true, pid: sideOnly.process.pid });
  const waiting = JSON.parse((await runCli(["tasks", "--name", "cli.add", "--json", ...http])).stdout) as { tasks: { id: string; state: string }[] };
  assert.deepEqual(waiting.tasks.map((x) => [x.id, x.state]), [[add, "queued"]]);

  const general = await startWorker(t, db, ["--queues", "default"]);
  const done = await runCli(["watch", add, ...http]);
  assert.equal(done.code, 0, done.stderr);
  assert.deepEqual(JSON.parse(done.stdout.trim().split("\n").at(-1)!), { sum: 2, pid: general.process.pid });
});

test("watch rides out a server restart: it reconnects on its own and still exits 0 with the result", async (t) => {
  const db = tempDbPath(t);
  const first = await startApiOnly(t, db);
  const port = new URL(first.url).port;
  const worker = await startWorker(t, db);
  const http = ["--url", first.url, "--token", ADMIN_KEY];
  // Long enough (8 s) that a watch started on a loaded machine still finds it running.
  const id = (await runCli(["submit", "cli.add", "--input", '{"a":4,"b":5,"steps":80,"everyMs":100}', ...http])).stdout.trim();
  const watch = await startCli(t, ["watch", id, ...http], /^progress .*running/m);

  first.child.process.kill("SIGKILL");
  await first.child.exited;
  const deadline = Date.now() + 20_000;
  while (!/connection lost; reconnecting/.test(watch.output())) {
    assert.ok(Date.now() < deadline && watch.process.exitCode === null, `watch did not notice the server going away:\n${watch.output()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  await startCli(t, ["serve", "--port", port, "--db", db, "--tasks", TASKS_FIXTURE, "--no-workers"], /running on (http:\/\/\S+)/);

  assert.equal(await watch.exited, 0, watch.output());
  assert.deepEqual(JSON.parse(watch.stdout().trim().split("\n").at(-1)!), { sum: 9, pid: worker.process.pid });
  assert.match(watch.output(), /reconnected/);
});

// The packed package in a plain Node.js ESM app: the README's own examples
// run unchanged with `node`, the CLI runs from the installed package, and
// CommonJS and a missing optional driver behave as the README says.
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { guardLeaks } from "../support/leaks.js";
import { tempDir } from "../support/temp.js";
import { SseReader } from "../server/sse-reader.js";
import { ADMIN_KEY, consumerApps, freePort, startApp, statusOf } from "./support.js";

guardLeaks();

const plain = () => join(consumerApps().apps, "plain");
const freshDb = (cwd: string) => {
  for (const suffix of ["", "-wal", "-shm"]) rmSync(join(cwd, `outlast.db${suffix}`), { force: true });
};

test("the README's quick start runs unchanged with plain node and prints the task's events to the end", async (t) => {
  const cwd = plain();
  freshDb(cwd);
  const app = startApp(t, cwd, process.execPath, ["app.mjs"]);
  assert.equal(await app.exited, 0, app.output());
  const lines = app.output().split("\n").filter((l) => l !== "");
  assert.match(lines[0]!, /^1 state $/, app.output());
  assert.match(lines.at(-1)!, /^\d+ state $/);
  assert.ok(lines.includes(lines.find((l) => / progress 100$/.test(l)) ?? "missing"), `no progress 100 in:\n${app.output()}`);
  assert.equal(lines.filter((l) => / step $/.test(l)).length, 20, "every step is in the log once");
});

test("a web tier that only declares the task waits in watch() until a worker process that implements it runs it", async (t) => {
  const cwd = plain();
  freshDb(cwd);
  const web = startApp(t, cwd, process.execPath, ["web.mjs"]);
  await web.waitFor(/^queued$/m);
  // Alive with no worker anywhere: the pending watch holds the process (it used to exit with code 13).
  await new Promise((resolve) => setTimeout(resolve, 1_500));
  assert.equal(web.process.exitCode, null, `the watcher exited early:\n${web.output()}`);
  const worker = startApp(t, cwd, process.execPath, ["worker.mjs"]);
  assert.equal(await web.exited, 0, web.output());
  assert.deepEqual(web.output().trim().split("\n"), ["queued", "running", "succeeded"]);
  assert.equal(await worker.stop(), 0, worker.output());
});

test("runInThread runs a handler in a worker thread from the installed package (the README's example)", async (t) => {
  const cwd = plain();
  freshDb(cwd);
  const app = startApp(t, cwd, process.execPath, ["threaded.mjs"]);
  assert.equal(await app.exited, 0, app.output());
  assert.match(app.output().replace(/\s+/g, " "), /^queued running succeeded \{ digest: '[0-9a-f]{64}' \} $/);
});

test("the README's children, waits and group example runs from the installed package", async (t) => {
  const cwd = plain();
  freshDb(cwd);
  const app = startApp(t, cwd, process.execPath, ["children.mjs"]);
  assert.equal(await app.exited, 0, app.output());
  const lines = app.output().trim().split("\n");
  const states = lines.filter((l) => !l.startsWith("progress") && !l.startsWith("group")).map((l) => l.split(" ").slice(0, 2).join(" ").trim());
  assert.deepEqual(states, ["queued", "running", "waiting children", "queued", "running", "waiting sleep", "queued", "running", "waiting signal", "queued", "running", "succeeded"], app.output());
  assert.equal(lines.find((l) => l.startsWith("succeeded")), 'succeeded  {"words":6,"approvedBy":"ana"}');
  const last = lines.filter((l) => l.startsWith("progress")).at(-1)!;
  assert.match(last, /^progress 100 \{"total":3,"queued":0,"running":0,"waiting":0,"succeeded":3,"failed":0,"canceled":0\}$/);
  assert.deepEqual(lines.slice(-2), ["group waiting null", "group succeeded [2,1]"]);
});

test("the README's concurrency-per-key example runs from the installed package: tiers hold, and an operator's change is stored", async (t) => {
  const cwd = plain();
  freshDb(cwd);
  const app = startApp(t, cwd, process.execPath, ["tenants.mjs"]);
  assert.equal(await app.exited, 0, app.output());
  assert.deepEqual(app.output().trim().split("\n"), ['{"acme":3,"solo":1}', '{"limit":1,"tiers":{"premium":10,"free":1}} {"solo":2}']);
});

test("require() of the package works from CommonJS on this Node.js", async (t) => {
  const [major = 0, minor = 0] = process.versions.node.split(".").map(Number);
  assert.ok(major > 20 || (major === 20 && minor >= 19), "require(esm) needs Node.js >= 20.19");
  const app = startApp(t, plain(), process.execPath, ["require.cjs"]);
  assert.equal(await app.exited, 0, app.output());
  const [json, closed] = app.output().trim().split("\n").filter((l) => !l.includes("ExperimentalWarning") && !l.includes("--trace-warnings"));
  assert.deepEqual(JSON.parse(json!), { outlast: "function", declareTask: "function", unrecoverable: "UnrecoverableError", handler: "function", client: "function" });
  assert.equal(closed, "closed");
});

test("outlast/postgres without the optional pg package says what to install", async (t) => {
  const app = startApp(t, plain(), process.execPath, ["no-pg.mjs"]);
  assert.equal(await app.exited, 0, app.output());
  const { code, message } = JSON.parse(app.output().trim()) as { code: string; message: string };
  assert.equal(code, "ERR_OUTLAST_PG_MISSING");
  assert.match(message, /npm install pg/);
});

test("npx outlast --help and npx outlast serve run from the installed package with plain node", async (t) => {
  const cwd = plain();
  const help = startApp(t, cwd, "npx", ["--no-install", "outlast", "--help"]);
  assert.equal(await help.exited, 0, help.output());
  assert.match(help.output(), /Usage: outlast <command>/);

  const port = await freePort();
  const db = join(tempDir(t), "serve.db");
  const serve = startApp(t, cwd, "npx", ["--no-install", "outlast", "serve", "--port", String(port), "--db", db]);
  const [, url] = (await serve.waitFor(/Outlast is running on (http:\/\/\S+)/)) as unknown as [string, string];
  assert.equal(await statusOf(`${url}/healthz`), 200);
  const page = await fetch(`${url}/dashboard`);
  assert.equal(page.status, 200);
  assert.match(await page.text(), /dashboard\/app\.js/);
  const script = await fetch(`${url}/dashboard/app.js`);
  assert.equal(script.status, 200, "the pre-built dashboard ships in the package");
  assert.match(script.headers.get("content-type") ?? "", /javascript/);
  assert.ok((await script.text()).length > 10_000);

  const auth = { authorization: `Bearer ${ADMIN_KEY}` };
  const submitted = await fetch(`${url}/api/v1/tasks`, {
    method: "POST",
    headers: { ...auth, "content-type": "application/json" },
    body: JSON.stringify({ name: "demo.count", input: { to: 3, everyMs: 10 } }),
  });
  assert.equal(submitted.status, 202);
  const { task } = (await submitted.json()) as { task: { id: string } };
  const reader = new SseReader(await fetch(`${url}/api/v1/tasks/${task.id}/events`, { headers: auth }));
  let last: Awaited<ReturnType<SseReader["next"]>> = null;
  for (let e = await reader.next(); e; e = await reader.next()) last = e;
  assert.equal(last?.data.state, "succeeded");
  await serve.stop();
});

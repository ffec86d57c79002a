import { test } from "node:test";
import assert from "node:assert/strict";
import Database from "better-sqlite3";
import { join } from "node:path";
import { guardLeaks } from "../support/leaks.js";
import { tempDbPath, tempDir } from "../support/temp.js";
import { runCli, runEach } from "./cli.js";

guardLeaks();

const COMMANDS = ["serve", "worker", "migrate", "submit", "watch", "tasks", "queue", "signal", "dead", "worker-key"];

test("outlast with no command or --help lists the commands and exit codes; an unknown command exits 2", async () => {
  for (const args of [[], ["--help"]]) {
    const r = await runCli(args);
    assert.equal(r.code, 0, r.stderr);
    for (const command of COMMANDS) assert.match(r.stdout, new RegExp(`^  ${command} `, "m"));
    assert.match(r.stdout, /3 server or database unreachable, 4 credential refused/);
  }
  const r = await runCli(["deploy"]);
  assert.equal(r.code, 2);
  assert.equal(r.stdout, "");
  assert.match(r.stderr, /unknown command "deploy"/);
});

test("every command has --help on stdout with exit 0", async () => {
  const results = await runEach(COMMANDS.map((command) => [command, "--help"]));
  results.forEach((r, i) => {
    assert.equal(r.code, 0, `${COMMANDS[i]}: ${r.stderr}`);
    assert.match(r.stdout, new RegExp(`^Usage: outlast ${COMMANDS[i]}`));
    assert.equal(r.stderr, "");
  });
});

test("usage errors exit 2 with a message on stderr that says what to fix", async () => {
  const cases: [string[], RegExp][] = [
    [["tasks", "--frob"], /Unknown option --frob for outlast tasks; see outlast tasks --help/],
    [["migrate", "--db"], /--db needs a value/],
    [["tasks", "--limit", "0"], /--limit must be a whole number from 1 to 200, got "0"/],
    [["tasks", "--state", "done"], /--state must be one of queued, running, waiting, succeeded, failed, canceled, got "done"/],
    [["tasks", "--json=yes"], /--json takes no value/],
    [["watch"], /outlast watch needs ID/],
    [["watch", "a", "b"], /Unexpected argument "b"/],
    [["signal", "tsk_1"], /outlast signal needs NAME/],
    [["signal", "tsk_1", "go", "--payload", "{yes}"], /--payload must be JSON/],
    [["dead"], /outlast dead needs ACTION/],
    [["dead", "bury"], /outlast dead takes list, redrive or purge, got "bury"/],
    [["dead", "redrive", "--id", "tsk_1", "--queue", "q"], /give --id or filters, not both/],
    [["dead", "list", "--since", "yesterday"], /--since must be an ISO-8601 time/],
    [["queue", "set", "llm", "--rate-limit", "fast"], /--rate-limit takes N\/MS: .* e\.g\. 60\/60000, or "none"; got "fast"/],
    [["queue", "set", "tenants", "--key-limit", "acme"], /--key-limit takes KEY=N/],
    [["submit", "demo.count", "--input", "{to: 5}"], /--input must be JSON/],
    [["submit", "demo.count", "--priority", "high"], /--priority must be a whole number/],
    [["submit", "demo.count", "--url", "localhost:7391"], /--url must start with http:\/\/ or https:\/\//],
    [["worker"], /outlast worker needs --tasks FILE/],
    [["worker", "--tasks", "./no-such-tasks.js"], /--tasks: no file at .*no-such-tasks\.js/],
    [["worker", "--tasks", "test/fixtures/cli-tasks.ts", "--concurrency", "-1"], /--concurrency must be a whole number from 1/],
    [["worker", "--tasks", "test/fixtures/cli-tasks.ts", "--queues", "a,,b"], /--queues takes names separated by commas/],
    [["migrate", "--db", "x.db", "--schema", "jobs"], /--schema applies to PostgreSQL only/],
    [["migrate", "--db", "postgres://127.0.0.1/test", "--schema", "Jobs"], /Schema "Jobs" is not valid/],
    [["serve", "--port", "70000"], /--port must be a whole number from 0 to 65535/],
  ];
  const results = await runEach(cases.map(([args]) => args));
  results.forEach((r, i) => {
    const [args, message] = cases[i]!;
    assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
    assert.match(r.stderr, message, args.join(" "));
    assert.equal(r.stdout, "", args.join(" "));
  });
});

test("a worker given a module without a register function, or queues its tasks do not use, exits 2", async (t) => {
  const dir = tempDir(t);
  const { writeFileSync } = await import("node:fs");
  const bad = join(dir, "bad-tasks.mjs");
  writeFileSync(bad, "export const tasks = 1;\n");
  const db = join(dir, "w.db");
  const noRegister = await runCli(["worker", "--db", db, "--tasks", bad]);
  assert.equal(noRegister.code, 2, noRegister.stderr);
  assert.match(noRegister.stderr, /must export a function \(outlast\) => void, as its default export or as "register"/);

  const wrongQueue = await runCli(["worker", "--db", db, "--tasks", "test/fixtures/cli-tasks.ts", "--queues", "default,video"]);
  assert.equal(wrongQueue.code, 2, wrongQueue.stderr);
  assert.match(wrongQueue.stderr, /--queues: no task of .* runs on video; its tasks use queues: default, side/);
});

test("migrate creates the schema of a fresh SQLite file and prints its version; running it again changes nothing", async (t) => {
  const db = tempDbPath(t);
  const first = await runCli(["migrate", "--db", db]);
  assert.equal(first.code, 0, first.stderr);
  assert.match(first.stdout, /schema version (\d+)\n$/);
  const version = Number(/schema version (\d+)/.exec(first.stdout)![1]);
  assert.ok(version >= 1);
  const file = new Database(db, { readonly: true });
  try {
    assert.equal(file.pragma("user_version", { simple: true }), version);
    assert.ok(file.prepare("SELECT name FROM sqlite_master WHERE name = 'outlast_meta'").get(), "tables were created");
  } finally {
    file.close();
  }
  const again = await runCli(["migrate", "--db", db, "--json"]);
  assert.equal(again.code, 0, again.stderr);
  const json = JSON.parse(again.stdout) as { schemaVersion: number; databaseId: string };
  assert.equal(json.schemaVersion, version);
  assert.match(json.databaseId, /\S/);
});

test("migrate refuses a database written by a newer Outlast (exit 1, the store's message) and exits 3 when the file cannot be opened", async (t) => {
  const db = tempDbPath(t);
  assert.equal((await runCli(["migrate", "--db", db])).code, 0);
  const file = new Database(db);
  file.pragma("user_version = 999");
  file.close();
  const newer = await runCli(["migrate", "--db", db]);
  assert.equal(newer.code, 1, newer.stderr);
  assert.match(newer.stderr, /schema version 999, but this build of Outlast knows only up to \d+.*upgrade the outlast package/);
  assert.equal(newer.stdout, "");

  const missing = await runCli(["migrate", "--db", join(tempDir(t), "no", "such", "dir", "x.db")]);
  assert.equal(missing.code, 3, missing.stderr);
  assert.match(missing.stderr, /cannot reach the database/);
});

test("migrate and worker exit 3 when PostgreSQL does not answer", async () => {
  const db = "postgres://postgres@127.0.0.1:1/test";
  const results = await runEach([
    ["migrate", "--db", db],
    ["worker", "--db", db, "--tasks", "test/fixtures/cli-tasks.ts"],
  ]);
  for (const r of results) {
    assert.equal(r.code, 3, r.stderr);
    assert.match(r.stderr, /cannot reach the database/);
    assert.equal(r.stdout, "", "no ready line");
  }
});

test("submit, watch and tasks exit 3 when the server cannot be reached", async () => {
  const url = "http://127.0.0.1:1";
  const results = [
    ...(await runEach([
      ["submit", "demo.count", "--input", '{"to":1}', "--url", url],
      ["watch", "tsk_x", "--url", url],
      ["tasks", "--url", url],
    ])),
    await runCli(["tasks"], { env: { OUTLAST_URL: url } }),
  ];
  for (const r of results) {
    assert.equal(r.code, 3, r.stderr);
    assert.match(r.stderr, /cannot reach the server: Could not reach http:\/\/127\.0\.0\.1:1/);
    assert.equal(r.stdout, "");
  }
});

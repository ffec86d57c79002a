import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { serveAdminKey } from "../../src/cli/admin-key.js";
import { makeEngine } from "../support/engine.js";
import { dirname, join } from "node:path";
import { guardLeaks } from "../support/leaks.js";
import { PG_URL, testSchema } from "../support/pg.js";
import { tempDbPath } from "../support/temp.js";
import { startCli, type RunningCli } from "./cli.js";

guardLeaks();

// The banner is one write: once its last line is out, the whole of it is.
const BANNER = /running on (http:\/\/\S+)[\s\S]*admin key\s+(\S+)[\s\S]*Try it:/;

async function startServe(t: Parameters<typeof startCli>[0], db: string, adminKey = ""): Promise<{ url: string; key: string; kept: string; child: RunningCli }> {
  const child = await startCli(t, ["serve", "--port", "0", "--db", db, "--no-workers"], BANNER, { OUTLAST_ADMIN_KEY: adminKey });
  const kept = /key kept\s+(.+)\n/.exec(child.stdout())?.[1] ?? "(no line saying where the key is kept)";
  return { url: child.ready[1]!, key: child.ready[2]!, kept, child };
}

async function stop(child: RunningCli): Promise<void> {
  child.process.kill("SIGTERM");
  assert.equal(await child.exited, 0, child.output());
}

async function statusWith(url: string, key: string): Promise<number> {
  const response = await fetch(`${url}/api/v1/queues`, { headers: { authorization: `Bearer ${key}` } });
  await response.body?.cancel();
  return response.status;
}

test("serve keeps the admin key it made in outlast-data/admin-key (mode 0600) beside the SQLite file and reuses it; OUTLAST_ADMIN_KEY wins", async (t) => {
  const db = tempDbPath(t);
  const file = join(dirname(db), "outlast-data", "admin-key");

  const first = await startServe(t, db);
  assert.match(first.key, /^olk_\S{16,}$/);
  await stop(first.child);

  const second = await startServe(t, db);
  assert.equal(second.key, first.key, "a restart keeps the key");
  assert.equal(await statusWith(second.url, first.key), 200);
  await stop(second.child);
  assert.match(first.kept, new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")} `), "the banner says where the key is kept");
  assert.equal(readFileSync(file, "utf8").trim(), first.key);
  assert.equal(statSync(file).mode & 0o777, 0o600);

  const fromEnv = await startServe(t, db, "an-operator-chosen-admin-key-0123");
  assert.equal(fromEnv.key, "(from");
  assert.match(fromEnv.kept, /OUTLAST_ADMIN_KEY/);
  assert.equal(await statusWith(fromEnv.url, "an-operator-chosen-admin-key-0123"), 200);
  assert.equal(await statusWith(fromEnv.url, first.key), 401, "the kept key is not also accepted");
  assert.equal(readFileSync(file, "utf8").trim(), first.key, "the kept file is left as it was");
  await stop(fromEnv.child);
});

test("on PostgreSQL, serve keeps the admin key it made in the database and every restart reuses it", async (t) => {
  const url = new URL(PG_URL);
  url.searchParams.set("schema", await testSchema(t));

  const first = await startServe(t, url.toString());
  assert.match(first.key, /^olk_\S{16,}$/);
  await stop(first.child);

  const second = await startServe(t, url.toString());
  assert.equal(second.key, first.key, "a restart keeps the key");
  assert.equal(await statusWith(second.url, first.key), 200);
  await stop(second.child);
  assert.match(first.kept, /in the database/);
});

test("many servers starting at once on one data folder all get the one key, never a half-written file", async (t) => {
  const outlast = makeEngine(t);
  const keys = await Promise.all(Array.from({ length: 20 }, () => serveAdminKey(outlast, {})));
  assert.equal(new Set(keys.map((k) => k.key)).size, 1);
  const path = join(outlast.store.localDataDir!, "admin-key");
  assert.equal(readFileSync(path, "utf8").trim(), keys[0]!.key);
  assert.deepEqual(readdirSync(dirname(path)).filter((f) => f.endsWith(".tmp")), [], "no temporary file is left");
});

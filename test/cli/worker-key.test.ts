import assert from "node:assert/strict";
import { test } from "node:test";
import { guardLeaks } from "../support/leaks.js";
import { ADMIN_KEY as SERVER_ADMIN_KEY } from "../server/harness.js";
import { workerServer } from "../server/worker-support.js";
import { runCli } from "./cli.js";

guardLeaks();

test("outlast worker-key create, list and revoke mint and end keys that the worker routes accept and then refuse", async (t) => {
  const server = await workerServer(t, "sqlite");
  const cli = (...args: string[]) => runCli(["worker-key", ...args, "--url", server.base, "--token", SERVER_ADMIN_KEY]);
  const claim = (secret: string) =>
    server.call("/api/v1/worker/claim", { json: { workerId: "cli-worker", names: ["tts.chapter"] }, token: secret });

  const made = await cli("create", "--queues", "tts, render", "--name", "gpu boxes");
  assert.equal(made.code, 0, made.stderr);
  const secret = made.stdout.trim();
  assert.match(secret, /^owk_[A-Za-z0-9_-]{43}$/);
  assert.match(made.stderr, /not shown again/);
  assert.equal((await claim(secret)).status, 200);

  const listed = await cli("list", "--json");
  assert.equal(listed.code, 0, listed.stderr);
  const keys = JSON.parse(listed.stdout) as { id: string; name: string; queues: string[]; revokedAt: string | null }[];
  const key = keys.find((k) => k.name === "gpu boxes");
  assert.deepEqual(key && [key.queues, key.revokedAt], [["tts", "render"], null]);
  assert.ok(!listed.stdout.includes(secret.slice(4)), "list never shows a secret");
  const table = await cli("list");
  assert.match(table.stdout, /^ID +NAME +QUEUES +CREATED +REVOKED/);

  const revoked = await cli("revoke", key!.id);
  assert.equal(revoked.code, 0, revoked.stderr);
  assert.match(revoked.stdout, new RegExp(`revoked ${key!.id} \\(gpu boxes\\)`));
  assert.equal((await claim(secret)).status, 401);

  for (const bad of [["create"], ["create", "--queues", ","], ["revoke"], ["list", "--queues", "a"], ["mint"]]) {
    const result = await cli(...bad);
    assert.equal(result.code, 2, `${bad.join(" ")}: ${result.stderr}`);
  }
  assert.equal((await cli("revoke", "wk_none")).code, 1);
  assert.equal((await cli("create", "--queues", "bad queue")).code, 1);
  const refused = await runCli(["worker-key", "list", "--url", server.base, "--token", "not-the-admin-key-at-all"]);
  assert.equal(refused.code, 4);
});

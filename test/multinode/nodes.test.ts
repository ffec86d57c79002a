import { test } from "node:test";
import assert from "node:assert/strict";
import { guardLeaks } from "../support/leaks.js";
import { testPool, testSchema } from "../support/pg.js";
import { ADMIN_KEY, startCli } from "../cli/cli.js";
import { SseReader } from "../server/sse-reader.js";
import { MN_TASKS, dbUrl, until } from "./support.js";

guardLeaks();

const auth = { authorization: `Bearer ${ADMIN_KEY}` };

interface NodeView {
  id: string;
  self: boolean;
  pid: number;
  streams: number | null;
  running: number;
}

test("every server lists every node with its open streams, a serve-only node and a worker-only process included", async (t) => {
  const schema = await testSchema(t);
  await testPool(t, 1);
  const db = dbUrl(schema);
  // Short leases make heartbeats (and so the counts other nodes see) frequent.
  const serve = (extra: string[]) =>
    startCli(t, ["serve", "--port", "0", "--db", db, "--tasks", MN_TASKS, "--lease-ms", "1500", ...extra], /running on (http:\/\/\S+)/);
  const [a, b] = await Promise.all([serve([]), serve(["--no-workers"])]);
  const worker = await startCli(t, ["worker", "--db", db, "--tasks", MN_TASKS, "--lease-ms", "1500"], /^worker \S+ ready: .*$/m);
  const urlA = a.ready[1]!;
  const urlB = b.ready[1]!;

  // Two watchers on B, each following every task of its owner.
  const readers = await Promise.all(
    [0, 1].map(async () => {
      const response = await fetch(`${urlB}/api/v1/events`, { headers: auth });
      assert.equal(response.status, 200);
      const reader = new SseReader(response);
      t.after(() => reader.cancel());
      return reader;
    }),
  );

  const nodesOf = async (url: string) => ((await (await fetch(`${url}/api/v1/nodes`, { headers: auth })).json()) as { nodes: NodeView[] }).nodes;
  const seen = await until(async () => {
    const nodes = await nodesOf(urlA);
    const nodeB = nodes.find((n) => n.pid === b.process.pid);
    return nodeB?.streams === 2 && nodes.some((n) => n.pid === worker.process.pid) ? nodes : undefined;
  }, "A to see B's two streams and the worker process");
  assert.equal(seen.length, 3);
  assert.equal(seen.find((n) => n.self)?.pid, a.process.pid);
  assert.equal(seen.find((n) => n.pid === worker.process.pid)?.streams, null, "a worker-only process serves no streams");

  // B, serving no tasks, sees itself live and A's count from A's heartbeat
  // (A's first heartbeat ran before its server started: wait for one that carries its count).
  const fromB = await until(async () => {
    const nodes = await nodesOf(urlB);
    return nodes.find((n) => n.pid === a.process.pid)?.streams === 0 ? nodes : undefined;
  }, "B to see A's stream count from A's heartbeat");
  const selfB = fromB.find((n) => n.self);
  assert.equal(selfB?.pid, b.process.pid);
  assert.equal(selfB?.streams, 2);
  assert.equal(selfB?.running, 0);
  assert.equal(fromB.find((n) => n.pid === a.process.pid)?.streams, 0);

  await Promise.all(readers.map((reader) => reader.cancel()));
  await until(async () => (await nodesOf(urlA)).find((n) => n.pid === b.process.pid)?.streams === 0, "A to see B's streams close");
});

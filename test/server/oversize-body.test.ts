import assert from "node:assert/strict";
import { Agent, request as httpRequest } from "node:http";
import { test } from "node:test";
import { guardLeaks } from "../support/leaks.js";
import { ADMIN_KEY, harness, listen } from "./harness.js";

guardLeaks();

interface Answer {
  status: number;
  connection: string | undefined;
  body: string;
}

/** One request through `agent`, its body written chunk by chunk (chunked: no Content-Length). */
function send(agent: Agent, base: string, chunks: readonly string[]): Promise<Answer> {
  return new Promise((resolve, reject) => {
    let answered = false;
    const headers = { authorization: `Bearer ${ADMIN_KEY}`, "content-type": "application/json" };
    const req = httpRequest(new URL("/api/v1/tasks", base), { agent, method: "POST", headers }, (res) => {
      answered = true;
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => (body += chunk));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, connection: res.headers.connection, body }));
    });
    // Writing the rest of a refused body may fail once the server has answered and closed: the answer is what counts.
    req.on("error", (error) => answered || reject(error));
    for (const chunk of chunks) req.write(chunk);
    req.end();
  });
}

for (const kib of [16, 256, 4096]) {
  test(`after a 413 on a chunked ${kib} KiB body, the next request of a keep-alive agent works (five rounds)`, async (t) => {
    const h = await harness(t, { bodyLimitBytes: 1024 });
    const base = await listen(t, h.handler);
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    t.after(() => agent.destroy());
    const oversize = Array.from({ length: kib }, (_, i) => (i === 0 ? '{"name":"demo.count","input":{"pad":"' : "x".repeat(1024)));
    const small = [JSON.stringify({ name: "demo.count", input: { to: 1 } })];
    for (let round = 1; round <= 5; round++) {
      const refused = await send(agent, base, oversize);
      assert.equal(refused.status, 413, `round ${round}: ${refused.body}`);
      assert.equal((JSON.parse(refused.body) as { error: { code: string } }).error.code, "payload_too_large");
      assert.equal(refused.connection, "close", "the refusal ends its connection");
      const next = await send(agent, base, small);
      assert.equal(next.status, 202, `round ${round}: ${next.body}`);
    }
  });
}

import assert from "node:assert/strict";
import { test } from "node:test";
import { parseRange } from "../../src/server/artifact-response.js";
import { guardLeaks } from "../support/leaks.js";
import { harness, json } from "./harness.js";
import { collect } from "../support/engine.js";

guardLeaks();

const BYTES = "0123456789abcdefghij"; // 20 bytes

async function withArtifact(t: import("node:test").TestContext) {
  const h = await harness(t, {
    define: (o) =>
      o.define("save", {
        run: async (_input, ctx) => {
          await ctx.saveArtifact("part.txt", BYTES, { contentType: "text/plain" });
          return null;
        },
      }),
    start: true,
  });
  const submitted = await json<{ task: { id: string }; token: string }>(await h.request("/api/v1/tasks", { method: "POST", json: { name: "save" } }));
  await collect(h.outlast.watch(submitted.task.id));
  return { h, id: submitted.task.id, taskToken: submitted.token };
}

test("an artifact is served whole, by range, listed, and readable with the task token", async (t) => {
  const { h, id, taskToken } = await withArtifact(t);
  const whole = await h.request(`/api/v1/tasks/${id}/artifacts/part.txt`, { token: taskToken });
  assert.equal(whole.status, 200);
  assert.equal(whole.headers.get("content-type"), "text/plain");
  assert.equal(whole.headers.get("content-length"), "20");
  assert.equal(whole.headers.get("accept-ranges"), "bytes");
  assert.equal(await whole.text(), BYTES);

  const part = await h.request(`/api/v1/tasks/${id}/artifacts/part.txt`, { headers: { range: "bytes=5-9" } });
  assert.equal(part.status, 206);
  assert.equal(part.headers.get("content-range"), "bytes 5-9/20");
  assert.equal(await part.text(), "56789");

  const tail = await h.request(`/api/v1/tasks/${id}/artifacts/part.txt`, { headers: { range: "bytes=-3" } });
  assert.equal(await tail.text(), "hij");

  const beyond = await h.request(`/api/v1/tasks/${id}/artifacts/part.txt`, { headers: { range: "bytes=50-60" } });
  assert.equal(beyond.status, 416);
  assert.equal(beyond.headers.get("content-range"), "bytes */20");
  assert.equal((await json<{ error: { code: string } }>(beyond)).error.code, "range_not_satisfiable");

  const list = await json<{ artifacts: { name: string; size: number }[] }>(await h.request(`/api/v1/tasks/${id}/artifacts`));
  assert.deepEqual(list.artifacts.map((a) => [a.name, a.size]), [["part.txt", 20]]);

  for (const name of ["missing.txt", "..%2Fescape", ".part.txt.json"]) {
    const response = await h.request(`/api/v1/tasks/${id}/artifacts/${name}`);
    assert.equal(response.status, 404, name);
  }
});

test("another owner's artifacts do not exist", async (t) => {
  const { h, id } = await withArtifact(t);
  const minted = await json<{ token: string }>(await h.request("/api/v1/tokens", { method: "POST", json: { owner: "mallory" } }));
  for (const path of [`/api/v1/tasks/${id}/artifacts/part.txt`, `/api/v1/tasks/${id}/artifacts`]) {
    const response = await h.request(path, { token: minted.token });
    assert.equal(response.status, 404, path);
  }
});

test("the submit answer carries the queue position", async (t) => {
  const h = await harness(t);
  await h.outlast.pauseQueue("default");
  for (let i = 1; i <= 3; i++) {
    const body = await json<{ task: { position: number | null } }>(
      await h.request("/api/v1/tasks", { method: "POST", json: { name: "demo.count", input: { to: 1 } } }),
    );
    assert.equal(body.task.position, i);
  }
});

test("parseRange covers the forms browsers send", () => {
  assert.deepEqual(parseRange("bytes=0-0", 10), { start: 0, end: 0 });
  assert.deepEqual(parseRange("bytes=3-", 10), { start: 3, end: 9 });
  assert.deepEqual(parseRange("bytes=-4", 10), { start: 6, end: 9 });
  assert.deepEqual(parseRange("bytes=-40", 10), { start: 0, end: 9 });
  assert.deepEqual(parseRange("bytes=5-100", 10), { start: 5, end: 9 });
  assert.equal(parseRange("bytes=0-1,3-4", 10), null);
  assert.equal(parseRange("bytes=10-", 10), "unsatisfiable");
  assert.equal(parseRange("bytes=4-2", 10), "unsatisfiable");
  assert.equal(parseRange("items=1-2", 10), "unsatisfiable");
  assert.equal(parseRange("bytes=-0", 10), "unsatisfiable");
});

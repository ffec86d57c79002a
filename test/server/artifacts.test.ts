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

const KINDS: [name: string, contentType: string, disposition: "inline" | "attachment"][] = [
  ["page.html", "text/html", "attachment"],
  ["page.xhtml", "application/xhtml+xml", "attachment"],
  ["pic.svg", "image/svg+xml", "attachment"],
  ["shouty.svg", "IMAGE/SVG+XML; charset=utf-8", "attachment"],
  ["script.js", "text/javascript", "attachment"],
  ["data.bin", "application/octet-stream", "attachment"],
  ["odd.type", "not a type\r\nx-evil: 1", "attachment"],
  ["song.mp3", "audio/mpeg", "inline"],
  ["clip.webm", "video/webm", "inline"],
  ["pic.png", "image/png", "inline"],
  ["notes.txt", "text/plain; charset=utf-8", "inline"],
  ["doc.pdf", "application/pdf", "inline"],
];

async function withKinds(t: import("node:test").TestContext) {
  const h = await harness(t, {
    define: (o) =>
      o.define("kinds", {
        run: async (_input, ctx) => {
          for (const [name, contentType] of KINDS) await ctx.saveArtifact(name, "<script>alert(1)</script>", { contentType });
          return null;
        },
      }),
    start: true,
  });
  const submitted = await json<{ task: { id: string } }>(await h.request("/api/v1/tasks", { method: "POST", json: { name: "kinds" } }));
  await collect(h.outlast.watch(submitted.task.id));
  return { h, base: `/api/v1/tasks/${submitted.task.id}/artifacts` };
}

test("every artifact is sandboxed and not sniffed; only media, plain text and PDF are shown inline, the rest downloaded", async (t) => {
  const { h, base } = await withKinds(t);
  for (const [name, , disposition] of KINDS) {
    for (const headers of [{}, { range: "bytes=0-3" }]) {
      const response = await h.request(`${base}/${name}`, { headers });
      assert.ok(response.status === 200 || response.status === 206, `${name}: ${response.status}`);
      assert.equal(response.headers.get("content-security-policy"), "sandbox; default-src 'none'", name);
      assert.equal(response.headers.get("x-content-type-options"), "nosniff", name);
      assert.equal(response.headers.get("content-disposition"), `${disposition}; filename="${name}"; filename*=UTF-8''${name}`, name);
      assert.equal(response.headers.get("x-evil"), null);
      await response.body?.cancel();
    }
  }
  const odd = await h.request(`${base}/odd.type`);
  assert.equal(odd.headers.get("content-type"), "application/octet-stream", "a content type that is not one is served as bytes");
  await odd.body?.cancel();
});

test("?filename= names the download, encoded for any name (RFC 6266); a name that cannot be one is 400", async (t) => {
  const { h, base } = await withKinds(t);
  const named = async (name: string, filename: string) => {
    const response = await h.request(`${base}/${name}?filename=${encodeURIComponent(filename)}`);
    await response.body?.cancel();
    assert.equal(response.status, 200, filename);
    return response.headers.get("content-disposition");
  };
  assert.equal(await named("song.mp3", "my-book-chapter-02.mp3"), `inline; filename="my-book-chapter-02.mp3"; filename*=UTF-8''my-book-chapter-02.mp3`);
  assert.equal(
    await named("page.html", 'Ünïcødé "quoted" (1).html'),
    `attachment; filename="_n_c_d_ _quoted_ (1).html"; filename*=UTF-8''%C3%9Cn%C3%AFc%C3%B8d%C3%A9%20%22quoted%22%20%281%29.html`,
  );
  assert.equal(await named("notes.txt", "日本語.txt"), `inline; filename="___.txt"; filename*=UTF-8''%E6%97%A5%E6%9C%AC%E8%AA%9E.txt`);
  for (const bad of ["", "a/b.txt", "..\\up.txt", "nul\u0000.txt", "line\r\nx-evil: 1", "x".repeat(256)]) {
    const response = await h.request(`${base}/notes.txt?filename=${encodeURIComponent(bad)}`);
    const body = await json<{ error: { code: string; details?: unknown } }>(response);
    assert.equal(response.status, 400, JSON.stringify(bad));
    assert.equal(body.error.code, "bad_request");
    assert.deepEqual(body.error.details, { field: "filename" });
  }
});

import assert from "node:assert/strict";
import { test } from "node:test";
import { OutlastError } from "../../src/index.js";
import { collect, makeEngine } from "../support/engine.js";
import { guardLeaks } from "../support/leaks.js";

guardLeaks();

async function text(stream: ReadableStream<Uint8Array> | null): Promise<string> {
  assert.ok(stream);
  return new Response(stream).text();
}

test("a task saves files beside the database; they are listed, read whole or by range, and logged", async (t) => {
  const outlast = makeEngine(t);
  outlast.define("render", {
    async run(_input, ctx) {
      await ctx.saveArtifact("chapter-1.txt", "It was a dark and stormy night.", { contentType: "text/plain" });
      async function* parts() {
        yield new TextEncoder().encode("part one, ");
        yield "part two";
      }
      await ctx.saveArtifact("whole.txt", parts());
      return null;
    },
  });
  await outlast.start();
  const task = await outlast.submit("render");
  const events = await collect(outlast.watch(task.id));
  assert.ok(events.some((e) => e.type === "log" && e.message === "Saved chapter-1.txt (31 bytes)"));
  const artifacts = outlast.artifacts!;
  const list = await artifacts.list(task.id);
  assert.deepEqual(
    list.map((a) => [a.name, a.size, a.contentType]),
    [
      ["chapter-1.txt", 31, "text/plain"],
      ["whole.txt", 18, "application/octet-stream"],
    ],
  );
  assert.equal(await text(await artifacts.read(task.id, "whole.txt")), "part one, part two");
  assert.equal(await text(await artifacts.read(task.id, "chapter-1.txt", { start: 7, end: 10 })), "a da");
  assert.equal(await artifacts.read(task.id, "missing.txt"), null);
  await assert.rejects(artifacts.read(task.id, "chapter-1.txt", { start: 5, end: 99 }), (e: unknown) => e instanceof OutlastError && e.code === "bad_request");
});

test("bad artifact names are refused before anything is written", async (t) => {
  const outlast = makeEngine(t);
  let caught: unknown = null;
  outlast.define("sneaky", {
    maxAttempts: 1,
    async run(_input, ctx) {
      try {
        await ctx.saveArtifact("../escape", "x");
      } catch (error) {
        caught = error;
      }
      return null;
    },
  });
  await outlast.start();
  const task = await outlast.submit("sneaky");
  await collect(outlast.watch(task.id));
  assert.ok(caught instanceof OutlastError && caught.code === "bad_request");
  assert.deepEqual(await outlast.artifacts!.list(task.id), []);
});

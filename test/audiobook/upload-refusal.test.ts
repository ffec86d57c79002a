import assert from "node:assert/strict";
import { readdir } from "node:fs/promises";
import { test } from "node:test";
import { audiobookApp, defineAudiobook, uploadsDir } from "../../examples/audiobook/src/index.js";
import { createHandler, mintOwnerToken } from "../../src/server/index.js";
import { makeEngine } from "../support/engine.js";
import { guardLeaks } from "../support/leaks.js";

guardLeaks();

const SECRET = "upload-refusal-secret-0123456789";
const book = (text: string) => new TextEncoder().encode(`Title\n\nChapter 1\n\n${text}\n`);

test("an upload the API refuses is removed with the refusal; a book another task still reads is kept", async (t) => {
  const outlast = makeEngine(t);
  const dataDir = outlast.store.localDataDir!;
  defineAudiobook(outlast, { queue: "tts", dataDir });
  const api = createHandler(outlast, { homePage: null, secret: SECRET, logger: "silent" });
  t.after(() => api.close());
  const app = audiobookApp({ outlast, api, dataDir });
  const upload = async (token: string, bytes: Uint8Array<ArrayBuffer>) => {
    const response = await app(
      new Request("http://localhost/app/upload?filename=book.txt", { method: "POST", headers: { authorization: `Bearer ${token}` }, body: bytes }),
    );
    assert.ok(response);
    return { status: response.status, body: (await response.json()) as { error?: { code: string } } };
  };
  const files = async () => (await readdir(uploadsDir(dataDir)).catch(() => [] as string[])).sort();
  // This token may submit only to another queue: the API refuses the submit after the book was saved.
  const restricted = (await mintOwnerToken(outlast, { owner: "bob", queues: ["elsewhere"], secret: SECRET })).token;
  const alice = (await mintOwnerToken(outlast, { owner: "alice", secret: SECRET })).token;

  const refused = await upload(restricted, book("Refused, and nobody else has it."));
  assert.equal(refused.status, 403, JSON.stringify(refused.body));
  assert.equal(refused.body.error?.code, "forbidden");
  assert.deepEqual(await files(), [], "the refused book is gone right after the refusal, temporary files too");

  const shared = book("Alice converts this one; Bob may not.");
  assert.equal((await upload(alice, shared)).status, 202);
  const kept = await files();
  assert.equal(kept.length, 1);
  assert.equal((await upload(restricted, shared)).status, 403);
  assert.deepEqual(await files(), kept, "the same bytes, refused for Bob, stay for Alice's task");
});

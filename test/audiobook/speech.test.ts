import assert from "node:assert/strict";
import { test } from "node:test";
import { espeakVoice, Mp3Stream, readMp3Info, splitForSpeech } from "../../examples/audiobook/src/index.js";
import { guardLeaks } from "../support/leaks.js";

guardLeaks();

test("espeak-ng speaks a short sentence to PCM of a plausible length", async () => {
  const chunks = [];
  for await (const chunk of espeakVoice().speak("The quick brown fox jumps over the lazy dog.")) chunks.push(chunk);
  assert.equal(chunks.length, 1);
  const { samples, sampleRate, done } = chunks[0]!;
  assert.equal(sampleRate, 22_050);
  assert.equal(done, 1);
  // Nine words at 175 words a minute: about three seconds.
  const seconds = samples.length / sampleRate;
  assert.ok(seconds > 1.5 && seconds < 6, `spoke for ${seconds} s`);
  const loud = samples.reduce((max, s) => Math.max(max, Math.abs(s)), 0);
  assert.ok(loud > 1_000, "the audio is not silence");
});

test("PCM encodes to MP3 frames that start with a frame sync and add up to the audio's length", () => {
  const sampleRate = 22_050;
  const samples = new Int16Array(sampleRate * 2);
  for (let i = 0; i < samples.length; i++) samples[i] = Math.round(8_000 * Math.sin((2 * Math.PI * 440 * i) / sampleRate));
  const mp3 = new Mp3Stream({ sampleRate, kbps: 64 });
  const parts = [mp3.encode(samples.subarray(0, 10_000)), mp3.encode(samples.subarray(10_000)), mp3.finish()];
  const bytes = Buffer.concat(parts);
  assert.equal(bytes[0], 0xff);
  assert.equal(bytes[1]! & 0xe0, 0xe0);
  const info = readMp3Info(bytes);
  assert.equal(info.sampleRate, sampleRate);
  assert.equal(info.strayBytes, 0);
  assert.ok(info.seconds >= 2 && info.seconds < 2.2, `${info.seconds} s of MP3`);
  assert.equal(mp3.seconds, 2);
  // Two files back to back are one longer valid file.
  const twice = readMp3Info(Buffer.concat([bytes, bytes]));
  assert.equal(twice.frames, info.frames * 2);
  assert.equal(twice.strayBytes, 0);
});

test("narrate yields MP3 piece by piece with rising progress, and stops when its signal aborts", async () => {
  const voice = espeakVoice({ chunkChars: 50 });
  const text = "One small step. Another small step follows it here. A third one comes. And then a fourth one. The fifth ends it.";
  const pieces = [];
  for await (const piece of voice.narrate(text)) pieces.push(piece);
  assert.ok(pieces.length >= 3, `${pieces.length} pieces`);
  assert.deepEqual(
    pieces.map((p) => p.done),
    [...pieces.map((p) => p.done)].sort((a, b) => a - b),
  );
  assert.equal(pieces.at(-1)!.done, 1);
  const info = readMp3Info(Buffer.concat(pieces.map((p) => p.mp3)));
  assert.equal(info.strayBytes, 0);
  const spoken = pieces.reduce((sum, p) => sum + p.seconds, 0);
  assert.ok(Math.abs(info.seconds - spoken) < 0.2, `${info.seconds} s of MP3 for ${spoken} s of speech`);

  const controller = new AbortController();
  const seen: number[] = [];
  await assert.rejects(
    (async () => {
      for await (const piece of voice.narrate(text, { signal: controller.signal })) {
        seen.push(piece.done);
        controller.abort(new Error("stop here"));
      }
    })(),
    /stop here/,
  );
  assert.equal(seen.length, 1);
});

test("text is cut for speech at sentence ends, keeping paragraphs, and never over the limit", () => {
  const pieces = splitForSpeech("First sentence here. Second one!\n\nNew paragraph? Yes. " + "word ".repeat(40).trim() + ".", 40);
  assert.deepEqual(pieces.slice(0, 3), ["First sentence here. Second one!", "New paragraph? Yes.", pieces[2]]);
  for (const piece of pieces) assert.ok(piece.length <= 40, JSON.stringify(piece));
  assert.equal(pieces.join(" ").replace(/\s+/g, " "), "First sentence here. Second one! New paragraph? Yes. " + "word ".repeat(40).trim() + ".");
  assert.deepEqual(splitForSpeech("A. B.\n\nC.", 100), ["A. B.\n\nC."]);
});

// Runs espeak-ng (WebAssembly) and, when asked, the MP3 encoder in a worker
// thread, so speaking and encoding a long text never block the event loop
// that serves progress streams and renews leases. Plain JavaScript on
// purpose: a worker does not inherit the TypeScript loader on Node 20.
//
// Protocol: workerData = { module: WebAssembly.Module, voice, wordsPerMinute, kbps };
// each message { id, text } is answered { id, sampleRate, sampleCount } plus
// `samples` (Int16Array) when kbps is null, else `mp3` (Uint8Array);
// { id, finish: true } is answered { id, mp3 } with the encoder's last frames;
// a failure is answered { id, error }. One fresh espeak instance per text:
// the espeak-ng program keeps global state between runs, and a new instance
// of the already compiled module costs a few milliseconds (its start-up,
// unpacking voice data, costs about 0.1 s).
import { parentPort, workerData } from "node:worker_threads";
import ESpeakNg from "espeak-ng";
import { Mp3Stream } from "./mp3-stream.mjs";

// Each espeak instance builds its in-memory file system from the embedded
// voice data, and this (debug) build makes an Error with a stack trace for
// every "file exists" check on the way: about 100 ms of stack capture per
// instance. Errors from this thread travel as messages, so stacks are not needed.
Error.stackTraceLimit = 0;

const { module, voice, wordsPerMinute, kbps } = workerData;
let mp3 = null;

parentPort.on("message", async ({ id, text, finish }) => {
  try {
    if (finish) {
      const bytes = mp3 ? mp3.finish() : new Uint8Array(0);
      parentPort.postMessage({ id, mp3: bytes }, [bytes.buffer]);
      return;
    }
    const { samples, sampleRate } = await speak(text);
    if (kbps === null) {
      parentPort.postMessage({ id, samples, sampleRate, sampleCount: samples.length }, [samples.buffer]);
      return;
    }
    mp3 ??= new Mp3Stream({ sampleRate, kbps });
    if (mp3.sampleRate !== sampleRate) throw new Error(`The sample rate changed from ${mp3.sampleRate} to ${sampleRate}`);
    const bytes = mp3.encode(samples);
    parentPort.postMessage({ id, mp3: bytes, sampleRate, sampleCount: samples.length }, [bytes.buffer]);
  } catch (error) {
    parentPort.postMessage({ id, error: error instanceof Error ? error.message : String(error) });
  }
});

async function speak(text) {
  const errors = [];
  const instance = await ESpeakNg({
    arguments: ["-v", voice, "-s", String(wordsPerMinute), "-w", "/out.wav", "-f", "/in.txt"],
    preRun: [(m) => m.FS.writeFile("/in.txt", text)],
    instantiateWasm(imports, receive) {
      WebAssembly.instantiate(module, imports).then((instance) => receive(instance, module));
      return {};
    },
    print: () => {},
    printErr: (line) => errors.push(line),
  });
  let wav;
  try {
    wav = instance.FS.readFile("/out.wav");
  } catch {
    throw new Error(`espeak-ng wrote no audio${errors.length ? `: ${errors.join("; ")}` : ""}`);
  }
  return readWav(wav);
}

/** 16-bit mono PCM from a WAV file; a data size espeak left as a placeholder is clamped to the file. */
function readWav(bytes) {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const tag = (at) => String.fromCharCode(bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]);
  if (bytes.length < 12 || tag(0) !== "RIFF" || tag(8) !== "WAVE") throw new Error("espeak-ng wrote something that is not a WAV file");
  let sampleRate = 0;
  let at = 12;
  while (at + 8 <= bytes.length) {
    const id = tag(at);
    const size = view.getUint32(at + 4, true);
    const body = at + 8;
    if (id === "fmt ") {
      const format = view.getUint16(body, true);
      const channels = view.getUint16(body + 2, true);
      const bits = view.getUint16(body + 14, true);
      if (format !== 1 || channels !== 1 || bits !== 16) throw new Error(`Unexpected WAV format ${format}/${channels}ch/${bits}bit`);
      sampleRate = view.getUint32(body + 4, true);
    } else if (id === "data") {
      if (!sampleRate) throw new Error("WAV data before its format");
      const length = Math.min(size, bytes.length - body) & ~1;
      const samples = new Int16Array(length / 2);
      new Uint8Array(samples.buffer).set(bytes.subarray(body, body + length));
      return { samples, sampleRate };
    }
    at = body + size + (size & 1);
  }
  if (!sampleRate) throw new Error("WAV without a format");
  return { samples: new Int16Array(0), sampleRate };
}

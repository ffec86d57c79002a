import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { Worker } from "node:worker_threads";
import { OutlastError } from "outlast";

/** Audio for one piece of a text. */
export interface SpokenChunk {
  /** Signed 16-bit mono PCM. */
  samples: Int16Array;
  sampleRate: number;
  /** Share of the whole text spoken once this chunk is included, 0 to 1. */
  done: number;
}

/** MP3 frames for one piece of a text; the last piece also holds the encoder's final frames. */
export interface NarratedChunk {
  mp3: Uint8Array;
  /** Seconds of audio in this piece. */
  seconds: number;
  /** Share of the whole text spoken once this piece is included, 0 to 1. */
  done: number;
}

/** Turns text into audio, piece by piece, so a caller can report progress and stop between pieces. */
export interface Speaker {
  /** Raw audio. Stops at once with `signal.reason` when the signal aborts. */
  speak(text: string, options?: { signal?: AbortSignal }): AsyncIterable<SpokenChunk>;
}

/** Turns text into an MP3 stream, piece by piece; concatenating every `mp3` gives one valid file. */
export interface Narrator {
  /** Stops at once with `signal.reason` when the signal aborts. */
  narrate(text: string, options?: { signal?: AbortSignal }): AsyncIterable<NarratedChunk>;
}

/** Options of {@link espeakVoice}. */
export interface EspeakOptions {
  /** An espeak-ng voice name, optionally with a variant ("en-us", "en-gb+f3"). @defaultValue "en-us" */
  voice?: string;
  /** Speaking rate. @defaultValue 175 */
  wordsPerMinute?: number;
  /** Largest piece spoken at once; progress and cancellation happen between pieces. @defaultValue 1000 characters */
  chunkChars?: number;
  /** MP3 bit rate of `narrate`. @defaultValue 64 */
  kbps?: number;
}

// The 18 MB WebAssembly program is compiled once per process and shared by
// every voice and worker: it is immutable code, and compiling it takes a while.
let compiled: Promise<WebAssembly.Module> | null = null;

function compiledEngine(): Promise<WebAssembly.Module> {
  if (!compiled) {
    const loading = readFile(createRequire(import.meta.url).resolve("espeak-ng/dist/espeak-ng.wasm")).then((bytes) => WebAssembly.compile(bytes));
    loading.catch(() => {
      if (compiled === loading) compiled = null;
    });
    compiled = loading;
  }
  return compiled;
}

const WORKER_URL = new URL("./speech-worker.mjs", import.meta.url);

/**
 * The offline espeak-ng speech engine (WebAssembly, 22,050 Hz mono). Each
 * `speak` or `narrate` call runs in a worker thread of its own, which also
 * does the MP3 encoding, so long texts never block the event loop.
 * @example
 * for await (const piece of espeakVoice().narrate("Hello.", { signal })) file.write(piece.mp3);
 */
export function espeakVoice(options: EspeakOptions = {}): Speaker & Narrator {
  const voice = options.voice ?? "en-us";
  const wordsPerMinute = options.wordsPerMinute ?? 175;
  const chunkChars = options.chunkChars ?? 1000;
  const kbps = options.kbps ?? 64;
  if (!/^[A-Za-z0-9][A-Za-z0-9_+-]{0,39}$/.test(voice)) throw new OutlastError("bad_request", `Not an espeak-ng voice name: ${JSON.stringify(voice)}`);
  if (!Number.isInteger(wordsPerMinute) || wordsPerMinute < 80 || wordsPerMinute > 450) {
    throw new OutlastError("bad_request", "wordsPerMinute must be a whole number from 80 to 450");
  }
  if (!Number.isInteger(chunkChars) || chunkChars < 50) throw new OutlastError("bad_request", "chunkChars must be a whole number of at least 50");
  if (![32, 40, 48, 56, 64, 80, 96, 112, 128, 160].includes(kbps)) throw new OutlastError("bad_request", "kbps must be one of 32, 40, 48, 56, 64, 80, 96, 112, 128, 160");

  async function* run(text: string, encode: boolean, signal: AbortSignal | undefined): AsyncGenerator<Reply & { done: number }> {
    const pieces = splitForSpeech(text, chunkChars);
    const total = pieces.reduce((sum, piece) => sum + piece.length, 0);
    signal?.throwIfAborted();
    const module = await compiledEngine();
    signal?.throwIfAborted();
    const worker = new Worker(WORKER_URL, { workerData: { module, voice, wordsPerMinute, kbps: encode ? kbps : null }, execArgv: [] });
    try {
      let spoken = 0;
      for (const [id, piece] of pieces.entries()) {
        signal?.throwIfAborted();
        const reply = await ask(worker, { id, text: piece }, signal);
        spoken += piece.length;
        if (encode && id === pieces.length - 1) {
          const last = await ask(worker, { id: id + 1, finish: true }, signal);
          reply.mp3 = concat(reply.mp3 ?? new Uint8Array(0), last.mp3 ?? new Uint8Array(0));
        }
        yield { ...reply, done: total === 0 ? 1 : spoken / total };
      }
    } finally {
      await worker.terminate();
    }
  }

  return {
    async *speak(text, { signal } = {}) {
      for await (const reply of run(text, false, signal)) {
        yield { samples: reply.samples ?? new Int16Array(0), sampleRate: reply.sampleRate ?? 0, done: reply.done };
      }
    },
    async *narrate(text, { signal } = {}) {
      for await (const reply of run(text, true, signal)) {
        yield { mp3: reply.mp3 ?? new Uint8Array(0), seconds: (reply.sampleCount ?? 0) / (reply.sampleRate ?? 1), done: reply.done };
      }
    },
  };
}

interface Reply {
  id: number;
  samples?: Int16Array;
  mp3?: Uint8Array;
  sampleRate?: number;
  sampleCount?: number;
  error?: string;
}

/** One request to the worker; rejects when the worker fails or dies, or the signal aborts. */
function ask(worker: Worker, request: { id: number; text?: string; finish?: boolean }, signal: AbortSignal | undefined): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const cleanup = () => {
      worker.off("message", onMessage);
      worker.off("error", onError);
      worker.off("exit", onExit);
      signal?.removeEventListener("abort", onAbort);
    };
    const onMessage = (reply: Reply) => {
      if (reply.id !== request.id) return;
      cleanup();
      if (reply.error !== undefined) reject(new Error(`Speech failed: ${reply.error}`));
      else resolve(reply);
    };
    const onError = (error: Error) => {
      cleanup();
      reject(error);
    };
    const onExit = (code: number) => {
      cleanup();
      reject(new Error(`The speech worker stopped (exit code ${code})`));
    };
    const onAbort = () => {
      cleanup();
      reject(signal?.reason);
    };
    worker.on("message", onMessage);
    worker.on("error", onError);
    worker.on("exit", onExit);
    signal?.addEventListener("abort", onAbort, { once: true });
    worker.postMessage(request);
  });
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  if (b.byteLength === 0) return a;
  const out = new Uint8Array(a.byteLength + b.byteLength);
  out.set(a);
  out.set(b, a.byteLength);
  return out;
}

/**
 * Cuts text into pieces of at most `maxChars` characters at sentence ends
 * (else at commas, else at spaces), keeping paragraph breaks inside a piece.
 */
export function splitForSpeech(text: string, maxChars: number): string[] {
  const sentences = text
    .split(/\n\s*\n/)
    .flatMap((paragraph, p) => {
      const parts = paragraph.replace(/\s+/g, " ").trim().split(/(?<=[.!?…]["'’”)\]]*)\s+/).filter(Boolean);
      return parts.map((sentence, i) => ({ sentence, paragraphStart: p > 0 && i === 0 }));
    })
    .flatMap(({ sentence, paragraphStart }) => cut(sentence, maxChars).map((piece, i) => ({ piece, paragraphStart: paragraphStart && i === 0 })));

  const pieces: string[] = [];
  let current = "";
  for (const { piece, paragraphStart } of sentences) {
    const joiner = current === "" ? "" : paragraphStart ? "\n\n" : " ";
    if (current !== "" && current.length + joiner.length + piece.length > maxChars) {
      pieces.push(current);
      current = piece;
    } else {
      current += joiner + piece;
    }
  }
  if (current !== "") pieces.push(current);
  return pieces;
}

/** A sentence longer than `maxChars`, cut at commas or semicolons, else at spaces, else anywhere. */
function cut(sentence: string, maxChars: number): string[] {
  if (sentence.length <= maxChars) return [sentence];
  const out: string[] = [];
  let rest = sentence;
  while (rest.length > maxChars) {
    const window = rest.slice(0, maxChars + 1);
    let at = Math.max(window.lastIndexOf(", "), window.lastIndexOf("; "), window.lastIndexOf(": ")) + 1;
    if (at < maxChars / 3) at = window.lastIndexOf(" ");
    if (at < maxChars / 3) at = maxChars;
    out.push(rest.slice(0, at).trim());
    rest = rest.slice(at).trim();
  }
  if (rest) out.push(rest);
  return out;
}

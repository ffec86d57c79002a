import type { TestContext } from "node:test";
import { audiobookApp } from "../../examples/audiobook/src/app.js";
import { defineAudiobook, espeakVoice, type NarratedChunk, type Narrator } from "../../examples/audiobook/src/index.js";
import type { Outlast } from "../../src/index.js";
import { serve } from "../../src/server/index.js";
import { makeEngine } from "../support/engine.js";

/** The real voice in small pieces, so a tiny chapter is still spoken in several and the bar moves within it. */
const voice = espeakVoice({ chunkChars: 80 });

/**
 * The real narrator, wrapped so a test can hold it at chosen points (to act
 * mid-way through a book) and count which chapters were spoken. The test's
 * own narrator, not a switch in the example.
 */
export class HeldNarrator implements Narrator {
  /** Text of every chapter the narrator was asked to speak, in order. */
  readonly calls: string[] = [];
  private holds: { call: number; piece: number; reached: () => void; release: Promise<void> }[] = [];
  private releases = new Map<string, () => void>();
  /** Makes the next narration throw at this point, once. */
  failAt: { call: number; piece: number } | null = null;

  /**
   * Holds the narrator before piece `piece` (0 = before any sound) of the
   * `call`-th chapter it speaks. Resolves `reached` once it waits there.
   */
  hold(call: number, piece: number): { reached: Promise<void>; release: () => void } {
    let reached!: () => void;
    const reachedP = new Promise<void>((resolve) => (reached = resolve));
    let release!: () => void;
    const releaseP = new Promise<void>((resolve) => (release = resolve));
    this.holds.push({ call, piece, reached, release: releaseP });
    this.releases.set(`${call}:${piece}`, release);
    return { reached: reachedP, release };
  }

  /** Lets every hold go (at the end of a test, so nothing waits forever). */
  releaseAll(): void {
    for (const release of this.releases.values()) release();
  }

  async *narrate(text: string, options?: { signal?: AbortSignal }): AsyncGenerator<NarratedChunk> {
    this.calls.push(text);
    const call = this.calls.length;
    let piece = 0;
    const between = async () => {
      if (this.failAt?.call === call && this.failAt.piece === piece) {
        this.failAt = null;
        throw new Error("The narrator stumbled (a test failure)");
      }
      const hold = this.holds.find((h) => h.call === call && h.piece === piece);
      if (hold) {
        hold.reached();
        await hold.release;
      }
    };
    await between();
    for await (const chunk of voice.narrate(text, options)) {
      yield chunk;
      piece++;
      await between();
    }
  }
}

/**
 * `outlast serve` in miniature: engine on a temp SQLite file, API with
 * anonymous sessions, the app at `/`. As mountAudiobook does: book tasks on
 * the "audiobook" queue, their chapters spoken one at a time on "tts".
 */
export async function startApp(
  t: TestContext,
  options: { narrator: Narrator; maxUploadBytes?: number; maxAttempts?: number },
): Promise<{ outlast: Outlast; url: string }> {
  const outlast = makeEngine(t, { leaseMs: 5_000, progressIntervalMs: 50 });
  outlast.queue("tts", { concurrency: 1 });
  defineAudiobook(outlast, { queue: "audiobook", chapterQueue: "tts", narrator: options.narrator, maxAttempts: options.maxAttempts ?? 3 });
  await outlast.start();
  const dataDir = outlast.store.localDataDir;
  if (!dataDir) throw new Error("a SQLite file store has a data folder");
  const server = await serve(outlast, {
    port: 0,
    homePage: null,
    anonymousSessions: true,
    logger: "silent",
    shutdownGraceMs: 0,
    app: (api) => audiobookApp({ outlast, api, dataDir, ...(options.maxUploadBytes === undefined ? {} : { maxUploadBytes: options.maxUploadBytes }) }),
  });
  t.after(() => server.close());
  return { outlast, url: server.url };
}
